"""The registry of problem types: the one list the API vocabulary (`app/services/vocabulary.py`),
the page labels (`app/pages/catalog.py`) and the detection read. A new type is a module with a
`TYPE` and one line here."""

from __future__ import annotations

from pipeline.problems import (
    attributes,
    distance,
    duplicates,
    manual_match_orphaned,
    registry_position_mismatch,
    route_contradiction,
    unmatched,
)
from pipeline.problems.base import ProblemType

# In the order the API and the pages list them.
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    distance.TYPE,
    unmatched.TYPE,
    attributes.TYPE,
    duplicates.TYPE,
    manual_match_orphaned.TYPE,
    route_contradiction.TYPE,
    registry_position_mismatch.TYPE,
)
_BY_CODE = {problem_type.code: problem_type for problem_type in PROBLEM_TYPES}


def codes() -> tuple[str, ...]:
    """Every problem type's code, in the registry's order."""
    return tuple(problem_type.code for problem_type in PROBLEM_TYPES)


def pair_codes() -> tuple[str, ...]:
    """The codes of the types about a matched pair (both sides named)."""
    return tuple(problem_type.code for problem_type in PROBLEM_TYPES if problem_type.pair)


def by_code(code: str) -> ProblemType | None:
    """The type registered under `code`, or None."""
    return _BY_CODE.get(code)
