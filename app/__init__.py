"""StopSync web application: `create_app` is the only place the app is assembled."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Settings, load_settings
from app.errors import keep_retry_after_hints, register_error_handlers
from app.extensions import db, limiter, migrate, redis_client, talisman
from app.logging_setup import configure_logging
from app.request_limits import init_request_limits
from database.session import engine_options

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # Map tiles come from the OpenStreetMap tile servers; everything else is served by us.
    "img-src": ["'self'", "data:", "https://tile.openstreetmap.org", "https://*.tile.openstreetmap.org"],
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app. `overrides` replaces settings (tests); everything else comes from the env."""
    settings = load_settings(**(overrides or {}))
    configure_logging(settings.LOG_LEVEL)

    app = Flask(__name__, template_folder="pages/templates", static_folder=None)
    _configure(app, settings)
    keep_retry_after_hints(app)  # before the limiter binds: its hook must run first (see the function)
    _bind_extensions(app, settings)
    _register_blueprints(app)
    register_error_handlers(app)
    init_request_limits(app)  # before auth: its CSRF check reads form bodies
    _init_auth(app)
    _register_cli(app)
    _init_read_routing(app)  # last: after authentication's hook, with every view registered
    return app


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.SECRET_KEY,
        TESTING=settings.STOPSYNC_ENV == "test",
        SQLALCHEMY_DATABASE_URI=settings.DATABASE_URL,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            settings.DB_CONNECT_TIMEOUT_S, settings.DB_STATEMENT_TIMEOUT_MS, settings.DB_POOL_SIZE
        ),
        SESSION_COOKIE_SECURE=settings.SESSION_COOKIE_SECURE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_url,
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1, "socket_timeout": 1},
        # The default limit is not set here: app/extensions.py reads RATELIMIT_DEFAULT per request.
        RATELIMIT_HEADERS_ENABLED=True,
        # The stock fixed window in one Redis round trip per request instead of three (the headers'
        # counter and reset come from the increment): app/rate_limiting.py.
        RATELIMIT_STRATEGY=_rate_limit_strategy(),
        # Redis down: limits fall back to per-process memory instead of failing every request.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_KEY_PREFIX="stopsync:ratelimit",
        JSON_SORT_KEYS=False,
        # Werkzeug refuses a larger body with a 413 before reading it (app/errors.py shapes the answer).
        MAX_CONTENT_LENGTH=settings.MAX_CONTENT_LENGTH_BYTES,
    )
    if settings.TRUST_PROXY_HOPS:
        hops = settings.TRUST_PROXY_HOPS
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _bind_extensions(app: Flask, settings: Settings) -> None:
    db.init_app(app)
    migrate.init_app(app, db, compare_type=True)
    limiter.init_app(app)
    redis_client.init_app(app, settings.REDIS_URL)
    from app.services import tiles

    tiles.init_app(app)  # the post-swap hook that drops the older snapshots' cached tiles
    talisman.init_app(
        app,
        force_https=settings.FORCE_HTTPS,
        force_https_permanent=True,
        strict_transport_security=settings.HSTS_ENABLED,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=settings.SESSION_COOKIE_SECURE,
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["script-src"],
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )


def _rate_limit_strategy() -> str:
    from app.rate_limiting import STRATEGY  # importing it registers the strategy with Flask-Limiter

    return STRATEGY


def _register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.health import bp as health_bp
    from app.pages import bp as pages_bp  # importing the package attaches every page module's routes

    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)  # every page, feed, /static and /vendor: one blueprint
    from app.i18n import init_i18n  # Flask-Babel: en/de/fr/it, the /lang/<code> switch

    init_i18n(app)


def _init_auth(app: Flask) -> None:
    from app.api.docs import bp as api_docs_bp
    from app.auth import init_auth
    from app.osm_signin import init_osm_signin

    init_auth(app)
    init_osm_signin(app)  # /login/osm: sign in with an OpenStreetMap account, when configured
    app.register_blueprint(api_docs_bp)  # /api/docs, rendered from the OpenAPI document


def _init_read_routing(app: Flask) -> None:
    from app.read_routing import init_read_routing  # DATABASE_READ_URL: read-only endpoints on a replica

    init_read_routing(app)


def _register_cli(app: Flask) -> None:
    from app.cli import register_commands

    register_commands(app)
