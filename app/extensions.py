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
limiter = Limiter(key_func=get_remote_address)
talisman = Talisman()


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

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions[self.extension_name]


redis_client = RedisClient()

__all__ = ["db", "limiter", "migrate", "redis_client", "talisman"]
