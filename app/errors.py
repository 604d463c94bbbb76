"""One JSON error shape for /api, HTML pages elsewhere. Exception text never reaches a client."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

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


def json_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify(error_body(status, code, message, details))
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in {"/healthz", "/readyz"}


def _code_for(exc: HTTPException) -> str:
    name = (exc.name or "error").lower()
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return json_error(exc.status, exc.code, exc.message, exc.details)

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

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        request_id = uuid.uuid4().hex[:12]
        logger.exception("unhandled error, request id %s", request_id)
        if _wants_json():
            return json_error(500, "internal_error", "Internal server error", {"request_id": request_id})
        message = f"Something went wrong on our side (request id {request_id})."
        return render_template("error.html", status=500, title=InternalServerError.name, message=message), 500
