"""Search by name, registry stop id, UIC number or OSM id."""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.reads import finish_read
from app.api.schemas.endpoint import endpoint
from app.api.schemas.stops import SearchQuery, SearchResults
from app.services import search as search_service


@bp.get("/search")
@endpoint("search", "stops", ok=SearchResults)
def search(query: SearchQuery) -> dict[str, Any]:
    """Search by name, registry stop id, UIC number or OSM id

    Stops of both sides whose name or identifier fits `q`, best first.
    """
    results = search_service.search(query.q, query.limit)
    finish_read()
    return {"query": query.q, "results": results}
