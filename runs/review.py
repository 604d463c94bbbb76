"""The review hooks of a pipeline run, called by `runs.stages` at three points:

1. `before_match`: load the manual links, follow replaced objects, orphan the rest; the valid links
   go to the matcher as stage 0;
2. `with_orphan_problems`: add a `manual_match_orphaned` problem per orphaned link to the problem set;
3. `after_import`: right after the snapshot swap, store the manual links' new state and reconcile
   every decision with the new snapshot (one transaction), then send the webhooks.

Step 3 runs after the import committed: a failure there is logged and reported in the run's counts
but never undoes a good import; reconciliation is idempotent, so the next run catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.services import evidence, manual_matches
from database.session import transaction
from pipeline.records import ManualLink, OsmObject, ProblemRecord, RegistryStop
from pipeline.redaction import report_failure
from pipeline.review import ManualLinkOutcome, ManualLinkState, Snapshot, resolve_manual_links
from runs import webhooks

logger = logging.getLogger(__name__)


@dataclass
class ReviewStage:
    """What the review workflow decided before matching, carried to after the import."""

    run_id: int
    link_outcomes: list[ManualLinkOutcome] = field(default_factory=list)
    link_states: list[ManualLinkState] = field(default_factory=list)

    @property
    def links(self) -> list[ManualLink]:
        return [link for link in (o.link for o in self.link_outcomes) if link is not None]

    @property
    def orphan_problems(self) -> list[ProblemRecord]:
        return [o.problem for o in self.link_outcomes if o.problem is not None]


def before_match(run_id: int, registry: Sequence[RegistryStop], osm: Sequence[OsmObject]) -> ReviewStage:
    """Resolve the stored manual links against the new records (read-only: nothing is written yet)."""
    states = manual_matches.link_states()
    if not states:
        return ReviewStage(run_id)
    outcomes = resolve_manual_links(states, Snapshot(registry, osm), run_id)
    return ReviewStage(run_id, outcomes, states)


def with_orphan_problems(stage: ReviewStage, problems: list[ProblemRecord]) -> list[ProblemRecord]:
    """The detected problems plus one per orphaned manual link, sorted by identity like the detector's."""
    extra = stage.orphan_problems
    if not extra:
        return problems
    known = {p.identity for p in problems}
    merged = problems + [p for p in extra if p.identity not in known]
    return sorted(merged, key=lambda p: p.identity)


def after_import(
    stage: ReviewStage,
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    problems: Sequence[ProblemRecord],
    settings: Any,
) -> dict[str, Any]:
    """Persist manual-link outcomes, reconcile decisions, notify webhooks. Never raises."""
    counts: dict[str, Any] = {}
    try:
        with transaction():
            counts["manual_links_written"] = manual_matches.persist_outcomes(
                stage.link_outcomes, stage.link_states
            )
            counts["manual_links_orphaned"] = len(stage.orphan_problems)
            summary = evidence.reconcile_after_import(
                stage.run_id, Snapshot(registry, osm, problems), evidence.policy_from_settings(settings)
            )
            counts["decisions"] = summary.as_dict()
    except Exception as exc:
        # Stored in the run's counts, which everyone may read: a short message and an error id.
        counts["error"] = report_failure(exc, logger, f"review reconciliation after run {stage.run_id}")
    deliveries = webhooks.notify_after_run(stage.run_id, settings)
    if deliveries:
        # By position and host only: a webhook URL is a secret (see webhooks.Delivery).
        counts["webhooks"] = [
            {"target": d.target, "host": d.host, "count": d.count, "status": d.status, "error": d.error}
            for d in deliveries
        ]
    return counts
