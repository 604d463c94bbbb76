"""Liveness and readiness endpoints, exempt from rate limits and HTTPS redirects."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, limiter, redis_client, talisman
from database.schema import schema_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
@talisman(force_https=False)  # probes speak plain HTTP inside the network
def healthz():
    """The process is alive and serving requests."""
    return jsonify({"status": "ok"})


def readiness_problems() -> list[dict[str, str]]:
    """Everything that keeps this instance from serving real traffic; empty when ready."""
    problems: list[dict[str, str]] = []
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            status = schema_status(connection)
        if not status.compatible:
            problems.append({"component": "schema", "message": status.describe()})
    except Exception as exc:  # any driver error means "not reachable"; the detail is logged, not leaked
        problems.append({"component": "database", "message": f"database unreachable ({type(exc).__name__})"})
    try:
        redis_client.client.ping()
    except Exception as exc:
        problems.append({"component": "redis", "message": f"redis unreachable ({type(exc).__name__})"})
    return problems


@bp.get("/readyz")
@limiter.exempt
@talisman(force_https=False)  # probes speak plain HTTP inside the network
def readyz():
    """Database reachable, schema at the migrations' head, Redis reachable: 200; else 503 with reasons."""
    problems = readiness_problems()
    if problems:
        return jsonify({"status": "unavailable", "problems": problems}), 503
    return jsonify({"status": "ready", "problems": []})
