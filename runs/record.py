"""A run's row in `pipeline_runs`: this module is its one writer.

A run is started, finished, repaired after a crash and closed by the watchdog only here. The app
reads and serialises rows (`app.services.run_history.run_as_dict`, the one serialiser) and never
writes them. Every function flushes, never commits: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from database import db
from database.models import PipelineRun

ABANDONED_ERROR = "abandoned: the run's process stopped without finishing (crash, kill or restart)"


def _by_uuid(run_uuid: str) -> PipelineRun | None:
    return db.session.scalar(select(PipelineRun).where(PipelineRun.run_uuid == run_uuid))


def start_run(trigger: str, requested_by: str | None = None, run_uuid: str | None = None) -> PipelineRun:
    """Insert the row of a run that begins now, status `running`."""
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
    """Record how run `run` ended (`succeeded`, `skipped`, `failed`) and its figures (`fields`)."""
    run.status = status
    run.error = error
    run.finished_at = dt.datetime.now(dt.UTC)
    for name, value in fields.items():
        setattr(run, name, value)
    db.session.flush()
    return run


def ensure_finished(
    run_uuid: str, trigger: str, requested_by: str | None, status: str, error: str | None
) -> PipelineRun:
    """Make sure run `run_uuid` has a finished row. The pipeline's own status wins when it set
    one (it may say `skipped`); a row it left `running`, or never wrote, gets ours."""
    run = _by_uuid(run_uuid)
    if run is None:
        run = PipelineRun(run_uuid=run_uuid, trigger=trigger, status=status, requested_by=requested_by)
        db.session.add(run)
    elif run.status == "running":
        run.status = status
    if error and not run.error:
        run.error = error
    if run.finished_at is None:
        run.finished_at = dt.datetime.now(dt.UTC)
    if requested_by and not run.requested_by:
        run.requested_by = requested_by
    db.session.flush()
    return run


def close_abandoned(exclude_run_uuid: str | None = None, older_than_s: float | None = None) -> int:
    """Mark rows still `running` as failed. Callers guarantee no live run owns them: either they
    hold the lock (`exclude_run_uuid` is their own run), or the lock is free and only rows older
    than `older_than_s` are touched. Returns how many rows changed."""
    statement = (
        update(PipelineRun)
        .where(PipelineRun.status == "running")
        .values(status="failed", error=ABANDONED_ERROR, finished_at=dt.datetime.now(dt.UTC))
        .execution_options(synchronize_session=False)
    )
    if exclude_run_uuid is not None:
        statement = statement.where(PipelineRun.run_uuid != exclude_run_uuid)
    if older_than_s is not None:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than_s)
        statement = statement.where(PipelineRun.started_at < cutoff)
    # An UPDATE answers a CursorResult (the row count); Session.execute is typed as a plain Result.
    result = cast("CursorResult[Any]", db.session.execute(statement))
    db.session.flush()
    return int(result.rowcount or 0)
