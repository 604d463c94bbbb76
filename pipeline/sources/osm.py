"""OpenStreetMap public-transport stops from Overpass JSON, OSM XML or an .osm.pbf extract.

Kept: nodes and ways carrying one of the tags in `STOP_TAGS` (ways reduced to their centre: Overpass
`center`, else the mean of their node positions). Dropped: objects outside `ParseOptions.boundary`.
Also read (`ParseResult.structure`): the `public_transport=stop_area` relations, the transit route
relations (`route` in `TRANSIT_ROUTES`; hiking, bicycle, road and other routes are ignored) with their
stop and platform members in order, and the route masters that list them. With a boundary, a stop area
or route is dropped when its members include stop objects of the input but none inside the boundary
(one whose members are all missing from the input is kept: a clipped extract, a route passing through).
Refused: Overpass error remarks, HTML pages, invalid JSON/XML, impossible coordinates, and an extract
with objects but none inside the boundary (wrong area or wrong CRS).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np

from pipeline.errors import SourceError
from pipeline.geo import coordinate_problem
from pipeline.records import (
    PLATFORM_ROLES,
    STOP_ROLES,
    OsmMember,
    OsmObject,
    OsmRoute,
    OsmRouteMaster,
    OsmStopArea,
    OsmStructure,
    osm_key,
    route_role,
)
from pipeline.sharing import Shared
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind, sniff
from pipeline.sources.json_stream import NotAnObjectError, stream_object
from pipeline.sources.overpass import (
    DEFAULT_AREAS,
    DEFAULT_MAXSIZE_BYTES,
    DEFAULT_TIMEOUT_S,
    TRANSIT_ROUTES,
    build_query,
    check_remark,
)
from pipeline.text import ascii_int, clean_text

MAX_VERSION = 2**31 - 1  # osm_stops.version is a PostgreSQL integer
MAX_ID = 2**63 - 1  # ids are PostgreSQL bigint: a larger JSON number would stop the import


def _valid_id(value: Any) -> bool:
    """A positive integer that fits bigint (JSON: any size; XML: read with `ascii_int`)."""
    return type(value) is int and 0 < value <= MAX_ID


# tag → accepted values (None = any value).
STOP_TAGS: dict[str, frozenset[str] | None] = {
    "public_transport": frozenset({"platform", "stop_position", "station", "halt", "stop"}),
    "highway": frozenset({"bus_stop"}),
    "railway": frozenset({"station", "halt", "tram_stop", "platform"}),
    "amenity": frozenset({"ferry_terminal"}),
    "aerialway": frozenset({"station"}),
}


class WayRefs:
    """Which stop nodes belong to a way, as far as the input tells.

    ``known`` turns true once the input lists a way that is not a stop object itself together with its
    node references (Overpass ``way(bn); out skel;``, any OSM XML or PBF extract): only then does "not
    in any listed way" mean "in no way". An Overpass answer with stop objects alone leaves it false, and
    every node's ``way_member`` stays None (unknown).
    """

    def __init__(self) -> None:
        self.known = False
        self.nodes: set[int] = set()

    def add(self, refs: Iterable[int], way_is_stop: bool) -> None:
        refs = list(refs)
        if refs and not way_is_stop:
            self.known = True
        self.nodes.update(refs)


RawObject = tuple[
    str, int, int | None, dict[str, str], float | None, float | None
]  # type, id, version, tags, lat, lon

_MEMBER_TYPES = {
    "n": "node",
    "w": "way",
    "r": "relation",
    "node": "node",
    "way": "way",
    "relation": "relation",
}


@dataclass
class RawRelation:
    """A relation as read, before cleaning: members as (type, ref, role) with type node/way/relation."""

    osm_id: int
    version: Any
    tags: dict[Any, Any]
    members: list[tuple[str, int, str]]


def is_structure(tags: dict[str, str]) -> bool:
    """Is this relation one the structure needs: a stop area, a transit route or a route master?"""
    if tags.get("public_transport") == "stop_area":
        return True
    kind = tags.get("type")
    return kind == "route_master" or (kind == "route" and tags.get("route") in TRANSIT_ROUTES)


class Relations:
    """The structure relations of the input (first copy of an id wins, as for stop objects)."""

    def __init__(self) -> None:
        self.by_id: dict[int, RawRelation] = {}

    def add(
        self,
        obj_id: Any,
        version: Any,
        tags: Any,
        members: Iterable[tuple[Any, Any, Any]],
        stats: dict[str, int],
    ) -> None:
        """Keep the relation when it is a structure relation; members that are not (type, positive id,
        role text) are skipped and counted, a relation without a positive integer id too."""
        if not isinstance(tags, dict) or not is_structure(tags):
            return
        if not _valid_id(obj_id):
            _count(stats, "invalid_id")
            return
        kept: list[tuple[str, int, str]] = []
        for kind, ref, role in members:
            member_type = _MEMBER_TYPES.get(kind) if isinstance(kind, str) else None
            if member_type is None or not _valid_id(ref):
                _count(stats, "invalid_relation_members")
                continue
            kept.append((member_type, ref, clean_text(role) if isinstance(role, str) else ""))
        self.by_id.setdefault(obj_id, RawRelation(obj_id, version, tags, kept))


def is_stop(tags: dict[str, str]) -> bool:
    """Does this tag set describe a public-transport stop object?"""
    for key, values in STOP_TAGS.items():
        value = tags.get(key)
        if isinstance(value, str) and (values is None or value in values):
            return True
    return False


class OsmSource(Source):
    name = "osm"
    kind = SourceKind.OSM
    file_patterns = ("osm*.json", "osm*.osm", "osm*.xml", "osm*.osm.pbf", "*.osm.pbf")
    url_settings = ("OSM_URL",)

    def http_request(self, settings: Any) -> HttpRequest | None:
        """OSM_URL: an extract file (.osm.pbf, .osm, .xml, .json) is downloaded as it is; any other
        URL is an Overpass API interpreter and gets the stops query of OVERPASS_AREAS by POST."""
        url = getattr(settings, "OSM_URL", "")
        if not url:
            return None
        extract_suffix = osm_file_suffix(url)
        if extract_suffix is not None:
            return HttpRequest(url=url, suffix=extract_suffix)
        query = build_query(
            int(getattr(settings, "OVERPASS_QUERY_TIMEOUT_S", DEFAULT_TIMEOUT_S)),
            getattr(settings, "OVERPASS_AREAS", DEFAULT_AREAS),
            int(getattr(settings, "OVERPASS_MAXSIZE_BYTES", DEFAULT_MAXSIZE_BYTES)),
        )
        return HttpRequest(
            url=url,
            method="POST",
            body=urlencode({"data": query}).encode(),
            content_type="application/x-www-form-urlencoded",
            suffix=".json",
        )

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[OsmObject]:
        stats: dict[str, int] = {}
        records: dict[str, OsmObject] = {}
        ways = WayRefs()
        relations = Relations()
        shared = Shared()  # one string per repeated tag key and value ("node", "bus_stop", operators...)
        for path in paths:
            # The JSON reader streams: its file-level refusals (invalid JSON, no elements list, an
            # Overpass error remark) can come after the objects. The first bad object's error is held
            # until the file has been read, so a refused file is refused for the same reason as when
            # it was decoded whole.
            bad_object: SourceError | None = None
            for raw in self._read(path, stats, ways, relations):
                if bad_object is not None:
                    continue
                try:
                    record = self._record(raw, path, stats, shared)
                except SourceError as exc:
                    bad_object = exc
                    continue
                records.setdefault(record.osm_key, record)
            if bad_object is not None:
                raise bad_object
        del shared
        out = sorted(records.values(), key=lambda r: (r.osm_type, r.osm_id))
        if ways.known:
            out = [
                dataclasses.replace(r, way_member=r.osm_id in ways.nodes) if r.osm_type == "node" else r
                for r in out
            ]
            stats["nodes_in_ways"] = sum(1 for r in out if r.way_member)
        stats["stop_objects"] = len(out)
        all_keys = {r.osm_key for r in out} if options.boundary is not None else set()
        if options.boundary is not None and out:
            inside = options.boundary.contains(np.array([r.lat for r in out]), np.array([r.lon for r in out]))
            stats["outside_boundary"] = int((~inside).sum())
            if not inside.any():
                raise SourceError(
                    self.name,
                    f"none of the {len(out)} objects lies inside {options.boundary.name} "
                    "(wrong extract or wrong coordinate system?)",
                    path=", ".join(p.name for p in paths),
                )
            out = [r for r, keep in zip(out, inside.tolist(), strict=True) if keep]
        stats["kept"] = len(out)
        kept_keys = ({r.osm_key for r in out}, all_keys) if options.boundary is not None else None
        structure = build_structure(relations, kept_keys, stats)
        return ParseResult(out, stats, structure)

    # -- readers -------------------------------------------------------------------------------

    def _read(
        self, path: Path, stats: dict[str, int], ways: WayRefs, relations: Relations
    ) -> Iterator[RawObject]:
        name = path.name.lower()
        with path.open("rb") as handle:
            head = handle.read(4096)
        sniff(self.name, path, head)
        if name.endswith(".pbf") or is_pbf(head):
            yield from self._read_pbf(path, stats, ways, relations)
            return
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if first in (b"{", b"["):
            yield from self._read_json(path, stats, ways, relations)
        elif first == b"<":
            yield from self._read_xml(path, stats, ways, relations)
        else:
            raise SourceError(self.name, "neither JSON nor XML nor PBF", path=path.name, line=1)

    def _read_json(
        self, path: Path, stats: dict[str, int], ways: WayRefs, relations: Relations
    ) -> Iterator[RawObject]:
        not_overpass = "JSON without an 'elements' list: not an Overpass response"
        members: dict[str, Any] = {}  # the top-level members other than the elements (remark, ...)
        try:
            with path.open(encoding="utf-8") as handle:
                # Streamed element by element (a Germany-size answer decoded whole took 1.1 GiB).
                yield from self._json_elements(
                    stream_object(handle, "elements", members), stats, ways, relations
                )
        except json.JSONDecodeError as exc:
            raise SourceError(
                self.name, f"invalid JSON: {exc.msg}", line=exc.lineno, path=path.name
            ) from None
        except UnicodeDecodeError as exc:
            raise SourceError(self.name, f"not UTF-8 text ({exc.reason})", path=path.name) from None
        except NotAnObjectError:
            raise SourceError(self.name, not_overpass, path=path.name) from None
        except ValueError as exc:  # two elements lists: which one Overpass meant is unknown
            raise SourceError(self.name, f"{not_overpass} ({exc})", path=path.name) from None
        if not isinstance(members.get("elements"), list):
            raise SourceError(self.name, not_overpass, path=path.name)
        check_remark(self.name, members.get("remark"), path.name)

    def _json_elements(
        self, elements: Iterator[Any], stats: dict[str, int], ways: WayRefs, relations: Relations
    ) -> Iterator[RawObject]:
        for element in elements:
            kind = element.get("type") if isinstance(element, dict) else None
            if kind == "relation":
                members = element.get("members")
                relations.add(
                    element.get("id"),
                    element.get("version"),
                    element.get("tags"),
                    (
                        (m.get("type"), m.get("ref"), m.get("role"))
                        if isinstance(m, dict)
                        else (None, None, None)
                        for m in (members if isinstance(members, list) else [])
                    ),
                    stats,
                )
                continue
            if kind not in ("node", "way"):
                continue
            obj_id = element.get("id")
            if not _valid_id(obj_id):  # Overpass ids are positive JSON integers (bigint)
                stats["invalid_id"] = stats.get("invalid_id", 0) + 1
                continue
            tags = element.get("tags")
            tags = tags if isinstance(tags, dict) else {}
            stats["elements"] = stats.get("elements", 0) + 1
            refs = element.get("nodes") if kind == "way" else None
            if isinstance(refs, list) and all(isinstance(r, int) for r in refs):
                ways.add(refs, is_stop(tags))
            if not is_stop(tags):
                continue
            if kind == "node":
                lat, lon = element.get("lat"), element.get("lon")
            else:
                center = element.get("center") or {}
                lat, lon = center.get("lat"), center.get("lon")
            yield ("node" if kind == "node" else "way"), obj_id, element.get("version"), dict(tags), lat, lon

    def _read_xml(
        self, path: Path, stats: dict[str, int], way_refs: WayRefs, relations: Relations
    ) -> Iterator[RawObject]:
        node_pos: dict[int, tuple[float, float]] = {}
        ways: list[tuple[int, int | None, dict[str, str], list[int], tuple[float, float] | None]] = []
        try:
            # ElementTree never fetches external entities or DTDs, and expat >= 2.4 caps entity
            # amplification ("billion laughs"), so an Overpass/extract file cannot reach out or explode.
            for _event, elem in ET.iterparse(path, events=("end",)):  # noqa: S314
                tag = elem.tag
                if tag == "remark":
                    check_remark(self.name, elem.text, path.name)
                elif tag == "node":
                    node_id = int(elem.get("id"))
                    lat, lon = float(elem.get("lat")), float(elem.get("lon"))
                    node_pos[node_id] = (lat, lon)
                    tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                    stats["elements"] = stats.get("elements", 0) + 1
                    if tags and is_stop(tags):
                        version = elem.get("version")
                        yield "node", node_id, _version(version), tags, lat, lon
                    elem.clear()
                elif tag == "way":
                    tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                    stats["elements"] = stats.get("elements", 0) + 1
                    refs = [int(nd.get("ref")) for nd in elem.iter("nd")]
                    way_refs.add(refs, bool(tags) and is_stop(tags))
                    if tags and is_stop(tags):
                        center = elem.find("center")
                        pos = (
                            (float(center.get("lat")), float(center.get("lon")))
                            if center is not None
                            else None
                        )
                        version = elem.get("version")
                        ways.append((int(elem.get("id")), _version(version), tags, refs, pos))
                    elem.clear()
                elif tag == "relation":
                    tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                    if is_structure(tags):
                        relations.add(
                            ascii_int(elem.get("id"), max_digits=19),
                            elem.get("version"),
                            tags,
                            (
                                (m.get("type"), ascii_int(m.get("ref"), max_digits=19), m.get("role"))
                                for m in elem.iter("member")
                            ),
                            stats,
                        )
                    elem.clear()
        except ET.ParseError as exc:
            line = exc.position[0] if exc.position else None
            raise SourceError(self.name, f"invalid XML: {exc}", line=line, path=path.name) from None
        except (TypeError, ValueError) as exc:
            raise SourceError(
                self.name, f"node or way without valid id/lat/lon: {exc}", path=path.name
            ) from None
        for way_id, version, tags, refs, pos in ways:
            if pos is None:
                pos = _centre([node_pos[r] for r in refs if r in node_pos])
            way_lat, way_lon = pos if pos is not None else (None, None)
            yield "way", way_id, version, tags, way_lat, way_lon

    def _read_pbf(
        self, path: Path, stats: dict[str, int], ways: WayRefs, relations: Relations
    ) -> Iterator[RawObject]:
        import osmium

        stop_nodes: set[int] = set()
        try:
            processor = (
                osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.KeyFilter(*STOP_TAGS))
            )
            for obj in processor:
                tags = {t.k: t.v for t in obj.tags}
                stats["elements"] = stats.get("elements", 0) + 1
                if not is_stop(tags):
                    continue
                if isinstance(obj, osmium.osm.Node):
                    if not obj.location.valid():
                        continue
                    stop_nodes.add(obj.id)
                    yield "node", obj.id, obj.version or None, tags, obj.location.lat, obj.location.lon
                elif isinstance(obj, osmium.osm.Way):
                    points = [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]
                    centre = _centre(points)
                    lat, lon = centre if centre is not None else (None, None)
                    yield "way", obj.id, obj.version or None, tags, lat, lon
            # A second pass over every way (roads, tracks, outlines): which stop nodes are vertices;
            # and over the relations (they follow the ways in a PBF): stop areas, routes, masters.
            ways.known = True
            for obj in osmium.FileProcessor(str(path), osmium.osm.WAY | osmium.osm.RELATION):
                if isinstance(obj, osmium.osm.Way):
                    ways.nodes.update(n.ref for n in obj.nodes if n.ref in stop_nodes)
                    continue
                if not isinstance(obj, osmium.osm.Relation):
                    continue
                tags = {t.k: t.v for t in obj.tags}
                if is_structure(tags):
                    members = [(m.type, m.ref, m.role) for m in obj.members]
                    relations.add(obj.id, obj.version or None, tags, members, stats)
        except RuntimeError as exc:
            raise SourceError(self.name, f"unreadable PBF file: {exc}", path=path.name) from None

    def _record(self, raw: RawObject, path: Path, stats: dict[str, int], shared: Shared) -> OsmObject:
        kind, obj_id, version, raw_tags, lat, lon = raw
        tags = _clean_tags(raw_tags, stats, shared)
        key = osm_key(kind, obj_id)
        if lat is None or lon is None:
            raise SourceError(
                self.name, f"{key} has no position (Overpass query without 'out center'?)", path=path.name
            )
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            raise SourceError(
                self.name, f"{key} has a position that is not two numbers", path=path.name
            ) from None
        problem = coordinate_problem(lat, lon)
        if problem:
            raise SourceError(self.name, f"{key}: {problem}", path=path.name)
        fingerprint = json.dumps(
            [kind, obj_id, round(float(lat), 7), round(float(lon), 7), sorted(tags.items())]
        )
        return OsmObject(
            osm_key=key,
            osm_type=kind,
            osm_id=obj_id,
            version=_version(version),
            name=tags.get("name"),
            uic_ref=tags.get("uic_ref"),
            uic_name=tags.get("uic_name"),
            ifopt=tags.get("ref:IFOPT"),
            local_ref=tags.get("local_ref"),
            operator=tags.get("operator"),
            network=tags.get("network"),
            public_transport=tags.get("public_transport"),
            railway=tags.get("railway"),
            highway=tags.get("highway"),
            amenity=tags.get("amenity"),
            aerialway=tags.get("aerialway"),
            tags=tags,
            lat=float(lat),
            lon=float(lon),
            row_hash=hashlib.sha256(fingerprint.encode()).hexdigest(),
        )


def build_structure(
    relations: Relations, inside: tuple[set[str], set[str]] | None, stats: dict[str, int]
) -> OsmStructure:
    """Stop areas, transit routes and their route masters from the relations read, sorted by id.

    `inside` (with a boundary): the keys of the stop objects inside it, and of all stop objects read.
    A stop area or route whose members include stop objects, none of them inside, lies outside the
    area and is dropped (counted). Route masters are kept when they list a kept route; a route in
    several masters names the lowest.
    """

    def outside(members: list[tuple[str, int, str]]) -> bool:
        if inside is None:
            return False
        keys = [osm_key(kind, ref) for kind, ref, _ in members]
        kept, known = inside
        return any(k in known for k in keys) and not any(k in kept for k in keys)

    stop_areas: list[OsmStopArea] = []
    routes: list[RawRelation] = []
    for rel in sorted(relations.by_id.values(), key=lambda r: r.osm_id):
        tags = rel.tags
        if tags.get("public_transport") == "stop_area":
            members = [(kind, ref, role) for kind, ref, role in rel.members]
            if outside(members):
                _count(stats, "relations_outside_boundary")
                continue
            clean = _clean_tags(tags, stats)
            stop_areas.append(
                OsmStopArea(
                    osm_id=rel.osm_id,
                    version=_version(rel.version),
                    name=clean.get("name"),
                    uic_ref=clean.get("uic_ref"),
                    uic_name=clean.get("uic_name"),
                    tags=clean,
                    members=tuple(
                        OsmMember(role, osm_key(kind, ref), i) for i, (kind, ref, role) in enumerate(members)
                    ),
                )
            )
        elif tags.get("type") == "route":
            routes.append(rel)
    route_roles = STOP_ROLES | PLATFORM_ROLES
    route_members: dict[int, list[tuple[str, int, str]]] = {}
    for rel in routes:
        members = [(k, r, role) for k, r, role in rel.members if route_role(role) in route_roles]
        if outside(members):
            _count(stats, "relations_outside_boundary")
            continue
        route_members[rel.osm_id] = members
    masters: list[OsmRouteMaster] = []
    master_of: dict[int, int] = {}
    for rel in sorted(relations.by_id.values(), key=lambda r: r.osm_id):
        if rel.tags.get("type") != "route_master":
            continue
        route_ids = tuple(
            dict.fromkeys(ref for kind, ref, _ in rel.members if kind == "relation" and ref in route_members)
        )
        if not route_ids:
            continue  # a hiking or road master, or one whose routes lie outside the area
        clean = _clean_tags(rel.tags, stats)
        masters.append(
            OsmRouteMaster(
                osm_id=rel.osm_id,
                version=_version(rel.version),
                route=clean.get("route_master"),
                ref=clean.get("ref"),
                name=clean.get("name"),
                operator=clean.get("operator"),
                network=clean.get("network"),
                tags=clean,
                route_ids=route_ids,
            )
        )
        for route_id in route_ids:
            master_of.setdefault(route_id, rel.osm_id)
    out_routes: list[OsmRoute] = []
    for rel in routes:
        if rel.osm_id not in route_members:
            continue
        clean = _clean_tags(rel.tags, stats)
        out_routes.append(
            OsmRoute(
                osm_id=rel.osm_id,
                version=_version(rel.version),
                route=clean.get("route", ""),
                ref=clean.get("ref"),
                name=clean.get("name"),
                from_=clean.get("from"),
                to=clean.get("to"),
                via=clean.get("via"),
                operator=clean.get("operator"),
                network=clean.get("network"),
                gtfs_route_id=clean.get("gtfs:route_id"),
                ref_trips=clean.get("ref_trips"),
                pt_version=clean.get("public_transport:version"),
                master_id=master_of.get(rel.osm_id),
                tags=clean,
                members=tuple(
                    OsmMember(role, osm_key(kind, ref), i)
                    for i, (kind, ref, role) in enumerate(route_members[rel.osm_id])
                ),
            )
        )
    stats["stop_areas"] = len(stop_areas)
    stats["routes"] = len(out_routes)
    stats["route_masters"] = len(masters)
    return OsmStructure(tuple(stop_areas), tuple(out_routes), tuple(masters))


def _count(stats: dict[str, int], key: str) -> None:
    stats[key] = stats.get(key, 0) + 1


def _version(value: Any) -> int | None:
    """An object's version (a JSON or PBF integer, or XML text of ASCII digits) that fits the
    `integer` column, None when it has none."""
    if type(value) is int:
        return value if 0 < value <= MAX_VERSION else None
    return ascii_int(value) if isinstance(value, str) else None


def _clean_tags(tags: dict[Any, Any], stats: dict[str, int], shared: Shared | None = None) -> dict[str, str]:
    """Tags as text PostgreSQL can store (NUL removed, lone surrogates replaced), counted in `stats`;
    a key or value that is not text at all (possible only in a hand-made JSON file) is dropped.
    With `shared`, equal keys and values of different objects are one string."""
    out: dict[str, str] = {}
    cleaned = False
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            stats["tags_not_text"] = stats.get("tags_not_text", 0) + 1
            continue
        clean_key, clean_value = clean_text(key), clean_text(value)
        cleaned = cleaned or clean_key != key or clean_value != value
        if shared is not None:
            clean_key, clean_value = shared.same(clean_key), shared.same(clean_value)
        out[clean_key] = clean_value
    if cleaned:
        stats["text_cleaned"] = stats.get("text_cleaned", 0) + 1  # objects, like rows for ATLAS
    return out


# OSM_URL path endings that name an extract file (downloaded with GET) rather than an Overpass API.
_EXTRACT_SUFFIXES = (
    (".osm.pbf", ".osm.pbf"),
    (".pbf", ".osm.pbf"),
    (".osm", ".osm"),
    (".xml", ".osm"),
    (".json", ".json"),
)


def osm_file_suffix(url: str) -> str | None:
    """The cache suffix when `url` names an OSM extract file, or None for an Overpass interpreter."""
    path = urlsplit(url).path.lower()
    for ending, suffix in _EXTRACT_SUFFIXES:
        if path.endswith(ending):
            return suffix
    return None


def is_pbf(head: bytes) -> bool:
    """Does this file start like an OSM PBF (a 4-byte header length, then the "OSMHeader" blob type)?

    A PBF downloaded from a permalink without the .pbf ending is recognised by its content."""
    return len(head) > 16 and head[:2] == b"\x00\x00" and b"OSMHeader" in head[4:24]


def _centre(points: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    pts = list(points)
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]  # a closed way repeats its first node
    if not pts:
        return None
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
