"""Every scheduler job runs through `run_job`: an app context, and no exception ever reaches
APScheduler (a failing job is logged; the scheduler and its other jobs keep going).

Pipeline runs themselves go through `runs.guard.run_guarded`, which takes the
Redis lock: any number of scheduler replicas may fire the same job, only the lock holder runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app

from app.coordination import SCHEDULER_HEARTBEAT_KEY, SCHEDULER_HEARTBEAT_STALE_S
from app.extensions import db, redis_client
from app.services import pipeline_state
from runs import guard
from runs.errors import AlreadyRunningError, CoordinationUnavailableError
from runs.guard import WorkFn

logger = logging.getLogger(__name__)

_app: Flask | None = None
_work: WorkFn | None = None
# One run per scheduler process at a time (the Redis lock makes it one across all of them); this
# also keeps the request poller from starting a second thread while its first one still runs.
_local_run = threading.Lock()


def bind_app(app: Flask, work: WorkFn | None = None) -> None:
    """Bind the app the jobs run in; `work` replaces the real pipeline (tests only)."""
    global _app, _work
    _app = app
    _work = work


def run_job(name: str, func: Callable[[], None]) -> None:
    """Run `func` inside the app context; log and swallow whatever it raises."""
    if _app is None:
        raise RuntimeError("scheduler runner used before bind_app()")
    with _app.app_context():
        try:
            func()
        except Exception:
            logger.exception("job %s failed", name)
        finally:
            db.session.remove()


def _guarded(trigger: str, *, only_if_changed: bool = False, claim_only: bool = False) -> None:
    try:
        outcome = guard.run_guarded(
            trigger, work=_work, only_if_changed=only_if_changed, claim_only=claim_only
        )
    except AlreadyRunningError as exc:
        logger.info("%s run skipped: %s", trigger, exc)
        return
    except CoordinationUnavailableError as exc:
        logger.error("%s run not started: %s", trigger, exc)
        return
    if outcome.state is not None:
        logger.info("%s run %s ended: %s", trigger, outcome.run_uuid, outcome.state.value)


def run_scheduled_pipeline() -> None:
    """The cron job: a full pipeline run, skipped early when the sources did not change."""
    if not _local_run.acquire(blocking=False):
        logger.info("scheduled run skipped: this scheduler is already running the pipeline")
        return
    try:
        run_job("pipeline", lambda: _guarded("scheduled", only_if_changed=True))
    finally:
        _local_run.release()


def poll_run_requests() -> None:
    """Every PIPELINE_REQUEST_POLL_S: when a run request waits, start it in its own thread, so
    this job returns at once and keeps its short period (APScheduler would otherwise skip and warn
    every poll while the run works)."""

    def pending() -> int:
        return pipeline_state.pending_requests(redis_client.client)

    if _app is None:
        raise RuntimeError("scheduler runner used before bind_app()")
    with _app.app_context():
        try:
            if not pending():
                return
        except Exception as exc:
            logger.warning("cannot look for run requests: %s", type(exc).__name__)
            return
    if not _local_run.acquire(blocking=False):
        return  # this process is running the pipeline; a later poll picks the request up

    def requested_run() -> None:
        try:
            run_job("requested-run", lambda: _guarded("manual", claim_only=True))
        finally:
            _local_run.release()

    threading.Thread(target=requested_run, name="pipeline-requested-run").start()


def watchdog() -> None:
    """Mark runs whose process died (no heartbeat, lock expired) as failed, in Redis and SQL."""
    run_job("watchdog", lambda: guard.reconcile(redis_client.client, current_app.config["SETTINGS"]))


def write_heartbeat() -> None:
    """Tell the health check (and the status API) that this scheduler is alive."""
    if _app is None:
        raise RuntimeError("scheduler runner used before bind_app()")
    with _app.app_context():
        try:
            redis_client.client.set(SCHEDULER_HEARTBEAT_KEY, time.time(), ex=SCHEDULER_HEARTBEAT_STALE_S)
        except Exception as exc:  # Redis down: the health check will say so; keep scheduling
            logger.warning("could not write the scheduler heartbeat: %s", exc)
