"""Plain records that flow between pipeline stages; they mirror the snapshot tables (minus geometry).

Frozen, slotted dataclasses: cheap to build by the hundred thousand, hashable, safe to share.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from pipeline.text import ascii_int

ManualAction = Literal["link", "unlink"]

# The source whose problem identities carry no source (ATLAS's, as before registries were plug-ins:
# decisions hang on them). Every other registry's stop part is "<source>/<stop_id>".
LEGACY_IDENTITY_SOURCE = "atlas"


class RegistryKey(NamedTuple):
    """What identifies a registry stop: (registry plug-in, the registry's own id). Two registries may
    use the same id string for different stops, so maps and joins of registry stops use both."""

    source: str
    stop_id: str


class RegistryStopLike(Protocol):
    """A registry stop as readers of one see it: a `RegistryStop` record, a `registry_stops` row
    (`database.models.RegistryStopRow`, same attribute names) or the fix exports' `FixStop`.
    Read-only properties, so frozen records fit. The one description of a registry stop for code
    that takes any of them (the app imports it from here: `pipeline/` never imports `app/`)."""

    @property
    def source(self) -> str: ...

    @property
    def stop_id(self) -> str: ...

    @property
    def dataset(self) -> str: ...

    @property
    def code(self) -> str | None: ...

    @property
    def platform_code(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...

    @property
    def operator_code(self) -> str | None: ...

    @property
    def operator_name(self) -> str | None: ...

    @property
    def modes(self) -> str | None: ...

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RegistryStop:
    """One stop of an official registry (an ATLAS traffic or service point, a NaPTAN stop point).
    Mirrors `registry_stops`; keyed by (`source`, `stop_id`)."""

    # The registry plug-in's name (`atlas`, `naptan`): which `pipeline.sources` declaration describes it.
    source: str
    # The registry's own id (ATLAS sloid, NaPTAN AtcoCode).
    stop_id: str
    # Which of the source's files the row came from (`traffic_points`, `service_points`, `xml`, `csv`).
    dataset: str
    # The second public identifier, as text (ATLAS UIC number "8500010", NaPTAN NaptanCode).
    code: str | None
    platform_code: str | None
    name: str | None
    operator_code: str | None
    operator_name: str | None
    modes: str | None
    country_code: str | None
    region: str | None
    parent_id: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    lat: float
    lon: float
    row_hash: str
    # Registry-specific extras (NaPTAN stop type and status, OSGB easting/northing, ...).
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def code_number(self) -> int | None:
        """`code` as a number when it is one (an ATLAS UIC number), for numeric comparisons."""
        return ascii_int(self.code) if self.code else None

    def __hash__(self) -> int:  # attributes is a dict; (source, stop_id) identifies the stop
        return hash((self.source, self.stop_id))

    @property
    def key(self) -> RegistryKey:
        return RegistryKey(self.source, self.stop_id)


@dataclass(frozen=True, slots=True)
class OsmObject:
    """One OSM stop object (node, or way reduced to its centre). Mirrors `osm_stops`."""

    osm_key: str  # "node/123" or "way/45"
    osm_type: str
    osm_id: int
    version: int | None
    name: str | None
    uic_ref: str | None
    uic_name: str | None
    ifopt: str | None
    local_ref: str | None
    operator: str | None
    network: str | None
    public_transport: str | None
    railway: str | None
    highway: str | None
    amenity: str | None
    aerialway: str | None
    tags: dict[str, str]
    lat: float
    lon: float
    row_hash: str
    # A node that is part of a way (a stop position on a road or track, a vertex of a platform outline):
    # True/False when the source lists the ways around it, None when it cannot tell (ways: always None).
    # Moving such a node would bend the way, so fix exports never move it.
    way_member: bool | None = None

    @property
    def sloid_tag(self) -> str | None:
        """`ref:sloid`, the identifier some mappers use instead of `ref:IFOPT`."""
        return self.tags.get("ref:sloid")

    @property
    def is_station(self) -> bool:
        """A station area (not a place where a vehicle stops): excluded from platform matching."""
        if self.public_transport == "stop_position" or self.aerialway == "station":
            return False
        return self.public_transport == "station" or self.railway == "station"

    def __hash__(self) -> int:  # tags is a dict; the key identifies the object
        return hash(self.osm_key)


# Roles of a route relation's stop members (PTv2): where vehicles stop, and where people wait.
STOP_ROLES = frozenset({"stop", "stop_entry_only", "stop_exit_only"})
PLATFORM_ROLES = frozenset({"platform", "platform_entry_only", "platform_exit_only"})


def route_role(role: str) -> str:
    """A route member's role without the PTv1 direction prefix ("forward:stop" → "stop")."""
    for prefix in ("forward:", "backward:"):
        if role.startswith(prefix):
            return role[len(prefix) :]
    return role


@dataclass(frozen=True, slots=True)
class OsmMember:
    """One member of an OSM relation, in the relation's order. Mirrors `osm_stop_area_members` /
    `osm_route_members`."""

    role: str  # "" when the mapper gave none
    osm_key: str  # "node/123", "way/45" or "relation/6"
    # 0-based position among the members kept: all members of a stop area; the stop and platform
    # members of a route (its ways, thousands in a large extract, are not kept), so travel order.
    sequence: int


@dataclass(frozen=True, slots=True)
class OsmStopArea:
    """A `public_transport=stop_area` relation: the objects (platforms, stop positions, station)
    that make one stop. Mirrors `osm_stop_areas`."""

    osm_id: int
    version: int | None
    name: str | None
    uic_ref: str | None  # as tagged; `pipeline.text.ascii_int` tells whether it is a number
    uic_name: str | None
    tags: dict[str, str]
    members: tuple[OsmMember, ...]

    @property
    def osm_key(self) -> str:
        return f"relation/{self.osm_id}"

    def __hash__(self) -> int:  # tags is a dict; the id identifies the relation
        return hash(self.osm_id)


@dataclass(frozen=True, slots=True)
class OsmRoute:
    """A public-transport route relation (`type=route`, `route` in TRANSIT_ROUTES): one variant or
    direction of a line, with its stops and platforms in travel order. Mirrors `osm_routes`."""

    osm_id: int
    version: int | None
    route: str  # the mode: bus, tram, train, ...
    ref: str | None
    name: str | None
    from_: str | None  # tag `from`
    to: str | None
    via: str | None
    operator: str | None
    network: str | None
    gtfs_route_id: str | None  # tag `gtfs:route_id`
    ref_trips: str | None
    pt_version: str | None  # tag `public_transport:version` ("2" for PTv2)
    master_id: int | None  # the route_master relation that lists this route, if any
    tags: dict[str, str]
    members: tuple[OsmMember, ...]  # its stop and platform members, in travel order (no ways)

    @property
    def osm_key(self) -> str:
        return f"relation/{self.osm_id}"

    @property
    def stop_members(self) -> tuple[OsmMember, ...]:
        """Members in a stop role (stop positions), in travel order."""
        return tuple(m for m in self.members if route_role(m.role) in STOP_ROLES)

    @property
    def platform_members(self) -> tuple[OsmMember, ...]:
        """Members in a platform role, in travel order."""
        return tuple(m for m in self.members if route_role(m.role) in PLATFORM_ROLES)

    def __hash__(self) -> int:
        return hash(self.osm_id)


@dataclass(frozen=True, slots=True)
class OsmRouteMaster:
    """A `type=route_master` relation: a line, grouping its route variants. Mirrors `osm_route_masters`."""

    osm_id: int
    version: int | None
    route: str | None  # tag `route_master` (the mode)
    ref: str | None
    name: str | None
    operator: str | None
    network: str | None
    tags: dict[str, str]
    route_ids: tuple[int, ...]  # its transit route members, in order (only routes that were read)

    @property
    def osm_key(self) -> str:
        return f"relation/{self.osm_id}"

    def __hash__(self) -> int:
        return hash(self.osm_id)


@dataclass(frozen=True, slots=True)
class OsmStructure:
    """The relations of an OSM source that tie stop objects together, sorted by id."""

    stop_areas: tuple[OsmStopArea, ...] = ()
    routes: tuple[OsmRoute, ...] = ()
    route_masters: tuple[OsmRouteMaster, ...] = ()


@dataclass(frozen=True, slots=True)
class GtfsRouteRecord:
    """A timetable route (GTFS routes.txt with its agency). Mirrors `gtfs_routes`."""

    route_id: str
    route_key: str | None  # the id without its timetable year (`-j21` → `-jxx`), to meet OSM's gtfs:route_id
    agency_id: str | None
    agency_name: str | None
    short_name: str | None
    long_name: str | None
    route_type: str | None


@dataclass(frozen=True, slots=True)
class GtfsRouteStopRecord:
    """One stop of a route's most frequent itinerary in one direction, with the registry stop it
    resolved to (None: unresolved). Mirrors `gtfs_route_stops`."""

    route_id: str
    direction_id: str  # "" when the feed gives none
    sequence: int  # 0-based, travel order
    stop_id: str
    stop_name: str | None
    registry_stop_id: str | None
    trips: int  # trips following this itinerary


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """A pair found by the matcher. Mirrors `matches`."""

    stop_id: str
    osm_key: str
    method: str
    distance_m: float
    name_score: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    # The registry stop's plug-in (`RegistryStop.source`); the matcher always passes it.
    source: str = "atlas"

    def __hash__(self) -> int:
        return hash((self.source, self.stop_id, self.osm_key, self.method))

    @property
    def key(self) -> RegistryKey:
        return RegistryKey(self.source, self.stop_id)


@dataclass(frozen=True, slots=True)
class ProblemRecord:
    """A detected disagreement. Mirrors `problems`; `identity` is stable across runs."""

    identity: str
    problem_type: str
    priority: int
    stop_id: str | None
    osm_key: str | None
    operator_code: str | None
    distance_m: float | None
    message: str
    details: dict[str, Any]
    lat: float
    lon: float
    # The registry stop's plug-in when the problem names one (`stop_id`), else None.
    source: str | None = None

    def __hash__(self) -> int:
        return hash(self.identity)


@dataclass(frozen=True, slots=True)
class ManualLink:
    """A person's instruction to the matcher: link this pair, or never link it."""

    stop_id: str
    osm_key: str
    action: ManualAction
    source: str = "atlas"

    @property
    def key(self) -> RegistryKey:
        return RegistryKey(self.source, self.stop_id)


def problem_identity(
    problem_type: str, stop_id: str | None, osm_key: str | None, source: str | None = None
) -> str:
    """The stable key of a problem: the same underlying issue gets the same key in every run. A stop
    of a registry other than ATLAS is named "<source>/<stop_id>", so two registries' equal ids never
    share a problem; ATLAS identities are unchanged (no source)."""
    if stop_id and source and source != LEGACY_IDENTITY_SOURCE:
        stop_id = f"{source}/{stop_id}"
    return f"{problem_type}:{stop_id or '-'}:{osm_key or '-'}"


def parse_problem_identity(identity: str) -> tuple[str, str | None, str | None]:
    """(problem type, stop_id, osm_key) of an identity made by `problem_identity`. A stop_id holds colons
    and an OSM key none, so the type ends at the first colon and the key starts after the last."""
    problem_type, _, rest = identity.partition(":")
    stop_id, _, osm_key = rest.rpartition(":")
    absent = ("", "-")
    return problem_type, (None if stop_id in absent else stop_id), (None if osm_key in absent else osm_key)


_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def identity_registry_key(stop_part: str) -> RegistryKey:
    """The registry stop a problem identity's stop part (`parse_problem_identity`) names: "<source>/<id>"
    for a registry other than ATLAS, the bare id for ATLAS (`problem_identity`). ATLAS ids hold no
    "/"; a part whose head is no source name is an ATLAS id all the same."""
    source, slash, stop_id = stop_part.partition("/")
    if slash and stop_id and source != LEGACY_IDENTITY_SOURCE and _SOURCE_NAME.fullmatch(source):
        return RegistryKey(source, stop_id)
    return RegistryKey(LEGACY_IDENTITY_SOURCE, stop_part)


def osm_key(osm_type: str, osm_id: int) -> str:
    return f"{osm_type}/{osm_id}"
