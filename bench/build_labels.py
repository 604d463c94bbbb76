"""Build the labelled evaluation set of the matching-quality benchmark from the real sample pair.

    .venv/bin/python bench/build_labels.py   → tests/data/sample_pair/labels.json

Labels come from identifiers that mappers set by hand, independently of our matcher:
- same stop: OSM `ref:sloid` == ATLAS sloid; or OSM `uic_ref` == ATLAS number where `local_ref` does
  not contradict the designation (stations, which are not a platform, stay unlabelled);
- known non-pairs, within NEGATIVE_RADIUS_M: the OSM `uic_ref` names another stop, or the object is
  another platform of the same stop (its `ref:sloid` or `local_ref` says so). These are the hard cases a
  distance-only matcher could confuse.
Objects without identifiers stay unlabelled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

from pipeline.geo import haversine_m
from pipeline.matching.normalize import normalise_ref
from pipeline.sources import ParseOptions, get_source

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests/data/sample_pair"
NEGATIVE_RADIUS_M = 300.0
TODAY = dt.date(2026, 3, 1)  # the sample's export is from early 2026


def load_sample():
    options = ParseOptions(today=TODAY)
    registry = get_source("atlas").parse([SAMPLE / "sample_atlas.csv"], options).records
    osm = get_source("osm").parse([SAMPLE / "sample_osm.xml"], options).records
    return registry, osm


def build() -> dict:
    registry, osm = load_sample()
    by_number = defaultdict(list)
    for stop in registry:
        by_number[stop.uic_number].append(stop)
    sloids = {stop.sloid for stop in registry}
    positives, negatives = [], []
    for obj in osm:
        if obj.sloid_tag:
            if obj.sloid_tag in sloids:
                positives.append({"sloid": obj.sloid_tag, "osm_key": obj.osm_key, "why": "ref:sloid"})
            continue
        if obj.is_station or not (obj.uic_ref and obj.uic_ref.isdigit()):
            continue
        ref = normalise_ref(obj.local_ref)
        for stop in by_number.get(int(obj.uic_ref), []):
            designation = normalise_ref(stop.designation)
            if ref is not None and designation is not None and ref != designation:
                continue  # another platform of the same stop: labelled below as a non-pair
            positives.append({"sloid": stop.sloid, "osm_key": obj.osm_key, "why": "uic_ref"})
    for stop in registry:
        designation = normalise_ref(stop.designation)
        for obj in osm:
            distance = haversine_m(stop.lat, stop.lon, obj.lat, obj.lon)
            if distance > NEGATIVE_RADIUS_M:
                continue
            other_stop = obj.uic_ref and obj.uic_ref.isdigit() and int(obj.uic_ref) != stop.uic_number
            other_platform = (obj.sloid_tag and obj.sloid_tag != stop.sloid) or (
                obj.uic_ref == str(stop.uic_number)
                and designation is not None
                and normalise_ref(obj.local_ref) not in (None, designation)
            )
            if other_stop or other_platform:
                reason = "other stop" if other_stop else "other platform"
                negatives.append(
                    {
                        "sloid": stop.sloid,
                        "osm_key": obj.osm_key,
                        "distance_m": round(distance, 1),
                        "why": reason,
                    }
                )
    return {
        "source": "tests/data/sample_pair (40 ATLAS traffic points, 125 OSM nodes)",
        "positives": sorted(positives, key=lambda p: (p["sloid"], p["osm_key"])),
        "negatives": sorted(negatives, key=lambda p: (p["sloid"], p["osm_key"])),
    }


def main() -> None:
    labels = build()
    path = SAMPLE / "labels.json"
    path.write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    print(
        f"{path.relative_to(ROOT)}: {len(labels['positives'])} same-stop pairs, "
        f"{len(labels['negatives'])} non-pairs"
    )


if __name__ == "__main__":
    main()
