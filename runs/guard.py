"""Run the pipeline under the lock: the single guard for scheduled, requested and CLI runs.

`run_guarded` takes the Redis lock (or refuses), publishes status, heartbeat, progress and log
lines to Redis while the work runs (`runs.publish`, `runs.lock`, `runs.logs`), makes sure the run
ends up recorded in PostgreSQL (`runs.record`, the row's one writer), and always releases the
lock. The work is a parameter so tests can run a stand-in; by default it is the stage sequence
(`runs.stages.run_pipeline`). `reconcile` is the watchdog for runs whose process died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app
from redis.exceptions import LockError

from app.config import Settings
from app.coordination import EventType, RunState, stale_after_s
from app.extensions import redis_client
from app.logging_setup import current_run_id, run_context
from app.services import pipeline_state as state
from database.session import transaction
from pipeline.redaction import report_failure
from runs import record
from runs.errors import AlreadyRunningError, CoordinationUnavailableError
from runs.lock import Heartbeat
from runs.logs import RedisLogHandler
from runs.publish import Progress, ProgressReporter, Publisher
from runs.stages import RunOptions, run_pipeline

logger = logging.getLogger(__name__)

# work(progress, run_uuid) -> whatever the pipeline returns (a dict of counts, a run row...)
WorkFn = Callable[[Progress, str], Any]


@dataclass
class RunOutcome:
    run_uuid: str
    state: RunState | None  # None: nothing to do (a request another scheduler already claimed)
    result: Any = None
    error: str | None = None
    request_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state is RunState.SUCCEEDED


def pipeline_work(
    trigger: str,
    requested_by: str | None,
    only_if_changed: bool,
    source_dir: str | None = None,
    offline: bool = False,
) -> WorkFn:
    """The real pipeline as a work function (it records its own `pipeline_runs` row)."""

    def work(progress: Progress, run_uuid: str) -> Any:
        # Sources with a configured URL are downloaded unless `offline`; the others are read from
        # `source_dir` (default PIPELINE_SOURCE_DIR).
        options = RunOptions(
            trigger=trigger,
            source_dir=source_dir,
            offline=offline,
            only_if_changed=only_if_changed,
            run_uuid=run_uuid,
            requested_by=requested_by,
        )
        return run_pipeline(options, progress=progress)

    return work


def run_guarded(
    trigger: str,
    *,
    requested_by: str | None = None,
    work: WorkFn | None = None,
    only_if_changed: bool = False,
    source_dir: str | None = None,
    offline: bool = False,
    on_progress: Progress | None = None,
    claim_only: bool = False,
    client: redis.Redis | None = None,
    settings: Settings | None = None,
) -> RunOutcome:
    """Run the pipeline (or `work`) once, under the lock. Needs an app context.

    Raises `AlreadyRunningError` when another run holds the lock and `CoordinationUnavailableError`
    when Redis cannot be reached (no lock, no run). With `claim_only`, runs only if a run request
    is still waiting once the lock is taken (another scheduler may have served it already).
    `source_dir`, `offline` and `only_if_changed` go to the pipeline; `on_progress` also gets
    every progress call (the CLI prints them). A failing pipeline does not raise: the outcome
    says `failed` and the error is logged.
    """
    settings = settings or current_app.config["SETTINGS"]
    client = client or redis_client.client
    run_uuid = str(uuid.uuid4())
    lock = state.pipeline_lock(client, settings.PIPELINE_LOCK_TTL_S)
    try:
        if not state.try_acquire(lock, run_uuid):
            raise AlreadyRunningError(state.lock_holder(client), state.lock_ttl_s(client))
    except redis.RedisError as exc:
        raise CoordinationUnavailableError(
            f"Redis is unreachable ({type(exc).__name__}); refusing to run without the pipeline lock"
        ) from exc

    heartbeat: Heartbeat | None = None
    try:
        requests = state.claim_requests(client)
        if claim_only and not requests:
            return RunOutcome(run_uuid, None)
        request_ids = [request["id"] for request in requests]
        # One run serves every waiting request; if any of them asked for a full run, it gets one.
        wants_full = any(not (r.get("options") or {}).get("only_if_changed", False) for r in requests)
        only_if_changed = only_if_changed and not wants_full
        requested_by = requested_by or next((r["requested_by"] for r in requests if r["requested_by"]), None)
        started_at = time.time()
        run_fields = {
            "trigger": trigger,
            "requested_by": requested_by,
            "request_ids": ",".join(request_ids),
            "owner": f"{socket.gethostname()}:{os.getpid()}",
        }
        state.start_status(client, run_uuid, started_at=started_at, **run_fields)
        publisher = Publisher(client, run_uuid)
        publisher.event(EventType.STATE, {"state": RunState.RUNNING.value, "trigger": trigger})
        lock_lost = threading.Event()
        reporter = ProgressReporter(publisher, lock_lost, also=on_progress)

        def restore_status() -> None:
            state.start_status(
                client, run_uuid, started_at=started_at, stage=reporter.stage or "starting", **run_fields
            )

        heartbeat = Heartbeat(lock, publisher, settings.PIPELINE_HEARTBEAT_S, lock_lost, restore_status)
        heartbeat.start()
        outcome = _work_and_record(
            run_uuid,
            trigger,
            requested_by,
            work or pipeline_work(trigger, requested_by, only_if_changed, source_dir, offline),
            reporter,
            publisher,
            settings,
        )
        outcome.request_ids = request_ids
        return outcome
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        try:
            lock.release()
        except LockError:
            logger.warning("the pipeline lock was no longer ours when run %s ended", run_uuid)
        except redis.RedisError as exc:
            logger.warning("could not release the pipeline lock (%s); it expires by itself", exc)


def _work_and_record(
    run_uuid: str,
    trigger: str,
    requested_by: str | None,
    work: WorkFn,
    reporter: ProgressReporter,
    publisher: Publisher,
    settings: Settings,
) -> RunOutcome:
    handler = RedisLogHandler(publisher)
    root = logging.getLogger()
    root.addHandler(handler)
    result: Any = None
    error: str | None = None
    try:
        with run_context(run_uuid):
            logger.info("pipeline run %s started (trigger %s)", run_uuid, trigger)
            _close_abandoned_runs(run_uuid, settings)
            try:
                result = work(reporter, run_uuid)
            except Exception as exc:
                # A short message with an error id; the traceback goes to the server log under the
                # same id (once: the pipeline may have reported this exception already).
                error = report_failure(exc, logger, f"pipeline run {run_uuid}")
            except BaseException as exc:  # Ctrl-C or SystemExit: record the run, then let it stop us
                error = f"interrupted ({type(exc).__name__})"
                _record_in_database(run_uuid, trigger, requested_by, RunState.FAILED, error)
                publisher.status(state=RunState.FAILED.value, finished_at=time.time(), last_error=error)
                raise
            final = RunState.FAILED if error else RunState.SUCCEEDED
            _record_in_database(run_uuid, trigger, requested_by, final, error)
            logger.info("pipeline run %s %s", run_uuid, final.value)
    finally:
        root.removeHandler(handler)
    fields: dict[str, Any] = {"state": final.value, "finished_at": time.time(), "heartbeat_at": time.time()}
    if error:
        fields["last_error"] = error
    else:
        fields.update(stage="done", percent=100)
        if getattr(result, "status", None) == "skipped":
            fields.update(stage="skipped", message="no source changed since the last run: nothing to do")
    publisher.status(**fields)
    publisher.event(EventType.STATE, {"state": final.value, "error": error})
    return RunOutcome(run_uuid, final, result=result, error=error)


def _close_abandoned_runs(run_uuid: str, settings: Settings) -> None:
    """We hold the lock, so no other run is alive: rows still `running` belong to dead runs."""
    try:
        with transaction():
            closed = record.close_abandoned(exclude_run_uuid=run_uuid)
        if closed:
            logger.warning("marked %d abandoned run(s) as failed", closed)
    except Exception:
        logger.exception("could not close abandoned runs")


def _record_in_database(
    run_uuid: str, trigger: str, requested_by: str | None, final: RunState, error: str | None
) -> None:
    """The pipeline records its own run; make sure a row exists and is finished even when it
    failed before (or while) recording."""
    try:
        with transaction():
            record.ensure_finished(run_uuid, trigger, requested_by, final.value, error)
    except Exception:
        logger.exception("could not record run %s in the database", run_uuid)


def in_run() -> bool:
    """True inside a guarded run (for code that must refuse to start a nested one)."""
    return bool(current_run_id())


def reconcile(client: redis.Redis, settings: Settings) -> None:
    """Watchdog, safe to call from any replica at any time: a run that died without saying so
    (kill -9, OOM, power loss) is marked failed in Redis and in PostgreSQL once its lock is gone."""
    stale = stale_after_s(settings.PIPELINE_HEARTBEAT_S)
    try:
        if state.fail_abandoned_status(client, stale):
            logger.warning("the last run stopped sending heartbeats; marked it failed")
        lock_free = state.lock_holder(client) is None
    except redis.RedisError as exc:
        logger.warning("watchdog: Redis unreachable (%s)", type(exc).__name__)
        return
    if not lock_free:
        return
    # Only rows older than the staleness window: a run that took the lock after we looked has a
    # fresh row and is left alone.
    with transaction():
        closed = record.close_abandoned(older_than_s=stale)
    if closed:
        logger.warning("watchdog: marked %d abandoned run(s) as failed", closed)
