"""Log forwarding: the log lines of one run (records tagged with its id) go to the event stream,
written as words for the pipeline page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.coordination import EventType
from runs.publish import Publisher

# The run machinery's own loggers: their lines (a failed publish, a lost lock) stay in the server
# log; forwarding them would recurse into Redis or repeat the run's state events.
UNFORWARDED_LOGGERS = frozenset({"runs.guard", "runs.publish", "runs.lock", "runs.logs"})


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


class RedisLogHandler(logging.Handler):
    """Forwards the log lines of one run (records tagged with its id) to the event stream."""

    def __init__(self, publisher: Publisher, level: int = logging.INFO):
        super().__init__(level)
        self._publisher = publisher

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "run_id", "") != self._publisher.run_uuid or record.name in UNFORWARDED_LOGGERS:
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
