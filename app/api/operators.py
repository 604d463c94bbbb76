"""The registry steward's view: figures per registry operator (GET /operators)."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, params
from app.services import operators as operator_service

OPERATOR_PARAMS = ("q", "runs")


@bp.get("/operators")
def operators():
    """Per operator: registry stops, matched share, problems by type and priority (open and undecided),
    match distances (median, p90, max), open problems over the last `runs` runs, and links to the
    filtered map, review queue, registry report and exports. `q` filters by abbreviation or name."""
    params.reject_unknown(OPERATOR_PARAMS)
    q = params.text("q", max_length=100)
    runs = params.integer(
        "runs", operator_service.DEFAULT_TREND_RUNS, minimum=1, maximum=operator_service.MAX_TREND_RUNS
    )
    assert runs is not None
    return jsonify(operator_service.operator_overview(q=q, runs=runs))
