"""Counts for dashboards."""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.schemas.endpoint import endpoint
from app.api.schemas.stops import NoQuery, Stats
from app.services import stats as stats_service


@bp.get("/stats")
@endpoint("getStats", "stats", ok=Stats)
def stats(query: NoQuery) -> dict[str, Any]:
    """Counts per match method, problem type and priority, operator, means of transport; last run"""
    return stats_service.compute_stats()
