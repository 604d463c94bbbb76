"""The map's vector tiles, search and stop detail, judged against a calibration measured in the same run.

Calibration (before any measurement): gunicorn exactly as production runs it (devstack.services.
gunicorn_command: gevent workers, same app, same middleware; bench/static_app.py adds one route)
serving a static file of the size of the median map tile, driven by wrk with 8 connections. That
rate is this machine's practical limit for an answer of that size through this stack right now;
the targets are shares of it, so they hold on a slower or faster machine.

Request mix from realistic sessions: a session starts at a real stop (from the imported snapshot)
at a zoom of 8-12 and takes SESSION_STEPS steps (zoom in towards the stop, pan by part of the view,
zoom out), on a 1280x800 px map, zooms 8-18; each view asks for the 256 px tiles it covers, nearest
the centre first, at min(zoom, TileJSON maxzoom) (deeper zooms re-use the deepest tiles, as the map
does), and a tile the session already has is not asked for again (the browser keeps it: the tiles are
`immutable`). The tile URL template is taken from GET /api/v1/tiles.json, as the map does.
- cold: each distinct tile once, in the order the sessions first ask for it, right after the import
  (no process has read it yet, apart from the few tiles sampled for the median size);
- warm: the whole session stream again, cycled (every tile read before).
Every tile of the stream is unfiltered, so with the default TILE_PRERENDER_MAX_ZOOM (16) each one
holding a stop is the import's pre-rendered copy (`map_tiles`), read by one prepared primary-key
lookup on every request, cold or warm (not copied into Redis, which keeps the tiles rendered on
demand: filtered ones, zooms not pre-rendered); a tile without stops of a pre-rendered zoom is
answered empty by the same lookup. So cold and warm differ by the first use of each database page
and prepared statement, not by a render: the bench shows that the first request after an import
costs what a repeated one does.
Targets (issue 16): map p99 < 50 ms at 50 % of the calibration rate offered, cold and warm; map
saturation (wrk, 8 connections, warm) ≥ 50 % of the calibration rate; search and stop detail
p99 < 30 ms at 100 requests/s, saturation ≥ 25 % of the calibration rate.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.api_load import cli_import, loadgen_command, prepare_sources, run_api_load, saturation
from bench.common import BenchStack, Figure, Server, run_json, say, settle

VIEWPORT_PX = (1280, 800)
TILE_PX = 256
VIEW_ZOOMS = (8, 18)  # the zooms a session moves between
START_ZOOMS = (8, 12)
SESSION_STEPS = 9
SESSIONS = 150
SIZE_SAMPLE = 200  # tiles fetched to find the median tile size (then left out of the cold run)
MAP_RATE_SHARE = 0.5  # map p99 is judged at this share of the calibration rate offered
MAP_SATURATION_SHARE = 0.5
API_SATURATION_SHARE = 0.25
MAP_P99_MS = 50.0
API_P99_MS = 30.0
API_RATE = 100.0


def tile_of(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Web-mercator tile coordinates (fractional) of a position at zoom `z`."""
    n = 2**z
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return x, y


def position_of(x: float, y: float, z: int) -> tuple[float, float]:
    """(lat, lon) of fractional tile coordinates at zoom `z`."""
    n = 2**z
    lon = x / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return lat, lon


def view_tiles(
    lat: float, lon: float, zoom: int, max_zoom: int, size_px: tuple[int, int] = VIEWPORT_PX
) -> list[tuple[int, int, int]]:
    """The (z, x, y) tiles a `size_px` map centred on (lat, lon) at `zoom` asks for, nearest the
    centre first; beyond `max_zoom` the map draws `max_zoom` tiles enlarged, so it asks for those."""
    z = min(zoom, max_zoom)
    scale = 2 ** (zoom - z)  # a max_zoom tile is drawn `scale` times larger
    cx, cy = tile_of(lat, lon, z)
    half_w = size_px[0] / 2 / (TILE_PX * scale)
    half_h = size_px[1] / 2 / (TILE_PX * scale)
    n = 2**z
    tiles = [
        (z, x, y)
        for x in range(math.floor(cx - half_w), math.floor(cx + half_w) + 1)
        for y in range(max(0, math.floor(cy - half_h)), min(n - 1, math.floor(cy + half_h)) + 1)
    ]
    tiles = [(z, x % n, y) for z, x, y in tiles]
    return sorted(tiles, key=lambda t: (t[1] + 0.5 - cx % n) ** 2 + (t[2] + 0.5 - cy) ** 2)


def sessions(
    stops: list[tuple[float, float]],
    max_zoom: int,
    count: int = SESSIONS,
    steps: int = SESSION_STEPS,
    seed: int = 16,
) -> list[list[tuple[int, int, int]]]:
    """`count` sessions of pans and zooms around real stops; per session the tiles it asks for, in order."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        stop_lat, stop_lon = stops[rng.randrange(len(stops))]
        lat, lon, zoom = stop_lat, stop_lon, rng.randint(*START_ZOOMS)
        have: set[tuple[int, int, int]] = set()
        asked: list[tuple[int, int, int]] = []
        for step in range(steps + 1):
            if step:
                roll = rng.random()
                if roll < 0.45 and zoom < VIEW_ZOOMS[1]:
                    zoom += 1  # towards the stop: the centre moves half way to it
                    lat, lon = (lat + stop_lat) / 2, (lon + stop_lon) / 2
                elif roll < 0.8:  # pan by 30-80 % of the view in some direction
                    x, y = tile_of(lat, lon, zoom)
                    angle = rng.uniform(0, 2 * math.pi)
                    share = rng.uniform(0.3, 0.8)
                    x += math.cos(angle) * share * VIEWPORT_PX[0] / TILE_PX
                    y += math.sin(angle) * share * VIEWPORT_PX[1] / TILE_PX
                    lat, lon = position_of(x, y, zoom)
                elif zoom > VIEW_ZOOMS[0]:
                    zoom -= 1
            for tile in view_tiles(lat, lon, zoom, max_zoom):
                if tile not in have:
                    have.add(tile)
                    asked.append(tile)
        out.append(asked)
    return out


def tile_paths(template: str, tiles: list[tuple[int, int, int]]) -> list[str]:
    """Request paths (with the template's query) for tiles, from an absolute or relative template."""
    parts = urlsplit(template)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return [path.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)) for z, x, y in tiles]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our loopback URL
        return response.read()


def _stops(stack: BenchStack) -> list[tuple[float, float]]:
    for table in ("registry_stops", "atlas_stops"):
        exists = stack.psql(f"SELECT to_regclass('{table}') IS NOT NULL")[0][0]
        if exists:
            return [(float(a), float(b)) for a, b in stack.psql(f"SELECT lat, lon FROM {table}")]
    raise RuntimeError("no registry stop table in the benchmark database")


def calibrate(stack: BenchStack, workdir: Path, size_bytes: int, duration_s: float) -> dict[str, Any]:
    """wrk against a static file of `size_bytes` served by gunicorn configured as in production."""
    from bench.common import gunicorn
    from bench.static_app import STATIC_PATH

    # Incompressible bytes, so nothing on the way could make the answer smaller than a tile.
    static_file = workdir / "calibration_tile.mvt"
    static_file.write_bytes(random.Random(size_bytes).randbytes(size_bytes))
    paths_file = workdir / "paths_calibration.txt"
    paths_file.write_text(STATIC_PATH + "\n")
    with gunicorn(
        stack, app_spec="bench.static_app:create_app()", BENCH_STATIC_FILE=str(static_file)
    ) as server:
        body = _get(server.base_url + STATIC_PATH)
        if len(body) != size_bytes:
            raise RuntimeError(f"the calibration route answered {len(body)} bytes, not {size_bytes}")
        settle(server.base_url)
        _ = saturation(server, paths_file, 2.0)  # warm the workers up (imports, first connections)
        settle(server.base_url)
        return saturation(server, paths_file, duration_s)


def run_map(
    stack: BenchStack, server: Server, workdir: Path, duration_s: float, saturation_s: float
) -> tuple[list[Figure], float]:
    """Calibration, then cold and warm tiles at half of it, then warm saturation; (figures, calibration)."""
    tilejson = json.loads(_get(server.base_url + "/api/v1/tiles.json"))
    template, max_zoom = tilejson["tiles"][0], int(tilejson.get("maxzoom", 16))
    if "{z}" not in template:
        raise RuntimeError(f"the TileJSON tiles template has no {{z}}: {template}")
    stops = _stops(stack)
    plan = sessions(stops, max_zoom)
    stream = [tile for session in plan for tile in session]
    distinct = list(dict.fromkeys(stream))
    rng = random.Random(7)
    sample = rng.sample(distinct, min(SIZE_SAMPLE, len(distinct)))
    sizes = [len(_get(server.base_url + path)) for path in tile_paths(template, sample)]
    median_size = int(statistics.median(sizes))
    zooms = sorted({z for z, _, _ in distinct})
    say(
        f"map: {len(plan)} sessions ask {len(stream):,} tiles, {len(distinct):,} distinct, "
        f"zooms {zooms[0]}-{zooms[-1]};"
        f" median tile {median_size:,} bytes (of {len(sizes)} sampled; mean {statistics.mean(sizes):,.0f})"
    )

    say(
        f"calibration: gunicorn (production settings) serving a static file of {median_size:,} bytes, wrk -c8"
    )
    calibration = calibrate(stack, workdir, median_size, saturation_s)
    cal_rate = calibration["rate"]
    rate = round(cal_rate * MAP_RATE_SHARE)
    say(f"calibration: {cal_rate:,.0f} requests/s; the map is offered {rate} requests/s")
    figures = [
        Figure(
            "calibration: static file of the median tile's size (wrk -c8)",
            round(cal_rate),
            "req/s",
            note=f"{median_size:,} bytes; p99 {calibration['latency_ms']['p99']:.1f} ms",
        )
    ]

    sampled = set(sample)
    cold = [tile for tile in distinct if tile not in sampled]
    cold_file, warm_file = workdir / "paths_tiles_cold.txt", workdir / "paths_tiles_warm.txt"
    cold_file.write_text("\n".join(tile_paths(template, cold)) + "\n")
    warm_file.write_text("\n".join(tile_paths(template, stream)) + "\n")
    for label, paths_file, count in (("cold", cold_file, len(cold)), ("warm", warm_file, len(stream))):
        # Cold: each distinct tile exactly once (no warm-up, no repeat); warm: the stream, cycled.
        seconds = count / rate if label == "cold" else duration_s
        settle(server.base_url)
        say(f"map {label}: {rate} requests/s for {seconds:.1f} s ({count:,} tiles)")
        argv = loadgen_command(server, paths_file, rate, seconds, "--connections", "32")
        argv += ["--warmup", "0" if label == "cold" else "2"]
        result = run_json(argv, env=dict(os.environ), timeout_s=seconds + 120)
        lat = result["latency_ms"]
        note = f"served {result['ok_rate']:.0f}/s, {result['mean_bytes']:,.0f} bytes/answer"
        if result["errors"]:
            note += f", {result['errors']} errors {result['statuses']}"
        figures += [
            Figure(f"map tiles {label}: p50 @ {rate}/s", lat["p50"], "ms"),
            Figure(
                f"map tiles {label}: p99 @ {rate}/s (50 % of calibration)",
                lat["p99"],
                "ms",
                MAP_P99_MS,
                note=note,
            ),
        ]
    settle(server.base_url)
    say(f"map warm: saturation with wrk for {saturation_s:.0f} s")
    sat = saturation(server, warm_file, saturation_s)
    figures.append(
        Figure(
            "map tiles warm: saturation (wrk -c8) / calibration",
            round(sat["rate"] / cal_rate, 3),
            "",
            MAP_SATURATION_SHARE,
            lower_is_better=False,
            note=f"{sat['rate']:,.0f} req/s, p99 {sat['latency_ms']['p99']:.1f} ms"
            + (f", {sat['errors']} errors" if sat["errors"] else ""),
        )
    )
    return figures, cal_rate


def run_search_detail(
    stack: BenchStack, server: Server, workdir: Path, cal_rate: float, duration_s: float, saturation_s: float
) -> list[Figure]:
    """Search and stop detail at 100 requests/s and at saturation, judged against the calibration."""
    plan = (("search", API_RATE, API_P99_MS), ("detail", API_RATE, API_P99_MS))
    found, _ = run_api_load(stack, server, workdir, duration_s, saturation_s, plan)
    for figure in found:
        if figure.name.endswith("max throughput (wrk -c8)") and figure.value:
            endpoint = figure.name.split()[0]
            figure.note = f"{figure.value:,.0f} req/s; {figure.note}"
            figure.name = f"{endpoint}: saturation (wrk -c8) / calibration"
            figure.value = round(figure.value / cal_rate, 3)
            figure.unit = ""
            figure.target = API_SATURATION_SHARE
            figure.lower_is_better = False
    return found


def run(keep: bool = False, quick: bool = False) -> list[Figure]:
    """Import the Swiss-scale data, then calibration, map tiles, search and detail on one server."""
    from bench.common import bench_stack, gunicorn

    duration, sat = (5.0, 3.0) if quick else (15.0, 8.0)
    with bench_stack(keep=keep) as stack:
        say("deriving the full-scale sources (real ATLAS service points + derived OSM side)")
        source_dir = prepare_sources(stack.workdir)
        say("importing them with `flask pipeline run`")
        cli_import(stack, source_dir)
        with gunicorn(stack) as server:
            figures, cal_rate = run_map(stack, server, stack.workdir, duration, sat)
            figures += run_search_detail(stack, server, stack.workdir, cal_rate, duration, sat)
    return figures


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(run()))
