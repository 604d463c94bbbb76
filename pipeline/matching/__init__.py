"""Matching registry stops to OSM objects: pure functions over plain records.

Stages, in order (parameters in `params`):
0. manual links / unlinks (`manual`)      2. name + distance (`name`)
1. exact identifiers (`exact`)            3. distance only, unambiguous nearest (`distance`)
1c. OSM stop areas (`stop_area`)          4. route evidence (`route`)
`explain.explain_candidates` tells, for one stop, the rule that kept each nearby object apart.
"""

from pipeline.matching import normalize, route
from pipeline.matching.engine import MatchResult, match_stops


def release_caches() -> None:
    """Empty the name and route memos the matcher and the problem rules fill (bounded, but a few
    hundred MiB at Germany size): call it once matching and problem detection are done, so the
    import does not carry them. Results never depend on them; a later use refills them."""
    for cached in (
        normalize._readings,
        normalize.scored_variants,
        normalize.full_forms,
        normalize.name_score,
        route.operator_keys,
        route.line_keys,
        route.direction_keys,
    ):
        cached.cache_clear()


__all__ = ["MatchResult", "match_stops", "release_caches"]
