"""Pipeline run history in PostgreSQL: reading and serialising `pipeline_runs` rows.

The app only reads runs: their one writer is `runs.record`, in the process that runs the pipeline
(the scheduler or `flask pipeline run`). `run_as_dict` is the one serialiser of a row.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from app.errors import ApiError
from app.services import run_view
from database import db
from database.models import PipelineRun


def get_by_uuid(run_uuid: str) -> PipelineRun | None:
    return db.session.scalar(select(PipelineRun).where(PipelineRun.run_uuid == run_uuid))


def _encode_cursor(run_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": run_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        before = json.loads(base64.urlsafe_b64decode(padded.encode()))["before"]
        if not isinstance(before, int) or before < 1:
            raise ValueError
        return before
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.") from exc


def list_runs(limit: int, cursor: str | None = None) -> tuple[list[PipelineRun], str | None]:
    """Runs newest first, `limit` at a time. Keyset pagination on the id: stable while new runs
    are added, and every page is an index range scan."""
    query = select(PipelineRun).order_by(PipelineRun.id.desc()).limit(limit + 1)
    if cursor:
        query = query.where(PipelineRun.id < _decode_cursor(cursor))
    rows = list(db.session.scalars(query))
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def run_as_dict(
    run: PipelineRun, live_run_uuid: str | None = None, *, detailed: bool = False
) -> dict[str, Any]:
    """One run for the API, the only serialiser of a `pipeline_runs` row. A row still `running`
    that is not the live run reads as `stale`. Public unless `detailed` (admins: who asked, full
    source locations); `app.services.run_view` decides what each view holds."""
    status = run.status
    if status == "running" and live_run_uuid is not None and run.run_uuid != live_run_uuid:
        status = "stale"
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 1)
    full = {
        "id": run.id,
        "run_uuid": run.run_uuid,
        "trigger": run.trigger,
        "status": status,
        "requested_by": run.requested_by,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": duration,
        "stage_seconds": run.stage_seconds,
        "counts": run.counts,
        "source_versions": run.source_versions,
        "error": run.error,
    }
    return run_view.run(full, detailed=detailed)


# What a problem change names of its run (`app.services.changes`): a subset of the one serialisation.
RUN_REFERENCE_FIELDS = ("id", "status", "trigger", "started_at", "finished_at")


def run_reference(run: PipelineRun) -> dict[str, Any]:
    """A run as other resources refer to it: `run_as_dict`'s id, status, trigger and times."""
    full = run_as_dict(run)
    return {name: full[name] for name in RUN_REFERENCE_FIELDS}
