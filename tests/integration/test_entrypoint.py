"""entrypoint.sh never starts the debug server where others can reach it.

The programs the entrypoint execs at the end (`flask`, `gunicorn`) are replaced on PATH by a script
that prints its arguments: what is tested is the entrypoint's decision, against the real database
it waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "entrypoint.sh"


@pytest.fixture
def fake_servers(tmp_path) -> Path:
    """A folder with `flask` and `gunicorn` that print what they were started with."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("flask", "gunicorn"):
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        script.chmod(0o755)
    return folder


def run_entrypoint(fake_servers: Path, database_url: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": f"{fake_servers}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "DB_WAIT_SECONDS": "10",
        **env,
    }
    return subprocess.run(
        ["bash", str(ENTRYPOINT), "app"], env=environment, capture_output=True, text=True, timeout=60
    )


# An address nothing listens on: a refusal must come before the entrypoint waits for a database.
NO_DATABASE = "postgresql+psycopg://nobody:x@127.0.0.1:9/none"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - the publishing address under test, nothing binds here


@pytest.mark.parametrize("bind", [EVERY_INTERFACE, "192.168.1.20", "", "::"])
def test_debug_server_is_refused_unless_published_on_loopback(fake_servers, bind):
    env = {"FLASK_DEBUG": "1", "STOPSYNC_ENV": "development"}
    if bind:
        env["APP_BIND"] = bind
    result = run_entrypoint(fake_servers, NO_DATABASE, **env)
    assert result.returncode == 64
    assert "not a loopback address" in result.stderr
    assert "flask" not in result.stdout


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_debug_server_is_refused_in_production_whatever_flask_debug_says(fake_servers, value):
    result = run_entrypoint(fake_servers, NO_DATABASE, FLASK_DEBUG=value, APP_BIND="127.0.0.1")
    assert result.returncode == 64
    assert "STOPSYNC_ENV is production" in result.stderr


def test_debug_server_starts_for_development_published_on_loopback(fake_servers, stack):
    result = run_entrypoint(
        fake_servers, stack.database_url, FLASK_DEBUG="1", STOPSYNC_ENV="development", APP_BIND="127.0.0.1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flask --app app:create_app run --host 0.0.0.0 --port 5001 --debug")


def test_without_flask_debug_gunicorn_serves_whatever_app_bind_is(fake_servers, stack):
    result = run_entrypoint(fake_servers, stack.database_url, FLASK_DEBUG="0", APP_BIND=EVERY_INTERFACE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gunicorn app:create_app() --bind 0.0.0.0:5001")
