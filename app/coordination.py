"""The contract between the app and the scheduler: Redis key names, their TTLs, run states.

The app never imports the scheduler. Both sides read and write only the keys named here.

| key                              | type   | TTL                    | written by             |
|----------------------------------|--------|------------------------|------------------------|
| stopsync:pipeline:lock           | string | PIPELINE_LOCK_TTL_S    | run owner (token)      |
| stopsync:pipeline:status         | hash   | STATUS_TTL_S           | run owner              |
| stopsync:pipeline:requests       | list   | REQUEST_TTL_S          | app (LPUSH), scheduler |
| stopsync:pipeline:events         | stream | trimmed to EVENTS_MAXLEN | run owner            |
| stopsync:scheduler:heartbeat     | string | SCHEDULER_HEARTBEAT_STALE_S | scheduler         |
"""

from __future__ import annotations

from enum import StrEnum

KEY_PREFIX = "stopsync"
LOCK_KEY = f"{KEY_PREFIX}:pipeline:lock"
STATUS_KEY = f"{KEY_PREFIX}:pipeline:status"
REQUESTS_KEY = f"{KEY_PREFIX}:pipeline:requests"
EVENTS_KEY = f"{KEY_PREFIX}:pipeline:events"
SCHEDULER_HEARTBEAT_KEY = f"{KEY_PREFIX}:scheduler:heartbeat"

# A finished run's status stays visible for a week; a new run overwrites it.
STATUS_TTL_S = 7 * 24 * 3600
# The scheduler writes its heartbeat (unix time) every SCHEDULER_HEARTBEAT_EVERY_S seconds.
SCHEDULER_HEARTBEAT_EVERY_S = 15
SCHEDULER_HEARTBEAT_STALE_S = 60
# A run request nobody picked up within an hour is dropped rather than run much later by surprise.
REQUEST_TTL_S = 3600
# The live event stream keeps the recent history for late subscribers, bounded.
EVENTS_MAXLEN = 2000


class RunState(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STALE = "stale"  # was running, but its heartbeat stopped
    UNKNOWN = "unknown"  # Redis unreachable: we cannot tell
