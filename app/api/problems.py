"""The problem queue."""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.schemas.endpoint import endpoint, invalid_parameter
from app.api.schemas.stops import ProblemListQuery, ProblemPage
from app.services import problems as problem_service


@bp.get("/problems")
@endpoint("listProblems", "problems", ok=ProblemPage)
def list_problems(query: ProblemListQuery) -> dict[str, Any]:
    """The problem queue

    Filtered problems with their decisions, by priority (then id) or by distance (farthest first).
    Keyset pagination: pass `next_cursor` back as `cursor`.
    """
    try:
        page, next_cursor = problem_service.list_problems(
            query.filters(), sort=query.sort, cursor=query.cursor, limit=query.limit
        )
    except problem_service.InvalidCursorError as exc:
        raise invalid_parameter("cursor", str(exc)) from None
    return {"problems": page, "next_cursor": next_cursor}
