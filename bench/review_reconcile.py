"""Review workflow at full-Switzerland scale: reconciling decisions and manual links after an import.

    .venv/bin/python -m bench.review_reconcile [--seed 42] [--decisions 20000] [--links 5000]

Pure (no database): the cost `pipeline/review/` adds to every run. Registry side: the real ATLAS
service-point export (stop points with coordinates, ~50,000). OSM side: one platform per stop, derived
as in bench/pipeline_scale.py. Decisions and manual links are made on random stops, then a "next run"
changes the evidence at stated rates: OSM objects moved, renamed, re-versioned, replaced by a way
(identity migration), deleted (orphaned / flagged), and problems resolved.
Targets: reconcile of every decision < 5 s, manual-link resolution < 2 s, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import random
import time
from collections import Counter
from pathlib import Path

from bench.common import Figure, format_table
from pipeline.records import OsmObject, ProblemRecord, RegistryStop, problem_identity
from pipeline.review import (
    DecisionState,
    ExpiryPolicy,
    ManualLinkState,
    Snapshot,
    build_evidence,
    reconcile_decisions,
    resolve_manual_links,
)
from pipeline.sources import ParseOptions, get_source

ROOT = Path(__file__).resolve().parents[1]
SERVICE_POINTS = ROOT.parent / "shared/data/atlas_service_points_2025-08-02"
M_PER_DEG = 111_195.0
# What changes between the decision and the next run (per decided object).
RATES = {
    "moved": 0.05,
    "renamed": 0.03,
    "new_version": 0.20,
    "replaced": 0.02,
    "deleted": 0.01,
    "fixed": 0.05,
}


def _registry() -> list[RegistryStop]:
    """The real export, parsed by the pipeline's own ATLAS source (no country or boundary filter)."""
    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise SystemExit(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    options = ParseOptions(today=dt.date(2025, 8, 2), uic_country_codes=None, boundary=None)
    return list(get_source("atlas").parse([zips[0]], options).records)


def _osm(stop: RegistryStop, osm_id: int, rng: random.Random) -> OsmObject:
    tags = {"public_transport": "platform", "name": stop.name or "", "highway": "bus_stop"}
    if stop.code:
        tags["uic_ref"] = str(stop.code)
    angle = rng.uniform(0, 2 * math.pi)
    d = abs(rng.gauss(0, 8))
    lat = stop.lat + d * math.cos(angle) / M_PER_DEG
    lon = stop.lon + d * math.sin(angle) / (M_PER_DEG * math.cos(math.radians(stop.lat)))
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name=tags["name"],
        uic_ref=tags.get("uic_ref"), uic_name=None, ifopt=None, local_ref=None, operator=None,
        network=None, public_transport="platform", railway=None, highway="bus_stop", amenity=None,
        aerialway=None, tags=tags, lat=lat, lon=lon, row_hash=str(osm_id),
    )  # fmt: skip


def run(seed: int = 42, n_decisions: int = 20_000, n_links: int = 5_000) -> list[Figure]:
    rng = random.Random(seed)
    registry = _registry()
    osm = [_osm(s, 1_000_000 + i, rng) for i, s in enumerate(registry)]
    pairs = list(zip(registry, osm, strict=True))
    problems = [
        ProblemRecord(
            problem_identity("distance", s.stop_id, o.osm_key), "distance", 2, s.stop_id, o.osm_key, None,
            20.0, "m", {}, s.lat, s.lon,
        )
        for s, o in pairs
    ]  # fmt: skip
    before = Snapshot(registry, osm, problems)
    chosen = rng.sample(range(len(pairs)), min(n_decisions, len(pairs)))
    decisions = []
    for n, i in enumerate(chosen):
        stop, obj = pairs[i]
        identity = problems[i].identity
        decisions.append(
            DecisionState(n + 1, identity, "distance", stop.stop_id, obj.osm_key, "not_a_problem", "active",
                          build_evidence("distance", identity, stop, obj, problems[i]), [])
        )  # fmt: skip
    links = [
        ManualLinkState(n + 1, pairs[i][0].stop_id, pairs[i][1].osm_key, "link", "active",
                        {"atlas": build_evidence("x", "x", pairs[i][0], None)["atlas"],
                         "osm": build_evidence("x", "x", None, pairs[i][1])["osm"]})
        for n, i in enumerate(rng.sample(range(len(pairs)), min(n_links, len(pairs))))
    ]  # fmt: skip

    # The next run: change the evidence of some objects.
    new_osm = list(osm)
    new_problems = dict(before.problems)
    applied: Counter[str] = Counter()
    next_id = 9_000_000
    for i in range(len(pairs)):
        roll = rng.random()
        obj, identity = new_osm[i], problems[i].identity
        edge = 0.0
        for change, rate in RATES.items():
            edge += rate
            if roll >= edge:
                continue
            applied[change] += 1
            if change == "moved":
                new_osm[i] = dataclasses.replace(obj, lat=obj.lat + 25 / M_PER_DEG, version=2)
            elif change == "renamed":
                tags = {**obj.tags, "name": obj.tags["name"] + " Nord"}
                new_osm[i] = dataclasses.replace(obj, tags=tags, name=tags["name"], version=2)
            elif change == "new_version":
                new_osm[i] = dataclasses.replace(obj, version=3)
            elif change == "replaced":
                next_id += 1
                new_osm[i] = dataclasses.replace(
                    obj, osm_key=f"way/{next_id}", osm_type="way", osm_id=next_id
                )
                stop = registry[i]
                new_identity = problem_identity("distance", stop.stop_id, new_osm[i].osm_key)
                new_problems.pop(identity)
                new_problems[new_identity] = dataclasses.replace(problems[i], identity=new_identity,
                                                                 osm_key=new_osm[i].osm_key)  # fmt: skip
            elif change == "deleted":
                new_osm[i] = None  # type: ignore[call-overload]
                new_problems.pop(identity, None)
            elif change == "fixed":
                new_problems.pop(identity, None)
            break
    after_osm = [o for o in new_osm if o is not None]
    policy = ExpiryPolicy()

    started = time.perf_counter()
    after = Snapshot(registry, after_osm, new_problems.values())
    outcomes = reconcile_decisions(decisions, after, policy, run_id=2)
    reconcile_s = time.perf_counter() - started
    kinds = Counter(o.kind for o in outcomes)

    started = time.perf_counter()
    link_outcomes = resolve_manual_links(links, Snapshot(registry, after_osm), run_id=2)
    links_s = time.perf_counter() - started
    link_kinds = Counter("migrated" if o.migration else o.status for o in link_outcomes)

    note = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return [
        Figure(
            f"reconcile {len(decisions):,} decisions ({len(registry):,} stops, {len(after_osm):,} objects)",
            reconcile_s,
            "s",
            target=5.0,
            note=note,
        ),
        Figure(
            f"resolve {len(links):,} manual links",
            links_s,
            "s",
            target=2.0,
            note=", ".join(f"{k} {v}" for k, v in sorted(link_kinds.items())),
        ),
        Figure(
            "decisions written (not untouched)",
            sum(1 for o in outcomes if o.writes),
            "",
            note="changes applied: " + ", ".join(f"{k} {v}" for k, v in sorted(applied.items())),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--links", type=int, default=5_000)
    args = parser.parse_args()
    print(format_table(run(args.seed, args.decisions, args.links)))


if __name__ == "__main__":
    main()
