"""The kind of a stop object (bus, tram, rail, ferry, aerialway) and the name-stage radius of a pair.

The kind comes from the OSM object's tags, the object whose position spreads; an object without mode
tags takes the kind of the registry stop's means of transport, and "bus" when neither says.
Radii and their sources: `params.NAME_RADIUS_M`. When both sides state their modes and share none, the
name stage refuses the pair (`kinds_contradict`): one place name often names a railway station and the
bus stop in front of it, two registry stops.
"""

from __future__ import annotations

from pipeline.declarations import declaration_for
from pipeline.matching.params import (
    FULL_NAME_RADIUS_FACTOR,
    NAME_RADIUS_M,
    STOP_LEVEL_RADIUS_M,
)
from pipeline.records import OsmObject, RegistryStop

# (tag, value, kind), first hit wins: a rail tag beats a bus tag on a shared platform.
_OSM_KIND_TAGS: tuple[tuple[str, str | None, str], ...] = (
    ("aerialway", None, "aerialway"),
    ("railway", "station", "rail"),
    ("railway", "halt", "rail"),
    ("railway", "platform", "rail"),
    ("railway", "stop", "rail"),
    ("train", "yes", "rail"),
    ("railway", "tram_stop", "tram"),
    ("tram", "yes", "tram"),
    ("amenity", "ferry_terminal", "ferry"),
    ("ferry", "yes", "ferry"),
    ("highway", "bus_stop", "bus"),
    ("bus", "yes", "bus"),
    ("trolleybus", "yes", "bus"),
)

# ATLAS `meansOfTransport` values → kind.
_REGISTRY_KINDS: dict[str, str] = {
    "TRAIN": "rail",
    "RACK_RAILWAY": "rail",
    "METRO": "rail",
    "TRAM": "tram",
    "BUS": "bus",
    "BOAT": "ferry",
    "CHAIRLIFT": "aerialway",
    "CABLE_CAR": "aerialway",
    "CABLE_RAILWAY": "aerialway",
    "ELEVATOR": "aerialway",
}


def tagged_kinds(obj: OsmObject) -> list[str]:
    """The kinds the object's own tags name, in `_OSM_KIND_TAGS` order (a shared tram and bus stop
    names both); empty when no tag says."""
    out: list[str] = []
    for key, value, kind in _OSM_KIND_TAGS:
        found = obj.tags.get(key)
        if found is not None and (value is None or found == value) and found != "no" and kind not in out:
            out.append(kind)
    return out


def registry_kinds(stop: RegistryStop) -> list[str]:
    """The kinds of the registry stop's means of transport (ATLAS `meansOfTransport`, "|"-separated)."""
    out: list[str] = []
    for mode in (stop.modes or "").split("|"):
        kind = _REGISTRY_KINDS.get(mode.strip().upper())
        if kind is not None and kind not in out:
            out.append(kind)
    return out


def object_kind(obj: OsmObject, stop: RegistryStop | None = None) -> str:
    """The object's kind ("bus", "tram", "rail", "ferry", "aerialway"): its first tagged kind, else the
    registry stop's first mode, else "bus"."""
    kinds = tagged_kinds(obj) or (registry_kinds(stop) if stop is not None else [])
    return kinds[0] if kinds else "bus"


def kinds_contradict(stop: RegistryStop, obj: OsmObject) -> bool:
    """True when both sides say their mode and no mode is shared: "Zürich Binz" (a railway station)
    and "Zürich, Binz" (a bus stop) are two stops with one name, told apart by their modes."""
    reg, tagged = registry_kinds(stop), tagged_kinds(obj)
    return bool(reg) and bool(tagged) and not set(reg) & set(tagged)


def name_radius_m(stop: RegistryStop, obj: OsmObject, *, whole_stop: bool, full_name: bool) -> float:
    """The name-stage radius of this pair: its kind's, at least STOP_LEVEL_RADIUS_M for a whole stop,
    times FULL_NAME_RADIUS_FACTOR when the object carries the registry's full official name and the
    registry's names are unique (`RegistryDeclaration.unique_names`)."""
    radius = NAME_RADIUS_M[object_kind(obj, stop)]
    if whole_stop:
        radius = max(radius, STOP_LEVEL_RADIUS_M)
    if full_name and declaration_for(stop.source).unique_names:
        radius *= FULL_NAME_RADIUS_FACTOR
    return radius
