"""Decisions on problems: editors record them, everybody reads them with their history."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api import bp
from app.api.schemas.endpoint import endpoint, validation_failed
from app.api.schemas.stops import DecisionInput, DecisionListQuery, DecisionPage, DecisionResult
from app.auth import current_user, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import decisions as decision_service
from app.services import vocabulary


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


@bp.post("/decisions")
@require_role("editor")
@limiter.limit(_write_limit)
@endpoint(
    "recordDecision",
    "decisions",
    ok=DecisionResult,
    also={201: DecisionResult},
    errors=(401, 403, 404),
    role="editor",
)
def record_decision(json: DecisionInput) -> tuple[dict[str, Any], int]:
    """Record or change the decision on a problem

    201 when created, 200 when changed (or unchanged when identical).
    """
    try:
        row, created = decision_service.record_decision(
            json.problem_identity, json.decision, json.note.strip(), current_user()
        )
    except decision_service.ProblemNotFoundError:
        raise ApiError(
            404,
            "not_found",
            "No current problem has this identity.",
            {"problem_identity": json.problem_identity},
        ) from None
    except decision_service.DecisionError as exc:
        raise validation_failed("decision", str(exc)) from None
    db.session.commit()
    user = current_user()
    payload: dict[str, Any] = {
        "decision": decision_service.decision_as_dict(
            row, user.username if user and row.author_id == user.id else None
        ),
        "created": created,
    }
    if row.decision == vocabulary.DECISION_WRONG_MATCH:
        # The unlink it saved, with its state (pending until the next run).
        found = decision_service.decision_with_history(row.problem_identity)
        payload["manual_match"] = found["manual_match"] if found else None
    return payload, 201 if created else 200


@bp.get("/decisions")
@endpoint("listDecisions", "decisions", ok=DecisionPage)
def list_decisions(query: DecisionListQuery) -> dict[str, Any]:
    """Decisions with their history

    The one on `problem_identity` (a list of zero or one), or the most recent ones, newest first.
    """
    if query.problem_identity:
        found = decision_service.decision_with_history(query.problem_identity)
        return {"decisions": [found] if found else [], "next_cursor": None}
    page, next_before = decision_service.list_decisions(
        limit=query.limit,
        before_id=query.cursor,
        decisions=query.decision,
        statuses=query.status,
        author=query.author,
    )
    return {"decisions": page, "next_cursor": str(next_before) if next_before else None}
