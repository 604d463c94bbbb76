"""Runs one job inside an app context; an exception is logged, never allowed to kill the scheduler."""

from __future__ import annotations

import logging
import time

from flask import Flask

from app.coordination import SCHEDULER_HEARTBEAT_KEY, SCHEDULER_HEARTBEAT_STALE_S
from app.extensions import redis_client
from app.services import runs
from database.session import transaction

logger = logging.getLogger(__name__)

_app: Flask | None = None


def bind_app(app: Flask) -> None:
    global _app
    _app = app


def run_pipeline_job(trigger: str) -> None:
    if _app is None:
        raise RuntimeError("scheduler runner used before bind_app()")
    with _app.app_context():
        try:
            with transaction():
                run = runs.start_run(trigger=trigger)
            with transaction():
                runs.finish_run(run, status="succeeded")
        except Exception:
            logger.exception("pipeline job failed")


def write_heartbeat() -> None:
    if _app is None:
        raise RuntimeError("scheduler runner used before bind_app()")
    with _app.app_context():
        try:
            redis_client.client.set(SCHEDULER_HEARTBEAT_KEY, time.time(), ex=SCHEDULER_HEARTBEAT_STALE_S)
        except Exception as exc:  # Redis down: the health check will say so; keep scheduling
            logger.warning("could not write the scheduler heartbeat: %s", exc)
