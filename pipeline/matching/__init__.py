"""Matching registry stops to OSM objects: pure functions over plain records.

Stages, in order (parameters in `params`):
0. manual links / unlinks (`manual`)      2. name + distance (`name`)
1. exact identifiers (`exact`)            3. distance only, unambiguous nearest (`distance`)
1c. OSM stop areas (`stop_area`)          4. route evidence (`route`)
`explain.explain_candidates` tells, for one stop, the rule that kept each nearby object apart.
"""

from pipeline.matching.engine import MatchResult, match_stops

__all__ = ["MatchResult", "match_stops"]
