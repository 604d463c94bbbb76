"""The registry migration (5b7d2e9a4c18): `atlas_stops` keyed by sloid becomes `registry_stops` keyed by
(source, stop_id) without losing a decision, a manual link or a run.

Each test builds a database at the revision before it, writes Swiss data the way the previous version
did (old table and column names), upgrades, and reads it back through the new schema and the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import flask_migrate
import pytest
from sqlalchemy import create_engine, text

from pipeline.records import parse_problem_identity, problem_identity
from tests.conftest import _test_settings

BEFORE = "9c4e1d7a2b58"  # gtfs_routes: the last revision with atlas_stops
REGISTRY = "5b7d2e9a4c18"
SLOID = "ch:1:sloid:7000:1:2"
# The identity the previous version wrote: `<type>:<sloid>:<osm key>`.
IDENTITY = f"distance:{SLOID}:node/1"


@pytest.fixture
def old_database(stack) -> Iterator[str]:
    """A new database migrated to the revision before the registry migration."""
    if stack.postgres is None:
        pytest.skip("needs the harness's own PostgreSQL to create databases")
    name = f"registry_{uuid.uuid4().hex[:10]}"
    stack.postgres.create_database(name)
    url = stack.database_url_for(name)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    _migrate(stack, url, BEFORE)
    yield url
    stack.postgres.drop_database(name)


def _app(stack, url: str):
    from app import create_app

    return create_app(_test_settings(url, stack.redis_url))


def _migrate(stack, url: str, revision: str, *, down: bool = False) -> None:
    app = _app(stack, url)
    with app.app_context():
        (flask_migrate.downgrade if down else flask_migrate.upgrade)(revision=revision)


def _write_old_swiss_data(url: str) -> dict[str, int]:
    """A snapshot, a decision with its history, a manual link and a run, in the old schema."""
    evidence = {
        "atlas": {
            "sloid": SLOID,
            "row_hash": "h1",
            "uic_number": 8507000,
            "designation": "2",
            "designation_official": "Bern, Bahnhof",
            "operator_abbr": "BERNMOBIL",
            "means_of_transport": "BUS",
            "lat": 46.949,
            "lon": 7.439,
        },
        "osm": {
            "osm_key": "node/1",
            "version": 3,
            "tags": {"name": "Bern, Bahnhof"},
            "lat": 46.95,
            "lon": 7.44,
        },
    }
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO atlas_stops (sloid, source, uic_number, designation, designation_official,"
                " operator_abbr, operator_name, means_of_transport, country_code, canton, parent_sloid,"
                " lat, lon, geom, row_hash) VALUES (:s, 'atlas:traffic_point', 8507000, '2', 'Bern, Bahnhof',"
                " 'BERNMOBIL', 'Bernmobil', 'BUS', 'CH', 'BE', 'ch:1:sloid:7000', 46.949, 7.439,"
                " ST_GeomFromText('POINT(7.439 46.949)', 4326), 'h1')"
            ),
            {"s": SLOID},
        )
        c.execute(
            text(
                "INSERT INTO osm_stops (osm_key, osm_type, osm_id, version, name, tags, lat, lon, geom,"
                " row_hash)"
                " VALUES ('node/1', 'node', 1, 3, 'Bern, Bahnhof', '{}', 46.95, 7.44,"
                " ST_GeomFromText('POINT(7.44 46.95)', 4326), 'o1')"
            )
        )
        c.execute(
            text(
                "INSERT INTO matches (sloid, osm_key, method, distance_m, evidence)"
                " VALUES (:s, 'node/1', 'exact_uic', 131.0, '{}')"
            ),
            {"s": SLOID},
        )
        c.execute(
            text(
                "INSERT INTO problems (identity, problem_type, priority, sloid, osm_key, operator_abbr,"
                " distance_m,"
                " message, details, lat, lon, geom) VALUES (:i, 'distance', 2, :s, 'node/1', 'BERNMOBIL',"
                " 131.0,"
                " 'far', '{}', 46.949, 7.439, ST_GeomFromText('POINT(7.439 46.949)', 4326))"
            ),
            {"i": IDENTITY, "s": SLOID},
        )
        user = c.execute(
            text(
                "INSERT INTO users (username, password_hash, role, is_active) VALUES ('anna', 'x',"
                " 'editor', true) RETURNING id"
            )
        ).scalar_one()
        run = c.execute(
            text(
                "INSERT INTO pipeline_runs (run_uuid, trigger, status, stage_seconds, counts,"
                " source_versions)"
                " VALUES (:u, 'cli', 'success', '{}', '{\"matches\": 1}', '{}') RETURNING id"
            ),
            {"u": str(uuid.uuid4())},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO problem_changes (run_id, problem_identity, problem_type, change, priority,"
                " operator_abbr)"
                " VALUES (:r, :i, 'distance', 'appeared', 2, 'BERNMOBIL')"
            ),
            {"r": run, "i": IDENTITY},
        )
        decision = c.execute(
            text(
                "INSERT INTO decisions (problem_identity, problem_type, sloid, osm_key, decision, note,"
                " author_id,"
                " status, evidence, review_diff) VALUES (:i, 'distance', :s, 'node/1', 'not_a_problem',"
                " 'the platform is long', :u, 'active', CAST(:e AS jsonb), '[]') RETURNING id"
            ),
            {"i": IDENTITY, "s": SLOID, "u": user, "e": json.dumps(evidence)},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO decision_events (decision_id, action, decision, author_id, payload)"
                " VALUES (:d, 'created', 'not_a_problem', :u, '{}')"
            ),
            {"d": decision, "u": user},
        )
        link = c.execute(
            text(
                "INSERT INTO manual_matches (sloid, osm_key, action, status, note, evidence, author_id)"
                " VALUES (:s, 'node/1', 'link', 'active', 'same kerb', CAST(:e AS jsonb), :u) RETURNING id"
            ),
            {"s": SLOID, "e": json.dumps(evidence), "u": user},
        ).scalar_one()
    engine.dispose()
    return {"user": user, "run": run, "decision": decision, "link": link}


def test_decisions_manual_links_and_runs_recorded_before_the_registry_migration_attach_after_it(
    stack, old_database
):
    ids = _write_old_swiss_data(old_database)
    _migrate(stack, old_database, "head")

    engine = create_engine(old_database)
    with engine.connect() as c:
        stop = c.execute(text("SELECT * FROM registry_stops")).mappings().one()
        assert (stop["source"], stop["stop_id"], stop["dataset"], stop["code"]) == (
            "atlas",
            SLOID,
            "traffic_point",
            "8507000",
        )
        assert (stop["platform_code"], stop["name"], stop["operator_code"], stop["modes"]) == (
            "2",
            "Bern, Bahnhof",
            "BERNMOBIL",
            "BUS",
        )
        assert (stop["region"], stop["parent_id"], stop["name_fold"], stop["attributes"]) == (
            "BE",
            "ch:1:sloid:7000",
            "bern, bahnhof",
            {},
        )
        # The problem identity is byte-identical, and the decision recorded on it still names it.
        attached = c.execute(
            text(
                "SELECT d.id, p.source, p.stop_id, p.operator_code FROM decisions d"
                " JOIN problems p ON p.identity = d.problem_identity"
            )
        ).one()
        assert attached == (ids["decision"], "atlas", SLOID, "BERNMOBIL")
        decision = c.execute(text("SELECT * FROM decisions")).mappings().one()
        assert (decision["source"], decision["stop_id"], decision["problem_identity"]) == (
            "atlas",
            SLOID,
            IDENTITY,
        )
        # Its evidence speaks the new names, so the next review compares like with like.
        assert decision["evidence"]["atlas"] == {
            "stop_id": SLOID,
            "row_hash": "h1",
            "code": "8507000",
            "platform_code": "2",
            "name": "Bern, Bahnhof",
            "operator_code": "BERNMOBIL",
            "modes": "BUS",
            "lat": 46.949,
            "lon": 7.439,
        }
        link = c.execute(text("SELECT * FROM manual_matches")).mappings().one()
        assert (link["id"], link["source"], link["stop_id"], link["osm_key"], link["action"]) == (
            ids["link"],
            "atlas",
            SLOID,
            "node/1",
            "link",
        )
        assert link["evidence"]["atlas"]["stop_id"] == SLOID
        match = c.execute(text("SELECT source, stop_id, osm_key FROM matches")).one()
        assert match == ("atlas", SLOID, "node/1")
        assert c.execute(text("SELECT id, counts FROM pipeline_runs")).one() == (ids["run"], {"matches": 1})
        change = c.execute(text("SELECT problem_identity, operator_code FROM problem_changes")).one()
        assert change == (IDENTITY, "BERNMOBIL")
        assert c.execute(text("SELECT count(*) FROM decision_events")).scalar_one() == 1
        assert c.execute(text("SELECT to_regclass('atlas_stops')")).scalar_one() is None
    engine.dispose()

    # The code after the migration computes the same identity for the same pair.
    assert problem_identity("distance", SLOID, "node/1") == IDENTITY
    assert parse_problem_identity(IDENTITY) == ("distance", SLOID, "node/1")

    # And the API shows the problem with its decision and the stop with its manual link.
    app = _app(stack, old_database)
    client = app.test_client()
    problems = client.get("/api/v1/problems", query_string={"type": "distance"}).get_json()["problems"]
    [problem] = [p for p in problems if p["identity"] == IDENTITY]
    assert problem["decision"]["decision"] == "not_a_problem"
    detail = client.get(f"/api/v1/stops/atlas/{SLOID}").get_json()
    assert [d["problem_identity"] for d in detail["decisions"]] == [IDENTITY]
    assert [m["osm_key"] for m in detail["manual_matches"]] == ["node/1"]


def test_the_registry_migration_downgrades_to_atlas_stops_and_upgrades_again(stack, old_database):
    _write_old_swiss_data(old_database)
    _migrate(stack, old_database, "head")
    _migrate(stack, old_database, BEFORE, down=True)
    engine = create_engine(old_database)
    with engine.connect() as c:
        row = c.execute(text("SELECT sloid, source, uic_number, canton FROM atlas_stops")).one()
        assert row == (SLOID, "atlas:traffic_point", 8507000, "BE")
        assert c.execute(text("SELECT problem_identity, sloid FROM decisions")).one() == (IDENTITY, SLOID)
        evidence = c.execute(text("SELECT evidence FROM decisions")).scalar_one()
        assert evidence["atlas"]["uic_number"] == 8507000
        assert evidence["atlas"]["sloid"] == SLOID
    engine.dispose()
    _migrate(stack, old_database, REGISTRY)
    engine = create_engine(old_database)
    with engine.connect() as c:
        assert c.execute(text("SELECT source, stop_id, code FROM registry_stops")).one() == (
            "atlas",
            SLOID,
            "8507000",
        )
    engine.dispose()
