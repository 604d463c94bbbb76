"""Publishing a run's status and events to Redis without ever slowing down or breaking the run.

`Publisher` writes the status hash and the event stream through `app.services.pipeline_state`
(the Redis contract); `ProgressReporter` is the `progress` callable the stages are given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from app.coordination import EventType
from app.services import pipeline_state as state
from runs.errors import LockLostError

logger = logging.getLogger(__name__)


class Progress(Protocol):
    def __call__(
        self, stage: str, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None: ...


class Publisher:
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
            # Not forwarded to the stream (`runs.logs` skips this logger): no recursion into Redis.
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
        publisher: Publisher,
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
