"""Import of one snapshot: build everything in staging, then swap in one short transaction.

1. **Staging** (one transaction, no lock a reader would wait for): twins of the snapshot tables in
   the schema `snapshot_stage` (`staging.py`), filled by COPY FREEZE through the row ↔ record
   declarations (`mapping.py`), given the live tables' indexes and constraints, analysed; then the
   derived tables built from them in staging (the map read model `map_features`, `derived.py`) and
   the problem changes against the live snapshot computed. Nothing of it is visible to readers.
2. **Swap** (`swap.py`): a transaction of small writes (problem changes, source validators, the
   publication row that carries the snapshot id) and `ALTER TABLE ... SET SCHEMA` of every table,
   under ACCESS EXCLUSIVE locks held for milliseconds. Readers see the previous snapshot until the
   commit and the new one after: never an empty table, never a mix.
3. **After the commit**: post-swap hooks (`publication.on_published`), then the retired tables and
   the staging schema are dropped.

A failure or a kill (kill -9, a lost connection) anywhere leaves the previous snapshot in place:
before the swap commits, nothing visible changed; an uncommitted staging transaction vanishes, and
what a committed one left behind is dropped by the next import. Persistent tables that people
write (decisions, decision_events, manual_matches, users) are never touched: they refer to snapshot
rows by stable identities only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from database.snapshot import derived, mapping, staging
from database.snapshot.map_tiles import DEFAULT_PRERENDER_MAX_ZOOM
from database.snapshot.publication import CURRENT_SNAPSHOT_SQL, Publication, run_published_hooks
from database.snapshot.staging import STAGE_SCHEMA, quote
from database.snapshot.swap import swap
from pipeline.errors import PipelineError
from pipeline.records import (
    GtfsRouteRecord,
    GtfsRouteStopRecord,
    MatchRecord,
    OsmObject,
    OsmStructure,
    ProblemRecord,
    RegistryStop,
)

logger = logging.getLogger(__name__)

# The snapshot tables the pipeline writes, then the tables derived from them in staging. All of
# them are swapped together.
SNAPSHOT_TABLES = tuple(m.table for m in mapping.TABLE_MAPS)
SWAPPED_TABLES = (*SNAPSHOT_TABLES, *derived.DERIVED_TABLES)
# One import at a time per database, whoever starts it (the Redis run lock is the first guard).
ADVISORY_LOCK_KEY = 0x5707_5A9C

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
    """What an import did and how long each part took (seconds).

    `load_seconds`: staging (COPY, indexes, derived tables), invisible to readers;
    `swap_seconds`: the committed swap transaction; `locked_seconds`: the part of it holding the
    tables' ACCESS EXCLUSIVE locks (what a reader may wait); `swap_attempts`: 1 unless a long reader
    made an attempt give up; `cleanup_seconds`: dropping the retired tables after the commit.
    """

    snapshot_id: int
    rows: dict[str, int]
    appeared: int
    resolved: int
    load_seconds: float
    swap_seconds: float
    locked_seconds: float
    swap_attempts: int
    cleanup_seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    clipped: dict[str, int] = field(default_factory=dict)  # "table.column" → values cut to fit
    tiles: dict[int, tuple[int, float]] = field(default_factory=dict)  # zoom → (tiles, seconds) pre-rendered

    def as_counts(self) -> dict[str, Any]:
        """The run record's `counts["import"]`."""
        out: dict[str, Any] = {
            "rows": self.rows,
            "load_seconds": self.load_seconds,
            "swap_seconds": self.swap_seconds,
            "locked_seconds": self.locked_seconds,
            "swap_attempts": self.swap_attempts,
            "cleanup_seconds": self.cleanup_seconds,
            "steps": self.steps,
        }
        if self.clipped:
            out["texts_cut_to_column_length"] = self.clipped
        if self.tiles:
            out["tiles_per_zoom"] = {str(z): list(done) for z, done in self.tiles.items()}
        return out


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
    lock_timeout_s: float = 0.5,
    tile_prerender_max_zoom: int = DEFAULT_PRERENDER_MAX_ZOOM,
    checkpoint: Checkpoint | None = None,
) -> ImportStats:
    """Stage, swap in and publish one snapshot as run `run_id` (its snapshot id).

    `connection`: a psycopg connection, not in autocommit mode (commits itself; leaves no transaction
    open). `structure`: the OSM stop areas, routes and route masters (None: none);
    `timetable_routes`, `timetable_route_stops`: the GTFS routes and their main itineraries.
    `timeout_s` bounds the whole import; `lock_timeout_s` one swap attempt's wait for its locks.
    `tile_prerender_max_zoom`: the unfiltered map tiles of zooms 0..this are rendered in staging
    (below 0: none; the tile endpoint renders the rest on demand).
    Raises PipelineError when the row-count guard refuses the snapshot.
    """
    mark = checkpoint or (lambda _name: None)
    deadline = time.monotonic() + timeout_s
    started = time.perf_counter()
    steps: dict[str, float] = {}
    clock = {"t": started}

    def lap(step: str) -> None:
        now = time.perf_counter()
        steps[step] = round(now - clock["t"], 3)
        clock["t"] = now

    records: dict[str, Iterable[Any]] = {
        "registry_stops": registry,
        "osm_stops": osm,
        "matches": matches,
        "problems": problems,
        **mapping.structure_records(structure or OsmStructure()),
        "gtfs_routes": timetable_routes,
        "gtfs_route_stops": timetable_route_stops,
    }
    _take_import_lock(connection)
    try:
        with connection.cursor() as cur:
            cur.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
            live = staging.live_schema(cur)
            previous = {}
            for table in ("registry_stops", "osm_stops"):
                cur.execute(f"SELECT count(*) FROM {quote(live)}.{quote(table)}")
                previous[table] = cur.fetchone()[0]
            new = {"registry_stops": len(registry), "osm_stops": len(osm)}
            check_row_counts(previous, new, min_row_ratio)
            staging.drop_leftovers(cur)
            staging.refuse_foreign_keys(cur, live, SWAPPED_TABLES)
            staging.create_twins(cur, live, SWAPPED_TABLES)
            lap("create")
            rows: dict[str, int] = {}
            clipped: dict[str, int] = {}
            for table_map in mapping.TABLE_MAPS:
                rows[table_map.table] = staging.copy_rows(
                    cur,
                    live,
                    table_map.table,
                    table_map.column_names,
                    table_map.rows(records[table_map.table]),
                    clipped,
                )
            if clipped:
                logger.warning("import: texts cut to their column's length: %s", clipped)
            lap("copy")
            for table in SNAPSHOT_TABLES:
                staging.replay_indexes(cur, live, table)
            staging.analyze(cur, SNAPSHOT_TABLES)
            lap("indexes")
            derived.build(cur, live)
            for table in derived.DERIVED_TABLES:
                staging.replay_indexes(cur, live, table)
            staging.analyze(cur, derived.DERIVED_TABLES)
            lap("derived")
            # The unfiltered tiles, from the staged read model and its indexes: outside the swap.
            tiles = derived.prerender(cur, live, tile_prerender_max_zoom, run_id)
            staging.analyze(cur, ("map_tiles",))
            lap("tiles")
            _stage_problem_changes(cur, live)
            for table in SWAPPED_TABLES:
                staging.replay_privileges(cur, live, table)
            lap("changes")
        connection.commit()
        mark("staged")
        load_seconds = time.perf_counter() - started

        changes: dict[str, int] = {}
        published: dict[str, Any] = {}

        def before_lock(cur: Any) -> None:
            cur.execute(f"SET LOCAL statement_timeout = {int(max(1.0, deadline - time.monotonic()) * 1000)}")
            cur.execute(CURRENT_SNAPSHOT_SQL)
            row = cur.fetchone()
            published["previous"] = None if row is None else int(row[0])
            cur.execute(
                f"""
                INSERT INTO problem_changes
                       (run_id, problem_identity, problem_type, change, priority, operator_code)
                SELECT %s, identity, problem_type, change, priority, operator_code
                  FROM {quote(STAGE_SCHEMA)}.problem_changes_pending
                """,
                (run_id,),
            )
            cur.execute(
                f"SELECT change, count(*) FROM {quote(STAGE_SCHEMA)}.problem_changes_pending GROUP BY change"
            )
            changes.clear()
            changes.update(dict(cur.fetchall()))
            _write_source_states(cur, source_states)
            cur.execute(
                """
                INSERT INTO snapshot_publications (run_id, run_uuid, row_counts)
                SELECT %(run)s, (SELECT run_uuid FROM pipeline_runs WHERE id = %(run)s), %(rows)s::jsonb
                ON CONFLICT (run_id) DO UPDATE
                   SET published_at = EXCLUDED.published_at, row_counts = EXCLUDED.row_counts
                RETURNING published_at
                """,
                {"run": run_id, "rows": json.dumps(rows)},
            )
            published["at"] = cur.fetchone()[0]

        times = swap(
            connection,
            live,
            SWAPPED_TABLES,
            before_lock=before_lock,
            deadline=deadline,
            lock_timeout_s=lock_timeout_s,
            snapshot_id=run_id,
            checkpoint=mark,
        )
        mark("published")
    except BaseException:
        connection.rollback()
        _cleanup(connection)
        _release_import_lock(connection)
        raise
    publication = Publication(run_id, published["previous"], published["at"], dict(rows))
    run_published_hooks(publication)
    cleanup_started = time.perf_counter()
    _cleanup(connection)
    _release_import_lock(connection)
    cleanup_seconds = time.perf_counter() - cleanup_started
    logger.info(
        "import: snapshot %s published, %s rows; staging %.2f s, swap %.3f s"
        " (locks held %.3f s, %d attempt(s))",
        run_id,
        rows,
        load_seconds,
        times.transaction_seconds,
        times.locked_seconds,
        times.attempts,
    )
    return ImportStats(
        snapshot_id=run_id,
        rows=rows,
        appeared=int(changes.get("appeared", 0)),
        resolved=int(changes.get("resolved", 0)),
        load_seconds=round(load_seconds, 3),
        swap_seconds=round(times.transaction_seconds, 3),
        locked_seconds=round(times.locked_seconds, 3),
        swap_attempts=times.attempts,
        cleanup_seconds=round(cleanup_seconds, 3),
        steps=steps,
        clipped=clipped,
        tiles=tiles,
    )


def _stage_problem_changes(cur: Any, live: str) -> None:
    """The problems that appear and those resolved by this snapshot, against the live one (the import
    lock guarantees the live snapshot is still the same when the swap commits)."""
    stage = f"{quote(STAGE_SCHEMA)}.problems"
    current = f"{quote(live)}.problems"
    cur.execute(
        f"""
        CREATE TABLE {quote(STAGE_SCHEMA)}.problem_changes_pending AS
        SELECT s.identity, s.problem_type, 'appeared'::text AS change, s.priority, s.operator_code
          FROM {stage} s
         WHERE NOT EXISTS (SELECT 1 FROM {current} p WHERE p.identity = s.identity)
        UNION ALL
        SELECT p.identity, p.problem_type, 'resolved', p.priority, p.operator_code
          FROM {current} p
         WHERE NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.identity = p.identity)
        """
    )


def _write_source_states(cur: Any, source_states: Sequence[SourceStateRow]) -> None:
    for state in source_states:
        cur.execute(
            """
            INSERT INTO source_states (source, url, etag, last_modified, sha256, size_bytes, fetched_at)
            VALUES (%s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (source) DO UPDATE SET url = EXCLUDED.url, etag = EXCLUDED.etag,
                last_modified = EXCLUDED.last_modified, sha256 = EXCLUDED.sha256,
                size_bytes = EXCLUDED.size_bytes, fetched_at = EXCLUDED.fetched_at
            """,
            (state.source, state.url, state.etag, state.last_modified, state.sha256, state.size_bytes),
        )


def _take_import_lock(connection: Any) -> None:
    """A session-level advisory lock for the whole import (staging and swap are two transactions);
    a killed importer's session ends and frees it."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        acquired = cur.fetchone()[0]
    connection.commit()
    if not acquired:
        raise PipelineError("another snapshot import is running on this database")


def _release_import_lock(connection: Any) -> None:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        connection.commit()
    except Exception:
        logger.exception("import: could not release the import lock (it ends with the session)")


def _cleanup(connection: Any) -> None:
    """Drop the retired tables and the staging schema (outside any transaction readers could wait on:
    nobody reads them). Best effort: a failure here is repaired by the next import."""
    previous = connection.autocommit
    try:
        connection.autocommit = True
        with connection.cursor() as cur:
            staging.drop_leftovers(cur)
    except Exception:
        logger.exception("import: could not drop the staging and retired tables (the next import will)")
    finally:
        try:
            connection.autocommit = previous
        except Exception:
            logger.debug("import: could not restore autocommit", exc_info=True)
