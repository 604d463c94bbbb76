"""Matching registry stops to OSM objects: pure functions over plain records.

Stages, in order (parameters in `params`):
0. manual links / unlinks (`manual`)      3. distance only, unambiguous nearest (`distance`)
1. exact identifiers (`exact`)            4. route evidence, an extension point (`route`)
2. name + distance (`name`)
`explain.explain_candidates` tells, for one stop, why each nearby object was or was not matched.
"""

from pipeline.matching.engine import MatchResult, match_stops

__all__ = ["MatchResult", "match_stops"]
