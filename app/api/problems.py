"""The problem queue."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, params
from app.api.filters import PROBLEM_FILTER_PARAMS, problem_filters
from app.services import problems as problem_service


@bp.get("/problems")
def list_problems():
    """Problems with filters, by priority (or distance), one page at a time (`next_cursor`)."""
    params.reject_unknown((*PROBLEM_FILTER_PARAMS, "cursor", "limit"))
    filters, sort = problem_filters()
    cursor = params.text("cursor", max_length=500)
    limit = params.limit(50, 500)
    try:
        page, next_cursor = problem_service.list_problems(filters, sort=sort, cursor=cursor, limit=limit)
    except problem_service.InvalidCursorError as exc:
        raise params.invalid("cursor", str(exc)) from None
    return jsonify({"problems": page, "next_cursor": next_cursor})
