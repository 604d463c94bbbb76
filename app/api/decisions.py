"""Decisions on problems: editors record them, everybody reads them with their history."""

from __future__ import annotations

from flask import current_app, jsonify

from app.api import bp, params
from app.auth import current_user, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import decisions as decision_service
from app.services import vocabulary

MAX_IDENTITY_LENGTH = 300


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


@bp.post("/decisions")
@require_role("editor")
@limiter.limit(_write_limit)
def record_decision():
    """Create or change the decision on a problem: `{problem_identity, decision, note}`."""
    body = params.json_body(
        required=("problem_identity", "decision"), allowed=("problem_identity", "decision", "note")
    )
    identity = params.body_str(body, "problem_identity", max_length=MAX_IDENTITY_LENGTH, required=True)
    decision = params.body_str(body, "decision", max_length=40, required=True)
    note = params.body_str(body, "note", max_length=decision_service.MAX_NOTE_LENGTH) or ""
    assert identity is not None
    assert decision is not None
    if decision not in vocabulary.DECISIONS:
        raise params.body_error(
            "decision",
            f"decision must be one of {', '.join(vocabulary.DECISIONS)}",
            allowed=list(vocabulary.DECISIONS),
        )
    try:
        row, created = decision_service.record_decision(identity, decision, note.strip(), current_user())
    except decision_service.ProblemNotFoundError:
        raise ApiError(
            404, "not_found", "No current problem has this identity.", {"problem_identity": identity}
        ) from None
    except decision_service.DecisionError as exc:
        raise params.body_error("decision", str(exc)) from None
    db.session.commit()
    user = current_user()
    payload = {
        "decision": decision_service.decision_as_dict(
            row, user.username if user and row.author_id == user.id else None
        ),
        "created": created,
    }
    if row.decision == vocabulary.DECISION_WRONG_MATCH:
        # The unlink it saved, with its state (pending until the next run).
        found = decision_service.decision_with_history(row.problem_identity)
        payload["manual_match"] = found["manual_match"] if found else None
    return jsonify(payload), 201 if created else 200


@bp.get("/decisions")
def list_decisions():
    """Decisions with their history: the one on `problem_identity`, or the most recent ones."""
    params.reject_unknown(("problem_identity", "decision", "status", "author", "cursor", "limit"))
    identity = params.text("problem_identity", max_length=MAX_IDENTITY_LENGTH)
    if identity:
        found = decision_service.decision_with_history(identity)
        return jsonify({"decisions": [found] if found else [], "next_cursor": None})
    limit = params.limit(50, 500)
    before = params.integer("cursor", None, minimum=1, maximum=2**31 - 1)
    page, next_before = decision_service.list_decisions(
        limit=limit,
        before_id=before,
        decisions=params.choices("decision", vocabulary.DECISIONS),
        statuses=params.choices("status", vocabulary.DECISION_STATUSES),
        author=params.text("author", max_length=80),
    )
    return jsonify({"decisions": page, "next_cursor": str(next_before) if next_before else None})
