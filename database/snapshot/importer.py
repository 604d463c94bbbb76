"""Atomic import of one snapshot: COPY into staging tables, then swap in a single transaction.

Readers (the web app) see the previous snapshot until the transaction commits, and the new one
after: never an empty table, never a mix. A failure or a kill (kill -9 of this process, a lost
connection) before the commit leaves the previous snapshot in place; PostgreSQL discards the
uncommitted work. The same transaction records which problems appeared and which were resolved
(`problem_changes`) and the validators of the sources (`source_states`).

Persistent tables that people write (decisions, decision_events, manual_matches, users) are never
touched here: they refer to snapshot rows by stable identities only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import PipelineError
from pipeline.records import (
    GtfsRouteRecord,
    GtfsRouteStopRecord,
    MatchRecord,
    OsmMember,
    OsmObject,
    OsmStructure,
    ProblemRecord,
    RegistryStop,
)

logger = logging.getLogger(__name__)

# The OSM structure (stop areas, routes, route masters) is swapped with the stops it ties together.
STRUCTURE_TABLES = (
    "osm_stop_areas",
    "osm_stop_area_members",
    "osm_routes",
    "osm_route_members",
    "osm_route_masters",
)
# The timetable's routes and their main itineraries (empty when the run has no GTFS).
TIMETABLE_TABLES = ("gtfs_routes", "gtfs_route_stops")
SNAPSHOT_TABLES = ("registry_stops", "osm_stops", "matches", "problems", *STRUCTURE_TABLES, *TIMETABLE_TABLES)
GTFS_ROUTE_COLUMNS = (
    "route_id", "route_key", "agency_id", "agency_name", "short_name", "long_name", "route_type",
)  # fmt: skip
GTFS_ROUTE_STOP_COLUMNS = (
    "route_id",
    "direction_id",
    "sequence",
    "stop_id",
    "stop_name",
    "registry_stop_id",
    "trips",
)

ATLAS_COLUMNS = (
    "source", "stop_id", "dataset", "code", "platform_code", "name", "operator_code", "operator_name",
    "modes", "country_code", "region", "parent_id", "valid_from", "valid_to", "lat", "lon",
    "row_hash", "attributes",
)  # fmt: skip
OSM_COLUMNS = (
    "osm_key", "osm_type", "osm_id", "version", "name", "uic_ref", "uic_name", "ifopt", "local_ref",
    "operator", "network", "public_transport", "railway", "highway", "amenity", "aerialway", "tags", "lat",
    "lon", "row_hash", "way_member",
)  # fmt: skip
MATCH_COLUMNS = ("source", "stop_id", "osm_key", "method", "distance_m", "name_score", "evidence")
STOP_AREA_COLUMNS = ("osm_id", "version", "name", "uic_ref", "uic_name", "tags")
STOP_AREA_MEMBER_COLUMNS = ("stop_area_id", "sequence", "role", "osm_key")
ROUTE_COLUMNS = (
    "osm_id", "version", "route", "ref", "name", "from_name", "to_name", "via", "operator", "network",
    "gtfs_route_id", "ref_trips", "pt_version", "master_id", "tags",
)  # fmt: skip
ROUTE_MEMBER_COLUMNS = ("route_id", "sequence", "role", "osm_key")
ROUTE_MASTER_COLUMNS = ("osm_id", "version", "route", "ref", "name", "operator", "network", "tags")
PROBLEM_COLUMNS = (
    "identity", "problem_type", "priority", "source", "stop_id", "osm_key", "operator_code", "distance_m",
    "message", "details", "lat", "lon",
)  # fmt: skip

Checkpoint = Callable[[str], None]


@dataclass(frozen=True)
class SourceStateRow:
    """The validators of one source, written to `source_states` with the snapshot."""

    source: str
    url: str | None
    etag: str | None
    last_modified: str | None
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ImportStats:
    rows: dict[str, int]
    appeared: int
    resolved: int
    load_seconds: float
    swap_seconds: float
    vacuum_seconds: float
    clipped: dict[str, int] = field(default_factory=dict)  # "table.column" → values cut to fit


def _geom(lat: float, lon: float) -> str:
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def _atlas_rows(records: Iterable[RegistryStop]) -> Iterable[tuple[Any, ...]]:
    for r in records:
        yield (
            r.source, r.stop_id, r.dataset, r.code, r.platform_code, r.name, r.operator_code,
            r.operator_name, r.modes, r.country_code, r.region, r.parent_id, r.valid_from,
            r.valid_to, r.lat, r.lon, r.row_hash, json.dumps(r.attributes, ensure_ascii=False, default=str),
            _geom(r.lat, r.lon),
        )  # fmt: skip


def _osm_rows(records: Iterable[OsmObject]) -> Iterable[tuple[Any, ...]]:
    for r in records:
        yield (
            r.osm_key, r.osm_type, r.osm_id, r.version, r.name, r.uic_ref, r.uic_name, r.ifopt, r.local_ref,
            r.operator, r.network, r.public_transport, r.railway, r.highway, r.amenity, r.aerialway,
            json.dumps(r.tags, ensure_ascii=False), r.lat, r.lon, r.row_hash, r.way_member,
            _geom(r.lat, r.lon),
        )  # fmt: skip


def _match_rows(records: Iterable[MatchRecord]) -> Iterable[tuple[Any, ...]]:
    for r in records:
        yield (
            r.source,
            r.stop_id,
            r.osm_key,
            r.method,
            r.distance_m,
            r.name_score,
            json.dumps(r.evidence, ensure_ascii=False),
        )


def _problem_rows(records: Iterable[ProblemRecord]) -> Iterable[tuple[Any, ...]]:
    for r in records:
        yield (
            r.identity, r.problem_type, r.priority, r.source, r.stop_id, r.osm_key, r.operator_code,
            r.distance_m, r.message, json.dumps(r.details, ensure_ascii=False, default=str), r.lat, r.lon,
            _geom(r.lat, r.lon),
        )  # fmt: skip


def _member_rows(parents: Iterable[tuple[int, Sequence[OsmMember]]]) -> Iterable[tuple[Any, ...]]:
    for parent_id, members in parents:
        for m in members:
            yield (parent_id, m.sequence, m.role, m.osm_key)


def _route_rows(structure: OsmStructure) -> Iterable[tuple[Any, ...]]:
    for r in structure.routes:
        yield (
            r.osm_id, r.version, r.route, r.ref, r.name, r.from_, r.to, r.via, r.operator, r.network,
            r.gtfs_route_id, r.ref_trips, r.pt_version, r.master_id, json.dumps(r.tags, ensure_ascii=False),
        )  # fmt: skip


def _timetable_rows(
    routes: Sequence[GtfsRouteRecord], route_stops: Sequence[GtfsRouteStopRecord]
) -> dict[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]]]:
    """Table → (columns, rows) of the timetable's routes and route stops."""
    return {
        "gtfs_routes": (
            GTFS_ROUTE_COLUMNS,
            (tuple(getattr(r, c) for c in GTFS_ROUTE_COLUMNS) for r in routes),
        ),
        "gtfs_route_stops": (
            GTFS_ROUTE_STOP_COLUMNS,
            (tuple(getattr(r, c) for c in GTFS_ROUTE_STOP_COLUMNS) for r in route_stops),
        ),
    }


def _structure_rows(structure: OsmStructure) -> dict[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]]]:
    """Table → (columns, rows) of the OSM structure."""

    def tags(value: dict[str, str]) -> str:
        return json.dumps(value, ensure_ascii=False)

    return {
        "osm_stop_areas": (
            STOP_AREA_COLUMNS,
            (
                (a.osm_id, a.version, a.name, a.uic_ref, a.uic_name, tags(a.tags))
                for a in structure.stop_areas
            ),
        ),
        "osm_stop_area_members": (
            STOP_AREA_MEMBER_COLUMNS,
            _member_rows((a.osm_id, a.members) for a in structure.stop_areas),
        ),
        "osm_routes": (ROUTE_COLUMNS, _route_rows(structure)),
        "osm_route_members": (
            ROUTE_MEMBER_COLUMNS,
            _member_rows((r.osm_id, r.members) for r in structure.routes),
        ),
        "osm_route_masters": (
            ROUTE_MASTER_COLUMNS,
            (
                (m.osm_id, m.version, m.route, m.ref, m.name, m.operator, m.network, tags(m.tags))
                for m in structure.route_masters
            ),
        ),
    }


def _text_limits(cursor: Any, table: str) -> dict[str, int]:
    """The `varchar(n)` columns of `table` and their n, as the database has them now."""
    cursor.execute(
        "SELECT column_name, character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s"
        " AND character_maximum_length IS NOT NULL",
        (table,),
    )
    return dict(cursor.fetchall())


def _fitted(
    rows: Iterable[tuple[Any, ...]], columns: Sequence[str], limits: dict[str, int], clipped: dict[str, int]
) -> Iterator[tuple[Any, ...]]:
    """Rows with every text longer than its column cut to the column's length, counted per column.

    An OSM tag may be 255 characters and a hand-made source any length; one such value must not make
    PostgreSQL refuse the whole snapshot. Identifiers never get here too long: the sources drop rows
    whose stop_id is not one (`pipeline.text.is_sloid`), and OSM keys are built from numbers.
    """
    checks = [(i, name, limits[name]) for i, name in enumerate(columns) if name in limits]
    for row in rows:
        for i, name, limit in checks:
            value = row[i]
            if value is not None and len(value) > limit:
                row = (*row[:i], value[:limit], *row[i + 1 :])
                clipped[name] = clipped.get(name, 0) + 1
        yield row


def _copy(
    cursor: Any,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    clipped: dict[str, int] | None = None,
) -> int:
    """COPY `rows` into the staging table `stage_<table>`, texts fitted to the real table's columns."""
    limits = _text_limits(cursor, table)
    counts: dict[str, int] = {}
    count = 0
    with cursor.copy(f"COPY stage_{table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in _fitted(rows, columns, limits, counts):
            copy.write_row(row)
            count += 1
    if clipped is not None:
        clipped.update({f"{table}.{name}": n for name, n in counts.items()})
    return count


def check_row_counts(previous: dict[str, int], new: dict[str, int], min_ratio: float) -> None:
    """Refuse a snapshot that lost most of a source at once: far more likely a broken source than reality."""
    if min_ratio <= 0:
        return
    for table in ("registry_stops", "osm_stops"):
        before, after = previous.get(table, 0), new.get(table, 0)
        if before >= 100 and after < before * min_ratio:
            raise PipelineError(
                f"refusing to import: {table} would drop from {before:,} to {after:,} rows "
                f"(below {min_ratio:.0%} of the previous snapshot; set PIPELINE_MIN_ROW_RATIO=0 to force)"
            )


def import_snapshot(
    connection: Any,
    run_id: int,
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    matches: Sequence[MatchRecord],
    problems: Sequence[ProblemRecord],
    source_states: Sequence[SourceStateRow] = (),
    *,
    structure: OsmStructure | None = None,
    timetable_routes: Sequence[GtfsRouteRecord] = (),
    timetable_route_stops: Sequence[GtfsRouteStopRecord] = (),
    min_row_ratio: float = 0.0,
    timeout_s: float = 600.0,
    checkpoint: Checkpoint | None = None,
    vacuum: bool = True,
) -> ImportStats:
    """Load and swap one snapshot on a psycopg connection (not in autocommit). Commits or rolls back.

    `structure`: the OSM stop areas, routes and route masters of the snapshot (None: none);
    `timetable_routes`, `timetable_route_stops`: the GTFS routes and their main itineraries.
    """
    mark = checkpoint or (lambda _name: None)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    try:
        with connection.cursor() as cur:
            cur.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
            for table in SNAPSHOT_TABLES:
                cur.execute(
                    f"CREATE TEMP TABLE stage_{table} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
                )
            for table in ("matches", "problems"):
                cur.execute(f"ALTER TABLE stage_{table} DROP COLUMN id")  # ids come from the real sequences
            clipped: dict[str, int] = {}
            rows["registry_stops"] = _copy(
                cur, "registry_stops", (*ATLAS_COLUMNS, "geom"), _atlas_rows(registry), clipped
            )
            rows["osm_stops"] = _copy(cur, "osm_stops", (*OSM_COLUMNS, "geom"), _osm_rows(osm), clipped)
            rows["matches"] = _copy(cur, "matches", MATCH_COLUMNS, _match_rows(matches), clipped)
            rows["problems"] = _copy(
                cur, "problems", (*PROBLEM_COLUMNS, "geom"), _problem_rows(problems), clipped
            )
            structure_rows = {
                **_structure_rows(structure or OsmStructure()),
                **_timetable_rows(timetable_routes, timetable_route_stops),
            }
            for table, (columns, table_rows) in structure_rows.items():
                rows[table] = _copy(cur, table, columns, table_rows, clipped)
            if clipped:
                logger.warning("import: texts cut to their column's length: %s", clipped)
            cur.execute("CREATE INDEX ON stage_problems (identity)")
            cur.execute("ANALYZE stage_problems")
            mark("staged")
            load_seconds = time.perf_counter() - started

            swap_started = time.perf_counter()
            previous = {}
            for table in ("registry_stops", "osm_stops"):
                cur.execute(f"SELECT count(*) FROM {table}")
                previous[table] = cur.fetchone()[0]
            check_row_counts(previous, rows, min_row_ratio)
            cur.execute(
                """
                INSERT INTO problem_changes
                       (run_id, problem_identity, problem_type, change, priority, operator_code)
                SELECT %(run)s, s.identity, s.problem_type, 'appeared', s.priority, s.operator_code
                  FROM stage_problems s
                 WHERE NOT EXISTS (SELECT 1 FROM problems p WHERE p.identity = s.identity)
                UNION ALL
                SELECT %(run)s, p.identity, p.problem_type, 'resolved', p.priority, p.operator_code
                  FROM problems p
                 WHERE NOT EXISTS (SELECT 1 FROM stage_problems s WHERE s.identity = p.identity)
                """,
                {"run": run_id},
            )
            cur.execute(
                "SELECT change, count(*) FROM problem_changes WHERE run_id = %s GROUP BY change", (run_id,)
            )
            changes = dict(cur.fetchall())
            for table in SNAPSHOT_TABLES:
                cur.execute(f"DELETE FROM {table}")
            mark("swap:deleted")
            # Columns named, not `*`: the live tables' generated columns (name_fold) compute themselves.
            cols = ", ".join((*ATLAS_COLUMNS, "geom"))
            cur.execute(f"INSERT INTO registry_stops ({cols}) SELECT {cols} FROM stage_registry_stops")
            cols = ", ".join((*OSM_COLUMNS, "geom"))
            cur.execute(f"INSERT INTO osm_stops ({cols}) SELECT {cols} FROM stage_osm_stops")
            cols = ", ".join(MATCH_COLUMNS)
            cur.execute(f"INSERT INTO matches ({cols}) SELECT {cols} FROM stage_matches")
            cols = ", ".join((*PROBLEM_COLUMNS, "geom"))
            cur.execute(f"INSERT INTO problems ({cols}) SELECT {cols} FROM stage_problems")
            for table, (columns, _rows) in structure_rows.items():
                cols = ", ".join(columns)
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM stage_{table}")
            # The map's precomputed features, from the tables just swapped in (same transaction, so
            # readers see the old map or the new one, never a mix).
            cur.execute("DELETE FROM map_features")
            for statement in _map_features_insert_sql():
                cur.execute(statement)
            mark("swap:map_features")
            for state in source_states:
                cur.execute(
                    """
                    INSERT INTO source_states
                           (source, url, etag, last_modified, sha256, size_bytes, fetched_at)
                    VALUES (%s, %s, %s, %s, %s, %s, now())
                    ON CONFLICT (source) DO UPDATE SET url = EXCLUDED.url, etag = EXCLUDED.etag,
                        last_modified = EXCLUDED.last_modified, sha256 = EXCLUDED.sha256,
                        size_bytes = EXCLUDED.size_bytes, fetched_at = EXCLUDED.fetched_at
                    """,
                    (
                        state.source,
                        state.url,
                        state.etag,
                        state.last_modified,
                        state.sha256,
                        state.size_bytes,
                    ),
                )
            mark("swap:inserted")
        connection.commit()
        swap_seconds = time.perf_counter() - swap_started
    except BaseException:
        connection.rollback()
        raise
    vacuum_seconds = 0.0
    if vacuum:
        vacuum_seconds = _vacuum(connection, timeout_s)
    logger.info("import: %s rows, swap %.3f s", rows, swap_seconds)
    return ImportStats(
        rows=rows,
        appeared=int(changes.get("appeared", 0)),
        resolved=int(changes.get("resolved", 0)),
        load_seconds=round(load_seconds, 3),
        swap_seconds=round(swap_seconds, 3),
        vacuum_seconds=round(vacuum_seconds, 3),
        clipped=clipped,
    )


def _map_features_insert_sql() -> list[str]:
    """The map snapshot's SQL lives with the map query it must reproduce (app/services/stops.py)."""
    from app.services.stops import map_features_insert_sql

    return map_features_insert_sql()


def _vacuum(connection: Any, timeout_s: float) -> float:
    """Reclaim the deleted snapshot and refresh planner statistics (outside any transaction)."""
    started = time.perf_counter()
    previous = connection.autocommit
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
            cur.execute(f"VACUUM (ANALYZE) {', '.join((*SNAPSHOT_TABLES, 'map_features'))}")
            cur.execute("RESET statement_timeout")
    finally:
        connection.autocommit = previous
    return time.perf_counter() - started
