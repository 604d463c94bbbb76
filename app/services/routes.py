"""Lines of both sides for the routes API and pages: OSM route relations and GTFS timetable routes,
which of them are one line, and stop by stop where the two sides agree.

What is stored (snapshot tables, replaced by every import): `osm_routes` + `osm_route_members` (one
relation = one variant or direction of a line, its stop and platform members in travel order) and
`gtfs_routes` + `gtfs_route_stops` (a timetable route, the stops of its most frequent itinerary in
each direction with the registry stop each GTFS stop_id resolved to).

**Line pairing** (computed on read, never stored: it follows the snapshot it reads). An OSM relation
and a GTFS route direction are candidates when the route stage would call them the same line, with
its own functions (`pipeline.matching.route.line_keys`): equal normalised route ids (`gtfs:route_id`
without the timetable year), or the same line ref with agreeing operators (or none on the OSM side).
A candidate in the other direction is dropped: the direction is read from the registry stops both
serve (walking the relation, do they advance along the itinerary or go back?) when they share two in
order, else from the destinations (`direction_keys`, `same_direction`; a relation cut at the data's
edge names a wrong terminus, the stops do not). Among the rest a relation keeps the best by (same
normalised route id, direction confirmed, registry stops shared); several equally good ones all stay
partners (a tie is shown, never broken by guessing). A GTFS direction's partners are the relations
that chose it.

**Stop agreement** (route detail): a GTFS stop agrees when the registry stop it resolved to is
matched to an OSM object that is a member of a partner relation; an OSM member agrees when a
registry stop it is matched to is on a partner direction's itinerary. `only_here`: the stop is known
on both sides but the partner line does not serve it there; `unknown`: it cannot be compared (GTFS
stop_id not resolved to a registry stop, OSM member matched to none); `no_partner`: the line has no
counterpart.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import current_app
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT

from app.services import editor_links
from database import db
from pipeline.matching.normalize import fold
from pipeline.matching.route import (
    RouteService,
    direction_keys,
    line_keys,
    normalise_route_id,
    same_direction,
)
from pipeline.sources.overpass import TRANSIT_ROUTES

SIDES = ("osm", "gtfs")
# The modes: OSM's `route` values the snapshot keeps; GTFS route types are read as the same words.
MODES = TRANSIT_ROUTES
STOP_STATUSES = ("agree", "only_here", "unknown", "no_partner")
MAX_LINES_AT_STOP = 200  # a main station is served by hundreds of relations; the page lists these

# GTFS route_type → mode: the basic types, then the extended (Google "HVT") ranges by hundreds.
_BASIC_TYPES = {
    0: "tram",
    1: "subway",
    2: "train",
    3: "bus",
    4: "ferry",
    5: "tram",
    6: "aerialway",
    7: "funicular",
    11: "trolleybus",
    12: "monorail",
}
_EXTENDED_TYPES = {
    1: "train",
    2: "bus",
    4: "subway",
    7: "bus",
    8: "trolleybus",
    9: "tram",
    10: "ferry",
    12: "ferry",
    13: "aerialway",
    14: "funicular",
}


# A GTFS route_id is free text in the feed (the snapshot keeps at most 255 characters); no control
# characters or lone surrogates, which no database text holds. An OSM relation id is a positive number.
_GTFS_ROUTE_ID = re.compile("^[^\x00-\x1f\x7f\ud800-\udfff]{1,255}\\Z")
_OSM_ID = re.compile(r"^[1-9][0-9]{0,17}\Z")


def valid_route_id(side: str, route_id: str) -> bool:
    """Whether `route_id` can name a line of `side` (an OSM relation id, a GTFS route_id)."""
    pattern = _OSM_ID if side == "osm" else _GTFS_ROUTE_ID if side == "gtfs" else None
    return pattern is not None and bool(pattern.match(route_id))


class InvalidCursorError(ValueError):
    """The cursor was not made by this API."""


def gtfs_mode(route_type: str | None) -> str | None:
    """The OSM `route` word for a GTFS route_type ("700" → "bus", "3" → "bus"), None if unknown."""
    if route_type is None or not route_type.strip().isascii() or not route_type.strip().isdigit():
        return None
    number = int(route_type.strip())
    if number < 100:
        return _BASIC_TYPES.get(number)
    return _EXTENDED_TYPES.get(number // 100)


def osm_relation_url(osm_id: int) -> str:
    """The relation on openstreetmap.org."""
    return editor_links.osm_object_url(f"relation/{osm_id}")


# --- loading ----------------------------------------------------------------------------------


@dataclass
class OsmLine:
    """One OSM route relation with what the pairing needs."""

    osm_id: int
    mode: str
    ref: str | None
    name: str | None
    operator: str | None
    network: str | None
    gtfs_route_id: str | None
    master_id: int | None
    origin: str | None  # tag `from`, else the first platform (or stop) member's name
    destination: str | None
    stops: int  # stop and platform members
    sloids: tuple[str, ...]  # registry stops its members are matched to, in travel order

    @property
    def key(self) -> tuple[str, str]:
        return ("osm", str(self.osm_id))

    def service(self) -> RouteService:
        return RouteService(
            route_id=self.gtfs_route_id,
            operator=self.operator,
            line=self.ref,
            origin=self.origin,
            destination=self.destination,
        )


@dataclass
class GtfsDirection:
    """One direction of a GTFS route: its main itinerary."""

    route_id: str
    direction_id: str
    origin: str | None
    destination: str | None
    stops: int
    sloids: tuple[str, ...]  # registry stops its stops resolved to, in travel order


@dataclass
class GtfsLine:
    """One GTFS route with its directions."""

    route_id: str
    agency_id: str | None
    agency_name: str | None
    short_name: str | None
    long_name: str | None
    route_type: str | None
    directions: list[GtfsDirection] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return ("gtfs", self.route_id)

    def service(self, direction: GtfsDirection) -> RouteService:
        return RouteService(
            route_id=self.route_id,
            operator=self.agency_name,
            line=self.short_name,
            origin=direction.origin,
            destination=direction.destination,
            direction_id=direction.direction_id or None,
        )


# Stop and platform roles, also with PTv1's "forward:"/"backward:" prefix (pipeline.records.route_role),
# written out: an IN list costs nothing per member, a regular expression half a second nationally.
def _roles(*names: str) -> str:
    spelled = [f"{prefix}{name}" for name in names for prefix in ("", "forward:", "backward:")]
    return "(" + ", ".join(f"'{role}'" for role in spelled) + ")"


_PLATFORM_ROLES = _roles("platform", "platform_entry_only", "platform_exit_only")
_STOP_ROLES = _roles("stop", "stop_entry_only", "stop_exit_only")
_PLATFORM = f"m.role IN {_PLATFORM_ROLES}"
_STOP = f"m.role IN {_STOP_ROLES}"

# Per relation: termini from its first and last platform members that are stop objects of the
# snapshot (else its stop members), as pipeline.route_evidence names them; the registry stops its
# members are matched to, in member order. Grouped in one pass over the members (hash joins), the
# termini's names looked up afterwards by position: nationally some 9,000 relations with 450,000
# members.
_OSM_LINES_SQL = f"""
    WITH agg AS (
        SELECT m.route_id, count(*) AS members,
               min(m.sequence) FILTER (WHERE o.osm_key IS NOT NULL AND {_PLATFORM}) AS p_first,
               max(m.sequence) FILTER (WHERE o.osm_key IS NOT NULL AND {_PLATFORM}) AS p_last,
               min(m.sequence) FILTER (WHERE o.osm_key IS NOT NULL AND {_STOP}) AS s_first,
               max(m.sequence) FILTER (WHERE o.osm_key IS NOT NULL AND {_STOP}) AS s_last
        FROM osm_route_members m LEFT JOIN osm_stops o ON o.osm_key = m.osm_key
        {{member_where}}
        GROUP BY m.route_id
    ), matched AS (
        SELECT m.route_id, array_agg(mt.stop_id::text ORDER BY m.sequence, mt.stop_id) AS sloids
        FROM osm_route_members m JOIN matches mt ON mt.osm_key = m.osm_key AND mt.source = :registry
        {{member_where}}
        GROUP BY m.route_id
    )
    SELECT r.osm_id, r.route, r.ref, r.name, r.from_name, r.to_name, r.operator, r.network,
           r.gtfs_route_id, r.master_id, agg.members, fo.name AS first_name, lo.name AS last_name,
           matched.sloids
    FROM osm_routes r
    LEFT JOIN agg ON agg.route_id = r.osm_id
    LEFT JOIN osm_route_members fm
           ON fm.route_id = r.osm_id AND fm.sequence = coalesce(agg.p_first, agg.s_first)
    LEFT JOIN osm_stops fo ON fo.osm_key = fm.osm_key
    LEFT JOIN osm_route_members lm ON lm.route_id = r.osm_id
           AND lm.sequence = CASE WHEN agg.p_first IS NULL THEN agg.s_last ELSE agg.p_last END
    LEFT JOIN osm_stops lo ON lo.osm_key = lm.osm_key
    LEFT JOIN matched ON matched.route_id = r.osm_id
    {{where}}
"""

_GTFS_LINES_SQL = """
    WITH d AS (
        SELECT s.route_id, s.direction_id, count(*) AS stops,
               (array_agg(s.stop_name ORDER BY s.sequence))[1] AS first_name,
               (array_agg(s.stop_name ORDER BY s.sequence DESC))[1] AS last_name,
               array_remove(array_agg(s.registry_stop_id::text ORDER BY s.sequence), NULL) AS sloids
        FROM gtfs_route_stops s {stop_where}
        GROUP BY s.route_id, s.direction_id
    )
    SELECT g.route_id, g.agency_id, g.agency_name, g.short_name, g.long_name, g.route_type,
           d.direction_id, d.stops, d.first_name, d.last_name, d.sloids
    FROM gtfs_routes g LEFT JOIN d ON d.route_id = g.route_id
    {where}
    ORDER BY g.route_id, d.direction_id
"""


def _osm_line(row: Any) -> OsmLine:
    return OsmLine(
        osm_id=row.osm_id,
        mode=row.route,
        ref=row.ref,
        name=row.name,
        operator=row.operator,
        network=row.network,
        gtfs_route_id=row.gtfs_route_id,
        master_id=row.master_id,
        origin=row.from_name or row.first_name or None,
        destination=row.to_name or row.last_name or None,
        stops=row.members or 0,
        sloids=tuple(row.sloids or ()),
    )


def load_osm_lines(osm_ids: Sequence[int] | None = None) -> list[OsmLine]:
    """OSM relations (all, or these ids) with termini and matched registry stops."""
    where = member_where = ""
    # Matched stops of the timetable's registry: the GTFS side names those (another registry's stop
    # with the same id is another stop).
    params: dict[str, Any] = {"registry": timetable_registry()}
    if osm_ids is not None:
        where, member_where = "WHERE r.osm_id = ANY(:ids)", "WHERE m.route_id = ANY(:ids)"
        params["ids"] = [int(i) for i in osm_ids]
    sql = _OSM_LINES_SQL.format(where=where, member_where=member_where)
    return [_osm_line(row) for row in db.session.execute(text(sql), params)]


def load_gtfs_lines(route_ids: Sequence[str] | None = None) -> list[GtfsLine]:
    """GTFS routes (all, or these ids) with one entry per direction of their main itineraries."""
    where = stop_where = ""
    if route_ids is not None:
        where, stop_where = "WHERE g.route_id = ANY(:ids)", "WHERE s.route_id = ANY(:ids)"
    statement = text(_GTFS_LINES_SQL.format(where=where, stop_where=stop_where))
    params: dict[str, Any] = {}
    if route_ids is not None:
        statement = statement.bindparams(bindparam("ids", type_=ARRAY(TEXT)))
        params["ids"] = list(route_ids)
    lines: dict[str, GtfsLine] = {}
    for row in db.session.execute(statement, params):
        line = lines.get(row.route_id)
        if line is None:
            line = lines[row.route_id] = GtfsLine(
                row.route_id, row.agency_id, row.agency_name, row.short_name, row.long_name, row.route_type
            )
        if row.direction_id is not None:
            line.directions.append(
                GtfsDirection(
                    row.route_id,
                    row.direction_id,
                    row.first_name,
                    row.last_name,
                    row.stops,
                    tuple(row.sloids or ()),
                )
            )
    return list(lines.values())


# --- pairing ----------------------------------------------------------------------------------

DirectionKey = tuple[str, str]  # (GTFS route_id, direction_id)


@dataclass
class Pairing:
    """OSM relation id → partner GTFS directions (best first); GTFS direction → partner relations."""

    osm_partners: dict[int, list[DirectionKey]] = field(default_factory=dict)
    gtfs_partners: dict[DirectionKey, list[int]] = field(default_factory=dict)


def stop_order(osm: Sequence[str], gtfs: Sequence[str] | dict[str, int]) -> tuple[int, int]:
    """(registry stops the two sequences share, order agreement): walking the OSM sequence, +1 for
    every step forward along the GTFS sequence, -1 for every step back. Positive: same direction.
    `gtfs` may be given as its positions (`positions(gtfs)`), computed once per itinerary."""
    position = gtfs if isinstance(gtfs, dict) else positions(gtfs)
    walk = [position[s] for s in osm if s in position]
    steps = sum((b > a) - (b < a) for a, b in itertools.pairwise(walk))
    return len(set(walk)), steps


def positions(sequence: Sequence[str]) -> dict[str, int]:
    """Each registry stop's first position in an itinerary."""
    out: dict[str, int] = {}
    for index, stop_id in enumerate(sequence):
        out.setdefault(stop_id, index)
    return out


def pair_lines(osm_lines: Iterable[OsmLine], gtfs_lines: Iterable[GtfsLine]) -> Pairing:
    """Which OSM relation is which GTFS route direction (see the module docstring)."""
    by_key: dict[tuple[str, ...], list[tuple[GtfsDirection, RouteService, dict[str, int]]]] = defaultdict(
        list
    )
    for line in gtfs_lines:
        for direction in line.directions:
            service = line.service(direction)
            entry = (direction, service, positions(direction.sloids))
            for key in line_keys(service, False):
                by_key[key].append(entry)
    pairing = Pairing()
    gtfs_partners: dict[DirectionKey, list[int]] = defaultdict(list)
    for osm in osm_lines:
        service = osm.service()
        osm_dir = direction_keys(service)
        osm_route = normalise_route_id(osm.gtfs_route_id)
        seen: set[DirectionKey] = set()
        scored: list[tuple[tuple[bool, bool, int], DirectionKey]] = []
        for key in line_keys(service, True):
            for direction, gtfs_service, gtfs_positions in by_key.get(key, ()):
                ident = (direction.route_id, direction.direction_id)
                if ident in seen:
                    continue
                seen.add(ident)
                shared, steps = stop_order(osm.sloids, gtfs_positions)
                # Two or more shared stops in order (or against it) say the direction better than
                # the termini's names, which a relation cut at an area's edge misstates.
                agrees = steps > 0 if steps else same_direction(osm_dir, direction_keys(gtfs_service))
                if agrees is False:
                    continue
                same_id = osm_route is not None and osm_route == normalise_route_id(direction.route_id)
                scored.append(((same_id, agrees is True, shared), ident))
        if not scored:
            continue
        best = max(score for score, _ in scored)
        partners = sorted(ident for score, ident in scored if score == best)
        pairing.osm_partners[osm.osm_id] = partners
        for ident in partners:
            gtfs_partners[ident].append(osm.osm_id)
    pairing.gtfs_partners = {k: sorted(v) for k, v in gtfs_partners.items()}
    return pairing


# --- list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteFilters:
    """Filters of GET /routes. Empty = no filter."""

    side: str = "both"
    matched: bool | None = None
    operator: str | None = None  # case- and accent-insensitive part of the operator (agency) name
    mode: str | None = None
    q: str | None = None  # part of the line ref, name or id


def route_url(side: str, route_id: str | int) -> str:
    """The route page of a line."""
    return f"/routes/{side}/{quote(str(route_id), safe='')}"


def _osm_item(line: OsmLine, pairing: Pairing, gtfs_by_id: dict[str, GtfsLine]) -> dict[str, Any]:
    partners = pairing.osm_partners.get(line.osm_id, [])
    return {
        "side": "osm",
        "id": str(line.osm_id),
        "ref": line.ref,
        "name": line.name,
        "operator": line.operator,
        "network": line.network,
        "mode": line.mode,
        "gtfs_route_id": line.gtfs_route_id,
        "route_master_id": line.master_id,
        "stops": line.stops,
        "matched": bool(partners),
        "directions": [
            {
                "direction_id": None,
                "from": line.origin,
                "to": line.destination,
                "stops": line.stops,
                "partners": [_gtfs_partner(gtfs_by_id.get(r), r, d) for r, d in partners],
            }
        ],
        "url": route_url("osm", line.osm_id),
        "osm_url": osm_relation_url(line.osm_id),
    }


def _gtfs_partner(line: GtfsLine | None, route_id: str, direction_id: str) -> dict[str, Any]:
    return {
        "side": "gtfs",
        "id": route_id,
        "direction_id": direction_id,
        "ref": line.short_name if line else None,
        "name": line.long_name if line else None,
        "url": route_url("gtfs", route_id),
    }


def _osm_partner(line: OsmLine | None, osm_id: int) -> dict[str, Any]:
    return {
        "side": "osm",
        "id": str(osm_id),
        "direction_id": None,
        "ref": line.ref if line else None,
        "name": line.name if line else None,
        "url": route_url("osm", osm_id),
    }


def _gtfs_item(line: GtfsLine, pairing: Pairing, osm_by_id: dict[int, OsmLine]) -> dict[str, Any]:
    directions = []
    for d in line.directions:
        partners = pairing.gtfs_partners.get((d.route_id, d.direction_id), [])
        directions.append(
            {
                "direction_id": d.direction_id,
                "from": d.origin,
                "to": d.destination,
                "stops": d.stops,
                "partners": [_osm_partner(osm_by_id.get(i), i) for i in partners],
            }
        )
    return {
        "side": "gtfs",
        "id": line.route_id,
        "ref": line.short_name,
        "name": line.long_name,
        "operator": line.agency_name,
        "network": None,
        "mode": gtfs_mode(line.route_type),
        "gtfs_route_id": line.route_id,
        "route_master_id": None,
        "stops": sum(d.stops for d in line.directions),
        "matched": any(d["partners"] for d in directions),
        "directions": directions,
        "url": route_url("gtfs", line.route_id),
        "osm_url": None,
    }


def _contains(value: str | None, needle: str) -> bool:
    return bool(value) and needle in fold(value or "")


def _wanted(item: dict[str, Any], filters: RouteFilters) -> bool:
    if filters.matched is not None and item["matched"] != filters.matched:
        return False
    if filters.mode is not None and item["mode"] != filters.mode:
        return False
    if filters.operator is not None and not _contains(item["operator"], fold(filters.operator)):
        return False
    if filters.q is not None:
        needle = fold(filters.q)
        if not any(_contains(item[k], needle) for k in ("ref", "name", "id", "gtfs_route_id")):
            return False
    return True


def sort_key(item: dict[str, Any]) -> list[str]:
    """Lines by side, then ref (numbers in numeric order: 2 before 11), then id."""
    ref = fold(item["ref"] or "")
    digits = len(ref) - len(ref.lstrip("0123456789"))
    return [item["side"], f"{digits:03d}{ref}" if digits else f"999{ref}", item["id"]]


def encode_cursor(key: Sequence[str]) -> str:
    """An opaque cursor for the line after `key`."""
    raw = json.dumps({"routes": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[str]:
    """The sort key inside a cursor; InvalidCursorError for anything this API did not make."""
    try:
        data = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidCursorError("cursor is not one this API returned") from None
    key = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(key, list) or len(key) != 3 or not all(isinstance(k, str) for k in key):
        raise InvalidCursorError("cursor is not one this API returned")
    return key


def list_routes(filters: RouteFilters, *, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    """One page of lines of the wanted sides, each with its partners, and the next page's cursor."""
    after = decode_cursor(cursor) if cursor else None
    osm_lines = load_osm_lines()
    gtfs_lines = load_gtfs_lines()
    pairing = pair_lines(osm_lines, gtfs_lines)
    osm_by_id = {line.osm_id: line for line in osm_lines}
    gtfs_by_id = {line.route_id: line for line in gtfs_lines}
    items: list[dict[str, Any]] = []
    if filters.side in ("osm", "both"):
        items += [_osm_item(line, pairing, gtfs_by_id) for line in osm_lines]
    if filters.side in ("gtfs", "both"):
        items += [_gtfs_item(line, pairing, osm_by_id) for line in gtfs_lines]
    items = sorted((i for i in items if _wanted(i, filters)), key=sort_key)
    total = len(items)
    if after is not None:
        items = [i for i in items if sort_key(i) > after]
    page = items[:limit]
    next_cursor = encode_cursor(sort_key(page[-1])) if len(items) > limit else None
    return {
        "routes": page,
        "count": total,
        "next_cursor": next_cursor,
        "sides": {
            "osm": {"routes": len(osm_lines), "matched": len(pairing.osm_partners)},
            "gtfs": {
                "routes": len(gtfs_lines),
                "matched": sum(
                    1
                    for line in gtfs_lines
                    if any((d.route_id, d.direction_id) in pairing.gtfs_partners for d in line.directions)
                ),
            },
        },
    }


# --- one line ---------------------------------------------------------------------------------


def _osm_members(osm_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Stop and platform members of these relations in travel order, with name and the stops of the
    timetable's registry they are matched to."""
    rows = db.session.execute(
        text(
            """
            SELECT m.route_id, m.sequence, m.role, m.osm_key, o.name, o.osm_key IS NOT NULL AS known,
                   coalesce((SELECT array_agg(mt.stop_id::text ORDER BY mt.stop_id) FROM matches mt
                              WHERE mt.osm_key = m.osm_key AND mt.source = :registry), '{}') AS sloids
            FROM osm_route_members m LEFT JOIN osm_stops o ON o.osm_key = m.osm_key
            WHERE m.route_id = ANY(:ids)
            ORDER BY m.route_id, m.sequence
            """
        ),
        {"ids": [int(i) for i in osm_ids], "registry": timetable_registry()},
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row.route_id].append(
            {
                "sequence": row.sequence,
                "role": row.role,
                "osm_key": row.osm_key,
                "name": row.name,
                "known": row.known,
                "sloids": list(row.sloids),
                "url": f"/stops/osm/{row.osm_key}" if row.known else None,
            }
        )
    return out


def timetable_registry() -> str:
    """The registry whose stops `gtfs_route_stops.registry_stop_id` names (GTFS_REGISTRY): the
    pipeline resolves the timetable against that registry's stops only."""
    return str(current_app.config["SETTINGS"].GTFS_REGISTRY)


def _gtfs_stops(route_ids: Sequence[str]) -> dict[DirectionKey, list[dict[str, Any]]]:
    """Stops of these routes' main itineraries in travel order, with the OSM objects matched to
    the registry stop each resolved to (a stop of the timetable's registry: another registry's
    stop with the same id is not it)."""
    statement = text(
        """
        SELECT s.route_id, s.direction_id, s.sequence, s.stop_id, s.stop_name, s.registry_stop_id, s.trips,
               a.name AS registry_name, a.stop_id IS NOT NULL AS in_registry,
               coalesce((SELECT array_agg(mt.osm_key::text ORDER BY mt.osm_key) FROM matches mt
                          WHERE mt.source = :registry AND mt.stop_id = s.registry_stop_id), '{}') AS osm_keys
        FROM gtfs_route_stops s
        LEFT JOIN registry_stops a ON a.source = :registry AND a.stop_id = s.registry_stop_id
        WHERE s.route_id = ANY(:ids)
        ORDER BY s.route_id, s.direction_id, s.sequence
        """
    ).bindparams(bindparam("ids", type_=ARRAY(TEXT)))
    registry = timetable_registry()
    out: dict[DirectionKey, list[dict[str, Any]]] = defaultdict(list)
    for row in db.session.execute(statement, {"ids": list(route_ids), "registry": registry}):
        out[(row.route_id, row.direction_id)].append(
            {
                "sequence": row.sequence,
                "stop_id": row.stop_id,
                "name": row.stop_name,
                "registry_stop_id": row.registry_stop_id,
                "registry_name": row.registry_name,
                "osm_keys": list(row.osm_keys),
                "trips": row.trips,
                # Only a registry stop of the snapshot has a page (the timetable may name a removed one).
                "url": f"/stops/{registry}/{row.registry_stop_id}" if row.in_registry else None,
            }
        )
    return out


def _mark_osm(members: list[dict[str, Any]], partner_sloids: set[str] | None) -> None:
    for member in members:
        if partner_sloids is None:
            member["status"] = "no_partner"
        elif not member["sloids"]:
            member["status"] = "unknown"
        else:
            member["status"] = "agree" if partner_sloids & set(member["sloids"]) else "only_here"


def _mark_gtfs(stops: list[dict[str, Any]], partner_keys: set[str] | None) -> None:
    for stop in stops:
        if partner_keys is None:
            stop["status"] = "no_partner"
        elif not stop["registry_stop_id"]:
            stop["status"] = "unknown"
        elif not stop["osm_keys"]:
            # Resolved, but the registry stop has no OSM object: nothing on the OSM side to agree.
            stop["status"] = "unknown"
        else:
            stop["status"] = "agree" if partner_keys & set(stop["osm_keys"]) else "only_here"


def _counts(stops: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STOP_STATUSES, 0)
    for stop in stops:
        counts[stop["status"]] += 1
    return counts


def route_detail(side: str, route_id: str) -> dict[str, Any] | None:
    """One line with the ordered stops of each of its itineraries and of its partners', each stop
    marked agree / only_here / unknown / no_partner. None when the snapshot has no such line."""
    if not valid_route_id(side, route_id):
        return None
    if side == "osm":
        own = load_osm_lines([int(route_id)])
        if not own:
            return None
    else:
        own_gtfs = load_gtfs_lines([route_id])
        if not own_gtfs:
            return None
    # The pairing needs the other side whole (a line's partner is chosen among all candidates).
    osm_lines = load_osm_lines()
    gtfs_lines = load_gtfs_lines()
    pairing = pair_lines(osm_lines, gtfs_lines)
    osm_by_id = {line.osm_id: line for line in osm_lines}
    gtfs_by_id = {line.route_id: line for line in gtfs_lines}

    if side == "osm":
        line = osm_by_id[int(route_id)]
        item = _osm_item(line, pairing, gtfs_by_id)
        osm_ids = [line.osm_id]
        gtfs_dirs = list(pairing.osm_partners.get(line.osm_id, []))
    else:
        gline = gtfs_by_id[route_id]
        item = _gtfs_item(gline, pairing, osm_by_id)
        gtfs_dirs = [(d.route_id, d.direction_id) for d in gline.directions]
        osm_ids = sorted({i for d in gtfs_dirs for i in pairing.gtfs_partners.get(d, [])})

    members = _osm_members(osm_ids)
    stops = _gtfs_stops(sorted({r for r, _ in gtfs_dirs}))
    itineraries: list[dict[str, Any]] = []
    for osm_id in osm_ids:
        partners = pairing.osm_partners.get(osm_id, [])
        partner_sloids = {
            s["registry_stop_id"] for d in partners for s in stops.get(d, []) if s["registry_stop_id"]
        }
        rel_members = members.get(osm_id, [])
        _mark_osm(rel_members, partner_sloids if partners else None)
        rel = osm_by_id[osm_id]
        itineraries.append(
            {
                "side": "osm",
                "id": str(osm_id),
                "direction_id": None,
                "ref": rel.ref,
                "name": rel.name,
                "from": rel.origin,
                "to": rel.destination,
                "url": route_url("osm", osm_id),
                "osm_url": osm_relation_url(osm_id),
                "partners": [_gtfs_partner(gtfs_by_id.get(r), r, d) for r, d in partners],
                "stops": rel_members,
                "counts": _counts(rel_members),
            }
        )
    for ident in gtfs_dirs:
        osm_partners = pairing.gtfs_partners.get(ident, [])
        partner_keys = {m["osm_key"] for i in osm_partners for m in members.get(i, [])}
        if osm_partners and not set(osm_partners) <= set(osm_ids):
            # A partner relation not loaded yet (an OSM page's partner direction shared by variants).
            partner_keys |= {m["osm_key"] for ms in _osm_members(osm_partners).values() for m in ms}
        dir_stops = stops.get(ident, [])
        _mark_gtfs(dir_stops, partner_keys if osm_partners else None)
        gtfs_line = gtfs_by_id.get(ident[0])
        direction = (
            next((d for d in gtfs_line.directions if d.direction_id == ident[1]), None) if gtfs_line else None
        )
        itineraries.append(
            {
                "side": "gtfs",
                "id": ident[0],
                "direction_id": ident[1],
                "ref": gtfs_line.short_name if gtfs_line else None,
                "name": gtfs_line.long_name if gtfs_line else None,
                "from": direction.origin if direction else None,
                "to": direction.destination if direction else None,
                "url": route_url("gtfs", ident[0]),
                "osm_url": None,
                "partners": [_osm_partner(osm_by_id.get(i), i) for i in osm_partners],
                "stops": dir_stops,
                "counts": _counts(dir_stops),
            }
        )
    if side == "gtfs":
        # Each direction next to the relations paired with it (two columns on a wide screen).
        itineraries = _grouped(itineraries)
    return {"route": item, "itineraries": itineraries}


def _grouped(itineraries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A GTFS route's itineraries: each direction, then its partner relations not shown yet."""
    relations = {i["id"]: i for i in itineraries if i["side"] == "osm"}
    out: list[dict[str, Any]] = []
    for direction in (i for i in itineraries if i["side"] == "gtfs"):
        out.append(direction)
        out += [relations.pop(p["id"]) for p in direction["partners"] if p["id"] in relations]
    return out + list(relations.values())


# --- lines at a stop --------------------------------------------------------------------------


# The lines at a stop, one statement per side; `{keys}` is the SQL of a text[] of OSM keys or of
# registry stop ids (a bind parameter here, a subquery in the stop detail's single statement).
LINES_AT_OSM_SQL = """
    SELECT DISTINCT r.osm_id, r.route, r.ref, r.name, r.operator, r.to_name
    FROM osm_route_members m JOIN osm_routes r ON r.osm_id = m.route_id
    WHERE m.osm_key = ANY({keys})
    ORDER BY r.ref, r.osm_id
    LIMIT {limit}
"""
LINES_AT_GTFS_SQL = """
    SELECT DISTINCT g.route_id, s.direction_id, g.short_name, g.long_name, g.agency_name,
           g.route_type,
           (SELECT l.stop_name FROM gtfs_route_stops l WHERE l.route_id = s.route_id
              AND l.direction_id = s.direction_id ORDER BY l.sequence DESC LIMIT 1) AS to_name
    FROM gtfs_route_stops s JOIN gtfs_routes g ON g.route_id = s.route_id
    WHERE s.registry_stop_id = ANY({keys})
    ORDER BY g.short_name, g.route_id, s.direction_id
    LIMIT {limit}
"""


def lines_at(
    registry_keys: Sequence[tuple[str, str]], osm_keys: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The lines serving a stop on each side: OSM relations with one of `osm_keys` as a member, GTFS
    route directions whose itinerary resolves to one of the registry stops `registry_keys`
    ((source, stop_id); only the timetable's registry's stops have timetable lines), at most
    MAX_LINES_AT_STOP each."""
    registry = timetable_registry()
    sloids = [stop_id for source, stop_id in registry_keys if source == registry]
    keys = bindparam("keys", type_=ARRAY(TEXT))
    osm_rows = db.session.execute(
        text(LINES_AT_OSM_SQL.format(keys=":keys", limit=":limit")).bindparams(keys),
        {"keys": list(osm_keys), "limit": MAX_LINES_AT_STOP},
    )
    gtfs_rows = db.session.execute(
        text(LINES_AT_GTFS_SQL.format(keys=":keys", limit=":limit")).bindparams(keys),
        {"keys": list(sloids), "limit": MAX_LINES_AT_STOP},
    )
    return lines_from_rows(osm_rows, gtfs_rows)


def lines_from_rows(osm_rows: Iterable[Any], gtfs_rows: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """`lines_at`'s answer from the rows of LINES_AT_OSM_SQL and LINES_AT_GTFS_SQL (attribute access)."""
    return {
        "osm": [
            {
                "id": str(r.osm_id),
                "direction_id": None,
                "mode": r.route,
                "ref": r.ref,
                "name": r.name,
                "operator": r.operator,
                "to": r.to_name,
                "url": route_url("osm", r.osm_id),
            }
            for r in osm_rows
        ],
        "gtfs": [
            {
                "id": r.route_id,
                "direction_id": r.direction_id,
                "mode": gtfs_mode(r.route_type),
                "ref": r.short_name,
                "name": r.long_name,
                "operator": r.agency_name,
                "to": r.to_name,
                "url": route_url("gtfs", r.route_id),
            }
            for r in gtfs_rows
        ],
    }
