"""Pipeline runs: history from PostgreSQL."""

from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.services import runs


@bp.get("/pipeline/runs")
def list_runs():
    """The most recent pipeline runs, newest first."""
    return jsonify({"runs": [runs.run_as_dict(run) for run in runs.recent_runs(limit=50)]})
