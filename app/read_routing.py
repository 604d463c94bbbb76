"""Which requests read from the replica (`DATABASE_READ_URL`), decided once per request by its URL rule.

The read-only endpoints (map and tiles, search, stop pages and API, the problem list, stats,
exports, feeds, routes, operators, changes) bind the request's session to the replica while
`database.read_routing.ReadRouter` finds it fresh. Everything else stays on the primary: writes
(decisions, manual links, users, sign-in sessions, run requests), the review queue an editor works
through, the live pipeline status, and the caller's authentication, which runs before this hook so
a signed-out session or revoked token is never accepted from a replica that has not replayed it yet.

A browser that has just written reads the primary for a few seconds (a cookie), so an editor sees
their own decision in the next list. Every response says where its reads went (`X-Read-Source`),
and why not from the replica when it could have been (`X-Read-Fallback`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import create_engine

from database import db
from database.read_routing import ReadRouter, is_replica_failure
from database.read_routing_session import bind_reads, reads_bound, replica_was_used
from database.session import engine_options

logger = logging.getLogger(__name__)

EXTENSION_KEY = "stopsync_read_router"
READ_SOURCE_HEADER = "X-Read-Source"
READ_FALLBACK_HEADER = "X-Read-Fallback"
# Set on a browser after it wrote: until the time it holds (Unix seconds), its reads go to the primary.
RECENT_WRITE_COOKIE = "stopsync_wrote"
READ_METHODS = frozenset({"GET", "HEAD"})

# URL rules whose GET/HEAD only read published data. A rule matches when it equals an entry ending
# without "/" or starts with the entry followed by "/" or "." (so "/stops" covers
# "/stops/<source>/<path:stop_id>" but not "/stopsxyz"). New endpoints read the primary until
# listed here: the safe default.
READ_ONLY_RULES: tuple[str, ...] = (
    "/",  # the map page
    "/stops",
    "/routes",
    "/operators",
    "/stats",
    "/downloads",
    "/changes",
    "/feeds",
    "/api/v1/stops",
    "/api/v1/tiles",
    "/api/v1/search",
    "/api/v1/problems",
    "/api/v1/stats",
    "/api/v1/trends",
    "/api/v1/changes",
    "/api/v1/exports",
    "/api/v1/fixes",
    "/api/v1/reports",
    "/api/v1/routes",
    "/api/v1/operators",
)


def is_read_only_rule(rule: str) -> bool:
    """Whether the URL rule `rule` is one of the replica-readable endpoints (for GET and HEAD)."""
    for entry in READ_ONLY_RULES:
        if rule == entry:
            return True
        if entry != "/" and rule.startswith(entry) and rule[len(entry)] in "/.":
            return True
    return False


def init_read_routing(app: Flask) -> None:
    """Bind the replica to `app` when DATABASE_READ_URL is set. Call last in create_app: the hook
    must run after authentication (registered earlier), and every view must be registered."""
    settings = app.config["SETTINGS"]
    if not settings.DATABASE_READ_URL:
        return
    read_engine = create_engine(
        settings.DATABASE_READ_URL,
        **engine_options(
            settings.DB_CONNECT_TIMEOUT_S,
            settings.DB_STATEMENT_TIMEOUT_MS,
            settings.DB_POOL_SIZE,
            application_name="stopsync-read",
            read_only=True,
        ),
    )
    app.extensions[EXTENSION_KEY] = ReadRouter(
        read_engine,
        lambda: db.engine,
        max_lag_s=settings.DATABASE_READ_MAX_LAG_S,
        check_interval_s=settings.DATABASE_READ_CHECK_INTERVAL_S,
    )
    app.before_request(_route_reads)
    app.after_request(_label_response)
    app.teardown_request(_unbind_reads)
    # A replica that dies between two checks: the view runs again on the primary (read-only views
    # only, so running one twice changes nothing).
    read_endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if is_read_only_rule(rule.rule)}
    for endpoint in read_endpoints:
        app.view_functions[endpoint] = _retry_on_primary(app.view_functions[endpoint])


def read_router(app: Flask | None = None) -> ReadRouter | None:
    """The app's replica router, or None when no replica is configured."""
    return (app or current_app).extensions.get(EXTENSION_KEY)


def _route_reads() -> None:
    session = db.session()
    bind_reads(session, None)  # an outer app context (tests, CLI) may outlive a request
    g.read_source = "primary"
    g.read_fallback = None
    rule = request.url_rule
    if request.method not in READ_METHODS or rule is None or not is_read_only_rule(rule.rule):
        return
    if _wrote_recently():
        g.read_fallback = "recent_write"
        return
    router = read_router()
    health = router.health() if router is not None else None
    if health is None or not health.usable:
        g.read_fallback = health.reason if health is not None else None
        return
    bind_reads(session, router.read_engine)  # type: ignore[union-attr]  # health is not None
    g.read_source = "replica"


def _wrote_recently() -> bool:
    raw = request.cookies.get(RECENT_WRITE_COOKIE, "")
    try:
        return float(raw) > time.time()
    except ValueError:
        return False


def _label_response(response: Response) -> Response:
    response.headers[READ_SOURCE_HEADER] = g.get("read_source", "primary")
    fallback = g.get("read_fallback")
    if fallback:
        response.headers[READ_FALLBACK_HEADER] = fallback
    if request.method not in READ_METHODS and response.status_code < 400:
        # Read your own writes: the replica may not have replayed this one yet.
        router = read_router()
        hold_s = max(router.max_lag_s if router is not None else 0.0, 1.0)
        response.set_cookie(
            RECENT_WRITE_COOKIE,
            f"{time.time() + hold_s:.3f}",
            max_age=int(hold_s) + 1,
            httponly=True,
            samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


def _unbind_reads(_exc: BaseException | None) -> None:
    bind_reads(db.session(), None)


def _retry_on_primary(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        session = db.session()
        try:
            return view(*args, **kwargs)
        except Exception as error:
            if not (reads_bound(session) and replica_was_used(session) and is_replica_failure(error)):
                raise
            router = read_router()
            if router is not None:
                router.mark_failed(error)
            with contextlib.suppress(Exception):  # the failed connection may refuse even a rollback
                session.rollback()
            bind_reads(session, None)
            g.read_source, g.read_fallback = "primary", "error"
            logger.warning(
                "replica failed during %s %s: answering from the primary", request.method, request.path
            )
            return view(*args, **kwargs)

    return wrapped
