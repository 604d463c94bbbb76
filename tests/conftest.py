"""Test harness: one real PostgreSQL+PostGIS and one real Redis per test session.

They are started on free loopback ports by `devstack.services` (the code `./dev up` uses), unless
`STOPSYNC_TEST_DATABASE_URL` / `STOPSYNC_TEST_REDIS_URL` point at running ones (CI service
containers). The schema is built by the migrations. Tests are isolated by truncating every table
and flushing Redis after each test that used them. Unit tests never start either server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from sqlalchemy import create_engine, text

from devstack.services import LocalPostgres, LocalRedis, free_port

TEST_DATABASE = "stopsync_test"
KEEP_TABLES = {"alembic_version", "spatial_ref_sys"}


@dataclass
class Stack:
    """The servers of this test session and how to reach them."""

    database_url: str
    redis_url: str
    postgres: LocalPostgres | None  # None when an external server is used
    redis: LocalRedis | None

    def base_env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess (migrator, scheduler, gunicorn) pointed at this stack."""
        env = dict(os.environ)
        env.update(
            {
                "STOPSYNC_ENV": "test",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "SECRET_KEY": "test-secret-key-not-for-production",
                "SESSION_COOKIE_SECURE": "false",
                "FLASK_APP": "runs.cli:create_app",
            }
        )
        env.update(extra)
        return env

    def database_url_for(self, name: str) -> str:
        """URL of another database on the same server (for tests that need an empty one)."""
        base, _, _ = self.database_url.rpartition("/")
        return f"{base}/{name}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    external_db = os.environ.get("STOPSYNC_TEST_DATABASE_URL")
    external_redis = os.environ.get("STOPSYNC_TEST_REDIS_URL")
    workdir = Path(tempfile.mkdtemp(prefix="stopsync-test-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - the postgres system user must reach its data folder
    postgres = redis = None
    try:
        if external_db:
            database_url = external_db
        else:
            postgres = LocalPostgres(workdir / "postgres", free_port(), fast_unsafe=True)
            postgres.start()
            postgres.create_database(TEST_DATABASE)
            database_url = postgres.url(TEST_DATABASE)
        if external_redis:
            redis_url = external_redis
        else:
            redis = LocalRedis(workdir / "redis", free_port())
            redis.start()
            redis_url = redis.url
        _migrate(database_url, redis_url)
        yield Stack(database_url, redis_url, postgres, redis)
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop(mode="immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def _migrate(database_url: str, redis_url: str) -> None:
    """Build the schema with the real migrations, the way the migrator does."""
    import flask_migrate

    from app import create_app

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    app = create_app(_test_settings(database_url, redis_url))
    with app.app_context():
        flask_migrate.upgrade()


def _test_settings(database_url: str, redis_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "STOPSYNC_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SESSION_COOKIE_SECURE": False,
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


@pytest.fixture(scope="session")
def _session_app(stack: Stack) -> Flask:
    return _build_app(stack)


def _build_app(stack: Stack, **overrides: Any) -> Flask:
    from app import create_app

    return create_app(_test_settings(stack.database_url, stack.redis_url, **overrides))


# A browser test's live server may still be answering a request of the closed page while the wipe
# runs; PostgreSQL then ends one of the two with a deadlock error. The wipe tries again.
RESET_ATTEMPTS = 3


def _reset_state(stack: Stack) -> None:
    from sqlalchemy.exc import OperationalError

    engine = create_engine(stack.database_url)
    for attempt in range(1, RESET_ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                tables = [
                    name
                    for (name,) in connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                    if name not in KEEP_TABLES
                ]
                if tables:
                    connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            break
        except OperationalError as error:
            if "deadlock detected" not in str(error) or attempt == RESET_ATTEMPTS:
                raise
    engine.dispose()
    redis_lib.Redis.from_url(stack.redis_url).flushdb()


@pytest.fixture
def clean_state(stack: Stack) -> Iterator[Stack]:
    """Empty tables and an empty Redis after the test, whatever it did."""
    yield stack
    _reset_state(stack)


@pytest.fixture
def app(_session_app: Flask, clean_state: Stack) -> Iterator[Flask]:
    """The app bound to the test database, inside an app context; state is wiped afterwards."""
    with _session_app.app_context():
        yield _session_app
        from database import db

        db.session.remove()


@pytest.fixture
def make_app(stack: Stack, clean_state: Stack) -> Callable[..., Flask]:
    """Build an app with different settings (rate limits, timeouts...) against the same servers."""
    return lambda **overrides: _build_app(stack, **overrides)


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def redis_client(stack: Stack, clean_state: Stack) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
