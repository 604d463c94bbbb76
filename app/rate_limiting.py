"""Flask-Limiter's fixed window in one Redis round trip per request instead of three.

The stock fixed-window strategy increments the counter (one Lua call) and then, for the
X-RateLimit-* and Retry-After headers of the same answer, asks Redis again for the counter (GET) and
its window's end (TTL). Here the increment's Lua script returns the counter and the TTL together and
the request remembers them, so the headers cost nothing more. Counting, keys and windows are the
stock ones (same Redis keys, same expiry on the first hit), so replicas running either strategy
share one budget. Anything but a plain Redis storage (the in-memory fallback while Redis is down,
Sentinel, Cluster) takes the stock path.
"""

from __future__ import annotations

import time
from typing import Any, cast

from flask import g, has_request_context
from limits import RateLimitItem
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from limits.util import WindowStats

STRATEGY = "stopsync-fixed-window"

# The stock incr_expire.lua, returning the TTL beside the new count.
_INCR_EXPIRE_TTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""

_MEMO = "_stopsync_rate_windows"


class OneTripFixedWindow(FixedWindowRateLimiter):
    """Fixed window whose hit also learns the window's reset and remaining count (see module doc)."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self._script: Any = None

    def _one_trip(self) -> bool:
        return type(self.storage) is RedisStorage and has_request_context()

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        """Consume `cost` of the limit; remember the window for this request's headers."""
        if not self._one_trip():
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        storage = cast(RedisStorage, self.storage)  # _one_trip checked the type
        if self._script is None:
            self._script = storage.get_connection().register_script(_INCR_EXPIRE_TTL.encode())
        count, ttl = self._script([storage.prefixed_key(key)], [item.get_expiry(), cost])
        windows: dict[str, tuple[float, int]] = g.setdefault(_MEMO, {})
        # As the stock get_expiry: a missing TTL (-1/-2) counts as a window ending now.
        windows[key] = (max(int(ttl), 0) + time.time(), int(count))
        return int(count) <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """(reset time, remaining) from this request's hit when there was one, else from Redis."""
        if has_request_context():
            seen = g.get(_MEMO, {}).get(item.key_for(*identifiers))
            if seen is not None:
                reset, count = seen
                return WindowStats(reset, max(0, item.amount - count))
        return super().get_window_stats(item, *identifiers)

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        """Reset the limit (and forget what this request remembered of it)."""
        if has_request_context():
            g.get(_MEMO, {}).pop(item.key_for(*identifiers), None)
        super().clear(item, *identifiers)


# Flask-Limiter looks strategies up by name (RATELIMIT_STRATEGY) in this table.
STRATEGIES[STRATEGY] = OneTripFixedWindow
