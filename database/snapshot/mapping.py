"""Row ↔ record mapping of the snapshot tables, written once.

One `TableMap` per snapshot table declares which column holds which field of its pipeline record
(`pipeline.records`). The same declaration builds the rows the import COPYs into staging
(`TableMap.rows`) and turns rows read back into records (`TableMap.record`, `read_records`), so a
new column is declared here and nowhere else; `tests/integration/test_snapshot_mapping.py` checks
every declaration against the migrated schema (every column of the table is declared, generated or
the serial id) and proves the round trip record → row → record.

Columns the database computes (`name_fold`, a generated column) and serial ids are not declared:
PostgreSQL fills them during the COPY. `geom` is written from (lat, lon) and not read back.
Member tables (`osm_stop_area_members`, `osm_route_members`) hold `OsmMember` records under a parent
relation id: their rows are built from `(parent id, member)` pairs and read back as such pairs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Generic, TypeVar

from pipeline.records import (
    GtfsRouteRecord,
    GtfsRouteStopRecord,
    MatchRecord,
    OsmMember,
    OsmObject,
    OsmRoute,
    OsmRouteMaster,
    OsmStopArea,
    OsmStructure,
    ProblemRecord,
    RegistryStop,
)

R = TypeVar("R")


def _json(value: Any) -> str:
    # Problem details may hold dates; everything else is plain JSON.
    return json.dumps(value, ensure_ascii=False, default=str)


def _dict_or_empty(value: Any) -> Any:
    return value if value is not None else {}


def ewkt_point(lat: float, lon: float) -> str:
    """A WGS84 point as EWKT, the text form COPY accepts for a geometry column."""
    return f"SRID=4326;POINT({lon!r} {lat!r})"


@dataclass(frozen=True)
class Column:
    """One column of a snapshot table and the record field it holds.

    `field`: the record attribute (None: written only, computed from the record by `dump`);
    `dump`: record value → COPY value (on the field's value, or on the whole record when `field` is None);
    `load`: database value → record value.
    """

    name: str
    field: str | None
    dump: Callable[[Any], Any] | None = None
    load: Callable[[Any], Any] | None = None


def same(*names: str) -> tuple[Column, ...]:
    """Columns named like their record fields, stored as they are."""
    return tuple(Column(name, name) for name in names)


def as_json(name: str, field_name: str | None = None) -> Column:
    """A JSONB column holding a dict field (read back as {} when NULL)."""
    return Column(name, field_name or name, dump=_json, load=_dict_or_empty)


# The point of a record with lat/lon: written, never read back (lat and lon are).
GEOM = Column("geom", None, dump=lambda record: ewkt_point(record.lat, record.lon))


@dataclass(frozen=True)
class TableMap(Generic[R]):
    """How one snapshot table stores one record type.

    `parent`: the column holding the parent relation's id, for member tables (rows from
    `(parent id, record)` pairs). `unmapped`: record fields that live in other tables (a relation's
    members), given these values when a record is read back.
    """

    table: str
    record_type: type[R]
    columns: tuple[Column, ...]
    parent: str | None = None
    unmapped: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns COPY writes, in row order (the parent id first for member tables)."""
        names = tuple(c.name for c in self.columns)
        return (self.parent, *names) if self.parent else names

    @property
    def read_columns(self) -> tuple[str, ...]:
        """The columns a record is read back from (the parent id first for member tables)."""
        names = tuple(c.name for c in self.columns if c.field is not None)
        return (self.parent, *names) if self.parent else names

    def _row_builder(self) -> Callable[[Any], tuple[Any, ...]]:
        getters: list[Callable[[Any], Any]] = []
        for column in self.columns:
            if column.field is None:
                assert column.dump is not None, f"{self.table}.{column.name}: a computed column needs dump"
                getters.append(column.dump)
            elif column.dump is None:
                getters.append(attrgetter(column.field))
            else:
                getters.append(_compose(column.dump, attrgetter(column.field)))
        if all(c.field is not None and c.dump is None for c in self.columns):
            plain = attrgetter(*(c.field for c in self.columns if c.field))
            if len(self.columns) == 1:
                return lambda record: (plain(record),)
            return plain  # attrgetter of several names returns the tuple itself: the fast path
        return lambda record: tuple(get(record) for get in getters)

    def rows(self, records: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        """COPY rows of `records` (of member tables: `(parent id, member)` pairs), in `column_names` order."""
        build = self._row_builder()
        if self.parent:
            for parent_id, record in records:
                yield (parent_id, *build(record))
        else:
            for record in records:
                yield build(record)

    def record(self, row: Sequence[Any]) -> Any:
        """The record of a row read in `read_columns` order (member tables: `(parent id, record)`)."""
        values = list(row)
        parent_id = values.pop(0) if self.parent else None
        kwargs = dict(self.unmapped)
        for column, value in zip((c for c in self.columns if c.field is not None), values, strict=True):
            assert column.field is not None
            kwargs[column.field] = column.load(value) if column.load else value
        record = self.record_type(**kwargs)
        return (parent_id, record) if self.parent else record

    def record_of(self, row_object: Any) -> Any:
        """The record of a mapped ORM object or any object with the columns as attributes
        (`database.models.RegistryStopRow` ...), e.g. rows a service already loaded."""
        return self.record(tuple(getattr(row_object, name) for name in self.read_columns))


def _compose(outer: Callable[[Any], Any], inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda record: outer(inner(record))


REGISTRY_STOPS = TableMap(
    "registry_stops",
    RegistryStop,
    (
        *same(
            "source", "stop_id", "dataset", "code", "platform_code", "name", "operator_code",
            "operator_name", "modes", "country_code", "region", "parent_id", "valid_from", "valid_to",
            "lat", "lon", "row_hash",
        ),
        as_json("attributes"),
        GEOM,
    ),
)  # fmt: skip
OSM_STOPS = TableMap(
    "osm_stops",
    OsmObject,
    (
        *same(
            "osm_key", "osm_type", "osm_id", "version", "name", "uic_ref", "uic_name", "ifopt", "local_ref",
            "operator", "network", "public_transport", "railway", "highway", "amenity", "aerialway",
        ),
        as_json("tags"),
        *same("lat", "lon", "row_hash", "way_member"),
        GEOM,
    ),
)  # fmt: skip
MATCHES = TableMap(
    "matches",
    MatchRecord,
    (
        *same("source", "stop_id", "osm_key", "method", "distance_m", "name_score"),
        as_json("evidence"),
    ),
)
PROBLEMS = TableMap(
    "problems",
    ProblemRecord,
    (
        *same(
            "identity", "problem_type", "priority", "source", "stop_id", "osm_key", "operator_code",
            "distance_m", "message",
        ),
        as_json("details"),
        *same("lat", "lon"),
        GEOM,
    ),
)  # fmt: skip
OSM_STOP_AREAS = TableMap(
    "osm_stop_areas",
    OsmStopArea,
    (*same("osm_id", "version", "name", "uic_ref", "uic_name"), as_json("tags")),
    unmapped={"members": ()},
)
_MEMBER_COLUMNS = same("sequence", "role", "osm_key")
OSM_STOP_AREA_MEMBERS = TableMap("osm_stop_area_members", OsmMember, _MEMBER_COLUMNS, parent="stop_area_id")
OSM_ROUTES = TableMap(
    "osm_routes",
    OsmRoute,
    (
        *same("osm_id", "version", "route", "ref", "name"),
        Column("from_name", "from_"),
        Column("to_name", "to"),
        *same("via", "operator", "network", "gtfs_route_id", "ref_trips", "pt_version", "master_id"),
        as_json("tags"),
    ),
    unmapped={"members": ()},
)
OSM_ROUTE_MEMBERS = TableMap("osm_route_members", OsmMember, _MEMBER_COLUMNS, parent="route_id")
OSM_ROUTE_MASTERS = TableMap(
    "osm_route_masters",
    OsmRouteMaster,
    (*same("osm_id", "version", "route", "ref", "name", "operator", "network"), as_json("tags")),
    unmapped={"route_ids": ()},
)
GTFS_ROUTES = TableMap(
    "gtfs_routes",
    GtfsRouteRecord,
    same("route_id", "route_key", "agency_id", "agency_name", "short_name", "long_name", "route_type"),
)
GTFS_ROUTE_STOPS = TableMap(
    "gtfs_route_stops",
    GtfsRouteStopRecord,
    same("route_id", "direction_id", "sequence", "stop_id", "stop_name", "registry_stop_id", "trips"),
)

# Every snapshot table the pipeline writes, in COPY order (the map read model is derived from them).
TABLE_MAPS: tuple[TableMap[Any], ...] = (
    REGISTRY_STOPS,
    OSM_STOPS,
    MATCHES,
    PROBLEMS,
    OSM_STOP_AREAS,
    OSM_STOP_AREA_MEMBERS,
    OSM_ROUTES,
    OSM_ROUTE_MEMBERS,
    OSM_ROUTE_MASTERS,
    GTFS_ROUTES,
    GTFS_ROUTE_STOPS,
)
BY_TABLE: dict[str, TableMap[Any]] = {m.table: m for m in TABLE_MAPS}


def structure_records(structure: OsmStructure) -> dict[str, Iterable[Any]]:
    """Table → records (member tables: `(parent id, member)` pairs) of an OSM structure."""
    return {
        "osm_stop_areas": structure.stop_areas,
        "osm_stop_area_members": ((a.osm_id, m) for a in structure.stop_areas for m in a.members),
        "osm_routes": structure.routes,
        "osm_route_members": ((r.osm_id, m) for r in structure.routes for m in r.members),
        "osm_route_masters": structure.route_masters,
    }


def select_sql(table_map: TableMap[Any], where: str = "", order_by: str = "") -> str:
    """SELECT of `table_map.read_columns` (a `where` / `order_by` clause body may follow)."""
    sql = f"SELECT {', '.join(table_map.read_columns)} FROM {table_map.table}"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    return sql


def read_records(
    connection: Any,
    table_map: TableMap[R],
    where: str = "",
    params: dict[str, Any] | None = None,
    order_by: str = "",
) -> list[Any]:
    """Records of `table_map.table` (member tables: `(parent id, member)` pairs) read back through
    the same declaration the import wrote them with.

    `connection`: a SQLAlchemy Session or Connection (`:name` parameters), or a psycopg connection
    (`%(name)s` parameters). `where` and `order_by` are SQL written by the caller, never user input.
    """
    sql = select_sql(table_map, where, order_by)
    if hasattr(connection, "cursor") and not hasattr(connection, "scalars"):
        with connection.cursor() as cur:
            cur.execute(sql, params or {})
            rows = cur.fetchall()
    else:
        from sqlalchemy import text

        rows = connection.execute(text(sql), params or {}).all()
    return [table_map.record(row) for row in rows]
