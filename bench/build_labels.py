"""Build the labelled evaluation sets of the matching-quality benchmark from real data.

    .venv/bin/python -m bench.build_labels   → tests/data/<set>/labels.json

Two sets (`SETS`), each a registry file and an OSM file:
- `sample_pair`: 40 ATLAS traffic points (platform level) and 125 OSM nodes around them
  (tests/data/sample_pair, a copy of ../shared/data/stop_sync_sample_pair);
- `li_demo`: the 221 ATLAS service points of Liechtenstein (stop level) and the 773 OSM stop objects
  of the Liechtenstein extract (data/demo, the bundled demo).

Labels come from identifiers that mappers set by hand, independently of our matcher. A pair is:
- **positive** (same stop)
  - platform level: OSM `ref:sloid`/`ref:IFOPT` == the traffic point's stop_id; or OSM `uic_ref` == the
    ATLAS number and `local_ref` does not contradict the platform_code (either may be missing). A station
    object is not a platform and stays unlabelled for a traffic point.
  - stop level: OSM `uic_ref` == the ATLAS number (every object of the stop: platforms, stop positions,
    the station); or `ref:sloid`/`ref:IFOPT` == the stop_id or a platform stop_id under it ("<stop_id>:...").
- **negative** (known non-pair), within NEGATIVE_RADIUS_M (beyond every matching radius): the OSM
  `uic_ref` is another number, its `ref:sloid`/`ref:IFOPT` names another stop or platform, or (platform
  level) it has the same number but a `local_ref` that names another platform.
- anything else is **unlabelled**: an object without identifiers is neither right nor wrong.
A `uic_ref` counts only as ASCII digits (`pipeline.text.ascii_int`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.geo import haversine_m
from pipeline.matching.normalize import normalise_ref
from pipeline.records import OsmObject, RegistryStop
from pipeline.sources import ParseOptions, get_source
from pipeline.text import ascii_int

ROOT = Path(__file__).resolve().parents[1]
NEGATIVE_RADIUS_M = 1000.0


@dataclass(frozen=True)
class LabelledSet:
    """One labelled evaluation set: where its sources and labels are, and the registry level."""

    name: str
    description: str
    registry_file: Path
    osm_file: Path
    labels_file: Path
    level: str  # "platform" (traffic points) or "stop" (service points)
    today: dt.date  # the export's date: validity filters see the data as it was

    def load(self) -> tuple[list[RegistryStop], list[OsmObject], object]:
        """Registry stops, OSM objects and OSM structure (stop areas, routes), parsed as the pipeline does."""
        options = ParseOptions(today=self.today)
        registry = get_source("atlas").parse([self.registry_file], options).records
        parsed = get_source("osm").parse([self.osm_file], options)
        return registry, parsed.records, getattr(parsed, "structure", None)


SETS: tuple[LabelledSet, ...] = (
    LabelledSet(
        "sample_pair",
        "40 ATLAS traffic points (platform level), 125 OSM nodes",
        ROOT / "tests/data/sample_pair/sample_atlas.csv",
        ROOT / "tests/data/sample_pair/sample_osm.xml",
        ROOT / "tests/data/sample_pair/labels.json",
        "platform",
        dt.date(2026, 3, 1),  # the sample's export is from early 2026
    ),
    LabelledSet(
        "li_demo",
        "221 ATLAS service points of Liechtenstein (stop level), 773 OSM objects",
        ROOT / "data/demo/atlas_service_points_li.csv",
        ROOT / "data/demo/osm_li.json",
        ROOT / "tests/data/li_demo/labels.json",
        "stop",
        dt.date(2025, 8, 2),  # the ATLAS export's date
    ),
)
BY_NAME = {s.name: s for s in SETS}


def _sloid_tags(obj: OsmObject) -> set[str]:
    return {v.strip() for v in (obj.sloid_tag, obj.ifopt) if v and v.strip()}


def _names_stop(ident: str, stop: RegistryStop, level: str) -> bool:
    """Does an OSM stop_id/IFOPT value name this registry stop (stop level: or one of its platforms)?"""
    return ident == stop.stop_id or (level == "stop" and ident.startswith(stop.stop_id + ":"))


def label_pair(stop: RegistryStop, obj: OsmObject, level: str) -> tuple[bool | None, str]:
    """(True: same stop, False: known non-pair, None: unlabelled) and the reason, by the rules above."""
    idents = _sloid_tags(obj)
    if idents:
        if any(_names_stop(i, stop, level) for i in idents):
            return True, "ref:sloid"
        return False, "ref:sloid names another stop"
    number = ascii_int(obj.uic_ref)
    if number is None or stop.code_number is None:
        return None, "no identifier"
    if number != stop.code_number:
        return False, "uic_ref names another stop"
    if level == "stop":
        return True, "uic_ref"
    ref, platform_code = normalise_ref(obj.local_ref), normalise_ref(stop.platform_code)
    if ref is not None and platform_code is not None and ref != platform_code:
        return False, "local_ref names another platform"
    if obj.is_station:
        return None, "a station is not a platform"
    return True, "uic_ref"


def build(registry: Sequence[RegistryStop], osm: Sequence[OsmObject], level: str) -> dict:
    """Positive and negative pairs of one set (see the module docstring)."""
    positives, negatives = [], []
    by_number: dict[int, list[RegistryStop]] = defaultdict(list)
    for stop in registry:
        if stop.code_number is not None:
            by_number[stop.code_number].append(stop)
    for stop in registry:
        for obj in osm:
            label, why = label_pair(stop, obj, level)
            if label is True:
                positives.append({"stop_id": stop.stop_id, "osm_key": obj.osm_key, "why": why})
            elif label is False:
                distance = haversine_m(stop.lat, stop.lon, obj.lat, obj.lon)
                if distance <= NEGATIVE_RADIUS_M:
                    negatives.append(
                        {
                            "stop_id": stop.stop_id,
                            "osm_key": obj.osm_key,
                            "distance_m": round(distance, 1),
                            "why": why,
                        }
                    )
    return {
        "positives": sorted(positives, key=lambda p: (p["stop_id"], p["osm_key"])),
        "negatives": sorted(negatives, key=lambda p: (p["stop_id"], p["osm_key"])),
    }


def main() -> None:
    for labelled in SETS:
        registry, osm, _structure = labelled.load()
        labels = {"source": f"{labelled.name}: {labelled.description}", "level": labelled.level}
        labels.update(build(registry, osm, labelled.level))
        labelled.labels_file.parent.mkdir(parents=True, exist_ok=True)
        labelled.labels_file.write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
        print(
            f"{labelled.labels_file.relative_to(ROOT)}: {len(labels['positives'])} same-stop pairs, "
            f"{len(labels['negatives'])} non-pairs"
        )


if __name__ == "__main__":
    main()
