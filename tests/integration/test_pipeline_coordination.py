"""The pipeline lock, status, run requests and events, against the real Redis and PostGIS.

Runs use a stand-in for the pipeline's work (see coordination_helpers) so each test decides how
long a run lasts; everything around it (lock, heartbeat, status, events, recording) is the real code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from app.coordination import EVENTS_KEY, LOCK_KEY, REQUESTS_KEY, STATUS_KEY, RunState, stale_after_s
from app.services import pipeline_state, run_history
from database.models import PipelineRun
from runs import guard, record
from runs.cli import pipeline_cli
from runs.errors import AlreadyRunningError, CoordinationUnavailableError
from runs.guard import run_guarded
from tests.integration.coordination_helpers import RELEASE_KEY, quick_work

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        threading.Event().wait(interval_s)


def fast_settings(app, **changes):
    """The app's settings with a short lock TTL and heartbeat, so expiry happens within a test."""
    base = {"PIPELINE_LOCK_TTL_S": 3, "PIPELINE_HEARTBEAT_S": 1}
    return dataclasses.replace(app.config["SETTINGS"], **{**base, **changes})


def _events(redis_client) -> list[dict]:
    entries = redis_client.xrange(EVENTS_KEY)
    return [{"type": f["type"], "run_uuid": f["run_uuid"], **json.loads(f["data"])} for _, f in entries]


# --------------------------------------------------------------------------------------------
# In one process
# --------------------------------------------------------------------------------------------


def test_a_guarded_run_publishes_status_progress_and_logs_and_is_recorded(app, redis_client):
    def work(progress, run_uuid):
        import logging

        # LOG_LEVEL is WARNING in tests; forwarded lines follow the configured level.
        logging.getLogger("pipeline.test").warning("matching %d stops", 3)
        quick_work(progress, run_uuid)
        return {"ok": True}

    outcome = run_guarded("cli", requested_by="alice", work=work)

    assert outcome.state is RunState.SUCCEEDED
    assert outcome.result == {"ok": True}
    status = redis_client.hgetall(STATUS_KEY)
    assert status["state"] == "succeeded"
    assert status["run_uuid"] == outcome.run_uuid
    assert status["percent"] == "100"
    assert status["finished_at"]
    assert redis_client.get(LOCK_KEY) is None, "the lock is released when the run ends"
    events = _events(redis_client)
    assert [e["state"] for e in events if e["type"] == "state"] == ["running", "succeeded"]
    assert [e["stage"] for e in events if e["type"] == "stage"] == ["fetch", "match", "import"]
    assert any(e["type"] == "progress" and e["percent"] == 100.0 for e in events)
    log_lines = [e["message"] for e in events if e["type"] == "log"]
    assert "matching 3 stops" in log_lines
    assert all(e["run_uuid"] == outcome.run_uuid for e in events)
    row = run_history.get_by_uuid(outcome.run_uuid)
    assert row is not None
    assert row.status == "succeeded"
    assert row.requested_by == "alice"


def test_a_failing_run_is_recorded_as_failed_and_releases_the_lock(app, redis_client):
    def work(progress, run_uuid):
        progress("fetch", 0, 1)
        raise ValueError("ATLAS answered 503\nwith a long body")

    outcome = run_guarded("scheduled", work=work)

    assert outcome.state is RunState.FAILED
    # An untyped exception is named by its class only (its text may hold anything); the id
    # leads to the traceback in the server log.
    assert re.fullmatch(r"unexpected ValueError \(error id [0-9a-f]{8}\)", outcome.error), outcome.error
    status = redis_client.hgetall(STATUS_KEY)
    assert status["state"] == "failed"
    assert status["last_error"] == outcome.error
    assert redis_client.get(LOCK_KEY) is None
    row = run_history.get_by_uuid(outcome.run_uuid)
    assert row.status == "failed"
    assert row.error == outcome.error


def test_no_run_starts_while_another_holds_the_lock(app, redis_client):
    redis_client.set(LOCK_KEY, "someone-else", px=60_000)
    ran = []

    with pytest.raises(AlreadyRunningError, match="someone-else"):
        run_guarded("cli", work=lambda progress, run_uuid: ran.append(run_uuid))

    assert ran == []
    assert redis_client.get(LOCK_KEY) == "someone-else", "the holder's lock is untouched"


def test_no_run_starts_when_redis_is_unreachable(app, stack):
    from devstack.services import free_port

    dead = redis_lib.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    with pytest.raises(CoordinationUnavailableError, match="refusing to run without the pipeline lock"):
        run_guarded("cli", work=quick_work, client=dead)


def test_the_heartbeat_renews_the_lock_beyond_its_ttl(app, redis_client):
    settings = fast_settings(app)
    release = threading.Event()
    seen_ttls: list[int] = []

    def work(progress, run_uuid):
        # Outlive the 3 s TTL by half: only renewals keep the lock ours.
        deadline = time.monotonic() + 1.5 * settings.PIPELINE_LOCK_TTL_S
        while time.monotonic() < deadline:
            seen_ttls.append(redis_client.pttl(LOCK_KEY))
            release.wait(0.2)
        return "done"

    outcome = run_guarded("cli", work=work, settings=settings)

    assert outcome.state is RunState.SUCCEEDED
    assert min(seen_ttls) > 0, "the lock never expired while the run worked"


def test_a_run_takes_its_lock_back_when_redis_forgot_it(app, redis_client):
    settings = fast_settings(app)

    def work(progress, run_uuid):
        progress("fetch", 1, 2)
        # What a Redis restart without persistence does: the lock and the status are gone.
        redis_client.delete(LOCK_KEY, STATUS_KEY)
        wait_for(lambda: redis_client.get(LOCK_KEY) == run_uuid, 10, "the heartbeat to take the lock back")
        wait_for(lambda: redis_client.hget(STATUS_KEY, "state") == "running", 5, "the status to be restored")
        progress("import", 1, 1)
        return "done"

    outcome = run_guarded("scheduled", work=work, settings=settings)

    assert outcome.state is RunState.SUCCEEDED
    assert redis_client.hget(STATUS_KEY, "state") == "succeeded"
    assert redis_client.get(LOCK_KEY) is None


def test_a_run_stops_before_writing_when_another_run_took_its_lock(app, redis_client):
    settings = fast_settings(app)

    def work(progress, run_uuid):
        redis_client.set(LOCK_KEY, "intruder", px=60_000)  # as if ours had expired and another run began
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            progress("match", 1, 2)  # raises once the heartbeat has noticed
            threading.Event().wait(0.1)
        raise AssertionError("the run never noticed it lost the lock")

    outcome = run_guarded("scheduled", work=work, settings=settings)

    assert outcome.state is RunState.FAILED
    assert outcome.error.startswith("the pipeline lock was lost"), outcome.error
    assert redis_client.get(LOCK_KEY) == "intruder", "a run never deletes a lock it does not own"


def test_a_run_whose_heartbeat_stopped_reads_as_stale_and_the_watchdog_fails_it(app, redis_client):
    settings = fast_settings(app)
    long_ago = time.time() - 60
    redis_client.hset(
        STATUS_KEY, mapping={"state": "running", "run_uuid": "dead-run", "heartbeat_at": long_ago}
    )
    from database import db

    db.session.add(PipelineRun(run_uuid="dead-run", trigger="scheduled", status="running"))
    db.session.flush()
    # It started an hour ago: older than the staleness window, so the watchdog may close it.
    db.session.execute(
        PipelineRun.__table__.update()
        .where(PipelineRun.run_uuid == "dead-run")
        .values(started_at=db.func.now() - db.text("interval '1 hour'"))
    )
    db.session.commit()

    view = pipeline_state.read_status(redis_client, stale_after_s(settings.PIPELINE_HEARTBEAT_S))
    assert view.state is RunState.STALE

    guard.reconcile(redis_client, settings)

    assert redis_client.hget(STATUS_KEY, "state") == "failed"
    db.session.expire_all()
    row = run_history.get_by_uuid("dead-run")
    assert row.status == "failed"
    assert row.error == record.ABANDONED_ERROR


def test_the_watchdog_leaves_a_live_run_alone(app, redis_client):
    settings = fast_settings(app)
    redis_client.set(LOCK_KEY, "live-run", px=60_000)
    redis_client.hset(
        STATUS_KEY, mapping={"state": "running", "run_uuid": "live-run", "heartbeat_at": time.time() - 60}
    )

    guard.reconcile(redis_client, settings)

    assert redis_client.hget(STATUS_KEY, "state") == "running", "the lock is held: not ours to judge"


def test_one_request_is_queued_at_a_time_and_a_run_claims_it(app, redis_client):
    first = pipeline_state.enqueue_request(redis_client, "admin1")
    second = pipeline_state.enqueue_request(redis_client, "admin2")

    assert first.accepted
    assert not second.accepted
    assert second.reason == "queued"
    assert second.request["id"] == first.request["id"]
    view = pipeline_state.read_status(redis_client, 30)
    assert view.state is RunState.QUEUED
    assert view.queued["id"] == first.request["id"]

    outcome = run_guarded("manual", work=quick_work, claim_only=True)

    assert outcome.request_ids == [first.request["id"]]
    assert redis_client.llen(REQUESTS_KEY) == 0
    assert redis_client.hget(STATUS_KEY, "requested_by") == "admin1"
    assert run_guarded("manual", work=quick_work, claim_only=True).state is None, "nothing left to run"


def test_a_request_is_refused_while_a_run_holds_the_lock(app, redis_client):
    redis_client.set(LOCK_KEY, "run-1", px=60_000)

    result = pipeline_state.enqueue_request(redis_client, "admin")

    assert not result.accepted
    assert result.reason == "running"
    assert result.holder == "run-1"
    assert redis_client.llen(REQUESTS_KEY) == 0


def test_a_run_that_lost_its_lock_cannot_overwrite_the_next_runs_status(app, redis_client):
    pipeline_state.start_status(redis_client, "new-run", trigger="manual")

    assert not pipeline_state.update_status(redis_client, "old-run", state="failed", last_error="late")

    assert redis_client.hget(STATUS_KEY, "state") == "running"
    assert redis_client.hget(STATUS_KEY, "run_uuid") == "new-run"


# --------------------------------------------------------------------------------------------
# Across processes
# --------------------------------------------------------------------------------------------


def _spawn(stack, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.coordination_helpers", *args],
        cwd=ROOT,
        env=stack.base_env(LOG_LEVEL="INFO", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def _running_run(redis_client) -> str | None:
    status = redis_client.hgetall(STATUS_KEY)
    return status.get("run_uuid") if status.get("state") == "running" else None


def test_two_processes_contend_and_only_one_runs(stack, redis_client, processes):
    processes += [_spawn(stack, "guarded", "a"), _spawn(stack, "guarded", "b")]
    a, b = processes

    loser = wait_for(lambda: next((p for p in (a, b) if p.poll() is not None), None), 60, "one to give up")
    winner = b if loser is a else a
    loser_output = loser.stdout.read()
    assert loser.returncode == 2, loser_output
    assert "already in progress" in loser_output
    assert winner.poll() is None, "the winner is still working"
    holder = redis_client.get(LOCK_KEY)
    assert holder
    assert holder == _running_run(redis_client)

    winner_name = "b" if loser is a else "a"
    redis_client.lpush(RELEASE_KEY.format(name=winner_name), "go")
    assert winner.wait(timeout=60) == 0, winner.stdout.read()
    assert redis_client.get(LOCK_KEY) is None
    assert redis_client.hget(STATUS_KEY, "state") == "succeeded"


def test_a_killed_owner_frees_the_lock_within_the_ttl_and_the_next_run_succeeds(
    app, stack, redis_client, processes
):
    settings = fast_settings(app)
    owner = _spawn(stack, "guarded", "doomed", PIPELINE_LOCK_TTL_S="3", PIPELINE_HEARTBEAT_S="1")
    processes.append(owner)
    dead_run = wait_for(lambda: _running_run(redis_client), 60, "the owner to start its run")
    first_beat = float(redis_client.hget(STATUS_KEY, "heartbeat_at"))
    wait_for(lambda: float(redis_client.hget(STATUS_KEY, "heartbeat_at")) > first_beat, 10, "a heartbeat")

    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(timeout=10)
    killed_at = time.monotonic()

    with pytest.raises(AlreadyRunningError):
        run_guarded("cli", work=quick_work, settings=settings)
    stale_after = stale_after_s(settings.PIPELINE_HEARTBEAT_S)
    wait_for(
        lambda: pipeline_state.read_status(redis_client, stale_after).state is RunState.STALE,
        10,
        "the dead run to read as stale",
    )

    def next_run():
        try:
            return run_guarded("cli", work=quick_work, settings=settings)
        except AlreadyRunningError:
            return None

    outcome = wait_for(next_run, 10, "the lock to expire", interval_s=0.2)
    assert time.monotonic() - killed_at <= settings.PIPELINE_LOCK_TTL_S + 2
    assert outcome.state is RunState.SUCCEEDED
    from database import db

    db.session.expire_all()
    dead = run_history.get_by_uuid(dead_run)
    assert dead.status == "failed"
    assert dead.error == record.ABANDONED_ERROR


def test_the_cli_exits_2_while_another_run_holds_the_lock(app, redis_client):
    redis_client.set(LOCK_KEY, "scheduled-run", px=60_000)

    result = app.test_cli_runner().invoke(pipeline_cli, args=["run"])

    assert result.exit_code == 2, result.output
    assert "already in progress" in result.output
    assert "scheduled-run" in result.output


def test_the_cli_runs_the_real_pipeline_under_the_lock_and_publishes_its_status(app, redis_client):
    result = app.test_cli_runner().invoke(pipeline_cli, args=["run"])

    assert result.exit_code == 0, result.output
    status = redis_client.hgetall(STATUS_KEY)
    assert status["state"] == "succeeded"
    assert status["trigger"] == "cli"
    assert status["requested_by"].startswith("cli:")
    assert redis_client.get(LOCK_KEY) is None
    row = run_history.get_by_uuid(status["run_uuid"])
    assert row.status == "succeeded"
    assert row.counts["registry_stops"] > 0


# --------------------------------------------------------------------------------------------
# The scheduler process
# --------------------------------------------------------------------------------------------


@pytest.fixture
def schedulers(stack, clean_state, tmp_path) -> Iterator[Callable[[], tuple[subprocess.Popen, Path]]]:
    """Start real `python -m scheduler` processes (logging to files); stopped before state is wiped."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start() -> tuple[subprocess.Popen, Path]:
        log_path = tmp_path / f"scheduler-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "scheduler"],
                cwd=ROOT,
                env=stack.base_env(LOG_LEVEL="INFO", PIPELINE_REQUEST_POLL_S="0.3"),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append((process, log_path))
        wait_for(
            lambda: "scheduler started" in log_path.read_text() or process.poll() is not None,
            60,
            "the scheduler to start",
        )
        assert process.poll() is None, log_path.read_text()
        return process, log_path

    yield start
    for process, _ in started:
        process.send_signal(signal.SIGTERM)
    for process, log_path in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert "Traceback" not in log_path.read_text(), log_path.read_text()


def _finished_with(redis_client, request_id: str) -> dict | None:
    status = redis_client.hgetall(STATUS_KEY)
    if request_id in status.get("request_ids", "").split(",") and status["state"] in ("succeeded", "failed"):
        return status
    return None


def test_a_starting_scheduler_leaves_a_running_runs_status_alone(app, redis_client, schedulers):
    redis_client.set(LOCK_KEY, "other-replica-run", px=60_000)
    pipeline_state.start_status(redis_client, "other-replica-run", trigger="scheduled", stage="match")
    before = redis_client.hgetall(STATUS_KEY)

    schedulers()

    assert redis_client.hgetall(STATUS_KEY) == before
    assert redis_client.get(LOCK_KEY) == "other-replica-run"


def test_a_run_request_from_the_app_is_picked_up_by_a_running_scheduler(
    app, client, redis_client, schedulers
):
    from tests import factories as f

    schedulers()
    admin = f.create_user("root-admin", role="admin")

    requested_at = time.monotonic()
    response = client.post("/api/v1/pipeline/runs", headers=f.bearer(f.api_token(admin)))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["scheduler_alive"] is True
    request_id = response.get_json()["request_id"]

    started = wait_for(
        lambda: request_id in (redis_client.hget(STATUS_KEY, "request_ids") or ""), 30, "the run to start"
    )
    assert started
    assert time.monotonic() - requested_at < 10, "picked up within seconds"
    status = wait_for(lambda: _finished_with(redis_client, request_id), 60, "the run to finish")
    assert status["state"] == "succeeded", status
    row = run_history.get_by_uuid(status["run_uuid"])
    assert row.trigger == "manual"
    assert row.requested_by == "root-admin"
    assert row.status == "succeeded"


def test_two_scheduler_replicas_serve_each_request_exactly_once(app, redis_client, schedulers):
    (_, first_log), (_, second_log) = schedulers(), schedulers()

    for round_ in range(2):
        request = pipeline_state.enqueue_request(redis_client, f"admin-{round_}")
        assert request.accepted
        wait_for(lambda r=request: _finished_with(redis_client, r.request["id"]), 60, "the run to finish")
        # The run publishes "succeeded" just before it releases the lock; until then a new request
        # is rightly refused as "running".
        wait_for(lambda: redis_client.get(LOCK_KEY) is None, 30, "the lock to be released")

    from database import db

    db.session.expire_all()
    rows = db.session.query(PipelineRun).all()
    assert len(rows) == 2, [(r.run_uuid, r.requested_by) for r in rows]
    assert sorted(r.requested_by for r in rows) == ["admin-0", "admin-1"]
    assert all(r.status == "succeeded" for r in rows)
    # A replica that polls while the other holds the lock logs "manual run skipped"; count endings.
    logs = first_log.read_text() + second_log.read_text()
    ended = re.findall(r"manual run \S+ ended: succeeded", logs)
    assert len(ended) == 2, f"one ending per run, across both replicas:\n{logs}"
