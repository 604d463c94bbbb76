"""Keeping the pipeline lock while a run works.

The lock is redis-py's `Lock` on the contract's key (`app.services.pipeline_state.pipeline_lock`),
its token the run uuid. `Heartbeat` renews it, and the status heartbeat, every
PIPELINE_HEARTBEAT_S; a run that loses it stops before it writes anything more
(`runs.errors.LockLostError`, raised by the progress reporter).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import LockError

from runs.publish import Publisher

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Renews the lock and the status heartbeat every `interval_s` while the run works."""

    def __init__(
        self,
        lock,
        publisher: Publisher,
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
