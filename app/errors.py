"""One JSON error shape for /api, HTML pages elsewhere. Exception text never reaches a client."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, RequestEntityTooLarge

from app.i18n_markers import N_

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by handlers and services to answer with a specific status, code and details."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "details": details or {}}}


# Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5

# Titles of the HTML error pages (werkzeug's names): error.html shows them in the page's language.
HTML_ERROR_TITLES = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Payload Too Large"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
)


def keep_retry_after_hints(app: Flask) -> None:
    """Let an error handler's Retry-After (`g.retry_after_s`) be the one the client gets.

    Flask-Limiter's header hook overwrites Retry-After on every response with the later of the
    existing value and its own window reset (up to a minute), which would tell clients to wait that
    long for a database that is back in seconds. Flask runs after_request hooks last-registered
    first, so this one must be registered before `limiter.init_app` to run after the limiter's.
    """

    @app.after_request
    def restore_retry_after(response: Response) -> Response:
        seconds = g.pop("retry_after_s", None)
        if seconds is not None:
            response.headers["Retry-After"] = str(seconds)
        return response


def json_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify(error_body(status, code, message, details))
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in {"/healthz", "/readyz"}


def _code_for(exc: HTTPException) -> str:
    name = (exc.name or "error").lower()
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


# What no address of ours contains: NUL and the other control characters (PostgreSQL refuses NUL in
# text, so `/stops/atlas/%00` used to reach the database and fail there with a 500), and U+FFFD, which
# is what bytes that are not UTF-8 (`%FF`) decode to.
_UNUSABLE_IN_PATH = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")


def refuse_unusable_paths() -> None:
    """before_request: a path holding such characters is a 404 (JSON under /api, HTML elsewhere)
    before any view sees it; no resource can have that name."""
    if _UNUSABLE_IN_PATH.search(request.path):
        raise NotFound("No resource has an address with control characters or invalid UTF-8.")


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_unusable_paths)

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return json_error(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_body_too_large(exc: RequestEntityTooLarge):
        # A body over MAX_CONTENT_LENGTH_BYTES, refused before it is read: say what the limit is.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        message = f"The request body is too large: this server accepts at most {limit} bytes."
        if _wants_json():
            return json_error(413, "payload_too_large", message, {"max_bytes": limit})
        return render_template("error.html", status=413, title="Payload Too Large", message=message), 413

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        status = exc.code or 500
        if _wants_json():
            response = json_error(status, _code_for(exc), exc.description or exc.name)
            # Keep the headers that carry meaning for a client: Allow (405) and Retry-After (429, 503).
            for key, value in exc.get_headers():
                if key.lower() in {"allow", "retry-after"}:
                    response.headers[key] = value
            return response
        return render_template("error.html", status=status, title=exc.name, message=exc.description), status

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    @app.errorhandler(DBAPIError)
    def handle_database_unavailable(exc: Exception):
        # Connection refused, dropped, or pool exhausted: tell the client to retry soon. The pool
        # (pool_pre_ping) replaces dead connections, so the app recovers without a restart.
        if (
            isinstance(exc, DBAPIError)
            and not isinstance(exc, OperationalError)
            and not exc.connection_invalidated
        ):
            return handle_unexpected(exc)
        from database import db

        with contextlib.suppress(Exception):  # the connection may already be gone
            db.session.rollback()
        logger.warning("database unavailable: %s", type(exc).__name__)
        if _wants_json():
            response = json_error(503, "database_unavailable", "The database is not reachable; retry shortly")
        else:
            response = app.make_response(
                (
                    render_template(
                        "error.html",
                        status=503,
                        title="Service Unavailable",
                        message="The database is not reachable; retry shortly.",
                    ),
                    503,
                )
            )
        g.retry_after_s = DATABASE_RETRY_AFTER_S  # see keep_retry_after_hints
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        request_id = uuid.uuid4().hex[:12]
        logger.exception("unhandled error, request id %s", request_id)
        if _wants_json():
            return json_error(500, "internal_error", "Internal server error", {"request_id": request_id})
        message = f"Something went wrong on our side (request id {request_id})."
        return render_template("error.html", status=500, title=InternalServerError.name, message=message), 500
