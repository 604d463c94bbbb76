"""The snapshot import (database/snapshot): staging, the swap, the snapshot id, the post-swap hooks.

Small hand-made snapshots, imported with `import_snapshot` on a real PostGIS; the demo-sized runs
are in test_pipeline_run.py, test_map_features.py and the kill tests.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from database.snapshot import (
    SNAPSHOT_CHANNEL,
    SWAPPED_TABLES,
    Publication,
    SourceStateRow,
    current_snapshot_id,
    current_snapshot_key,
    import_snapshot,
    mapping,
    on_published,
    remove_published_hook,
)
from database.snapshot.importer import ADVISORY_LOCK_KEY
from database.snapshot.staging import RETIRED_SCHEMA, STAGE_SCHEMA
from pipeline.errors import PipelineError
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


def conninfo(stack) -> str:
    return stack.database_url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def conn(app, stack) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(conninfo(stack))
    yield connection
    connection.close()


def new_run(connection: psycopg.Connection) -> int:
    """A pipeline_runs row, as a run creates before it imports (problem_changes refer to it)."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO pipeline_runs (run_uuid, trigger, status, stage_seconds, counts, source_versions)"
            " VALUES (%s, 'cli', 'running', '{}', '{}', '{}') RETURNING id",
            (str(uuid.uuid4()),),
        )
        run_id = cur.fetchone()[0]
    connection.commit()
    return run_id


def snapshot(tag: str, n: int) -> dict:
    """A small consistent snapshot: `n` registry stops, one OSM object each, matches for the even
    ones, a problem for the odd ones, and a little OSM structure and timetable."""
    registry = [
        RegistryStop(
            source="atlas",
            stop_id=f"ch:1:sloid:{tag}{i}",
            dataset="service_points",
            code=str(8_500_000 + i),
            platform_code=None if i % 3 else "1",
            name=f"Stop {tag} {i}, Dorf",
            operator_code="SBB" if i % 2 else "PAG",
            operator_name="Operator",
            modes="BUS|TRAIN" if i % 4 == 0 else "BUS",
            country_code="CH",
            region="ZH",
            parent_id=None,
            valid_from=None,
            valid_to=None,
            lat=47.0 + i / 1000,
            lon=8.0 + i / 1000,
            row_hash=f"h{tag}{i}",
            attributes={"n": i} if i % 5 == 0 else {},
        )
        for i in range(n)
    ]
    osm = [
        OsmObject(
            osm_key=f"node/{1000 * (ord(tag[0]) % 7 + 1) + i}",
            osm_type="node",
            osm_id=1000 * (ord(tag[0]) % 7 + 1) + i,
            version=3,
            name=f"Stop {tag} {i}",
            uic_ref=str(8_500_000 + i),
            uic_name=None,
            ifopt=None,
            local_ref=None,
            operator=None,
            network=None,
            public_transport="platform",
            railway=None,
            highway="bus_stop",
            amenity=None,
            aerialway=None,
            tags={"name": f"Stop {tag} {i}", "highway": "bus_stop"},
            lat=47.0 + i / 1000 + 0.00001,
            lon=8.0 + i / 1000,
            row_hash=f"o{tag}{i}",
            way_member=bool(i % 2),
        )
        for i in range(n)
    ]
    matches = [
        MatchRecord(r.stop_id, o.osm_key, "exact_uic", 1.1, None, {"uic": True}, source="atlas")
        for i, (r, o) in enumerate(zip(registry, osm, strict=True))
        if i % 2 == 0
    ]
    problems = [
        ProblemRecord(
            identity=f"unmatched:{r.stop_id}:-",
            problem_type="unmatched",
            priority=2,
            stop_id=r.stop_id,
            osm_key=None,
            operator_code=r.operator_code,
            distance_m=None,
            message="no OSM object",
            details={"radius_m": 50},
            lat=r.lat,
            lon=r.lon,
            source="atlas",
        )
        for i, r in enumerate(registry)
        if i % 2
    ]
    member = (OsmMember("platform", osm[0].osm_key, 0),)
    structure = OsmStructure(
        stop_areas=(OsmStopArea(5, 2, f"Area {tag}", None, None, {"type": "public_transport"}, member),),
        routes=(
            OsmRoute(
                7, 1, "bus", "1", f"Bus {tag}", "A", "B", None, None, None, None, None, "2", 9, {}, member
            ),
        ),
        route_masters=(OsmRouteMaster(9, 1, "bus", "1", "Line 1", None, None, {}, (7,)),),
    )
    routes = [GtfsRouteRecord("r1", "r1", "a", "Agency", "1", f"Line {tag}", "3")]
    route_stops = [GtfsRouteStopRecord("r1", "0", 0, "s1", "Stop", registry[0].stop_id, 12)]
    return {
        "registry": registry,
        "osm": osm,
        "matches": matches,
        "problems": problems,
        "structure": structure,
        "timetable_routes": routes,
        "timetable_route_stops": route_stops,
    }


def run_import(connection: psycopg.Connection, data: dict, **options):
    run_id = new_run(connection)
    stats = import_snapshot(
        connection,
        run_id,
        data["registry"],
        data["osm"],
        data["matches"],
        data["problems"],
        [SourceStateRow("atlas", None, None, None, "0" * 64, 1)],
        structure=data["structure"],
        timetable_routes=data["timetable_routes"],
        timetable_route_stops=data["timetable_route_stops"],
        **options,
    )
    return run_id, stats


def scalar(connection: psycopg.Connection, sql: str, params=None):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        value = cur.fetchone()[0]
    connection.rollback()
    return value


def schemas(connection: psycopg.Connection) -> set[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN (%s, %s)", (STAGE_SCHEMA, RETIRED_SCHEMA)
        )
        found = {row[0] for row in cur.fetchall()}
    connection.rollback()
    return found


# --- the snapshot id and the hooks -------------------------------------------------------------------


def test_an_import_publishes_the_id_of_its_run_as_the_snapshot_id(conn):
    assert current_snapshot_id(conn) is None
    first, stats = run_import(conn, snapshot("a", 6))
    assert stats.snapshot_id == first
    assert current_snapshot_id(conn) == first
    run_uuid = scalar(conn, "SELECT run_uuid FROM pipeline_runs WHERE id = %s", (first,))
    assert current_snapshot_key(conn) == f"{first}-{run_uuid.replace('-', '')[:8]}"
    second, _ = run_import(conn, snapshot("b", 4))
    assert current_snapshot_id(conn) == second
    rows = scalar(conn, "SELECT row_counts FROM snapshot_publications WHERE run_id = %s", (second,))
    assert rows["registry_stops"] == 4


def test_the_snapshot_id_reads_through_a_sqlalchemy_session_too(app, conn):
    from database import db

    run_id, _ = run_import(conn, snapshot("a", 3))
    assert current_snapshot_id(db.session) == run_id
    assert current_snapshot_key(db.session).startswith(f"{run_id}-")


def test_post_swap_hooks_get_the_publication_and_a_failing_hook_does_not_fail_the_import(conn, stack):
    seen: list[Publication] = []

    def record(publication: Publication) -> None:
        # The hook runs after the commit: another connection already sees the new snapshot.
        with psycopg.connect(conninfo(stack)) as other:
            seen.append(publication)
            assert current_snapshot_id(other) == publication.snapshot_id

    def broken(_publication: Publication) -> None:
        raise RuntimeError("cache server away")

    on_published(broken)
    on_published(record)
    try:
        first, _ = run_import(conn, snapshot("a", 3))
        second, _ = run_import(conn, snapshot("b", 5))
    finally:
        remove_published_hook(broken)
        remove_published_hook(record)
    assert [(p.snapshot_id, p.previous_id) for p in seen] == [(first, None), (second, first)]
    assert seen[1].rows["registry_stops"] == 5


def test_the_swap_notifies_listeners_with_the_snapshot_id(conn, stack):
    listener = psycopg.connect(conninfo(stack), autocommit=True)
    try:
        listener.execute(f"LISTEN {SNAPSHOT_CHANNEL}")
        run_id, _ = run_import(conn, snapshot("a", 3))
        notes = list(listener.notifies(timeout=5, stop_after=1))
    finally:
        listener.close()
    assert [(n.channel, n.payload) for n in notes] == [(SNAPSHOT_CHANNEL, str(run_id))]


# --- readers never see a mix -------------------------------------------------------------------------

SIGNATURE_SQL = """
    SELECT (SELECT count(*) FROM registry_stops), (SELECT count(*) FROM osm_stops),
           (SELECT count(*) FROM matches), (SELECT count(*) FROM problems),
           (SELECT count(*) FROM map_features), (SELECT count(*) FROM osm_stop_areas),
           (SELECT min(name) FROM osm_routes), (SELECT min(long_name) FROM gtfs_routes),
           (SELECT min(stop_id) FROM registry_stops),
           (SELECT run_id FROM snapshot_publications ORDER BY published_at DESC, run_id DESC LIMIT 1)
"""


def test_readers_never_see_rows_of_two_snapshots_during_imports(conn, stack):
    a, b = snapshot("a", 40), snapshot("b", 25)
    run_import(conn, a)
    expected = {}
    with conn.cursor() as cur:
        cur.execute(SIGNATURE_SQL)
        expected["a"] = cur.fetchone()[:-1]
    conn.rollback()

    seen: list[tuple] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            with psycopg.connect(conninfo(stack)) as reader:
                while not stop.is_set():
                    with reader.cursor() as cur:
                        # One statement, and a transaction of two statements: both must be one snapshot.
                        cur.execute(SIGNATURE_SQL)
                        one = cur.fetchone()
                        cur.execute("SELECT count(*) FROM matches")
                        again = cur.fetchone()[0]
                    reader.rollback()
                    seen.append((*one[:-1], again))
        except BaseException as exc:  # reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        # Pause inside the swap now and then, so readers pile up on its locks.
        pause = {"n": 0}

        def checkpoint(name: str) -> None:
            if name == "swap:locked":
                pause["n"] += 1
                time.sleep(0.2 if pause["n"] % 2 else 0.0)

        for i in range(6):
            data = b if i % 2 == 0 else a
            _, stats = run_import(conn, data, checkpoint=checkpoint)
            assert stats.swap_attempts >= 1
            if i == 0:
                with conn.cursor() as cur:
                    cur.execute(SIGNATURE_SQL)
                    expected["b"] = cur.fetchone()[:-1]
                conn.rollback()
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
    assert not errors, errors
    allowed = {(*sig, sig[2]) for sig in expected.values()}
    assert len(seen) > 50
    assert set(seen) <= allowed, set(seen) - allowed
    assert set(seen) == allowed  # both snapshots were read


# --- the swap: structure, leftovers, locks -----------------------------------------------------------


def fingerprint(connection: psycopg.Connection) -> dict:
    """Columns, indexes, constraints, sequences and privileges of the swapped tables."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname,
                   (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     || ' ' || a.attnotnull || ' ' || a.attgenerated::text
                                     || coalesce(' ' || pg_get_expr(d.adbin, d.adrelid), '')
                                     ORDER BY a.attnum)
                      FROM pg_attribute a
                      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                   (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY pg_get_indexdef(i.indexrelid))
                      FROM pg_index i WHERE i.indrelid = c.oid),
                   (SELECT array_agg(conname || ' ' || pg_get_constraintdef(oid) ORDER BY conname)
                      FROM pg_constraint WHERE conrelid = c.oid),
                   (SELECT array_agg(a.attname || ' '
                                     || coalesce(pg_get_serial_sequence(c.relname, a.attname), '-')
                                     ORDER BY a.attnum)
                      FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                   c.relacl::text
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname = ANY(%s) AND c.relkind = 'r'
            """,
            (list(SWAPPED_TABLES),),
        )
        out = {row[0]: row[1:] for row in cur.fetchall()}
    connection.rollback()
    return out


def test_the_swap_keeps_every_column_index_constraint_and_sequence_and_leaves_no_schema_behind(conn):
    before = fingerprint(conn)
    assert set(before) == set(SWAPPED_TABLES)
    run_import(conn, snapshot("a", 5))
    run_import(conn, snapshot("b", 7))
    assert fingerprint(conn) == before
    assert schemas(conn) == set()
    # The serial ids still come from the same sequence, which TRUNCATE ... RESTART IDENTITY resets.
    ids = scalar(conn, "SELECT min(id) FROM matches")
    run_import(conn, snapshot("c", 3))
    assert scalar(conn, "SELECT min(id) FROM matches") > ids


def test_staged_tables_arrive_indexed_analysed_and_frozen(conn):
    run_import(conn, snapshot("a", 30))
    # Planner statistics came with the table (ANALYZE ran in staging): no autovacuum needed first.
    assert scalar(conn, "SELECT reltuples FROM pg_class WHERE oid = 'registry_stops'::regclass") == 30
    assert scalar(conn, "SELECT count(*) FROM pg_stats WHERE tablename = 'map_features'") > 0
    # COPY FREEZE: every page is all-visible, so index-only scans need no VACUUM after the swap.
    assert scalar(conn, "SELECT relallvisible = relpages FROM pg_class WHERE oid = 'osm_stops'::regclass")


def test_a_failed_import_keeps_the_previous_snapshot_and_leaves_no_staging_behind(conn):
    first, _ = run_import(conn, snapshot("a", 6))
    broken = snapshot("b", 6)
    broken["registry"] = broken["registry"] + broken["registry"][:1]  # a duplicate primary key
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_import(conn, broken)
    assert current_snapshot_id(conn) == first
    assert scalar(conn, "SELECT count(*) FROM registry_stops WHERE stop_id LIKE 'ch:1:sloid:a%'") == 6
    assert schemas(conn) == set()


def test_leftovers_of_a_killed_import_are_dropped_by_the_next(conn):
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {STAGE_SCHEMA}")
        cur.execute(f"CREATE TABLE {STAGE_SCHEMA}.registry_stops (junk int)")
        cur.execute(f"CREATE SCHEMA {RETIRED_SCHEMA}")
    conn.commit()
    run_import(conn, snapshot("a", 4))
    assert scalar(conn, "SELECT count(*) FROM registry_stops") == 4
    assert schemas(conn) == set()


def test_a_second_import_at_the_same_time_is_refused(conn, stack):
    holder = psycopg.connect(conninfo(stack), autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with pytest.raises(PipelineError, match="another snapshot import"):
            run_import(conn, snapshot("a", 3))
    finally:
        holder.close()
    run_import(conn, snapshot("a", 3))


def test_a_long_reader_makes_the_swap_retry_while_other_readers_wait_at_most_one_attempt(conn, stack):
    run_import(conn, snapshot("a", 8))
    long_reader = psycopg.connect(conninfo(stack))
    long_reader.execute("SELECT count(*) FROM registry_stops").fetchone()  # holds ACCESS SHARE until rollback
    waits: list[float] = []
    stop = threading.Event()

    def short_reads() -> None:
        with psycopg.connect(conninfo(stack), autocommit=True) as reader:
            while not stop.is_set():
                started = time.perf_counter()
                reader.execute("SELECT count(*) FROM registry_stops").fetchone()
                waits.append(time.perf_counter() - started)
                time.sleep(0.01)

    def release_later() -> None:
        time.sleep(1.5)
        long_reader.rollback()

    reader = threading.Thread(target=short_reads)
    releaser = threading.Thread(target=release_later)
    reader.start()
    releaser.start()
    try:
        _, stats = run_import(conn, snapshot("b", 5), lock_timeout_s=0.2)
    finally:
        stop.set()
        reader.join(timeout=10)
        releaser.join(timeout=10)
        long_reader.close()
    assert stats.swap_attempts > 1
    assert scalar(conn, "SELECT count(*) FROM registry_stops") == 5
    # A short reader queued behind a waiting swap attempt waits about that attempt's lock timeout
    # (0.2 s), not for the long reader (1.5 s).
    assert max(waits) < 0.2 + 0.6, max(waits)


def test_the_swap_gives_up_at_the_deadline_and_keeps_the_previous_snapshot(conn, stack):
    first, _ = run_import(conn, snapshot("a", 4))
    blocker = psycopg.connect(conninfo(stack))
    blocker.execute("LOCK TABLE registry_stops IN SHARE MODE")
    try:
        with pytest.raises(psycopg.errors.LockNotAvailable):
            run_import(conn, snapshot("b", 6), timeout_s=1.5, lock_timeout_s=0.2)
    finally:
        blocker.rollback()
        blocker.close()
    assert current_snapshot_id(conn) == first
    assert scalar(conn, "SELECT count(*) FROM registry_stops") == 4
    assert schemas(conn) == set()


def test_a_grant_to_a_reader_role_survives_the_swap(conn):
    role = "stopsync_test_reader"
    with conn.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {role}")
        cur.execute(f"CREATE ROLE {role}")
        cur.execute(f"GRANT SELECT ON registry_stops, map_features TO {role}")
    conn.commit()
    try:
        run_import(conn, snapshot("a", 3))
        assert scalar(conn, "SELECT has_table_privilege(%s, 'registry_stops', 'SELECT')", (role,))
        assert scalar(conn, "SELECT has_table_privilege(%s, 'map_features', 'SELECT')", (role,))
        assert not scalar(conn, "SELECT has_table_privilege(%s, 'osm_stops', 'SELECT')", (role,))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        conn.commit()


def test_problem_changes_and_source_states_commit_with_the_swap(conn):
    first, stats = run_import(conn, snapshot("a", 6))
    assert (stats.appeared, stats.resolved) == (3, 0)
    second, stats = run_import(conn, snapshot("b", 4))
    assert (stats.appeared, stats.resolved) == (2, 3)
    with conn.cursor() as cur:
        cur.execute("SELECT run_id, change, count(*) FROM problem_changes GROUP BY 1, 2 ORDER BY 1, 2")
        assert cur.fetchall() == [(first, "appeared", 3), (second, "appeared", 2), (second, "resolved", 3)]
    conn.rollback()
    assert scalar(conn, "SELECT count(*) FROM source_states WHERE source = 'atlas'") == 1


# --- the row ↔ record mapping ----------------------------------------------------------------------


def test_every_column_of_every_snapshot_table_is_declared_in_the_mapping(conn):
    with conn.cursor() as cur:
        for table_map in mapping.TABLE_MAPS:
            cur.execute(
                """
                SELECT a.attname FROM pg_attribute a
                 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = ''
                   AND NOT (a.attname = 'id' AND pg_get_serial_sequence(%s, 'id') IS NOT NULL)
                """,
                (table_map.table, table_map.table),
            )
            columns = {row[0] for row in cur.fetchall()}
            assert set(table_map.column_names) == columns, table_map.table
            assert len(table_map.column_names) == len(set(table_map.column_names)), table_map.table
    conn.rollback()


def test_records_read_back_through_the_mapping_equal_the_records_imported(conn):
    data = snapshot("a", 9)
    run_import(conn, data)
    structure = data["structure"]

    def read(table_map, order_by):
        return mapping.read_records(conn, table_map, order_by=order_by)

    assert read(mapping.REGISTRY_STOPS, "stop_id") == sorted(data["registry"], key=lambda r: r.stop_id)
    assert read(mapping.OSM_STOPS, "osm_key") == sorted(data["osm"], key=lambda r: r.osm_key)
    assert read(mapping.MATCHES, "stop_id") == sorted(data["matches"], key=lambda r: r.stop_id)
    assert read(mapping.PROBLEMS, "identity") == sorted(data["problems"], key=lambda r: r.identity)
    assert read(mapping.OSM_STOP_AREA_MEMBERS, "stop_area_id, sequence") == [
        (a.osm_id, m) for a in structure.stop_areas for m in a.members
    ]
    areas = read(mapping.OSM_STOP_AREAS, "osm_id")
    assert [a.__class__(**{**_fields(a), "members": structure.stop_areas[0].members}) for a in areas] == list(
        structure.stop_areas
    )
    assert read(mapping.GTFS_ROUTES, "route_id") == data["timetable_routes"]
    assert read(mapping.GTFS_ROUTE_STOPS, "route_id") == data["timetable_route_stops"]
    conn.rollback()


def _fields(record) -> dict:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def test_the_mapping_reads_through_a_sqlalchemy_session(app, conn):
    from database import db

    data = snapshot("a", 4)
    run_import(conn, data)
    found = mapping.read_records(
        db.session, mapping.REGISTRY_STOPS, where="stop_id = :id", params={"id": data["registry"][2].stop_id}
    )
    assert found == [data["registry"][2]]


def test_the_mapping_turns_loaded_orm_rows_into_the_same_records(app, conn):
    from sqlalchemy import select

    from database import db
    from database.models import OsmStop, Problem, RegistryStopRow

    data = snapshot("a", 5)
    run_import(conn, data)
    registry = [mapping.REGISTRY_STOPS.record_of(r) for r in db.session.scalars(select(RegistryStopRow))]
    osm = [mapping.OSM_STOPS.record_of(o) for o in db.session.scalars(select(OsmStop))]
    problems = [mapping.PROBLEMS.record_of(p) for p in db.session.scalars(select(Problem))]
    assert sorted(registry, key=lambda r: r.stop_id) == sorted(data["registry"], key=lambda r: r.stop_id)
    assert sorted(osm, key=lambda o: o.osm_key) == sorted(data["osm"], key=lambda o: o.osm_key)
    assert sorted(problems, key=lambda p: p.identity) == sorted(data["problems"], key=lambda p: p.identity)
