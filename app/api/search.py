"""Search by name, stop_id, UIC number or OSM id."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, params
from app.services import search as search_service

MAX_QUERY_LENGTH = 100


@bp.get("/search")
def search():
    """Stops of both sides whose name, stop_id, UIC number or OSM id fits `q`, best first."""
    params.reject_unknown(("q", "limit"))
    query = params.text("q", max_length=MAX_QUERY_LENGTH)
    if not query:
        raise params.invalid("q", "q is required: a name, stop_id, UIC number or OSM id")
    limit = params.limit(20, 100)
    return jsonify({"query": query, "results": search_service.search(query, limit)})
