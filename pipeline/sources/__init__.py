"""Source plug-ins and their registry, by name.

| name  | kind     | files in a source directory                 | live download                           |
|-------|----------|---------------------------------------------|-----------------------------------------|
| atlas | registry | atlas*.csv, atlas*.zip (traffic or service) | GET ATLAS_URL, ATLAS_SERVICE_POINTS_URL |
| osm   | osm      | osm*.json, osm*.osm / *.xml, osm*.osm.pbf   | POST the query to OSM_URL (Overpass),   |
|       |          |                                             | or GET it when it names an extract      |
| gtfs  | timetable| gtfs*.zip (optional: route evidence)        | GET GTFS_URL ({year} = current year)    |
| naptan| registry | naptan*.xml, naptan*.zip, Stops.csv (with     | GET NAPTAN_URL                          |
|       |          | StopsInArea, StopAreas, AreaHierarchy.csv)  |                                         |
"""

from __future__ import annotations

from pipeline.declarations import Identifier, RegistryDeclaration, register_declaration
from pipeline.sources.atlas import AtlasSource
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind
from pipeline.sources.gtfs import GtfsSource
from pipeline.sources.naptan import NaptanSource
from pipeline.sources.osm import OsmSource

_REGISTRY: dict[str, Source] = {}


def register_source(source: Source) -> None:
    """Make a source available to the pipeline under `source.name` (a registry's declaration too)."""
    if source.name in _REGISTRY:
        raise ValueError(f"source {source.name!r} is already registered")
    if source.kind == SourceKind.REGISTRY:
        if source.declaration is None:
            # A registry that declares nothing: its stops are matched by name and distance only, and
            # no fix ever writes an identifier tag for it.
            source.declaration = RegistryDeclaration(source.name, source.name, Identifier("stop_id", ()))
        if source.declaration.name != source.name:
            raise ValueError(f"source {source.name!r} declares itself as {source.declaration.name!r}")
        register_declaration(source.declaration)
    _REGISTRY[source.name] = source


def get_source(name: str) -> Source:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_sources() -> list[Source]:
    return list(_REGISTRY.values())


# What a run uses when PIPELINE_SOURCES is not set: the Swiss instance.
DEFAULT_PIPELINE_SOURCES = "atlas,osm,gtfs"


def selected_sources(names: str = DEFAULT_PIPELINE_SOURCES) -> list[Source]:
    """The sources a run uses (PIPELINE_SOURCES, comma-separated names), in registration order.

    Only these are fetched and parsed: a registered source that is not named is never downloaded
    and its missing files are no error. Raises ValueError for an unknown name, or when the selection
    lacks a registry or the OSM source (the matcher needs one of each).
    """
    wanted = {n.strip().lower() for n in names.split(",") if n.strip()}
    unknown = wanted - set(_REGISTRY)
    if unknown:
        raise ValueError(
            f"unknown source(s) {', '.join(sorted(unknown))}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    chosen = [s for name, s in _REGISTRY.items() if name in wanted]
    kinds = {s.kind for s in chosen}
    for kind, what in ((SourceKind.REGISTRY, "registry"), (SourceKind.OSM, "OSM")):
        if kind not in kinds:
            raise ValueError(f"{names!r} names no {what} source; the matcher needs one")
    return chosen


def registry_sources() -> dict[str, Source]:
    """The registered registry plug-ins (`SourceKind.REGISTRY`) by name: what `/stops/<source>/...`
    accepts, whether or not the instance runs them."""
    return {name: s for name, s in _REGISTRY.items() if s.kind == SourceKind.REGISTRY}


register_source(AtlasSource())
register_source(OsmSource())
register_source(GtfsSource())
register_source(NaptanSource())

__all__ = [
    "HttpRequest",
    "ParseOptions",
    "ParseResult",
    "Source",
    "SourceKind",
    "all_sources",
    "get_source",
    "register_source",
    "registry_sources",
    "selected_sources",
]
