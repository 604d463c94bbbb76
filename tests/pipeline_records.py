"""Builders of plain pipeline records for hand-built matching and problem cases."""

from __future__ import annotations

import math
from typing import Any

from pipeline.records import OsmObject, RegistryStop

BASE_LAT, BASE_LON = 47.0, 8.0
M_PER_DEG_LAT = 111_195.0


def at(east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    """(lat, lon) of a point `east_m`/`north_m` metres from the base point."""
    lat = BASE_LAT + north_m / M_PER_DEG_LAT
    lon = BASE_LON + east_m / (M_PER_DEG_LAT * math.cos(math.radians(BASE_LAT)))
    return lat, lon


def stop(
    stop_id: str,
    east_m: float = 0.0,
    north_m: float = 0.0,
    *,
    number: int | None = None,
    platform_code: str | None = None,
    name: str | None = "Musterdorf, Post",
    operator: str | None = "PAG",
    level: str = "traffic_point",
) -> RegistryStop:
    lat, lon = at(east_m, north_m)
    return RegistryStop(
        source="atlas",
        stop_id=stop_id,
        dataset=level,
        code=str(number) if number is not None else None,
        platform_code=platform_code,
        name=name,
        operator_code=operator,
        operator_name=None,
        modes=None,
        country_code="CH",
        region=None,
        parent_id=None,
        valid_from=None,
        valid_to=None,
        lat=lat,
        lon=lon,
        row_hash=stop_id,
    )


def osm(
    osm_id: int,
    east_m: float = 0.0,
    north_m: float = 0.0,
    *,
    osm_type: str = "node",
    **tags: Any,
) -> OsmObject:
    lat, lon = at(east_m, north_m)
    tag_map = {k.replace("__", ":"): str(v) for k, v in tags.items()}
    tag_map.setdefault("public_transport", "platform")
    return OsmObject(
        osm_key=f"{osm_type}/{osm_id}",
        osm_type=osm_type,
        osm_id=osm_id,
        version=1,
        name=tag_map.get("name"),
        uic_ref=tag_map.get("uic_ref"),
        uic_name=tag_map.get("uic_name"),
        ifopt=tag_map.get("ref:IFOPT"),
        local_ref=tag_map.get("local_ref"),
        operator=tag_map.get("operator"),
        network=tag_map.get("network"),
        public_transport=tag_map.get("public_transport"),
        railway=tag_map.get("railway"),
        highway=tag_map.get("highway"),
        amenity=tag_map.get("amenity"),
        aerialway=tag_map.get("aerialway"),
        tags=tag_map,
        lat=lat,
        lon=lon,
        row_hash=str(osm_id),
    )
