"""Server-Sent Events for the live pipeline view, read from the Redis event stream.

One connection holds one gunicorn thread, so every connection is bounded (`max_s`); the browser's
EventSource reconnects by itself and sends `Last-Event-ID`, from which we resume exactly, because
SSE ids are the Redis stream ids. A comment line every `keepalive_s` keeps proxies from closing an
idle connection and lets us notice a client that went away.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import redis

from app.services import pipeline_state as state

logger = logging.getLogger(__name__)

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
RECONNECT_MS = 2000
BACKLOG_EVENTS = 300
BLOCK_MS = 2000


def _frame(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    # json.dumps never emits a raw newline, so one data line is always enough.
    lines.append(f"data: {json.dumps(data, separators=(',', ':'), default=str)}")
    return "\n".join(lines) + "\n\n"


def valid_last_event_id(value: str | None) -> str | None:
    """The client's Last-Event-ID when it is a stream id we could have sent, else None."""
    if value and _STREAM_ID.match(value.strip()):
        return value.strip()
    return None


def sse_events(
    client: redis.Redis,
    last_event_id: str | None,
    *,
    stale_after: float,
    max_s: float,
    keepalive_s: float,
    block_ms: int = BLOCK_MS,
) -> Iterator[str]:
    """The SSE body: a `status` snapshot, then the run's events, for at most `max_s` seconds.

    Without Last-Event-ID the current run's recent events are replayed first, so a page opened
    mid-run shows the log so far.
    """
    started = time.monotonic()
    yield f"retry: {RECONNECT_MS}\n\n"
    try:
        status = state.read_status(client, stale_after).as_dict()
        yield _frame("status", status)
        if status["state"] == "unknown":
            return
        cursor = last_event_id
        if cursor is None:
            cursor = state.last_event_id(client)
            run_uuid = status.get("run_uuid")
            for event in state.recent_events(client, BACKLOG_EVENTS):
                if run_uuid and event.run_uuid == run_uuid:
                    yield _frame(event.type, {"run_uuid": event.run_uuid, **event.data}, event.id)
        last_write = time.monotonic()
        while True:
            remaining_ms = int((max_s - (time.monotonic() - started)) * 1000)
            if remaining_ms <= 0:
                return
            events = state.read_events_after(client, cursor, block_ms=max(1, min(block_ms, remaining_ms)))
            for event in events:
                cursor = event.id
                yield _frame(event.type, {"run_uuid": event.run_uuid, **event.data}, event.id)
            if events:
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= keepalive_s:
                yield ": keepalive\n\n"
                last_write = time.monotonic()
    except redis.RedisError as exc:
        logger.warning("event stream interrupted: %s", type(exc).__name__)
        yield _frame("status", {"state": "unknown", "error": "Redis is unreachable"})
