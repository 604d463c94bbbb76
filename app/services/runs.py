"""Recording pipeline runs in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from app.services import run_history
from database import db
from database.models import PipelineRun


def start_run(trigger: str, requested_by: str | None = None, run_uuid: str | None = None) -> PipelineRun:
    run = PipelineRun(
        run_uuid=run_uuid or str(uuid.uuid4()),
        trigger=trigger,
        status="running",
        requested_by=requested_by,
        # The wall clock now, not the database's now() (the start of a transaction that may have been
        # open for a while): a manual link saved after this moment is pending until the next run.
        started_at=dt.datetime.now(dt.UTC),
    )
    db.session.add(run)
    db.session.flush()
    return run


def finish_run(run: PipelineRun, status: str, error: str | None = None, **fields: Any) -> PipelineRun:
    run.status = status
    run.error = error
    run.finished_at = dt.datetime.now(dt.UTC)
    for name, value in fields.items():
        setattr(run, name, value)
    db.session.flush()
    return run


def recent_runs(limit: int = 50) -> list[PipelineRun]:
    return list(db.session.scalars(select(PipelineRun).order_by(PipelineRun.id.desc()).limit(limit)))


def run_as_dict(run: PipelineRun) -> dict[str, Any]:
    """The public view of a run (the stats page's last runs): `run_history.run_as_dict`, the one
    serialiser of a run row."""
    return run_history.run_as_dict(run)
