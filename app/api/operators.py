"""The registry steward's view: figures per registry operator (GET /operators)."""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.schemas.endpoint import endpoint
from app.api.schemas.lines import OperatorOverview, OperatorQuery
from app.services import operators as operator_service


@bp.get("/operators")
@endpoint("listOperators", "stats", ok=OperatorOverview)
def operators(query: OperatorQuery) -> dict[str, Any]:
    """Figures per registry operator, for the registry's stewards

    Per operator: registry stops, matched share, problems by type and priority (open and
    undecided), match distances (median, p90, max), open problems over the last `runs` runs, and
    links to the filtered map, review queue, registry report and exports. `q` filters by code or name.
    """
    return operator_service.operator_overview(q=query.q, runs=query.runs)
