"""The migration gate: the migrator prepares the schema, app and scheduler refuse to run without it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from database.schema import migration_heads, schema_status
from devstack.services import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(stack) -> Iterator[str]:
    """A brand-new database on the test server, dropped afterwards."""
    if stack.postgres is None:
        pytest.skip("needs the harness's own PostgreSQL to create databases")
    name = f"gate_{uuid.uuid4().hex[:10]}"
    stack.postgres.create_database(name)
    yield stack.database_url_for(name)
    stack.postgres.drop_database(name)


def run_module(module: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def current_revision(database_url: str) -> tuple[str, ...]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return schema_status(connection).current
    finally:
        engine.dispose()


def test_migrator_brings_an_empty_database_to_head(stack, empty_database):
    result = run_module("migrator", stack.base_env(DATABASE_URL=empty_database))
    assert result.returncode == 0, result.stderr
    assert current_revision(empty_database) == migration_heads()


def test_second_migrator_run_is_a_no_op(stack, empty_database):
    env = stack.base_env(DATABASE_URL=empty_database)
    assert run_module("migrator", env).returncode == 0
    second = run_module("migrator", env)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout + second.stderr
    assert current_revision(empty_database) == migration_heads()


def test_two_migrators_started_together_both_succeed(stack, empty_database):
    env = stack.base_env(DATABASE_URL=empty_database)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "migrator"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert current_revision(empty_database) == migration_heads()
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        tables = set(
            connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars()
        )
    engine.dispose()
    assert {
        "registry_stops",
        "osm_stops",
        "matches",
        "problems",
        "decisions",
        "pipeline_runs",
        "users",
    } <= tables


def test_migrator_fails_clearly_when_the_database_never_comes(stack):
    unreachable = f"postgresql+psycopg://stopsync:stopsync@127.0.0.1:{free_port()}/nowhere"
    result = run_module(
        "migrator", stack.base_env(DATABASE_URL=unreachable, MIGRATOR_DB_WAIT_S="2"), timeout=60
    )
    assert result.returncode != 0
    assert "database not reachable after 2 s" in result.stderr


def test_readyz_is_503_while_schema_is_behind_and_200_after_upgrade(stack, empty_database, make_app):
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    app = make_app(DATABASE_URL=empty_database)
    before = app.test_client().get("/readyz")
    assert before.status_code == 503
    assert [problem["component"] for problem in before.get_json()["problems"]] == ["schema"]

    assert run_module("migrator", stack.base_env(DATABASE_URL=empty_database)).returncode == 0
    after = app.test_client().get("/readyz")
    assert after.status_code == 200
    assert after.get_json() == {"status": "ready", "problems": []}
    with app.app_context():
        from database import db

        db.engine.dispose()


def test_readyz_names_redis_when_it_is_unreachable(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert [problem["component"] for problem in response.get_json()["problems"]] == ["redis"]


def test_healthz_answers_without_touching_the_database(make_app):
    app = make_app(DATABASE_URL=f"postgresql+psycopg://x:y@127.0.0.1:{free_port()}/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_scheduler_refuses_to_start_on_a_schema_behind_head(stack, empty_database):
    result = run_module("scheduler", stack.base_env(DATABASE_URL=empty_database), timeout=60)
    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert "run the migrator first" in result.stderr


def test_old_code_stays_ready_and_its_migrator_does_nothing_on_a_newer_schema(
    stack, empty_database, make_app
):
    """Expand-only upgrades: after a newer release migrated, the previous release keeps serving."""
    env = stack.base_env(DATABASE_URL=empty_database)
    assert run_module("migrator", env).returncode == 0
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedcafe'"))
    engine.dispose()

    app = make_app(DATABASE_URL=empty_database)
    assert app.test_client().get("/readyz").status_code == 200
    with app.app_context():
        from database import db

        db.engine.dispose()
    rerun = run_module("migrator", env)
    assert rerun.returncode == 0, rerun.stderr
    assert "newer than this code" in rerun.stdout + rerun.stderr
    assert current_revision(empty_database) == ("f00dfeedcafe",)
