"""Flask extensions, created unbound; `create_app` binds them."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_talisman import Talisman

from database import db
from database.schema import MIGRATIONS_DIR

migrate = Migrate(directory=str(MIGRATIONS_DIR))


def _limit_setting(name: str):
    """A limit read from the current app's settings at request time, not at import: each app
    (and each test app) uses its own values even though the Limiter object is shared."""
    return lambda: getattr(current_app.config["SETTINGS"], name)


# Storage: Redis (RATELIMIT_STORAGE_URL or REDIS_URL), shared by every gunicorn worker and replica.
# When Redis is unreachable Flask-Limiter counts in process memory and probes Redis again with a
# backoff (1, 2, 4 ... 32 s), switching back by itself once it answers.
limiter = Limiter(key_func=get_remote_address, default_limits=[_limit_setting("RATELIMIT_DEFAULT")])
# Stricter shared budgets, one counter per client across every route that uses them. Only the
# listed methods count, so a route serving GET and POST keeps the default limit for its reads.
write_limit = limiter.shared_limit(
    _limit_setting("RATELIMIT_WRITE"), scope="write", methods=["POST", "PUT", "PATCH", "DELETE"]
)
login_limit = limiter.shared_limit(_limit_setting("RATELIMIT_LOGIN"), scope="login", methods=["POST"])
run_trigger_limit = limiter.shared_limit(
    _limit_setting("RATELIMIT_RUN_TRIGGER"), scope="run-trigger", methods=["POST"]
)
talisman = Talisman()

# Server-side wait of a blocking read is at most a few seconds; the socket allows that plus margin.
BLOCKING_READ_TIMEOUT_S = 10.0


class RedisClient:
    """Holds one redis-py client per app. Short socket timeouts: a dead Redis must not hang a request."""

    extension_name = "stopsync_redis"

    def init_app(self, app: Flask, url: str) -> None:
        app.extensions[self.extension_name] = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            health_check_interval=10,
            decode_responses=True,
        )
        # Blocking reads (XREAD BLOCK for the live event stream) wait longer than a normal call may.
        app.extensions[self.extension_name + "_blocking"] = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=BLOCKING_READ_TIMEOUT_S,
            health_check_interval=10,
            decode_responses=True,
        )

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions[self.extension_name]

    @property
    def blocking_client(self) -> redis.Redis:
        """For calls that wait server-side (up to a few seconds); never for ordinary reads."""
        return current_app.extensions[self.extension_name + "_blocking"]


redis_client = RedisClient()

__all__ = [
    "db",
    "limiter",
    "login_limit",
    "migrate",
    "redis_client",
    "run_trigger_limit",
    "talisman",
    "write_limit",
]
