"""What a decision or a manual link was made on: the registry row, the OSM object (version, position,
the tags that matter) and the distance between them, as plain JSON that survives schema changes.
"""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.geo import haversine_m
from pipeline.records import ProblemRecord, RegistryStopLike

EVIDENCE_VERSION = 1

# The OSM tags a decision depends on; other tags only show up through the version number.
OSM_EVIDENCE_TAGS: tuple[str, ...] = (
    "name",
    "uic_name",
    "official_name",
    "gtfs:name",
    "uic_ref",
    "local_ref",
    "ref",
    "ref:IFOPT",
    "ref:sloid",
    "operator",
    "network",
    "public_transport",
    "railway",
    "highway",
    "amenity",
    "aerialway",
)


class RegistryLike(RegistryStopLike, Protocol):
    """A registry stop a decision's evidence is taken from: a `RegistryStop` or a `RegistryStopRow`
    row, which also carry the row's hash (the fix exports' `FixStop` does not)."""

    @property
    def row_hash(self) -> str: ...


class OsmLike(Protocol):
    """An OSM object: `OsmObject` or an `OsmStop` row (same attribute names);
    read-only, so frozen records fit."""

    @property
    def osm_key(self) -> str: ...

    @property
    def osm_type(self) -> str: ...

    @property
    def version(self) -> int | None: ...

    @property
    def tags(self) -> dict[str, str]: ...

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


def atlas_evidence(stop: RegistryLike) -> dict[str, Any]:
    """What a decision knows about the registry stop it was made on."""
    return {
        "stop_id": stop.stop_id,
        "row_hash": stop.row_hash,
        "code": stop.code,
        "platform_code": stop.platform_code,
        "name": stop.name,
        "operator_code": stop.operator_code,
        "modes": stop.modes,
        "lat": stop.lat,
        "lon": stop.lon,
    }


def osm_evidence(obj: OsmLike) -> dict[str, Any]:
    """What a decision knows about the OSM object it was made on: key, version, position, relevant tags."""
    tags = obj.tags or {}
    return {
        "osm_key": obj.osm_key,
        "osm_type": obj.osm_type,
        "version": obj.version,
        "lat": obj.lat,
        "lon": obj.lon,
        "tags": {k: tags[k] for k in OSM_EVIDENCE_TAGS if tags.get(k) not in (None, "")},
    }


def build_evidence(
    problem_type: str,
    identity: str,
    stop: RegistryLike | None,
    obj: OsmLike | None,
    problem: ProblemRecord | Any | None = None,
) -> dict[str, Any]:
    """The full evidence record stored with a decision (plain JSON)."""
    distance = getattr(problem, "distance_m", None) if problem is not None else None
    if distance is None and stop is not None and obj is not None:
        distance = round(haversine_m(stop.lat, stop.lon, obj.lat, obj.lon), 2)
    return {
        "version": EVIDENCE_VERSION,
        "problem_identity": identity,
        "problem_type": problem_type,
        "priority": getattr(problem, "priority", None) if problem is not None else None,
        "problem_present": problem is not None,
        "distance_m": distance,
        "atlas": atlas_evidence(stop) if stop is not None else None,
        "osm": osm_evidence(obj) if obj is not None else None,
    }
