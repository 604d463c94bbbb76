"""What a re-import means for each decision: untouched, flagged for review with a diff, verified fixed,
migrated to a successor's problem, reopened or restored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.records import ProblemRecord, problem_identity
from pipeline.review.diff import diff_evidence
from pipeline.review.evidence import build_evidence
from pipeline.review.policy import ExpiryPolicy
from pipeline.review.successors import Snapshot

DECISION_FIXED_IN_OSM = "fixed_in_osm"
# "These two are different stops": recorded with a manual unlink of the pair (app/services/decisions.py).
DECISION_WRONG_MATCH = "wrong_match"
STATUS_ACTIVE = "active"
STATUS_NEEDS_REVIEW = "needs_review"
STATUS_VERIFIED_FIXED = "verified_fixed"


@dataclass(frozen=True)
class DecisionState:
    """A decision row as plain values (what reconcile needs to know)."""

    id: int
    problem_identity: str
    problem_type: str
    stop_id: str | None
    osm_key: str | None
    decision: str
    status: str
    evidence: dict[str, Any]
    review_diff: list[Any]
    # The registry of `stop_id` (None: a decision recorded before registries were plug-ins, ATLAS).
    source: str | None = None


@dataclass
class Outcome:
    """What to do with one decision: column updates (empty = no write) and events to append."""

    decision_id: int
    kind: str  # untouched | unchanged | changed_within_policy | flagged | verified_fixed | ...
    updates: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.updates or self.events)


def current_evidence(
    decision: DecisionState,
    snapshot: Snapshot,
    stop_id: str | None,
    osm_key: str | None,
    identity: str,
) -> dict[str, Any]:
    """The evidence the same decision would be made on in the new snapshot."""
    problem = snapshot.problems.get(identity)
    osm_key = osm_key or evidence_osm_key(problem)
    stop = snapshot.stop(decision.source, stop_id)
    obj = snapshot.osm.get(osm_key) if osm_key else None
    return build_evidence(decision.problem_type, identity, stop, obj, problem)


def evidence_osm_key(problem: ProblemRecord | Any | None) -> str | None:
    """The OSM object a problem without its own OSM side is about (a whole stop's nearest object)."""
    details = getattr(problem, "details", None) or {}
    key = details.get("osm_key") if isinstance(details, Mapping) else None
    return key if isinstance(key, str) else None


def reconcile_decision(
    decision: DecisionState,
    snapshot: Snapshot,
    policy: ExpiryPolicy,
    run_id: int | None,
    taken_identities: set[str],
) -> Outcome:
    """Decide what a re-import means for one decision. `taken_identities` holds every decision's identity
    (updated in place when a decision migrates) so two decisions never claim the same problem."""
    if decision.status == STATUS_VERIFIED_FIXED:
        if decision.problem_identity in snapshot.problems:
            diff = [
                {
                    "field": "problem",
                    "category": "reappeared",
                    "side": "problem",
                    "old": "verified fixed",
                    "new": "present",
                    "message": "the problem reappeared after it was verified fixed",
                    "expires": True,
                }
            ]
            return Outcome(
                decision.id,
                "reopened",
                {"status": STATUS_NEEDS_REVIEW, "review_diff": diff},
                [("reopened", {"diff": diff})],
            )
        return Outcome(decision.id, "untouched")

    old = decision.evidence or {}
    if not old:
        # Recorded before evidence existed: take today's as the baseline rather than flag everything.
        fresh = current_evidence(
            decision, snapshot, decision.stop_id, decision.osm_key, decision.problem_identity
        )
        return Outcome(decision.id, "baseline", {"evidence": fresh}, [])

    outcome = Outcome(decision.id, "unchanged")
    identity, stop_id, osm_key = decision.problem_identity, decision.stop_id, decision.osm_key
    identity_notes: list[dict[str, Any]] = []

    # 1. Identity migration: follow vanished objects to their successors.
    osm_gone = osm_key is not None and osm_key not in snapshot.osm
    atlas_gone = stop_id is not None and snapshot.stop(decision.source, stop_id) is None
    problem_present = identity in snapshot.problems
    if (osm_gone or atlas_gone) and not problem_present:
        new_sloid, new_key = stop_id, osm_key
        rules: dict[str, str | None] = {}
        for side in ("osm", "atlas"):
            if side == "osm" and osm_gone:
                found = snapshot.osm_successor(old.get("osm") or {"osm_key": osm_key})
            elif side == "atlas" and atlas_gone:
                found = snapshot.registry_successor(
                    old.get("atlas") or {"stop_id": stop_id}, partner_osm_key=new_key, source=decision.source
                )
            else:
                continue
            if found.status == "found":
                rules[side] = found.rule
                if side == "osm":
                    new_key = found.key
                else:
                    new_sloid = found.key
                continue
            gone_key = osm_key if side == "osm" else stop_id
            label = "OSM object" if side == "osm" else "ATLAS stop"
            identity_notes.append(
                {
                    "field": f"{side}.identity",
                    "category": "presence",
                    "side": side,
                    "old": gone_key,
                    "new": None,
                    "candidates": list(found.candidates),
                    "message": f"{label} {gone_key} no longer exists: {found.reason}",
                    "expires": True,
                }
            )
        if (new_sloid, new_key) != (stop_id, osm_key) and not identity_notes:
            new_identity = problem_identity(decision.problem_type, new_sloid, new_key, decision.source)
            if new_identity in taken_identities:
                identity_notes.append(
                    {
                        "field": "identity",
                        "category": "presence",
                        "side": "problem",
                        "old": identity,
                        "new": new_identity,
                        "candidates": [],
                        "message": f"the successor's problem {new_identity} already has its own decision",
                        "expires": True,
                    }
                )
            else:
                taken_identities.discard(identity)
                taken_identities.add(new_identity)
                outcome.updates.update(
                    {"problem_identity": new_identity, "stop_id": new_sloid, "osm_key": new_key}
                )
                outcome.events.append(
                    (
                        "migrated",
                        {
                            "from": {"problem_identity": identity, "stop_id": stop_id, "osm_key": osm_key},
                            "to": {
                                "problem_identity": new_identity,
                                "stop_id": new_sloid,
                                "osm_key": new_key,
                            },
                            "rules": rules,
                            "run_id": run_id,
                        },
                    )
                )
                outcome.kind = "migrated"
                identity, stop_id, osm_key = new_identity, new_sloid, new_key
                problem_present = identity in snapshot.problems

    # 2. Problem gone.
    if not problem_present:
        if decision.decision == DECISION_FIXED_IN_OSM:
            outcome.updates.update({"status": STATUS_VERIFIED_FIXED, "verified_run_id": run_id})
            outcome.events.append(("verified_fixed", {"run_id": run_id, "identity": identity}))
            outcome.kind = "verified_fixed"
            return outcome
        if identity_notes:
            return _flag(outcome, decision, identity_notes, "orphaned")
        if outcome.kind != "migrated":
            outcome.kind = "problem_gone"
        return outcome

    # 3. Problem present: compare evidence.
    new = current_evidence(decision, snapshot, stop_id, osm_key, identity)
    diff = identity_notes + diff_evidence(old, new, policy)
    unlinked = osm_key or (old.get("osm") or {}).get("osm_key")
    paired = osm_key or evidence_osm_key(snapshot.problems.get(identity))
    if decision.decision == DECISION_WRONG_MATCH and stop_id and unlinked and paired == unlinked:
        # The problem is about this very pair again: its unlink was deleted or orphaned.
        diff.append(
            {
                "field": "match",
                "category": "reappeared",
                "side": "problem",
                "old": "unlinked",
                "new": "matched",
                "message": f"{stop_id} and {unlinked} are matched again"
                " although they were marked a wrong match",
                "expires": True,
            }
        )
    if any(entry["expires"] for entry in diff):
        return _flag(outcome, decision, diff, "flagged")
    if decision.status == STATUS_NEEDS_REVIEW:
        # Nothing that expires differs any more: the evidence came back to what the person saw.
        outcome.updates.update({"status": STATUS_ACTIVE, "review_diff": []})
        outcome.events.append(("evidence_restored", {"diff": diff}))
        outcome.kind = "restored"
        return outcome
    if outcome.kind != "migrated":
        outcome.kind = "changed_within_policy" if diff else "unchanged"
    return outcome


def _flag(outcome: Outcome, decision: DecisionState, diff: list[dict[str, Any]], kind: str) -> Outcome:
    """needs_review with `diff`, unless it is already flagged with exactly this diff (no rewrite each run)."""
    if decision.status == STATUS_NEEDS_REVIEW and decision.review_diff == diff and not outcome.updates:
        outcome.kind = "still_flagged"
        return outcome
    outcome.updates.update({"status": STATUS_NEEDS_REVIEW, "review_diff": diff})
    outcome.events.append(("flagged", {"reason": kind, "diff": diff}))
    outcome.kind = "flagged" if outcome.kind != "migrated" else "migrated_flagged"
    return outcome


def reconcile_decisions(
    decisions: Sequence[DecisionState], snapshot: Snapshot, policy: ExpiryPolicy, run_id: int | None
) -> list[Outcome]:
    """Outcomes for every decision, in id order (deterministic)."""
    taken = {d.problem_identity for d in decisions}
    return [
        reconcile_decision(d, snapshot, policy, run_id, taken) for d in sorted(decisions, key=lambda d: d.id)
    ]
