"""Counts for dashboards."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, params
from app.services import stats as stats_service


@bp.get("/stats")
def stats():
    """Counts per match method, problem type and priority, operator, means of transport; last run."""
    params.reject_unknown(())
    return jsonify(stats_service.compute_stats())
