"""kill -9 of `flask pipeline run` in the middle of its import.

The operator's path, end to end: the real CLI (Redis lock with a short TTL, live status, heartbeat,
run record), killed while its import is under way. To catch it there deterministically, the test
holds a SHARE lock on `registry_stops`: readers (ACCESS SHARE) pass, but the import's swap (`LOCK
TABLE ... IN ACCESS EXCLUSIVE MODE`, retried after each lock timeout) waits for it. Once the run's
status says `import` and its backend waits on that lock, the process gets SIGKILL. Then: the
previous data is still what the API serves, the lock frees itself within its TTL, the run reads as
stale and the watchdog marks it failed in Redis and in `pipeline_runs`, and the next run succeeds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from app.coordination import LOCK_KEY, STATUS_KEY
from tests.faults.conftest import ROOT, poll

DEMO = ROOT / "data/demo"
# Short, so the lock's expiry fits in a test: the TTL must be at least three heartbeats.
SHORT = {"PIPELINE_LOCK_TTL_S": "6", "PIPELINE_HEARTBEAT_S": "2"}
LI_BBOX = "9.47,47.04,9.64,47.28"  # Liechtenstein, the demo region


def _cli(stack, source_dir: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "pipeline", "run", "--source-dir", str(source_dir)],
        cwd=ROOT,
        env=stack.base_env(LOG_LEVEL="WARNING", **SHORT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **popen,
    )


def _run_guarded(app, source_dir: Path) -> None:
    """A run the way the CLI makes it (same lock, status and record), in this process: faster."""
    from runs.guard import run_guarded

    with app.app_context():
        outcome = run_guarded("cli", source_dir=str(source_dir), offline=True)
    assert outcome.ok, outcome.error


def _served(client) -> tuple[int, list[str], dict]:
    """What a reader sees of the data: the stops on the demo region's map, and the totals."""
    stops = client.get(f"/api/v1/stops?bbox={LI_BBOX}&limit=10000")
    assert stops.status_code == 200, stops.get_data(as_text=True)
    stats = client.get("/api/v1/stats")
    assert stats.status_code == 200
    features = stops.get_json()["features"]
    data = {key: value for key, value in stats.get_json().items() if not key.startswith("last_")}
    return len(features), sorted(f["id"] for f in features), data


def _conninfo(stack) -> str:
    return stack.database_url.replace("postgresql+psycopg://", "postgresql://")


def test_kill_9_during_import_keeps_the_data_served_frees_the_lock_and_the_run_is_marked_failed(
    stack, make_app, tmp_path
):
    from app.extensions import redis_client
    from runs import guard

    app = make_app(PIPELINE_LOCK_TTL_S=6, PIPELINE_HEARTBEAT_S=2)
    client = app.test_client()
    redis = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)

    _run_guarded(app, DEMO)
    before = _served(client)
    assert before[0] > 200, "the demo data is on the map"

    # The next run's data differs (a third fewer stops), so any partial import would show.
    changed = tmp_path / "sources"
    shutil.copytree(DEMO, changed)
    atlas = next(changed.glob("atlas*.csv"))
    lines = atlas.read_text(encoding="utf-8-sig").splitlines()
    atlas.write_text("\n".join(lines[: len(lines) * 2 // 3]) + "\n", encoding="utf-8-sig")

    blocker = psycopg.connect(_conninfo(stack))
    blocker.execute("LOCK TABLE registry_stops IN SHARE MODE")  # readers pass, the swap waits
    process = _cli(stack, changed)
    try:

        def import_waits_on_our_lock() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the run ended early: {process.stdout.read().decode(errors='replace')[-2000:]}")
            if redis.hget(STATUS_KEY, "stage") != "import":
                return False
            with psycopg.connect(_conninfo(stack), autocommit=True) as conn:
                waiting = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND query ILIKE 'LOCK TABLE%'"
                ).fetchone()[0]
            return waiting > 0

        poll(import_waits_on_our_lock, 90, "the run to be inside its import, waiting for the swap")
        run_uuid = redis.hget(STATUS_KEY, "run_uuid")
        assert redis.get(LOCK_KEY) == run_uuid, "the run holds the lock"

        # Mid-import, readers see the complete previous data (waiting at most one swap attempt).
        assert _served(client) == before

        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        blocker.rollback()
        blocker.close()
    assert process.returncode == -signal.SIGKILL

    # PostgreSQL rolls the dead client's transaction back; nothing of the new data ever shows.
    def import_transaction_gone() -> bool:
        with psycopg.connect(_conninfo(stack), autocommit=True) as conn:
            return not conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                " AND state <> 'idle' AND backend_type = 'client backend'"
            ).fetchone()[0]

    poll(import_transaction_gone, 20, "the killed import's transaction to end")
    assert _served(client) == before

    # The lock frees itself within its TTL (6 s; a little slack for the poll).
    poll(lambda: redis.get(LOCK_KEY) is None, 6 + 3, "the dead run's lock to expire")
    # Its status stops claiming "running": no heartbeat for three periods reads as stale.
    poll(
        lambda: client.get("/api/v1/pipeline/status").get_json()["state"] == "stale",
        10,
        "the dead run to read as stale",
    )
    runs = client.get("/api/v1/pipeline/runs").get_json()["runs"]
    assert runs[0]["run_uuid"] == run_uuid

    # The scheduler's watchdog marks it failed in Redis and, once its row is older than the
    # staleness window (so a run that just started is never touched), in PostgreSQL too.
    def watchdog_pass() -> dict:
        with app.app_context():
            guard.reconcile(redis_client.client, app.config["SETTINGS"])
        latest = client.get("/api/v1/pipeline/runs").get_json()["runs"][0]
        return latest if latest["status"] == "failed" else {}

    killed = poll(watchdog_pass, 20, "the watchdog to mark the run failed in pipeline_runs", interval_s=0.5)
    assert killed["run_uuid"] == run_uuid
    assert killed["error"]
    status = client.get("/api/v1/pipeline/status").get_json()
    assert status["state"] == "failed"
    assert status["run_uuid"] == run_uuid
    assert status["last_error"]
    assert _served(client) == before

    # And the next run goes through normally, with the new data.
    _run_guarded(app, changed)
    after = _served(client)
    assert 0 < after[0] < before[0]
