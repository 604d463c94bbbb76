"""Problem detection over one snapshot: every registered type's detector, once each. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.matching.route import RouteEvidence
from pipeline.problems.base import ProblemContext
from pipeline.problems.registry import PROBLEM_TYPES
from pipeline.records import MatchRecord, OsmObject, ProblemRecord, RegistryKey, RegistryStop


def detect_problems(
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    matches: Sequence[MatchRecord],
    unmatched_registry: Iterable[RegistryKey | str],
    unmatched_osm: Iterable[str],
    route_evidence: RouteEvidence | None = None,
) -> list[ProblemRecord]:
    """Every problem of one snapshot, sorted by identity."""
    context = ProblemContext(registry, osm, matches, unmatched_registry, unmatched_osm, route_evidence)
    problems: dict[str, ProblemRecord] = {}
    for problem_type in PROBLEM_TYPES:
        if problem_type.detect is None:
            continue
        for problem in problem_type.detect(context):
            problems.setdefault(problem.identity, problem)
    return sorted(problems.values(), key=lambda p: p.identity)
