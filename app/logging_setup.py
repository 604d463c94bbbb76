"""Logging for every StopSync process: configured once, to stdout, one format.

Lines written while a pipeline run is in progress carry its run id (`[run 1a2b3c4d]`), whatever
logger wrote them: `run_context()` sets a context variable and a record factory copies it onto
every record, so no module has to pass the id around.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar

LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s:%(run_tag)s %(message)s"

_current_run_id: ContextVar[str] = ContextVar("stopsync_run_id", default="")


def current_run_id() -> str:
    """The id of the pipeline run this code runs in, or "" outside a run."""
    return _current_run_id.get()


@contextlib.contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Tag every log record written inside the block (in this thread or context) with `run_id`."""
    token = _current_run_id.set(run_id)
    try:
        yield
    finally:
        _current_run_id.reset(token)


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_stopsync_run_tag", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        run_id = _current_run_id.get()
        record.run_id = run_id
        record.run_tag = f" [run {run_id[:8]}]" if run_id else ""
        return record

    factory._stopsync_run_tag = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO") -> None:
    _install_record_factory()
    root = logging.getLogger()
    if getattr(root, "_stopsync_configured", False):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stdout)
    # `defaults` covers records made without our factory (logging.makeLogRecord, other libraries).
    handler.setFormatter(logging.Formatter(LOG_FORMAT, defaults={"run_tag": ""}))
    root.handlers[:] = [handler]
    root.setLevel(level)
    root._stopsync_configured = True  # type: ignore[attr-defined]
