"""Matching parameters, in one place. Every stage reads its thresholds from here.

| constant | value | stage | meaning |
|---|---|---|---|
| NAME_MAX_DISTANCE_M | 100 | 2 | a name match must lie within this distance (metres) |
| NAME_MIN_SCORE | 85 | 2 | minimum normalised name similarity (rapidfuzz token_sort, 0-100) |
| DISTANCE_MAX_M | 50 | 3 | distance-only candidates lie within this radius (as the reference) |
| DISTANCE_RATIO_MIN_D2_M | 10 | 3b | the second-nearest candidate must be at least this far |
| DISTANCE_RATIO_MIN | 4.0 | 3b | and at least this many times farther than the nearest (d2/d1) |
| STOP_AREA_MAX_DISTANCE_M | 300 | 1c | a stop-area member joins its registry stop only within this distance |
| EXPLAIN_RADIUS_M | 150 | - | radius of the "why not matched" candidate list |
| EXPLAIN_MAX_CANDIDATES | 25 | - | at most this many candidates are explained, nearest first |

Exact identifiers (stage 1) have no distance cap: a wrong position behind a right identifier is
reported as a `distance` problem, not hidden as "unmatched".
"""

from __future__ import annotations

NAME_MAX_DISTANCE_M = 100.0
NAME_MIN_SCORE = 85.0
DISTANCE_MAX_M = 50.0
DISTANCE_RATIO_MIN_D2_M = 10.0
DISTANCE_RATIO_MIN = 4.0
# A stop area is one stop as a mapper grouped it; its members spread over a station's platforms and the
# bus bays in front of it. The reference's identifier pairs (`exact`: every object with the stop's
# uic_ref, 21,124 pairs, distance_summary_by_method.csv) have p95 83 m and p99 207 m; a member farther
# than this from its stop is more likely a wrong member (a mapping error) than a far platform.
STOP_AREA_MAX_DISTANCE_M = 300.0
EXPLAIN_RADIUS_M = 150.0
EXPLAIN_MAX_CANDIDATES = 25

# Method names stored in `matches.method`.
METHOD_MANUAL = "manual"
METHOD_EXACT_SLOID = "exact_sloid"
METHOD_EXACT_UIC = "exact_uic"
METHOD_EXACT_UIC_LOCAL_REF = "exact_uic_local_ref"
METHOD_STOP_AREA = "stop_area"
METHOD_NAME = "name"
METHOD_DISTANCE_UNIQUE = "distance_unique"
METHOD_DISTANCE_RATIO = "distance_ratio"
METHOD_ROUTE = "route"

METHODS = (
    METHOD_MANUAL,
    METHOD_EXACT_SLOID,
    METHOD_EXACT_UIC,
    METHOD_EXACT_UIC_LOCAL_REF,
    METHOD_STOP_AREA,
    METHOD_NAME,
    METHOD_DISTANCE_UNIQUE,
    METHOD_DISTANCE_RATIO,
    METHOD_ROUTE,
)
