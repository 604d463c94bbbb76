"""Tiny hand-built source files (an ATLAS traffic-point CSV and an Overpass JSON) for review-workflow
tests, and a helper that runs the real pipeline on them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runs.stages import RunOptions, RunSummary, run_pipeline

TODAY = dt.date(2025, 8, 2)
# Bern, inside the CH+LI boundary the ATLAS source checks.
BASE_LAT, BASE_LON = 46.9480, 7.4474
M_PER_DEG_LAT = 111_195.0

ATLAS_HEADER = (
    "sloid",
    "number",
    "uicCountryCode",
    "validFrom",
    "validTo",
    "designationOfficial",
    "wgs84East",
    "wgs84North",
    "designation",
    "trafficPointElementType",
    "parentSloidServicePoint",
    "servicePointBusinessOrganisationAbbreviationEn",
    "cantonAbbreviation",
)


def at(east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    """(lat, lon) `east_m`/`north_m` metres from the base point."""
    lat = BASE_LAT + north_m / M_PER_DEG_LAT
    lon = BASE_LON + east_m / (M_PER_DEG_LAT * math.cos(math.radians(BASE_LAT)))
    return round(lat, 7), round(lon, 7)


@dataclass(frozen=True)
class Platform:
    """One ATLAS traffic point."""

    stop_id: str
    number: int
    name: str
    east: float = 0.0
    north: float = 0.0
    platform_code: str = ""
    operator: str = "BERNMOBIL"
    region: str = "BE"

    def row(self) -> list[str]:
        lat, lon = at(self.east, self.north)
        parent = ":".join(self.stop_id.split(":")[:4])
        return [
            self.stop_id, str(self.number), "85", "2020-01-01", "9999-12-31", self.name, f"{lon:.7f}",
            f"{lat:.7f}", self.platform_code, "BOARDING_PLATFORM", parent, self.operator, self.region,
        ]  # fmt: skip


@dataclass(frozen=True)
class Element:
    """One OSM node (or way, given by its centre)."""

    osm_type: str
    osm_id: int
    east: float = 0.0
    north: float = 0.0
    version: int = 1
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.osm_type}/{self.osm_id}"

    def moved(self, east: float = 0.0, north: float = 0.0, **changes: Any) -> Element:
        return replace(self, east=self.east + east, north=self.north + north, **changes)

    def json(self) -> dict[str, Any]:
        lat, lon = at(self.east, self.north)
        element: dict[str, Any] = {"type": self.osm_type, "id": self.osm_id, "version": self.version}
        if self.osm_type == "node":
            element.update(lat=lat, lon=lon)
        else:
            element["center"] = {"lat": lat, "lon": lon}
        element["tags"] = dict(self.tags)
        return element


def platform_tags(name: str, uic_ref: str | None = None, local_ref: str | None = None, **extra: str) -> dict:
    tags = {"public_transport": "platform", "highway": "bus_stop", "bus": "yes", "name": name}
    if uic_ref:
        tags["uic_ref"] = uic_ref
    if local_ref:
        tags["local_ref"] = local_ref
    tags.update(extra)
    return tags


def write_sources(
    directory: Path, platforms: list[Platform], elements: list[Element], roads: list[list[int]] | None = None
) -> Path:
    """The two source files. `roads`: node lists of untagged ways (`way(bn); out skel;`), which tell the
    parser which stop nodes belong to a way; without them membership stays unknown."""
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(ATLAS_HEADER)
    for platform in platforms:
        writer.writerow(platform.row())
    (directory / "atlas_traffic_points.csv").write_text(buffer.getvalue(), encoding="utf-8-sig")
    ways = [{"type": "way", "id": 900_000 + i, "nodes": refs} for i, refs in enumerate(roads or [])]
    overpass = {"version": 0.6, "generator": "test", "elements": [e.json() for e in elements] + ways}
    (directory / "osm_stops.json").write_text(json.dumps(overpass), encoding="utf-8")
    return directory


def run(directory: Path) -> RunSummary:
    summary = run_pipeline(RunOptions(trigger="cli", source_dir=directory, offline=True, today=TODAY))
    assert summary.status == "succeeded", summary.error
    return summary
