"""`python -m scheduler.healthcheck`: exit 0 when the scheduler's heartbeat in Redis is fresh."""

from __future__ import annotations

import os
import sys
import time
from typing import cast

import redis

from app.coordination import SCHEDULER_HEARTBEAT_KEY, SCHEDULER_HEARTBEAT_STALE_S


def main() -> int:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), socket_timeout=2)
    try:
        # A synchronous client: the reply is bytes or None (redis-py types it `Awaitable[Any] | Any`).
        beat = cast("bytes | None", client.get(SCHEDULER_HEARTBEAT_KEY))
    except redis.RedisError as exc:
        print(f"redis unreachable: {exc}", file=sys.stderr)
        return 1
    if beat is None or time.time() - float(beat) > SCHEDULER_HEARTBEAT_STALE_S:
        print("scheduler heartbeat is missing or stale", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
