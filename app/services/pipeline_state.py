"""The Redis side of pipeline coordination: lock, status, run requests, events.

Implements the contract documented in `app.coordination`. Every function takes the redis-py client
explicitly (no request globals), so the app, the scheduler and the CLI share this code. Every
write that must not race is one Lua script or one MULTI block; nothing reads, modifies and writes
back from Python.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from redis.lock import Lock

from app.coordination import (
    EVENTS_KEY,
    EVENTS_MAXLEN,
    LOCK_KEY,
    REQUEST_TTL_S,
    REQUESTS_KEY,
    SCHEDULER_HEARTBEAT_KEY,
    SCHEDULER_HEARTBEAT_STALE_S,
    STATUS_KEY,
    STATUS_TTL_S,
    EventType,
    RunState,
)
from app.services import run_view

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Lock
# --------------------------------------------------------------------------------------------


def pipeline_lock(client: redis.Redis, ttl_s: float) -> Lock:
    """The one pipeline lock. redis-py's Lock is SET NX PX with a token, and renews and releases
    through compare-and-set scripts. `thread_local=False` because the heartbeat thread renews a
    lock that the run's thread took."""
    return Lock(client, LOCK_KEY, timeout=ttl_s, blocking=False, thread_local=False)


def try_acquire(lock: Lock, token: str) -> bool:
    """Take the lock without waiting; the token (the run uuid) tells readers who holds it."""
    return bool(lock.acquire(blocking=False, token=token))


def lock_holder(client: redis.Redis) -> str | None:
    """The token (run uuid) of the current lock holder, or None when free."""
    # redis-py types one client for sync and async use (`Awaitable[Any] | Any`); ours is synchronous.
    return cast("str | None", client.get(LOCK_KEY))


def lock_ttl_s(client: redis.Redis) -> float | None:
    """Seconds until the lock expires unless renewed; None when free."""
    ttl_ms = cast("int | None", client.pttl(LOCK_KEY))
    return None if ttl_ms is None or ttl_ms < 0 else ttl_ms / 1000.0


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------

# Writes only while the hash still belongs to run ARGV[1]: a run that lost its lock (and whose
# successor already started) can never overwrite the newer status.
_UPDATE_STATUS = """
if redis.call('HGET', KEYS[1], 'run_uuid') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# The watchdog: a run still marked running whose heartbeat is old while nobody holds the lock
# died without saying so. Mark it failed, in one step, so a run starting meanwhile is untouched.
_FAIL_ABANDONED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_at') or '0') or 0
if beat > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'failed', 'finished_at', ARGV[2], 'last_error', ARGV[3])
return 1
"""


def _flatten(fields: dict[str, Any]) -> list[str]:
    flat: list[str] = []
    for key, value in fields.items():
        flat += [key, "" if value is None else str(value)]
    return flat


def start_status(client: redis.Redis, run_uuid: str, **fields: Any) -> None:
    """Replace the status hash with a new running run (the caller holds the lock)."""
    now = time.time()
    mapping = {
        "state": RunState.RUNNING.value,
        "stage": "starting",
        "done": 0,
        "total": "",
        "percent": 0,
        "message": "",
        "run_uuid": run_uuid,
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": "",
        "last_error": "",
        **fields,
    }
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(STATUS_KEY)
        pipe.hset(STATUS_KEY, mapping={k: "" if v is None else str(v) for k, v in mapping.items()})
        pipe.expire(STATUS_KEY, STATUS_TTL_S)
        pipe.execute()


def update_status(client: redis.Redis, run_uuid: str, **fields: Any) -> bool:
    """Set fields of run `run_uuid`'s status; False when the hash belongs to another run now."""
    if not fields:
        return True
    script = client.register_script(_UPDATE_STATUS)
    return bool(script(keys=[STATUS_KEY], args=[run_uuid, STATUS_TTL_S, *_flatten(fields)]))


def fail_abandoned_status(client: redis.Redis, stale_after: float) -> bool:
    """Watchdog: mark a dead run's status failed. True when it did."""
    now = time.time()
    script = client.register_script(_FAIL_ABANDONED)
    message = "the run stopped sending heartbeats (its process died or hung)"
    return bool(script(keys=[STATUS_KEY, LOCK_KEY], args=[now - stale_after, now, message]))


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


@dataclass
class StatusView:
    """What the app shows: the stored status with `stale`, `queued` and `unknown` derived."""

    state: RunState
    run: dict[str, Any] = field(default_factory=dict)
    queued: dict[str, Any] | None = None
    lock_held: bool = False
    lock_expires_in_s: float | None = None
    scheduler_seen_at: float | None = None
    error: str | None = None

    def as_dict(self, *, detailed: bool = False) -> dict[str, Any]:
        """The status as served. Public by default (the event stream sends it to anyone); admins'
        views pass `detailed=True` for the account and host fields (`app.services.run_view`)."""
        scheduler_alive = (
            self.scheduler_seen_at is not None
            and time.time() - self.scheduler_seen_at <= SCHEDULER_HEARTBEAT_STALE_S
        )
        full = {
            "state": self.state.value,
            **self.run,
            "queued": self.queued,
            "lock": {"held": self.lock_held, "expires_in_s": self.lock_expires_in_s},
            "scheduler": {"alive": scheduler_alive, "last_seen_at": _iso(self.scheduler_seen_at)},
            "error": self.error,
        }
        return run_view.status(full, detailed=detailed)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def read_status(client: redis.Redis, stale_after: float) -> StatusView:
    """The live status. Never raises for Redis trouble: an unreachable Redis reads as `unknown`."""
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.hgetall(STATUS_KEY)
            pipe.lrange(REQUESTS_KEY, 0, -1)
            pipe.pttl(LOCK_KEY)
            pipe.get(SCHEDULER_HEARTBEAT_KEY)
            raw, pending, lock_pttl, scheduler_beat = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("pipeline status unavailable: %s", type(exc).__name__)
        return StatusView(state=RunState.UNKNOWN, error="Redis is unreachable; the run status is unknown")
    return _status_view(raw, pending, lock_pttl, scheduler_beat, stale_after, time.time())


def _status_view(
    raw: dict[str, str],
    pending: list[str],
    lock_pttl: int,
    scheduler_beat: str | None,
    stale_after: float,
    now: float,
) -> StatusView:
    stored = raw.get("state") or RunState.IDLE.value
    try:
        state = RunState(stored)
    except ValueError:
        state = RunState.UNKNOWN
    heartbeat_at = _float(raw.get("heartbeat_at"))
    if state is RunState.RUNNING and (heartbeat_at is None or now - heartbeat_at > stale_after):
        state = RunState.STALE
    requests = [parsed for parsed in (_parse_request(item) for item in pending) if parsed is not None]
    # The oldest waiting request is the one that decides "queued since".
    queued = requests[-1] if requests else None
    if queued is not None and state is not RunState.RUNNING:
        state = RunState.QUEUED
    total = _int(raw.get("total"))
    run = {
        "run_uuid": raw.get("run_uuid") or None,
        "trigger": raw.get("trigger") or None,
        "requested_by": raw.get("requested_by") or None,
        "stage": raw.get("stage") or None,
        "done": _int(raw.get("done")),
        "total": total,
        "percent": _float(raw.get("percent")),
        "message": raw.get("message") or None,
        "started_at": _iso(_float(raw.get("started_at"))),
        "heartbeat_at": _iso(heartbeat_at),
        "heartbeat_age_s": None if heartbeat_at is None else round(max(0.0, now - heartbeat_at), 1),
        "finished_at": _iso(_float(raw.get("finished_at"))),
        "last_error": raw.get("last_error") or None,
        "owner": raw.get("owner") or None,
    }
    return StatusView(
        state=state,
        run=run,
        queued=None
        if queued is None
        else {
            "id": queued["id"],
            "requested_by": queued.get("requested_by"),
            "requested_at": _iso(queued["requested_at"]),
        },
        lock_held=lock_pttl is not None and lock_pttl >= 0,
        lock_expires_in_s=None if lock_pttl is None or lock_pttl < 0 else round(lock_pttl / 1000.0, 1),
        scheduler_seen_at=_float(scheduler_beat),
    )


# --------------------------------------------------------------------------------------------
# Run requests
# --------------------------------------------------------------------------------------------

# Queue a request only when nothing runs and nothing waits, in one step: two admins clicking at
# once get one 202 and one 409, never two runs.
_ENQUEUE = """
local holder = redis.call('GET', KEYS[1])
if holder then return {'running', holder} end
local waiting = redis.call('LINDEX', KEYS[2], -1)
if waiting then return {'queued', waiting} end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {'accepted', ARGV[1]}
"""


@dataclass(frozen=True)
class EnqueueResult:
    accepted: bool
    reason: str  # accepted | running | queued
    request: dict[str, Any] | None = None  # ours when accepted, the waiting one when queued
    holder: str | None = None  # run uuid holding the lock when running


def enqueue_request(
    client: redis.Redis, requested_by: str | None, options: dict[str, Any] | None = None
) -> EnqueueResult:
    """Ask the scheduler for a run. Raises redis.RedisError when Redis is unreachable."""
    request = {
        "id": uuid.uuid4().hex,
        "requested_by": requested_by,
        "requested_at": time.time(),
        "options": options or {},
    }
    script = client.register_script(_ENQUEUE)
    reason, payload = script(keys=[LOCK_KEY, REQUESTS_KEY], args=[json.dumps(request), REQUEST_TTL_S])
    if reason == "running":
        return EnqueueResult(False, "running", holder=payload)
    if reason == "queued":
        return EnqueueResult(False, "queued", request=_parse_request(payload))
    return EnqueueResult(True, "accepted", request=request)


def pending_requests(client: redis.Redis) -> int:
    return cast(int, client.llen(REQUESTS_KEY))


def claim_requests(client: redis.Redis, now: float | None = None) -> list[dict[str, Any]]:
    """Take every waiting request (the caller holds the lock: its run satisfies them all).

    Requests older than REQUEST_TTL_S are dropped: a click from an hour ago should not start a
    run by surprise now.
    """
    with client.pipeline(transaction=True) as pipe:
        pipe.lrange(REQUESTS_KEY, 0, -1)
        pipe.delete(REQUESTS_KEY)
        items, _ = pipe.execute()
    now = time.time() if now is None else now
    claimed = []
    for item in reversed(items):  # LPUSH put the newest first
        request = _parse_request(item)
        if request is None:
            continue
        if now - request["requested_at"] > REQUEST_TTL_S:
            logger.warning("dropping run request %s: older than %s s", request["id"], REQUEST_TTL_S)
            continue
        claimed.append(request)
    return claimed


def _parse_request(item: str | None) -> dict[str, Any] | None:
    if not item:
        return None
    try:
        request = json.loads(item)
        request["requested_at"] = float(request["requested_at"])
        request["id"] = str(request["id"])
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring a malformed run request: %.200s", item)
        return None
    return request


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def event_time(value: Any = None) -> str:
    """When an event happened, as ISO 8601 UTC with milliseconds: a unix time (a log record's
    `created`) or an ISO string kept as it is; anything else (or nothing) means now."""
    if isinstance(value, str) and value:
        return value
    stamp = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else time.time()
    whole = time.gmtime(stamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", whole) + f".{int((stamp % 1) * 1000):03d}Z"


def publish_event(client: redis.Redis, event_type: EventType, run_uuid: str, data: dict[str, Any]) -> str:
    """Append one event to the stream (trimmed approximately, which is O(1)); returns its id.

    Every reader, anonymous ones included, gets the same stream: only the public view of `data`
    is written (`run_view.event_data`), so no URL, path, account or traceback reaches Redis.
    Every event carries `at`, the time it happened (ISO 8601 UTC), so a page that replays the
    backlog shows when each line happened, not when the browser received it.
    """
    public = run_view.event_data(data)
    public["at"] = event_time(data.get("at"))
    return cast(
        str,
        client.xadd(
            EVENTS_KEY,
            {"type": event_type.value, "run_uuid": run_uuid, "data": json.dumps(public, default=str)},
            maxlen=EVENTS_MAXLEN,
            approximate=True,
        ),
    )


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    run_uuid: str
    data: dict[str, Any]


def _decode_event(entry_id: str, fields: dict[str, str]) -> Event:
    try:
        data = json.loads(fields.get("data") or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    # Scrubbed again on the way out: entries written before publishing scrubbed (or by an older
    # release during an upgrade) must not reach anonymous readers either.
    return Event(entry_id, fields.get("type", ""), fields.get("run_uuid", ""), run_view.event_data(data))


def recent_events(client: redis.Redis, count: int) -> list[Event]:
    """The last `count` events, oldest first (the backlog a new subscriber sees)."""
    entries = cast("list[tuple[str, dict[str, str]]]", client.xrevrange(EVENTS_KEY, count=count))
    return [_decode_event(entry_id, fields) for entry_id, fields in reversed(entries)]


def read_events_after(client: redis.Redis, last_id: str, block_ms: int, count: int = 500) -> list[Event]:
    """Events after `last_id`, waiting up to `block_ms` for the first one."""
    answer = cast(
        "list[tuple[str, list[tuple[str, dict[str, str]]]]]",
        client.xread({EVENTS_KEY: last_id}, count=count, block=block_ms),
    )
    if not answer:
        return []
    _, entries = answer[0]
    return [_decode_event(entry_id, fields) for entry_id, fields in entries]


def last_event_id(client: redis.Redis) -> str:
    """Id of the newest event, or "0-0" for an empty stream (XREAD after it waits for new ones)."""
    entries = cast("list[tuple[str, dict[str, str]]]", client.xrevrange(EVENTS_KEY, count=1))
    return entries[0][0] if entries else "0-0"
