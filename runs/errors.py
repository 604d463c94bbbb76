"""Why a run did not start or stopped early."""

from __future__ import annotations

from pipeline.errors import PipelineError


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
