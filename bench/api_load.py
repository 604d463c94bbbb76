"""API load: map bbox, search, stop detail and problem list against gunicorn, from a second process.

Two kinds of load, both from separate processes on loopback:
- fixed rate (`bench.loadgen`, open loop): latency percentiles at a given request rate, measured from
  each request's scheduled start. The targets (bbox p99 < 50 ms at 200 requests/s, search p99 < 30 ms)
  are judged on these runs.
- saturation (`wrk`, closed loop, a few connections): the most requests per second this machine
  serves for each endpoint, with the latency at that load.

Request sets are built from the data in the database, seeded, so every run asks the same questions:
viewports of a 1280x800 px map at zoom 13-16 centred on real stops (padded and limited as the map
page asked before the vector tiles: 10 % on each side, at most MAP_LIMIT stops), search terms taken
from real stop names (prefixes, whole names, names without diacritics, typos, sloids, UIC numbers,
OSM ids), stop pages of real stops, and problem-list pages with the filters the review page offers.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from bench.common import PYTHON, ROOT, BenchStack, Figure, Server, run_json, say, settle

VIEWPORT_PX = (1280, 800)
ZOOMS = (13, 14, 15, 16)
MAP_PAD = 0.1  # the map asks for 10 % more than it shows on each side (app/static/js/map.js)
# The map page asked for at most this many stops (its data-limit) until it moved to vector tiles
# (bench/map_tiles.py); /api/v1/stops?bbox= is still an API endpoint, measured as before.
MAP_LIMIT = 3000


def viewport_bbox(
    lat: float, lon: float, zoom: int, size_px: tuple[int, int] = VIEWPORT_PX, pad: float = MAP_PAD
) -> str:
    """The bbox the map page asks for: a web-mercator view of `size_px` at `zoom` centred on
    (lat, lon), padded by `pad` of its size on every side (app/static/js/map.js: bounds.pad(0.1))."""
    deg_per_px = 360.0 / (256 * 2**zoom)
    half_w = size_px[0] / 2 * deg_per_px * (1 + 2 * pad)
    half_h = size_px[1] / 2 * deg_per_px * math.cos(math.radians(lat)) * (1 + 2 * pad)
    return f"{lon - half_w:.6f},{lat - half_h:.6f},{lon + half_w:.6f},{lat + half_h:.6f}"


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 5:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def build_request_sets(stack: BenchStack, size: int = 2000, seed: int = 5) -> dict[str, list[str]]:
    """Request paths per endpoint, from the data in the database. Same seed, same paths."""
    rng = random.Random(seed)
    atlas = stack.psql("SELECT stop_id, code, name, lat, lon, operator_code FROM registry_stops")
    osm = stack.psql("SELECT osm_type, osm_id FROM osm_stops")
    problem_filters = stack.psql("SELECT DISTINCT problem_type, priority FROM problems")
    operators = [
        row[0]
        for row in stack.psql(
            "SELECT operator_code FROM problems WHERE operator_code IS NOT NULL "
            "GROUP BY operator_code ORDER BY count(*) DESC LIMIT 20"
        )
    ]
    if not atlas:
        raise RuntimeError("no registry stops in the benchmark database: the data load failed")
    rng.shuffle(atlas)

    bbox = []
    for i in range(size):
        _, _, _, lat, lon, _ = atlas[i % len(atlas)]
        view = viewport_bbox(lat, lon, ZOOMS[i % len(ZOOMS)])
        bbox.append("/api/v1/stops?" + urlencode({"bbox": view, "limit": MAP_LIMIT}))

    search: list[str] = []
    named = [row for row in atlas if row[2]]
    for i in range(size):
        stop_id, uic, name, *_ = named[i % len(named)]
        kind = i % 8
        if kind in (0, 1):  # typing: a prefix of 3-8 characters
            term = name[: rng.randint(3, min(8, len(name)))]
        elif kind == 2:
            term = name
        elif kind == 3:
            term = _strip_accents(name).lower()
        elif kind == 4:
            term = _typo(name, rng)
        elif kind == 5:
            term = stop_id
        elif kind == 6 and uic:
            term = str(uic)
        else:
            osm_type, osm_id = osm[i % len(osm)] if osm else ("node", 1)
            term = f"{osm_type}/{osm_id}"
        search.append("/api/v1/search?" + urlencode({"q": term, "limit": 20}))

    detail = []
    for i in range(size):
        if i % 2 == 0 or not osm:
            detail.append(f"/api/v1/stops/atlas/{quote(atlas[i % len(atlas)][0], safe=':')}")
        else:
            osm_type, osm_id = osm[i % len(osm)]
            detail.append(f"/api/v1/stops/osm/{osm_type}/{osm_id}")

    problems = []
    for i in range(size):
        params: dict[str, Any] = {"limit": 50}
        kind = i % 5
        if kind == 1 and problem_filters:
            params["type"] = problem_filters[i % len(problem_filters)][0]
        elif kind == 2 and problem_filters:
            params["priority"] = problem_filters[i % len(problem_filters)][1]
        elif kind == 3 and operators:
            params["operator"] = operators[i % len(operators)]
        elif kind == 4:
            _, _, _, lat, lon, _ = atlas[i % len(atlas)]
            params["bbox"] = viewport_bbox(lat, lon, 12, pad=0.0)
        if i % 3 == 0:
            params["sort"] = "distance"
        problems.append("/api/v1/problems?" + urlencode(params))
    return {"bbox": bbox, "search": search, "detail": detail, "problems": problems}


def check_paths(server: Server, sets: dict[str, list[str]], sample: int = 20) -> dict[str, str]:
    """Ask a few requests of each set once; return {endpoint: problem} for sets that do not answer 200."""
    import urllib.error
    import urllib.request

    broken = {}
    for name, paths in sets.items():
        for path in paths[:sample]:
            try:
                with urllib.request.urlopen(server.base_url + path, timeout=30) as response:  # noqa: S310 - our http URL
                    response.read()
            except urllib.error.HTTPError as exc:
                broken[name] = f"HTTP {exc.code} for {path}"
                break
            except OSError as exc:
                broken[name] = f"{type(exc).__name__} for {path}"
                break
    return broken


def loadgen_command(
    server: Server, paths_file: Path, rate: float, duration_s: float, *extra: str
) -> list[str]:
    """The `bench.loadgen` command line against `server`: `rate` requests/s for `duration_s` seconds."""
    return [
        PYTHON, "-m", "bench.loadgen",
        "--port", str(server.port),
        "--paths", str(paths_file),
        "--rate", str(rate),
        "--duration", str(duration_s),
        *extra,
    ]  # fmt: skip


def fixed_rate(
    server: Server, paths_file: Path, rate: float, duration_s: float, connections: int = 32
) -> dict[str, Any]:
    """Run `bench.loadgen` as its own process at `rate` requests/s; its JSON result."""
    argv = loadgen_command(server, paths_file, rate, duration_s, "--connections", str(connections))
    return run_json(argv, env=_plain_env(), timeout_s=duration_s + 120)


def saturation(server: Server, paths_file: Path, duration_s: float, connections: int = 8) -> dict[str, Any]:
    """Drive one endpoint as fast as `connections` keep-alive connections go, with wrk."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{int(duration_s)}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "wrk_paths.lua"),
        server.base_url,
        "--",
        str(paths_file),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {result.stderr.strip()[:300]}")
    data = json.loads(lines[-1])
    seconds = data["duration_us"] / 1e6
    errors = sum(data["errors"].values())
    return {
        "rate": data["requests"] / seconds,
        "requests": data["requests"],
        "errors": errors,
        "latency_ms": {k: v / 1000 for k, v in data["latency_us"].items()},
    }


def _plain_env() -> dict[str, str]:
    import os

    return dict(os.environ)


# (endpoint, fixed rate in requests/s, p99 target in ms or None). The targets are judged at the
# first rate of an endpoint; a second, lower rate shows where the latency is under this machine.
DEFAULT_PLAN: tuple[tuple[str, float, float | None], ...] = (
    ("bbox", 200.0, 50.0),
    ("bbox", 100.0, None),
    ("search", 100.0, 30.0),
    ("search", 50.0, None),
    ("detail", 100.0, None),
    ("problems", 50.0, None),
)


def run_api_load(
    stack: BenchStack,
    server: Server,
    workdir: Path,
    duration_s: float = 15.0,
    saturation_s: float = 8.0,
    plan: tuple[tuple[str, float, float | None], ...] = DEFAULT_PLAN,
) -> tuple[list[Figure], dict[str, Any]]:
    """Every endpoint at its fixed rate(s), then once at saturation; figures and the raw results."""
    sets = build_request_sets(stack)
    broken = check_paths(server, sets)
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    for index, (name, rate, p99_target) in enumerate(plan):
        paths_file = workdir / f"paths_{name}.txt"
        paths_file.write_text("\n".join(sets[name]) + "\n")
        if name in broken:
            say(f"{name}: not measured ({broken[name]})")
            figures.append(Figure(f"{name} p99 @ {rate:.0f}/s", None, "ms", p99_target, note=broken[name]))
            continue
        settle(server.base_url)
        say(f"{name}: {rate:.0f} requests/s for {duration_s:.0f} s (open loop)")
        fixed = fixed_rate(server, paths_file, rate, duration_s)
        raw[f"{name}@{rate:.0f}"] = fixed
        lat = fixed["latency_ms"]
        error_note = f"{fixed['errors']} errors" if fixed["errors"] else ""
        figures += [
            Figure(f"{name} p50 @ {rate:.0f}/s", lat["p50"], "ms"),
            Figure(f"{name} p95 @ {rate:.0f}/s", lat["p95"], "ms"),
            Figure(f"{name} p99 @ {rate:.0f}/s", lat["p99"], "ms", p99_target, note=error_note),
            Figure(
                f"{name} served rate @ {rate:.0f}/s offered",
                fixed["ok_rate"],
                "req/s",
                rate * 0.98,
                lower_is_better=False,
                note=f"{fixed['mean_bytes'] / 1024:.1f} KiB/response, load generator used "
                f"{100 * fixed['client_cpu_s'] / max(fixed['client_wall_s'], 1e-9):.0f}% of a core",
            ),
        ]
        if any(later[0] == name for later in plan[index + 1 :]):
            continue  # saturation once per endpoint, after its last fixed-rate run
        settle(server.base_url)
        say(f"{name}: saturation with wrk for {saturation_s:.0f} s")
        sat = saturation(server, paths_file, saturation_s)
        raw[f"{name}@max"] = sat
        figures.append(
            Figure(
                f"{name} max throughput (wrk -c8)",
                sat["rate"],
                "req/s",
                note=f"p50 {sat['latency_ms']['p50']:.1f} ms, p99 {sat['latency_ms']['p99']:.1f} ms"
                + (f", {sat['errors']} errors" if sat["errors"] else ""),
            )
        )
    return figures, raw


# --------------------------------------------------------------------------------------------
# Full-Switzerland data through the real CLI, then the load, then an import under load
# --------------------------------------------------------------------------------------------

# The national export holds neighbours' stops too: import all of them, as bench/pipeline_scale.py does.
FULL_SCALE_ENV = {
    "PIPELINE_UIC_COUNTRY_CODES": "",
    "PIPELINE_BOUNDARY_FILE": "",
    "PIPELINE_MIN_ROW_RATIO": "0",
}


def prepare_sources(workdir: Path, seed: int = 42) -> Path:
    """The real ATLAS service-point export plus the OSM side derived from it (bench/pipeline_scale.py)."""
    import datetime as dt

    from bench.pipeline_scale import SERVICE_POINTS, TODAY, derive_osm
    from pipeline.sources import ParseOptions, get_source

    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise RuntimeError(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    source_dir = workdir / "sources"
    source_dir.mkdir(parents=True, exist_ok=True)
    atlas = source_dir / "atlas_service_points.csv.zip"
    shutil.copy(zips[0], atlas)
    options = ParseOptions(today=dt.date.fromisoformat(TODAY), uic_country_codes=None, boundary=None)
    registry = get_source("atlas").parse([atlas], options).records
    payload, _ = derive_osm(registry, seed)
    (source_dir / "osm_derived.json").write_text(json.dumps(payload), encoding="utf-8")
    return source_dir


def cli_import(stack: BenchStack, source_dir: Path, timeout_s: float = 600) -> dict[str, Any]:
    """`flask pipeline run --source-dir DIR` (lock, status, run record: the operator's path); its run row."""
    import time

    started = time.perf_counter()
    result = subprocess.run(
        [PYTHON, "-m", "flask", "pipeline", "run", "--source-dir", str(source_dir)],
        env=stack.env(**FULL_SCALE_ENV),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"flask pipeline run failed ({result.returncode}): {result.stderr[-600:]}")
    status, stage_seconds, counts = stack.psql(
        "SELECT status, stage_seconds, counts FROM pipeline_runs ORDER BY id DESC LIMIT 1"
    )[0]
    return {"wall_s": wall, "status": status, "stage_seconds": stage_seconds, "counts": counts}


def import_under_load(
    stack: BenchStack, server: Server, source_dir: Path, paths_file: Path, rate: float = 50.0
) -> tuple[list[Figure], dict[str, Any]]:
    """Re-import while the map asks for viewports at `rate`/s: errors, empty maps, latency meanwhile.

    The load runs from before the import starts until it has finished (then SIGTERM ends it).
    """
    import signal
    import time

    duration_s = 900.0  # an upper bound; the load stops when the import is done
    argv = loadgen_command(
        server, paths_file, rate, duration_s, "--warmup", "0", "--connections", "16", "--check-features"
    )
    settle(server.base_url)
    load = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    time.sleep(2)  # readers first, so the import starts under load
    try:
        run = cli_import(stack, source_dir)
        time.sleep(1)  # and a little after the swap
    finally:
        load.send_signal(signal.SIGTERM)
    out, _ = load.communicate(timeout=120)
    result = json.loads([line for line in out.splitlines() if line.strip()][-1])
    imp = (run["counts"] or {}).get("import", {})
    lat = result["latency_ms"]
    figures = [
        Figure("re-import under map load: wall time", run["wall_s"], "s", note=f"run {run['status']}"),
        Figure("re-import under map load: swap transaction", imp.get("swap_seconds"), "s"),
        Figure(
            "map requests failed during re-import",
            float(result["errors"]),
            "",
            0.0,
            note=f"{result['requests']} requests at {rate:.0f}/s",
        ),
        Figure(
            "map answers with no stop during re-import", float(result["empty_feature_collections"]), "", 0.0
        ),
        Figure(
            f"bbox p99 during re-import @ {rate:.0f}/s", lat["p99"], "ms", note=f"max {lat['max']:.0f} ms"
        ),
    ]
    return figures, {"run": run, "load": result}


def run(keep: bool = False, quick: bool = False) -> list[Figure]:
    """The whole API benchmark on its own throwaway stack."""
    from bench.common import bench_stack, gunicorn

    duration, sat = (5.0, 3.0) if quick else (15.0, 8.0)
    with bench_stack(keep=keep) as stack:
        say("deriving the full-scale sources (real ATLAS service points + derived OSM side)")
        source_dir = prepare_sources(stack.workdir)
        say("importing them with `flask pipeline run` (first import, empty database)")
        first = cli_import(stack, source_dir)
        counts = first["counts"] or {}
        rows = (counts.get("import") or {}).get("rows", {})
        figures = [
            Figure(
                "first import via CLI: wall time",
                first["wall_s"],
                "s",
                60.0,
                note=", ".join(f"{v:,} {k}" for k, v in rows.items()),
            ),
            Figure("first import: swap transaction", (counts.get("import") or {}).get("swap_seconds"), "s"),
        ]
        with gunicorn(stack) as server:
            say(f"gunicorn (2 gevent workers, production settings) on port {server.port}")
            load_figures, _ = run_api_load(stack, server, stack.workdir, duration, sat)
            figures += load_figures
            say("re-importing under map load")
            under_load, _ = import_under_load(stack, server, source_dir, stack.workdir / "paths_bbox.txt")
            figures += under_load
    return figures
