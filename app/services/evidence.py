"""Decisions that notice change: capture the evidence of a decision, and reconcile every decision after
an import (the pure rules are in `pipeline/review/`).

* `attach_evidence(decision)`: called whenever a person records or changes a decision; stores what
  the decision is based on in the current snapshot and clears any pending review.
* `reconcile_after_import(run_id, snapshot, policy)`: called by the pipeline run right after the
  snapshot swap; writes only the decisions whose outcome says so, each change with a
  `decision_events` row carrying the run id. Unchanged decisions are not written at all.

Functions here flush and never commit; the caller (request or run) commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.services.registry import find_registry_stop
from database import db
from database.models import Decision, DecisionEvent, OsmStop, Problem, RegistryStopRow
from database.snapshot import mapping
from pipeline.records import OsmObject, RegistryStop, identity_registry_key, parse_problem_identity
from pipeline.review import (
    DecisionState,
    ExpiryPolicy,
    Outcome,
    Snapshot,
    build_evidence,
    evidence_osm_key,
    reconcile_decisions,
)

logger = logging.getLogger(__name__)


def policy_from_settings(settings: Any) -> ExpiryPolicy:
    """The expiry policy configured by DECISION_EXPIRE_FIELDS and DECISION_MOVE_THRESHOLD_M."""
    return ExpiryPolicy.parse(settings.DECISION_EXPIRE_FIELDS, settings.DECISION_MOVE_THRESHOLD_M)


def capture_evidence(
    problem_identity: str, problem_type: str, stop_id: str | None, osm_key: str | None
) -> dict:
    """The evidence a decision on this problem is made on, read from the current snapshot."""
    session = db.session
    problem = session.scalar(select(Problem).where(Problem.identity == problem_identity))
    osm_key = osm_key or evidence_osm_key(problem)
    # The problem's registry; a problem gone from the snapshot still names it in its identity (a bare
    # id would find another registry's stop that reuses it).
    source = problem.source if problem is not None else None
    if source is None and stop_id:
        part = parse_problem_identity(problem_identity)[1]
        source = identity_registry_key(part).source if part else None
    stop = find_registry_stop(stop_id, source) if stop_id else None
    obj = session.get(OsmStop, osm_key) if osm_key else None
    return build_evidence(problem_type, problem_identity, stop, obj, problem)


def attach_evidence(decision: Decision) -> None:
    """Store the current evidence on `decision` (a person just decided on what they see now)."""
    decision.evidence = capture_evidence(
        decision.problem_identity, decision.problem_type, decision.stop_id, decision.osm_key
    )
    decision.review_diff = []
    db.session.flush()


def decision_states() -> list[DecisionState]:
    """Every decision as the plain values reconcile needs."""
    rows = db.session.execute(
        select(
            Decision.id,
            Decision.problem_identity,
            Decision.problem_type,
            Decision.stop_id,
            Decision.osm_key,
            Decision.decision,
            Decision.status,
            Decision.evidence,
            Decision.review_diff,
            Decision.source,
        ).order_by(Decision.id)
    )
    return [
        DecisionState(
            id=r.id,
            problem_identity=r.problem_identity,
            problem_type=r.problem_type,
            stop_id=r.stop_id,
            osm_key=r.osm_key,
            decision=r.decision,
            status=r.status,
            evidence=r.evidence or {},
            review_diff=r.review_diff or [],
            source=r.source,
        )
        for r in rows
    ]


@dataclass
class ReconcileSummary:
    """What one reconciliation did, for the run's counts and logs."""

    decisions: int = 0
    written: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "written": self.written, **self.kinds}


def _unchanged_since(row: Decision, state: DecisionState | None) -> bool:
    """Did nobody touch the decision between reading it and writing the outcome?"""
    if state is None:
        return True
    return (
        row.problem_identity == state.problem_identity
        and row.status == state.status
        and row.decision == state.decision
        and (row.evidence or {}) == state.evidence
    )


def apply_outcomes(
    outcomes: Iterable[Outcome], run_id: int | None, states: Iterable[DecisionState] = ()
) -> int:
    """Write the outcomes that change something; returns how many decisions were written.

    A decision a person changed while the run was reconciling (different from `states`) is left
    alone: the person decided on the new data already, and the next run compares against that.
    """
    written = 0
    read = {state.id: state for state in states}
    pending = [o for o in outcomes if o.writes]
    if not pending:
        return 0
    rows = {
        d.id: d
        for d in db.session.scalars(
            select(Decision).where(Decision.id.in_([o.decision_id for o in pending])).with_for_update()
        )
    }
    stale = {i for i, row in rows.items() if not _unchanged_since(row, read.get(i))}
    if stale:
        logger.info(
            "reconcile run %s: %d decisions changed meanwhile, left for the next run", run_id, len(stale)
        )
    pending = [o for o in pending if o.decision_id in rows and o.decision_id not in stale]
    # Identities move in two steps so a chain of migrations (a → b while b → c) never trips the
    # unique constraint halfway.
    moving = [o for o in pending if "problem_identity" in o.updates]
    for outcome in moving:
        rows[outcome.decision_id].problem_identity = f"~migrating:{outcome.decision_id}"
    if moving:
        db.session.flush()
    for outcome in pending:
        row = rows.get(outcome.decision_id)
        if row is None:  # deleted by an admin meanwhile
            continue
        for name, value in outcome.updates.items():
            setattr(row, name, value)
        for action, payload in outcome.events:
            db.session.add(
                DecisionEvent(
                    decision_id=row.id,
                    action=action,
                    decision=row.decision,
                    note=None,
                    author_id=None,
                    run_id=run_id,
                    payload=payload,
                )
            )
        written += 1
    db.session.flush()
    return written


def reconcile_after_import(run_id: int | None, snapshot: Snapshot, policy: ExpiryPolicy) -> ReconcileSummary:
    """Compare every decision with the snapshot just imported and write what changed."""
    states = decision_states()
    outcomes = reconcile_decisions(states, snapshot, policy, run_id)
    summary = ReconcileSummary(decisions=len(states), kinds=dict(Counter(o.kind for o in outcomes)))
    summary.written = apply_outcomes(outcomes, run_id, states)
    if summary.written:
        logger.info("reconcile run %s: %s", run_id, summary.as_dict())
    return summary


# ---------------------------------------------------------------------------------------------
# The current snapshot as pipeline records (when the run's in-memory records are not at hand)
# ---------------------------------------------------------------------------------------------


def snapshot_from_db() -> Snapshot:
    """The snapshot in the database as a reconcile `Snapshot` (CLI, tests, a re-check without a run),
    read back through the snapshot import's row <-> record declarations."""
    session = db.session
    registry = mapping.read_records(session, mapping.REGISTRY_STOPS)
    osm = mapping.read_records(session, mapping.OSM_STOPS)
    problems = mapping.read_records(session, mapping.PROBLEMS)
    return Snapshot(registry, osm, problems)


def osm_record(o: OsmStop) -> OsmObject:
    """The pipeline record of a loaded `osm_stops` row."""
    return mapping.OSM_STOPS.record_of(o)


def registry_record(s: RegistryStopRow) -> RegistryStop:
    """The pipeline record of a loaded `registry_stops` row."""
    return mapping.REGISTRY_STOPS.record_of(s)
