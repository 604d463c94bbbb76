"""Decisions and manual links that notice change: evidence, field-level diffs, successors. Pure.

A person's decision on a problem (or a manual link between two stops) was made on *evidence*: the
registry row, the OSM object (version, position, the tags that matter) and the distance between
them. Every import replaces the snapshot; this module compares each decision's stored evidence with
the new snapshot and says what should happen to it, without touching a database:

* evidence unchanged                     → untouched (no write, no event);
* evidence changed in a field the policy
  says expires a decision                → ``needs_review`` with a field-level diff;
* changed only in other fields           → untouched (the diff is recomputed from the original
                                           evidence every run, so nothing is lost);
* problem gone after ``fixed_in_osm``    → ``verified_fixed`` (with the verifying run);
* problem gone otherwise                 → kept as history, untouched;
* a ``wrong_match`` pair matched again    → ``needs_review`` (its manual unlink no longer holds);
* an object of the decision vanished     → follow its successor found by stable references
  (identity migration); 0 or ≥2 successors → ``needs_review`` with the reason, never a guess.

The app layer (`app/services/evidence.py`, `app/services/manual_matches.py`) loads rows, calls these
functions and writes the outcomes. Evidence is plain JSON so it survives schema changes.
"""

from pipeline.review.decisions import (
    DECISION_FIXED_IN_OSM,
    DECISION_WRONG_MATCH,
    STATUS_ACTIVE,
    STATUS_NEEDS_REVIEW,
    STATUS_VERIFIED_FIXED,
    DecisionState,
    Outcome,
    current_evidence,
    evidence_osm_key,
    reconcile_decision,
    reconcile_decisions,
)
from pipeline.review.diff import diff_atlas, diff_evidence, diff_osm
from pipeline.review.evidence import (
    EVIDENCE_VERSION,
    OSM_EVIDENCE_TAGS,
    OsmLike,
    RegistryLike,
    atlas_evidence,
    build_evidence,
    osm_evidence,
)
from pipeline.review.manual_links import ManualLinkOutcome, ManualLinkState, resolve_manual_links
from pipeline.review.policy import (
    ALWAYS_EXPIRE,
    DEFAULT_EXPIRE_FIELDS,
    DEFAULT_MOVE_THRESHOLD_M,
    POLICY_CATEGORIES,
    ExpiryPolicy,
)
from pipeline.review.successors import SUCCESSOR_RADIUS_M, Snapshot, Successor

__all__ = [
    "ALWAYS_EXPIRE",
    "DECISION_FIXED_IN_OSM",
    "DECISION_WRONG_MATCH",
    "DEFAULT_EXPIRE_FIELDS",
    "DEFAULT_MOVE_THRESHOLD_M",
    "EVIDENCE_VERSION",
    "OSM_EVIDENCE_TAGS",
    "POLICY_CATEGORIES",
    "STATUS_ACTIVE",
    "STATUS_NEEDS_REVIEW",
    "STATUS_VERIFIED_FIXED",
    "SUCCESSOR_RADIUS_M",
    "DecisionState",
    "ExpiryPolicy",
    "ManualLinkOutcome",
    "ManualLinkState",
    "OsmLike",
    "Outcome",
    "RegistryLike",
    "Snapshot",
    "Successor",
    "atlas_evidence",
    "build_evidence",
    "current_evidence",
    "diff_atlas",
    "diff_evidence",
    "diff_osm",
    "evidence_osm_key",
    "osm_evidence",
    "reconcile_decision",
    "reconcile_decisions",
    "resolve_manual_links",
]
