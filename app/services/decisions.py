"""People's decisions on problems, and their append-only history (`decision_events`).

A decision is keyed by the problem's stable identity, never by a snapshot row id, so it survives
every re-import. Functions here flush and never commit: the request (or job) commits.

"Wrong match" (`vocabulary.DECISION_WRONG_MATCH`) has one effect besides being recorded: it saves a
manual *unlink* of the problem's pair (`app.services.manual_matches`, the one owner of forbidden
pairs, which the matcher reads as stage 0 on the next run). The event that records it names the
manual match (`payload.manual_match_id`); changing the decision to anything else deletes that unlink
again, unless someone changed the link since.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER, TEXT
from sqlalchemy.exc import IntegrityError

from app.services import manual_matches
from app.services.evidence import attach_evidence
from app.services.vocabulary import DECISION_WRONG_MATCH, DECISIONS, PAIR_PROBLEM_TYPES
from database import db
from database.models import Decision, DecisionEvent, ManualMatch, Problem, User

logger = logging.getLogger(__name__)

MAX_NOTE_LENGTH = 5000


class DecisionError(ValueError):
    """The decision cannot be recorded as asked (unknown value, note too long)."""


class ProblemNotFoundError(LookupError):
    """No current problem (and no earlier decision) has this identity."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def decision_as_dict(row: Any, author: str | None) -> dict[str, Any]:
    """The public shape of a decision (`row` is a Decision or a row with the same column names)."""
    return {
        "id": row.id,
        "problem_identity": row.problem_identity,
        "problem_type": row.problem_type,
        "source": row.source,
        "stop_id": row.stop_id,
        "osm_key": row.osm_key,
        "decision": row.decision,
        "note": row.note,
        "status": row.status,
        # Review workflow: why the pipeline sent it back to review, and the run that verified a fix.
        "review_diff": getattr(row, "review_diff", None) or [],
        "verified_run_id": getattr(row, "verified_run_id", None),
        "author": author,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _event_as_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "action": row.action,
        "decision": row.decision,
        "note": row.note,
        "author": row.author,
        "run_id": row.run_id,
        "payload": row.payload,
        "created_at": _iso(row.created_at),
    }


def _history(decision_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Events of many decisions in one query, oldest first."""
    if not decision_ids:
        return {}
    rows = db.session.execute(
        text(
            "SELECT e.id, e.decision_id, e.action, e.decision, e.note, e.run_id, e.payload, e.created_at,"
            " u.username AS author"
            " FROM decision_events e LEFT JOIN users u ON u.id = e.author_id"
            " WHERE e.decision_id = ANY(:ids) ORDER BY e.decision_id, e.created_at, e.id"
        ).bindparams(bindparam("ids", type_=ARRAY(INTEGER))),
        {"ids": list(decision_ids)},
    )
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        history[row.decision_id].append(_event_as_dict(row))
    return history


def _linked_manual_match_id(events: Sequence[dict[str, Any]]) -> int | None:
    """The manual unlink the decision's latest "wrong match" event saved, if any."""
    for event in reversed(events):
        payload = event.get("payload") or {}
        if isinstance(payload, dict) and isinstance(payload.get("manual_match_id"), int):
            return payload["manual_match_id"]
    return None


def _with_history(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Decisions as dicts with their history and, for "wrong match", the unlink it saved (with its state)."""
    history = _history([row.id for row in rows])
    linked = {
        row.id: _linked_manual_match_id(history.get(row.id, []))
        for row in rows
        if row.decision == DECISION_WRONG_MATCH
    }
    wanted = [i for i in linked.values() if i is not None]
    links = (
        {
            link["id"]: link
            for link in manual_matches.as_dicts(
                list(db.session.scalars(select(ManualMatch).where(ManualMatch.id.in_(wanted))))
            )
        }
        if wanted
        else {}
    )
    out = []
    for row in rows:
        item = {**decision_as_dict(row, row.author), "history": history.get(row.id, [])}
        link_id = linked.get(row.id)
        item["manual_match"] = links.get(link_id) if link_id is not None else None
        out.append(item)
    return out


PROBLEM_COLUMNS = (
    "p.id, p.identity, p.problem_type, p.priority, p.source, p.stop_id, p.osm_key, p.operator_code,"
    " p.distance_m, p.message, p.details, p.lat, p.lon"
)
DECISION_COLUMNS = (
    "d.id AS d_id, d.problem_identity AS d_problem_identity, d.problem_type AS d_problem_type,"
    " d.source AS d_source, d.stop_id AS d_stop_id, d.osm_key AS d_osm_key, d.decision AS d_decision,"
    " d.note AS d_note,"
    " d.status AS d_status, d.created_at AS d_created_at, d.updated_at AS d_updated_at,"
    " d.review_diff AS d_review_diff, d.verified_run_id AS d_verified_run_id,"
    " du.username AS d_author"
)
DECISION_JOIN = (
    "LEFT JOIN decisions d ON d.problem_identity = p.identity LEFT JOIN users du ON du.id = d.author_id"
)


class _Prefixed:
    """Reads `d_<name>` columns of a joined row as if they were a decision's attributes."""

    def __init__(self, row: Any):
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, f"d_{name}")


def problem_as_dict(row: Any) -> dict[str, Any]:
    """A problem row joined with its decision (columns PROBLEM_COLUMNS + DECISION_COLUMNS)."""
    return {
        "identity": row.identity,
        "problem_type": row.problem_type,
        "priority": row.priority,
        "source": row.source,
        "stop_id": row.stop_id,
        "osm_key": row.osm_key,
        "operator": row.operator_code,
        "distance_m": None if row.distance_m is None else round(row.distance_m, 2),
        "message": row.message,
        "details": row.details,
        "lat": row.lat,
        "lon": row.lon,
        "decision": decision_as_dict(_Prefixed(row), row.d_author) if row.d_id is not None else None,
    }


# (source, stop_id) pairs bound as two parallel arrays: a registry stop is both columns (two
# registries may use the same id string for different stops).
_STOP_PAIRS = "(SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:sloids AS text[])))"


def _stop_pair_match(alias: str) -> str:
    """`alias` row is one of the bound (source, stop_id) pairs, in a form an OR can use an index for.

    A row-IN-subquery beside an OR is a hashed SubPlan filter, which PostgreSQL can only apply on a
    sequential scan (the stop page read all 9,581 problems of the Swiss data per request: 7 ms). The
    `stop_id = ANY` first lets the planner combine the stop_id and osm_key indexes (BitmapOr); the
    pair test then keeps only the right registry's rows.
    """
    return (
        f"({alias}.stop_id = ANY(CAST(:sloids AS text[]))"
        f" AND ({alias}.source, {alias}.stop_id) IN {_STOP_PAIRS})"
    )


def _pairs(stops: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {"sources": [source for source, _ in stops], "sloids": [stop_id for _, stop_id in stops]}


def problems_for(*, stops: Sequence[tuple[str, str]], osm_keys: Sequence[str]) -> list[dict[str, Any]]:
    """Current problems on any of these registry stops ((source, stop_id)) or OSM objects, each with
    its decision (one query)."""
    if not stops and not osm_keys:
        return []
    rows = db.session.execute(
        text(
            f"SELECT {PROBLEM_COLUMNS}, {DECISION_COLUMNS} FROM problems p {DECISION_JOIN}"
            f" WHERE {_stop_pair_match('p')} OR p.osm_key = ANY(:osm_keys)"
            " ORDER BY p.priority, p.problem_type, p.identity"
        ).bindparams(bindparam("osm_keys", type_=ARRAY(TEXT))),
        {**_pairs(stops), "osm_keys": list(osm_keys)},
    )
    return [problem_as_dict(row) for row in rows]


def decisions_for(
    *, stops: Sequence[tuple[str, str]], osm_keys: Sequence[str], identities: Sequence[str]
) -> list[dict[str, Any]]:
    """Decisions about these registry stops ((source, stop_id)), OSM objects or problems (also on
    problems since resolved), with history."""
    rows = list(
        db.session.execute(
            text(
                "SELECT d.*, u.username AS author FROM decisions d LEFT JOIN users u ON u.id = d.author_id"
                f" WHERE {_stop_pair_match('d')} OR d.osm_key = ANY(:osm_keys)"
                " OR d.problem_identity = ANY(:identities)"
                " ORDER BY d.updated_at DESC, d.id DESC"
            ).bindparams(
                bindparam("osm_keys", type_=ARRAY(TEXT)),
                bindparam("identities", type_=ARRAY(TEXT)),
            ),
            {**_pairs(stops), "osm_keys": list(osm_keys), "identities": list(identities)},
        )
    )
    return _with_history(rows)


def decision_with_history(problem_identity: str) -> dict[str, Any] | None:
    """The decision on one problem with its history, or None."""
    found = decisions_for(stops=[], osm_keys=[], identities=[problem_identity])
    return found[0] if found else None


def list_decisions(
    *,
    limit: int,
    before_id: int | None = None,
    decisions: Sequence[str] = (),
    statuses: Sequence[str] = (),
    author: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Recent decisions, newest first, with history; returns (page, id to continue before)."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit + 1}
    if before_id is not None:
        where.append("d.id < :before_id")
        params["before_id"] = before_id
    if decisions:
        where.append("d.decision = ANY(:decisions)")
        params["decisions"] = list(decisions)
    if statuses:
        where.append("d.status = ANY(:statuses)")
        params["statuses"] = list(statuses)
    if author:
        where.append("u.username = :author")
        params["author"] = author
    statement = text(
        "SELECT d.*, u.username AS author FROM decisions d LEFT JOIN users u ON u.id = d.author_id"
        f" WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT :limit"
    ).bindparams(
        *(bindparam(name, type_=ARRAY(TEXT)) for name in ("decisions", "statuses") if name in params)
    )
    rows = list(db.session.execute(statement, params))
    more = len(rows) > limit
    rows = rows[:limit]
    return _with_history(rows), (rows[-1].id if more and rows else None)


def _pair_key(problem: Problem) -> str | None:
    """The OSM side of the pair a problem is about: its own, or for a whole stop (several OSM
    objects) the matched object it was measured to (`details.osm_key`)."""
    if problem.osm_key:
        return problem.osm_key
    key = (problem.details or {}).get("osm_key")
    return key if isinstance(key, str) else None


def _forbid_pair(
    problem_identity: str,
    problem_type: str,
    stop_id: str | None,
    osm_key: str | None,
    note: str,
    author: User | None,
    source: str | None = None,
) -> int:
    """ "Wrong match": save the manual unlink of the problem's pair; returns its id."""
    if problem_type not in PAIR_PROBLEM_TYPES or not stop_id or not osm_key:
        raise DecisionError(
            "wrong_match fits only a problem about a matched pair (" + ", ".join(PAIR_PROBLEM_TYPES) + ")"
        )
    origin = {"decision": DECISION_WRONG_MATCH, "problem_identity": problem_identity}
    try:
        row, _ = manual_matches.save_manual_match(
            stop_id, osm_key, "unlink", note, author, origin=origin, source=source
        )
    except manual_matches.ManualMatchNotFoundError as exc:
        raise DecisionError(f"wrong_match needs both objects in the current data; missing: {exc}") from None
    return row.id


def _release_pair(decision_id: int, author: User | None) -> int | None:
    """The decision is no longer "wrong match": delete the unlink it saved, unless a person changed
    that link since (then it is theirs). Returns the deleted link's id, if any."""
    events = db.session.execute(
        select(DecisionEvent.payload)
        .where(DecisionEvent.decision_id == decision_id)
        .order_by(DecisionEvent.id)
    ).scalars()
    link_id = _linked_manual_match_id([{"payload": payload} for payload in events])
    if link_id is None:
        return None
    link = db.session.get(ManualMatch, link_id)
    if link is None or link.action != "unlink" or link.status == "deleted":
        return None
    history = (link.evidence or {}).get("history", [])
    last_person: dict[str, Any] = next(
        (e for e in reversed(history) if e.get("event") in manual_matches.PERSON_EVENTS), {}
    )
    if last_person.get("decision") != DECISION_WRONG_MATCH:
        return None
    manual_matches.delete_manual_match(link_id, author)
    return link_id


def record_decision(
    problem_identity: str, decision: str, note: str, author: User | None
) -> tuple[Decision, bool]:
    """Create or change the decision on a problem and append to its history.

    Returns (decision, created). The problem must exist in the current snapshot, or already have
    a decision (so people can still correct a decision on a problem a later run resolved).
    Re-sending the same decision and note changes nothing and writes no event. "Wrong match" also
    forbids the pair from the next run on (see the module docstring).
    """
    if decision not in DECISIONS:
        raise DecisionError(f"decision must be one of {', '.join(DECISIONS)}")
    if len(note) > MAX_NOTE_LENGTH:
        raise DecisionError(f"note must have at most {MAX_NOTE_LENGTH} characters")
    session = db.session
    author_id = author.id if author is not None else None
    existing = session.scalar(
        select(Decision).where(Decision.problem_identity == problem_identity).with_for_update()
    )
    if existing is None:
        problem = session.scalar(select(Problem).where(Problem.identity == problem_identity))
        if problem is None:
            raise ProblemNotFoundError(problem_identity)
        created_payload: dict[str, Any] = {}
        if decision == DECISION_WRONG_MATCH:
            created_payload["manual_match_id"] = _forbid_pair(
                problem_identity,
                problem.problem_type,
                problem.stop_id,
                _pair_key(problem),
                note,
                author,
                source=problem.source,
            )
        row = Decision(
            problem_identity=problem_identity,
            problem_type=problem.problem_type,
            source=problem.source,
            stop_id=problem.stop_id,
            osm_key=problem.osm_key,
            decision=decision,
            note=note,
            author_id=author_id,
            status="active",
            evidence={},
            review_diff=[],
        )
        try:
            # Two editors deciding the same new problem at once: the loser updates the winner's row.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return record_decision(problem_identity, decision, note, author)
        session.add(
            DecisionEvent(
                decision_id=row.id,
                action="created",
                decision=decision,
                note=note,
                author_id=author_id,
                payload=created_payload,
            )
        )
        attach_evidence(row)  # review workflow: what the decision is based on, to notice change later
        session.flush()
        logger.info("decision %s on %s created", decision, problem_identity)
        return row, True
    if existing.decision == decision and existing.note == note and existing.status == "active":
        return existing, False
    previous = {"decision": existing.decision, "note": existing.note, "status": existing.status}
    payload: dict[str, Any] = {"previous": previous}
    if decision == DECISION_WRONG_MATCH:
        osm_key = existing.osm_key or ((existing.evidence or {}).get("osm") or {}).get("osm_key")
        payload["manual_match_id"] = _forbid_pair(
            existing.problem_identity, existing.problem_type, existing.stop_id, osm_key, note, author
        )
    elif existing.decision == DECISION_WRONG_MATCH:
        released = _release_pair(existing.id, author)
        if released is not None:
            payload["released_manual_match_id"] = released
    existing.decision = decision
    existing.note = note
    existing.author_id = author_id
    existing.status = "active"
    existing.review_diff = []
    attach_evidence(existing)  # re-decided on what the person sees now
    session.add(
        DecisionEvent(
            decision_id=existing.id,
            action="updated",
            decision=decision,
            note=note,
            author_id=author_id,
            payload=payload,
        )
    )
    session.flush()
    logger.info("decision on %s changed from %s to %s", problem_identity, previous["decision"], decision)
    return existing, False
