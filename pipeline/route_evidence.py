"""Route evidence for stage 4 from the two sides' route data: pure, plain records in and out.

- Registry side: a GTFS timetable (`pipeline.sources.gtfs`), its stop_ids resolved to registry stops.
- OSM side: route relations (`OsmStructure.routes`, parsed by the OSM source); each of its stop and
  platform members that is one of the OSM stop objects gets the relation's service. Its direction
  is `from`/`to`, or, where a tag is missing, the names of its first and last stop members.

Either side may be missing (no GTFS configured, an OSM source without relations): the evidence is
then empty on that side and the route stage commits nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.matching.route import RouteEvidence, RouteService, normalise_route_id
from pipeline.records import (
    GtfsRouteRecord,
    GtfsRouteStopRecord,
    OsmObject,
    OsmRoute,
    OsmStructure,
    RegistryKey,
    RegistryStop,
)
from pipeline.sources.gtfs import GtfsTimetable, StopResolution, registry_services, resolve_stops


@dataclass
class RouteData:
    """The evidence, how GTFS stops were resolved, and counts for the run record."""

    evidence: RouteEvidence
    resolution: StopResolution | None = None
    stats: dict[str, float | int] = field(default_factory=dict)
    # The snapshot's timetable tables (gtfs_routes, gtfs_route_stops); empty without a timetable.
    gtfs_routes: list[GtfsRouteRecord] = field(default_factory=list)
    gtfs_route_stops: list[GtfsRouteStopRecord] = field(default_factory=list)


def _terminus_names(route: OsmRoute, objects: dict[str, OsmObject]) -> tuple[str | None, str | None]:
    """Names of the route's first and last platform (else stop) member, each None when that member
    is not a known stop object or has no name: a name from further inside the route would name an
    intermediate stop, not where the route goes."""
    for members in (route.platform_members, route.stop_members):
        known = [objects[m.osm_key] for m in members if m.osm_key in objects]
        if known:
            return known[0].name or None, known[-1].name or None
    return None, None


def osm_services(
    structure: OsmStructure | None, osm: Sequence[OsmObject]
) -> dict[str, frozenset[RouteService]]:
    """OSM key → services of the route relations the object is a stop or platform member of."""
    if structure is None:
        return {}
    objects = {o.osm_key: o for o in osm}
    out: dict[str, set[RouteService]] = defaultdict(set)
    for route in structure.routes:
        members = [m.osm_key for m in route.members if m.osm_key in objects]
        if not members:
            continue
        first, last = _terminus_names(route, objects)
        service = RouteService(
            route_id=route.gtfs_route_id,
            operator=route.operator,
            line=route.ref,
            origin=route.from_ or first,
            destination=route.to or last,
        )
        for key in members:
            out[key].add(service)
    return {key: frozenset(services) for key, services in out.items()}


def build_route_data(
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    structure: OsmStructure | None,
    timetable: GtfsTimetable | None,
    timetable_registry: str = "atlas",
) -> RouteData:
    """The route stage's evidence from whatever route data this run has. The timetable's stop_ids
    are resolved against the stops of `timetable_registry` only (GTFS_REGISTRY; the Swiss timetable
    names ATLAS stops): another registry's stop with the same id or number never takes its routes."""
    stats: dict[str, float | int] = {}
    reg_services: dict[RegistryKey, frozenset[RouteService]] = {}
    resolution = None
    if timetable is not None:
        registry = [s for s in registry if s.source == timetable_registry]
        resolution = resolve_stops(timetable.stops, registry)
        reg_services = {
            RegistryKey(timetable_registry, stop_id): services
            for stop_id, services in registry_services(timetable, resolution).items()
        }
        called = sorted(timetable.called_stop_ids())
        stats.update(
            {
                "gtfs_stop_ids": len(timetable.stops),
                "gtfs_stop_ids_resolved": len(resolution.sloid_of),
                "gtfs_stop_ids_resolved_share": round(resolution.share(), 4),
                "gtfs_called_stop_ids_resolved_share": round(resolution.share(called), 4),
                "registry_stops_with_routes": len(reg_services),
                "registry_stops_with_routes_share": round(len(reg_services) / len(registry), 4)
                if registry
                else 0.0,
                **{
                    f"gtfs_{k}" if k.startswith("unresolved") else f"gtfs_resolved_by_{k}": v
                    for k, v in resolution.counts().items()
                },
            }
        )
    services = osm_services(structure, osm)
    if structure is not None:
        stats["osm_routes"] = len(structure.routes)
        stats["osm_objects_with_routes"] = len(services)
    data = RouteData(RouteEvidence(reg_services, services), resolution, stats)
    if timetable is not None and resolution is not None:
        data.gtfs_routes, data.gtfs_route_stops = timetable_rows(timetable, resolution)
    return data


def timetable_rows(
    timetable: GtfsTimetable, resolution: StopResolution
) -> tuple[list[GtfsRouteRecord], list[GtfsRouteStopRecord]]:
    """The snapshot rows of a timetable: its routes, and the stops of each route's most frequent
    itinerary per direction with the registry stops they resolved to."""
    routes = [
        GtfsRouteRecord(
            route_id=r.route_id,
            route_key=normalise_route_id(r.route_id),
            agency_id=r.agency_id,
            agency_name=r.agency_name,
            short_name=r.short_name,
            long_name=r.long_name,
            route_type=r.route_type,
        )
        for r in sorted(timetable.routes.values(), key=lambda r: r.route_id)
    ]
    names = timetable.stop_names()
    stops = [
        GtfsRouteStopRecord(
            route_id=it.route_id,
            direction_id=it.direction_id,
            sequence=seq,
            stop_id=stop_id,
            stop_name=names.get(stop_id),
            registry_stop_id=resolution.sloid_of.get(stop_id),
            trips=it.trips,
        )
        for it in timetable.itineraries
        if it.route_id in timetable.routes
        for seq, stop_id in enumerate(it.stop_ids)
    ]
    return routes, stops
