"""The contract between the app and the scheduler: Redis key names, their TTLs, run states, payloads.

The app never imports the scheduler nor `runs` (the package that owns a run, used by the scheduler
and `flask pipeline run`). Both sides read and write only the keys named here, and only through
`app.services.pipeline_state`, which implements every operation atomically.

| key                              | type   | TTL                          | written by                   |
|----------------------------------|--------|------------------------------|------------------------------|
| stopsync:pipeline:lock           | string | PIPELINE_LOCK_TTL_S          | run owner (token = run uuid) |
| stopsync:pipeline:status         | hash   | STATUS_TTL_S                 | run owner (compare run_uuid) |
| stopsync:pipeline:requests       | list   | REQUEST_TTL_S                | app (LPUSH), run owner (pop) |
| stopsync:pipeline:events         | stream | trimmed to ~EVENTS_MAXLEN    | run owner                    |
| stopsync:scheduler:heartbeat     | string | SCHEDULER_HEARTBEAT_STALE_S  | every scheduler replica      |
| stopsync:ratelimit:*             | (Flask-Limiter's own keys, in RATELIMIT_STORAGE_URL)        |
| stopsync:stream:slots            | zset   | stream_slot_lease_s          | app (one member per stream)  |
| stopsync:stream:client:<ip>      | zset   | stream_slot_lease_s          | app (that client's streams)  |
| stopsync:tiles:<snapshot>:<z>/<x>/<y>:<filters> | string | TILE_CACHE_TTL_S | app (app/services/tiles.py) |
| stopsync:tiles:<snapshot>:bytes  | string | TILE_CACHE_TTL_S             | app (size cap per snapshot)  |
| stopsync:tiles:current           | string | none                         | app (other snapshots dropped) |

Lock: `SET lock <run_uuid> NX PX ttl`. Only the value's owner renews it (every PIPELINE_HEARTBEAT_S)
or deletes it (compare-and-delete script). A process that dies stops renewing; the key expires
after at most PIPELINE_LOCK_TTL_S and the next run proceeds. No run starts without the lock.

Status hash fields (all strings; times are unix seconds): see `STATUS_FIELDS`. The owner replaces
the hash when its run starts and afterwards writes only when the hash still names its run_uuid, so
a run that lost its lock can never overwrite a newer run's status. Readers derive two states the
hash never stores: `stale` (running, but no heartbeat for `stale_after_s`) and `queued` (a request
is waiting and nothing runs). Redis unreachable reads as `unknown`.

Run request (list item, JSON): `{"id", "requested_by", "requested_at", "options"}`. The app pushes
one only when no lock is held and no request waits (one script, so two clicks cannot queue two).
Whichever run takes the lock next claims every waiting request: one run satisfies them all.

Event (stream entry): fields `type` (an `EventType`), `run_uuid`, `data` (JSON object). Stream ids
are the SSE event ids, so a reconnecting browser resumes exactly after `Last-Event-ID`.

Stream slots (the app alone; bounds open live-view connections per client and in total): one
member `<started_ms>:<connection id>` per open SSE connection, in both zsets, scored by the unix ms
at which its lease ends. Taking a slot is one script (drop expired members, check both counts, add);
the connection renews its lease whenever it writes (at least every PIPELINE_STREAM_KEEPALIVE_S) and
removes itself when it ends. A killed worker renews nothing: its members expire within one lease.
"""

from __future__ import annotations

from enum import StrEnum

KEY_PREFIX = "stopsync"
LOCK_KEY = f"{KEY_PREFIX}:pipeline:lock"
STATUS_KEY = f"{KEY_PREFIX}:pipeline:status"
REQUESTS_KEY = f"{KEY_PREFIX}:pipeline:requests"
EVENTS_KEY = f"{KEY_PREFIX}:pipeline:events"
SCHEDULER_HEARTBEAT_KEY = f"{KEY_PREFIX}:scheduler:heartbeat"
RATELIMIT_KEY_PREFIX = f"{KEY_PREFIX}:ratelimit"
STREAM_SLOTS_KEY = f"{KEY_PREFIX}:stream:slots"
STREAM_CLIENT_KEY_PREFIX = f"{KEY_PREFIX}:stream:client"  # + ":<client address>"
TILES_KEY_PREFIX = f"{KEY_PREFIX}:tiles"  # + ":<snapshot>:..." (app/services/tiles.py)

# A finished run's status stays visible for a week; a new run overwrites it.
STATUS_TTL_S = 7 * 24 * 3600
# The scheduler writes its heartbeat (unix time) every SCHEDULER_HEARTBEAT_EVERY_S seconds.
SCHEDULER_HEARTBEAT_EVERY_S = 15
SCHEDULER_HEARTBEAT_STALE_S = 60
# A run request nobody picked up within an hour is dropped rather than run much later by surprise.
REQUEST_TTL_S = 3600
# The live event stream keeps the recent history for late subscribers, bounded.
EVENTS_MAXLEN = 2000
# A running run that missed this many heartbeats in a row is shown as stale: its process is gone
# or stuck. Settings.validate() keeps the lock TTL at least this long, so the lock outlives a
# healthy owner's short hiccup but not a dead one.
STALE_AFTER_HEARTBEATS = 3
# How often a scheduler looks for runs that died without saying so (see the watchdog job).
WATCHDOG_EVERY_S = 60

# The stages a run reports in the status hash's `stage` field, in order (the pipeline page draws one
# step per name). A skipped run ends in `skipped`, a finished one in `done`.
STAGES = ("fetch", "parse", "match", "problems", "import")

STATUS_FIELDS = (
    "state",  # RunState value as stored: running | succeeded | failed
    "stage",  # current pipeline stage name
    "done",  # items done in the current stage
    "total",  # items in the current stage ("" when unknown)
    "percent",  # 0..100 for the current stage
    "message",  # last human-readable progress message
    "run_uuid",
    "trigger",  # scheduled | manual | cli
    "requested_by",
    "request_ids",  # comma-separated ids of the run requests this run satisfies
    "owner",  # host:pid of the process running it
    "started_at",
    "heartbeat_at",
    "finished_at",
    "last_error",
)


class RunState(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STALE = "stale"  # was running, but its heartbeat stopped
    UNKNOWN = "unknown"  # Redis unreachable: we cannot tell


class EventType(StrEnum):
    STATE = "state"  # the run changed state (running, succeeded, failed)
    STAGE = "stage"  # a new stage began
    PROGRESS = "progress"  # done/total within the stage
    LOG = "log"  # one log line of the run


def stale_after_s(heartbeat_s: float) -> float:
    """Seconds without a heartbeat after which a running run reads as stale."""
    return STALE_AFTER_HEARTBEATS * heartbeat_s


# A stream slot's lease covers two keepalive intervals plus one blocking read and some slack, so a
# healthy connection always renews in time and a dead one frees its slot soon after.
STREAM_SLOT_LEASE_SLACK_S = 5


def stream_slot_lease_s(keepalive_s: float) -> float:
    """Seconds a stream slot stays taken without a renewal (see the stream slots paragraph above)."""
    return 2 * keepalive_s + STREAM_SLOT_LEASE_SLACK_S
