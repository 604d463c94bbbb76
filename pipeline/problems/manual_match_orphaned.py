"""`manual_match_orphaned`: a person's manual link or unlink whose stop or object no longer exists
and has no unique successor. Created by the review stage (`pipeline.review.manual_links`) before
matching, not by a detector over the snapshot.

P2 for an orphaned link (a pair someone wanted is not matched any more), P3 for an orphaned unlink.
"""

from __future__ import annotations

from pipeline.problems.base import N_, ProblemType

ORPHAN_PRIORITY = {"link": 2, "unlink": 3}


def priority(action: str) -> int:
    """The priority of the problem for an orphaned manual `action` (`link` or `unlink`)."""
    return ORPHAN_PRIORITY.get(action, 2)


TYPE = ProblemType(
    code="manual_match_orphaned",
    label=N_("Manual link orphaned"),
    description=N_("a manual link's stop or object no longer exists"),
    priority_rule="P2 an orphaned link; P3 an orphaned unlink",
)
