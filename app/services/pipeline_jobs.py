"""Run the pipeline under the lock: the single guard for scheduled, requested and CLI runs.

`run_guarded` takes the Redis lock (or refuses), publishes status, heartbeat, progress and log
lines to Redis while the work runs, makes sure the run ends up recorded in PostgreSQL, and always
releases the lock. The work is a parameter so tests can run a stand-in; by default it is the real
pipeline (`app.services.pipeline_service.execute_pipeline_run`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from flask import current_app
from redis.exceptions import LockError

from app.config import Settings
from app.coordination import EventType, RunState, stale_after_s
from app.extensions import redis_client
from app.logging_setup import current_run_id, run_context
from app.services import pipeline_state as state
from app.services import run_history
from database.session import transaction
from pipeline.errors import PipelineError
from pipeline.redaction import report_failure

logger = logging.getLogger(__name__)


class Progress(Protocol):
    def __call__(
        self, stage: str, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None: ...


# work(progress, run_uuid) -> whatever the pipeline returns (a dict of counts, a run row...)
WorkFn = Callable[[Progress, str], Any]


class AlreadyRunningError(RuntimeError):
    """Another run holds the lock."""

    def __init__(self, holder: str | None, expires_in_s: float | None):
        self.holder = holder
        self.expires_in_s = expires_in_s
        when = f"; its lock expires in {expires_in_s:.0f} s unless renewed" if expires_in_s else ""
        super().__init__(f"a pipeline run is already in progress (run {holder or '?'}{when})")


class CoordinationUnavailableError(RuntimeError):
    """Redis is unreachable, so the lock cannot be taken: no run starts without it."""


class LockLostError(PipelineError):
    """The lock expired or was taken over while the run worked; the run stops before it writes.
    A `PipelineError`: its message is meant for the run's error, which everyone may read."""


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


# --------------------------------------------------------------------------------------------
# Publishing to Redis without ever slowing down or breaking the run
# --------------------------------------------------------------------------------------------


class _Publisher:
    """Writes status fields and events of one run. A Redis outage must not fail the run nor make
    every progress call wait for a connect timeout: after an error, writes pause for a while."""

    PAUSE_AFTER_ERROR_S = 5.0

    def __init__(self, client: redis.Redis, run_uuid: str):
        self.client = client
        self.run_uuid = run_uuid
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _guard(self, what: str, action: Callable[[], object]) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            action()
        except redis.RedisError as exc:
            self._paused_until = time.monotonic() + self.PAUSE_AFTER_ERROR_S
            # Log without run_context-forwarding recursion: this logger is excluded by the handler.
            logger.warning("could not publish %s: %s", what, type(exc).__name__)

    def status(self, **fields: Any) -> None:
        self._guard("status", lambda: state.update_status(self.client, self.run_uuid, **fields))

    def event(self, event_type: EventType, data: dict[str, Any]) -> None:
        self._guard(
            f"{event_type} event", lambda: state.publish_event(self.client, event_type, self.run_uuid, data)
        )


class ProgressReporter:
    """The `progress` callable handed to the pipeline: stage changes go out at once, counts at
    most every `min_interval_s` (a loop over 50,000 stops must not make 50,000 Redis calls)."""

    def __init__(
        self,
        publisher: _Publisher,
        lock_lost: threading.Event,
        min_interval_s: float = 0.5,
        also: Progress | None = None,
    ):
        self._publisher = publisher
        self._also = also
        self._lock_lost = lock_lost
        self._min_interval_s = min_interval_s
        self._stage: str | None = None
        self._last_sent = 0.0
        self.stages: list[str] = []

    @property
    def stage(self) -> str | None:
        """The stage the run is in (the last one reported)."""
        return self._stage

    def __call__(
        self, stage: str, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None:
        if self._lock_lost.is_set():
            raise LockLostError("the pipeline lock was lost; stopping before writing anything more")
        if self._also is not None:
            self._also(stage, done, total, message)
        now = time.monotonic()
        percent = None
        if done is not None and total:
            percent = round(min(100.0, 100.0 * done / total), 1)
        if stage != self._stage:
            self._stage = stage
            self.stages.append(stage)
            self._publisher.event(EventType.STAGE, {"stage": stage, "message": message})
        elif now - self._last_sent < self._min_interval_s and not (done is not None and done == total):
            return
        self._last_sent = now
        fields: dict[str, Any] = {"stage": stage, "done": done or 0, "total": total, "percent": percent}
        if message is not None:
            fields["message"] = message
        self._publisher.status(**fields)
        self._publisher.event(
            EventType.PROGRESS,
            {"stage": stage, "done": done, "total": total, "percent": percent, "message": message},
        )


_CONTAINERS = (Mapping, list, tuple, set, frozenset)


def plain_text(value: Any) -> Any:
    """A dict or list argument of a log call as words ("rows atlas_stops 12, osm_stops 30"), so the
    pipeline page's log never shows a Python repr; anything else unchanged."""
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            text = plain_text(item)
            parts.append(f"{key} ({text})" if isinstance(item, Mapping) else f"{key} {text}")
        return ", ".join(parts) if parts else "none"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(plain_text(item)) for item in value) if value else "none"
    return value


def log_line(record: logging.LogRecord) -> str:
    """The text of a log record for the pipeline page: its message with dict and list arguments
    (or a dict logged as the message itself) written as words, not as a Python repr."""
    msg, args = record.msg, record.args
    if isinstance(msg, _CONTAINERS) and not args:
        return str(plain_text(msg))
    if isinstance(args, Mapping) and "%(" not in str(msg):
        args = (args,)  # logging unwraps a single dict argument; we format it as one value
    if isinstance(args, tuple) and any(isinstance(arg, _CONTAINERS) for arg in args):
        return str(msg) % tuple(plain_text(arg) for arg in args)
    return record.getMessage()


class _RedisLogHandler(logging.Handler):
    """Forwards the log lines of one run (records tagged with its id) to the event stream."""

    def __init__(self, publisher: _Publisher, level: int = logging.INFO):
        super().__init__(level)
        self._publisher = publisher

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "run_id", "") != self._publisher.run_uuid or record.name == __name__:
            return
        try:
            message = log_line(record)
        except Exception:  # a bad format string in someone's log call must not break the run
            message = str(record.msg)
        # The first line only: a multi-line record carries a traceback or a dump, which stays in
        # the server log. publish_event scrubs the rest (URLs, paths, e-mail addresses).
        lines = message.strip().splitlines() or [""]
        data = {
            "level": record.levelname,
            "logger": record.name,
            "message": (lines[0] + (" …" if len(lines) > 1 else ""))[:2000],
            "at": record.created,
        }
        self._publisher.event(EventType.LOG, data)


class _Heartbeat(threading.Thread):
    """Renews the lock and the status heartbeat every `interval_s` while the run works."""

    def __init__(
        self,
        lock,
        publisher: _Publisher,
        interval_s: float,
        lock_lost: threading.Event,
        restore_status: Callable[[], None],
    ):
        super().__init__(name=f"pipeline-heartbeat-{publisher.run_uuid[:8]}", daemon=True)
        self._lock = lock
        self._publisher = publisher
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._restore_status = restore_status
        self.lock_lost = lock_lost

    def run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self._lock.reacquire()  # compare-and-set: renews only while the token is ours
            except LockError:
                if self._take_back():
                    continue
                logger.error("pipeline lock taken over by another run; this run stops")
                self.lock_lost.set()
                return
            except redis.RedisError as exc:
                # The lock survives hiccups shorter than its TTL; a longer outage ends in LockError.
                logger.warning("could not renew the pipeline lock: %s", type(exc).__name__)
                continue
            self._publisher.status(heartbeat_at=time.time())

    def _take_back(self) -> bool:
        """The key is gone, not taken (Redis restarted without persistence, or expired during a
        long outage): if nobody holds it now, take it again with our token and keep going."""
        try:
            if not self._lock.acquire(blocking=False, token=self._publisher.run_uuid):
                return False
            self._restore_status()
        except redis.RedisError:
            return False
        logger.warning("the pipeline lock had vanished (Redis restarted?); took it back")
        return True

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)


# --------------------------------------------------------------------------------------------
# The guarded run
# --------------------------------------------------------------------------------------------


def pipeline_work(
    trigger: str,
    requested_by: str | None,
    only_if_changed: bool,
    source_dir: str | None = None,
    offline: bool = False,
) -> WorkFn:
    """The real pipeline as a work function (it records its own `pipeline_runs` row)."""

    def work(progress: Progress, run_uuid: str) -> Any:
        from app.services.pipeline_service import execute_pipeline_run

        return execute_pipeline_run(
            trigger=trigger,
            source_dir=source_dir,
            only_if_changed=only_if_changed,
            progress=progress,
            run_uuid=run_uuid,
            offline=offline,
            requested_by=requested_by,
        )

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

    heartbeat: _Heartbeat | None = None
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
        publisher = _Publisher(client, run_uuid)
        publisher.event(EventType.STATE, {"state": RunState.RUNNING.value, "trigger": trigger})
        lock_lost = threading.Event()
        reporter = ProgressReporter(publisher, lock_lost, also=on_progress)

        def restore_status() -> None:
            state.start_status(
                client, run_uuid, started_at=started_at, stage=reporter.stage or "starting", **run_fields
            )

        heartbeat = _Heartbeat(lock, publisher, settings.PIPELINE_HEARTBEAT_S, lock_lost, restore_status)
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
    publisher: _Publisher,
    settings: Settings,
) -> RunOutcome:
    handler = _RedisLogHandler(publisher)
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
            closed = run_history.close_abandoned(exclude_run_uuid=run_uuid)
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
            run_history.ensure_finished(run_uuid, trigger, requested_by, final.value, error)
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
        closed = run_history.close_abandoned(older_than_s=stale)
    if closed:
        logger.warning("watchdog: marked %d abandoned run(s) as failed", closed)
