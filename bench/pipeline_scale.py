"""The whole pipeline at full-Switzerland scale: parse → match → problems → import into real PostGIS.

    .venv/bin/python -m bench.pipeline_scale [--seed 42] [--keep]

Registry side: the real national ATLAS service-point export (55,810 rows, 2025-08-02), all countries,
no boundary filter, so every stop point with coordinates (~50,000) is matched.
OSM side: no whole-country OSM extract is available offline, so it is DERIVED from the registry at
known rates (printed below), written as an Overpass JSON response and parsed like the real one:
each stop becomes an OSM platform unless dropped; positions jittered, some moved far; identifiers
stripped, names abbreviated, prefixed or replaced; stop positions, duplicates and unrelated objects added.
PostgreSQL is started with devstack.services.LocalPostgres with normal durability (fsync on).
Targets (issue 16): whole pipeline ≤ 30 s with a swap transaction of about a second at most, peak
memory (this process, ru_maxrss) < 1 GiB, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, format_table, pipeline_database, say

ROOT = Path(__file__).resolve().parents[1]
SERVICE_POINTS = ROOT.parent / "shared/data/atlas_service_points_2025-08-02"
TODAY = "2025-08-02"

# Rates of the derived OSM side (per registry stop unless said otherwise).
RATES = {
    "drop": 0.08,  # no OSM object at all → unmatched registry stop
    "moved_far": 0.03,  # platform 30-150 m away → distance problems
    "strip_uic_ref": 0.20,  # no uic_ref → name/distance stages must find it
    "abbreviate_name": 0.10,  # "Bahnhof" → "Bhf", "Strasse" → "Str."
    "drop_municipality": 0.15,  # "Town, Stop" → "Stop"
    "rename": 0.02,  # an unrelated name
    "stop_position": 0.35,  # a stop_position next to the platform (half of them without uic_ref)
    "duplicate": 0.01,  # a second platform with the same uic_ref and local_ref
    "unrelated": 0.04,  # an extra object 80-400 m from a stop, no identifiers
}
JITTER_SIGMA_M = 6.0
M_PER_DEG = 111_195.0


def _offset(lat: float, lon: float, distance_m: float, rng: random.Random) -> tuple[float, float]:
    angle = rng.uniform(0, 2 * math.pi)
    dlat = distance_m * math.cos(angle) / M_PER_DEG
    dlon = distance_m * math.sin(angle) / (M_PER_DEG * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _abbreviate(name: str) -> str:
    return name.replace("Bahnhof", "Bhf").replace("strasse", "str.").replace("Strasse", "Str.")


def derive_osm(registry: list, seed: int) -> tuple[dict, dict[str, int]]:
    """An Overpass JSON response derived from registry stops, and how many of each change were made."""
    rng = random.Random(seed)
    made = dict.fromkeys(RATES, 0)
    elements = []
    next_id = 1_000_000_000

    def node(lat: float, lon: float, tags: dict[str, str]) -> None:
        nonlocal next_id
        next_id += 1
        elements.append(
            {"type": "node", "id": next_id, "lat": round(lat, 7), "lon": round(lon, 7), "tags": tags}
        )

    for stop in registry:
        if rng.random() < RATES["drop"]:
            made["drop"] += 1
            continue
        if rng.random() < RATES["moved_far"]:
            made["moved_far"] += 1
            lat, lon = _offset(stop.lat, stop.lon, rng.uniform(30, 150), rng)
        else:
            lat, lon = _offset(stop.lat, stop.lon, abs(rng.gauss(0, JITTER_SIGMA_M)), rng)
        name = stop.name or ""
        roll = rng.random()
        if roll < RATES["rename"]:
            made["rename"] += 1
            name = f"Haltestelle {rng.randint(1, 99_999)}"
        elif roll < RATES["rename"] + RATES["drop_municipality"] and "," in name:
            made["drop_municipality"] += 1
            name = name.split(",", 1)[1].strip()
        elif roll < RATES["rename"] + RATES["drop_municipality"] + RATES["abbreviate_name"]:
            made["abbreviate_name"] += 1
            name = _abbreviate(name)
        tags = {"public_transport": "platform", "highway": "bus_stop", "name": name}
        if stop.operator_code:
            tags["operator"] = stop.operator_code
        if stop.code is not None:
            if rng.random() < RATES["strip_uic_ref"]:
                made["strip_uic_ref"] += 1
            else:
                tags["uic_ref"] = str(stop.code)
                tags["uic_name"] = stop.name or ""
        node(lat, lon, tags)
        if rng.random() < RATES["stop_position"]:
            made["stop_position"] += 1
            sp_lat, sp_lon = _offset(lat, lon, rng.uniform(2, 8), rng)
            sp_tags = {"public_transport": "stop_position", "name": name}
            if "uic_ref" in tags and rng.random() < 0.5:
                sp_tags["uic_ref"] = tags["uic_ref"]
            node(sp_lat, sp_lon, sp_tags)
        if rng.random() < RATES["duplicate"] and "uic_ref" in tags:
            made["duplicate"] += 1
            dup_lat, dup_lon = _offset(lat, lon, rng.uniform(1, 5), rng)
            node(dup_lat, dup_lon, {**tags, "local_ref": "1"})
            elements[-2]["tags"]["local_ref"] = "1"
        if rng.random() < RATES["unrelated"]:
            made["unrelated"] += 1
            u_lat, u_lon = _offset(stop.lat, stop.lon, rng.uniform(80, 400), rng)
            node(u_lat, u_lon, {"highway": "bus_stop", "name": f"Privat {rng.randint(1, 99_999)}"})
    payload = {
        "version": 0.6,
        "generator": "StopSync bench/pipeline_scale.py (derived, synthetic)",
        "elements": elements,
    }
    return payload, made


def run(seed: int = 42, keep: bool = False) -> list[Figure]:
    import datetime as dt

    from pipeline.sources import ParseOptions, get_source
    from runs.stages import RunOptions, run_pipeline

    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise SystemExit(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    work = Path(tempfile.mkdtemp(prefix="stopsync-scale-"))
    work.chmod(0o755)
    source_dir = work / "sources"
    source_dir.mkdir()
    shutil.copy(zips[0], source_dir / "atlas_service_points.csv.zip")

    say("deriving the OSM side from the registry")
    started = time.perf_counter()
    parse_options = ParseOptions(today=dt.date.fromisoformat(TODAY), uic_country_codes=None, boundary=None)
    registry = get_source("atlas").parse([source_dir / "atlas_service_points.csv.zip"], parse_options).records
    payload, made = derive_osm(registry, seed)
    (source_dir / "osm_derived.json").write_text(json.dumps(payload), encoding="utf-8")
    derive_s = time.perf_counter() - started
    n_registry, n_osm = len(registry), len(payload["elements"])
    del registry, payload

    runs = []
    try:
        with pipeline_database("stopsync-scale-db-", "stopsync_scale", keep=keep):
            for label in ("first import (empty database)", "re-import (replaces the snapshot)"):
                say(f"pipeline run: {label}")
                t0 = time.perf_counter()
                summary = run_pipeline(
                    RunOptions(source_dir=source_dir, offline=True, today=dt.date.fromisoformat(TODAY))
                )
                runs.append((label, summary, time.perf_counter() - t0))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"registry: {n_registry:,} stops kept of 55,810 export rows (real ATLAS service points, {TODAY})")
    print(
        f"OSM (derived, seed {seed}): {n_osm:,} objects; changes made: "
        + ", ".join(f"{k} {v:,} ({RATES[k]:.0%})" for k, v in made.items())
    )
    print(f"deriving the OSM side took {derive_s:.1f} s (not part of the pipeline time)\n")
    figures: list[Figure] = []
    for label, summary, wall in runs:
        c = summary.counts
        print(
            f"{label}: {c['matches']:,} matches {c['matches_by_method']}, "
            f"{c['unmatched_registry']:,} unmatched registry, {c['unmatched_osm']:,} unmatched OSM, "
            f"{c['problems']:,} problems {c['problems_by_type']}"
        )
        short = "run 1" if label.startswith("first") else "run 2"
        for stage, seconds in summary.stage_seconds.items():
            figures.append(Figure(f"{short}: {stage}", seconds, "s"))
        imp = c["import"]
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in imp.get("steps", {}).items())
        figures.append(
            Figure(f"{short}: import staging (COPY, indexes, map)", imp["load_seconds"], "s", note=steps)
        )
        # The swap transaction must be renames and small updates (issue 16): about a second at most.
        figures.append(
            Figure(f"{short}: import swap (one transaction)", imp["swap_seconds"], "s", target=1.0)
        )
        figures.append(Figure(f"{short}: - of it, tables locked", imp["locked_seconds"], "s"))
        figures.append(Figure(f"{short}: drop the retired tables", imp["cleanup_seconds"], "s"))
        figures.append(Figure(f"{short}: whole pipeline", round(wall, 2), "s", target=30.0))
    figures.append(Figure("peak memory (ru_maxrss)", round(peak_mib, 1), "MiB", target=1024.0))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (sources, database)")
    args = parser.parse_args()
    figures = run(args.seed, args.keep)
    print(format_table(figures))
    sys.exit(0 if all(f.verdict != "MISS" for f in figures) else 1)


if __name__ == "__main__":
    main()
