"""Server-Sent Events for the live pipeline view, read from the Redis event stream.

Every connection is bounded in time (`max_s`); the browser's EventSource reconnects by itself and
sends `Last-Event-ID`, from which we resume exactly, because SSE ids are the Redis stream ids. A
comment line every `keepalive_s` keeps proxies from closing an idle connection and lets us notice a
client that went away.

Serving: gunicorn runs gevent workers (devstack.services.gunicorn_command, entrypoint.sh), so an
open stream is a parked greenlet waiting on Redis, not a request thread: ordinary requests keep
being served however many streams are open. What streams do cost (a Redis connection, a file
descriptor, a little memory each) is bounded by slots counted in Redis, per client address and in
total across every worker and replica (`take_slot`); a connection holds its slot while it writes
and gives it back when it ends, and a slot whose holder died expires after one lease.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from app.coordination import STREAM_CLIENT_KEY_PREFIX, STREAM_SLOTS_KEY
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


def unavailable_events() -> Iterator[str]:
    """The whole body of a stream that cannot start because Redis is unreachable (as `sse_events`
    ends when Redis goes away): the browser retries after RECONNECT_MS."""
    yield f"retry: {RECONNECT_MS}\n\n"
    yield _frame("status", {"state": "unknown", "error": "Redis is unreachable"})


# ---- stream slots: how many streams may be open, per client and in total ------------------------

# Both zsets hold one member "<started_ms>:<connection id>" per open stream, scored by the unix ms
# at which its lease ends. Redis's clock is the only clock, so replicas with skewed clocks agree.
# Each key expires with its last lease, so a client that never comes back leaves nothing behind.
_NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
_EXPIRE_WITH_LAST_LEASE = """
local function expire_with_last_lease(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, last[2]) end
end
"""
# KEYS: all slots, this client's slots. ARGV: lease ms, per-client maximum, total maximum, id.
# Returns {"ok", member, now} or {"client" | "total", oldest start ms in the full set, now}.
_TAKE_SLOT = f"""
{_NOW_MS}
{_EXPIRE_WITH_LAST_LEASE}
local lease, per_client, total = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local full, limit = nil, nil
if redis.call('ZCARD', KEYS[2]) >= per_client then
  full, limit = KEYS[2], 'client'
elseif redis.call('ZCARD', KEYS[1]) >= total then
  full, limit = KEYS[1], 'total'
end
if full then
  local oldest = now
  for _, member in ipairs(redis.call('ZRANGE', full, 0, -1)) do
    local started = tonumber(string.match(member, '^(%d+):'))
    if started and started < oldest then oldest = started end
  end
  return {{limit, oldest, now}}
end
local member = now .. ':' .. ARGV[4]
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, member)
  expire_with_last_lease(key)
end
return {{'ok', member, now}}
"""
# KEYS: all slots, this client's slots. ARGV: lease ms, member. 0 when the slot was reclaimed
# (its lease ran out and another stream's check dropped it), else 1.
_RENEW_SLOT = f"""
{_NOW_MS}
{_EXPIRE_WITH_LAST_LEASE}
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[2])
  expire_with_last_lease(key)
end
return 1
"""
# A stream renews its lease at most this often, however many events it writes.
RENEW_EVERY_S = 1.0


@dataclass(frozen=True)
class StreamLimits:
    """STREAM_MAX_PER_CLIENT, STREAM_MAX_TOTAL, the slot lease and PIPELINE_STREAM_MAX_S."""

    per_client: int
    total: int
    lease_s: float
    max_s: float


@dataclass(frozen=True)
class SlotRefused:
    """No slot: which setting's limit was reached, its value, and when one should be free."""

    setting: str  # STREAM_MAX_PER_CLIENT | STREAM_MAX_TOTAL
    maximum: int
    retry_after_s: int


class StreamSlot:
    """One taken slot: `renew()` while the stream writes, `release()` once when it ends."""

    def __init__(self, client: redis.Redis, keys: list[str], member: str, lease_s: float):
        self._client = client
        self._keys = keys
        self.member = member
        self._lease_ms = int(lease_s * 1000)

    def renew(self) -> bool:
        """Extend the lease; False when the slot was already given to someone else."""
        try:
            return bool(self._client.eval(_RENEW_SLOT, 2, *self._keys, self._lease_ms, self.member))
        except redis.RedisError as exc:
            # Keep streaming: the stream itself ends when Redis is really gone, and the lease
            # frees the slot anyway if we never get to renew it.
            logger.warning("stream slot not renewed: %s", type(exc).__name__)
            return True

    def release(self) -> None:
        """Give the slot back (the lease would free it too, later)."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key in self._keys:
                    pipe.zrem(key, self.member)
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("stream slot not released (its lease frees it): %s", type(exc).__name__)


def client_slots_key(address: str) -> str:
    """The zset of one client address's open streams."""
    return f"{STREAM_CLIENT_KEY_PREFIX}:{address}"


def take_slot(client: redis.Redis, address: str, limits: StreamLimits) -> StreamSlot | SlotRefused:
    """A slot for one more stream from `address`, or why not. Raises redis.RedisError."""
    keys = [STREAM_SLOTS_KEY, client_slots_key(address)]
    lease_ms = int(limits.lease_s * 1000)
    # The script answers {outcome, value, now_ms} (redis-py types a reply as `Awaitable[Any] | Any`).
    reply = cast(
        "list[Any]",
        client.eval(_TAKE_SLOT, 2, *keys, lease_ms, limits.per_client, limits.total, uuid.uuid4().hex),
    )
    outcome, value, now_ms = reply
    if outcome == "ok":
        return StreamSlot(client, keys, str(value), limits.lease_s)
    # A live stream ends by itself max_s after it started: the oldest one frees a slot first.
    frees_in_s = (int(value) + limits.max_s * 1000 - int(now_ms)) / 1000
    retry_after_s = min(max(1, math.ceil(frees_in_s)), max(1, math.ceil(limits.max_s)))
    if outcome == "client":
        return SlotRefused("STREAM_MAX_PER_CLIENT", limits.per_client, retry_after_s)
    return SlotRefused("STREAM_MAX_TOTAL", limits.total, retry_after_s)


def bound_blocked_writes(environ: dict[str, Any], seconds: float) -> None:
    """Let a write to this stream's client fail after `seconds` instead of waiting forever.

    A client that stops reading fills the socket buffers, and then our next write blocks. Its slot
    lease runs out meanwhile (a blocked stream renews nothing), so the limits no longer count it:
    without a timeout it would pin a greenlet, a socket and a file descriptor for as long as the
    client keeps the connection open. gunicorn hands its client socket in the WSGI environ.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(seconds)


class SlotHoldingStream:
    """An SSE body that holds a slot: renews its lease as it writes, releases it when closed.

    A class rather than a generator because the server calls `close()` even when the client left
    before the first frame, and a generator never started would skip its `finally`.
    """

    def __init__(self, events: Iterator[str], slot: StreamSlot):
        self._events = events
        self._slot = slot
        self._renewed_at = time.monotonic()
        self._closed = False

    def __iter__(self) -> SlotHoldingStream:
        return self

    def __next__(self) -> str:
        if self._closed:
            raise StopIteration
        try:
            frame = next(self._events)
        except StopIteration:
            self.close()  # the stream ended by itself: free the slot now, not when the server closes
            raise
        if time.monotonic() - self._renewed_at >= RENEW_EVERY_S:
            self._renewed_at = time.monotonic()
            if not self._slot.renew():
                self.close()  # our lease ran out and the slot went to another stream: end here
                raise StopIteration
        return frame

    def close(self) -> None:
        """Called by the WSGI server when the response ends, however it ends."""
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._events, "close", None)
            if close is not None:
                close()
        finally:
            self._slot.release()
