"""Matching parameters, in one place. Every stage reads its thresholds from here.

| constant | value | stage | meaning |
|---|---|---|---|
| NAME_RADIUS_M[kind] | 80-200 | 2 | a name match must lie within the radius of its kind (below) |
| STOP_LEVEL_RADIUS_M | 130 | 2 | the least radius for a whole stop (service point): its objects spread |
| FULL_NAME_RADIUS_FACTOR | 2 | 2 | the radius is this many times larger for the full official name |
| NAME_MAX_DISTANCE_M | 400 | 2 | the largest name-stage radius of any kind (the candidate search) |
| DISTANCE_WEIGHT | 0.5 | 2 | joint score = name score x (1 - DISTANCE_WEIGHT x distance / radius) |
| JOINT_TIE_MARGIN | 1.0 | 2 | two stops whose joint scores for one object differ by less are a tie: refused |
| NAME_MIN_SCORE | 85 | 2 | minimum normalised name similarity (rapidfuzz token_sort, 0-100) |
| DISTANCE_MAX_M | 50 | 3 | distance-only candidates lie within this radius (as the reference) |
| DISTANCE_RATIO_MIN_D2_M | 10 | 3b | the second-nearest candidate must be at least this far |
| DISTANCE_RATIO_MIN | 4.0 | 3b | and at least this many times farther than the nearest (d2/d1) |
| DISTANCE_TIE_M | 1.0 | 3 | two stops claiming one object at distances this close are a tie: refused |
| STOP_AREA_MAX_DISTANCE_M | 300 | 1c | a stop-area member joins its registry stop only within this distance |
| EXPLAIN_RADIUS_M | 150 | - | radius of the "why not matched" candidate list |
| EXPLAIN_MAX_CANDIDATES | 25 | - | at most this many candidates are explained, nearest first |

Exact identifiers (stage 1) have no distance cap: a wrong position behind a right identifier is
reported as a `distance` problem, not hidden as "unmatched".
"""

from __future__ import annotations

# Name-stage radius by kind of OSM object (`kinds.object_kind`). The reference matcher's whole-Switzerland
# figures (../shared/data/stop_sync_reference_stats/) give each radius: 97.9 % of its 48,213 matched
# pairs lie within 100 m and their p90 is about 39 m (distance_coverage_buckets.csv: 82.5 % <= 20 m,
# 94.2 % <= 50 m), so 2.5 x a kind's p90 covers about 98 % of that kind. Rounded up to 10 m.
NAME_RADIUS_M: dict[str, float] = {
    # bus platform / stop position: PAG (18,189 pairs, the largest bus operator) p90 30.4 m -> 76 m
    "bus": 80.0,
    # tram stop: VBZ (Zurich trams, 1,860 pairs) p90 45.0 m -> 113 m (BVB 29.7 m, BLT 19.0 m are below)
    "tram": 120.0,
    # railway station / halt / platform: SBB (1,839 pairs) p90 79.6 m -> 199 m (BLS-bls 63.9 m, ZB 58.5 m)
    "rail": 200.0,
    # ferry terminal: LNM p90 51.0 m -> 128 m (the largest of CGN 12.7, SGV 21.3, ZSG 33.1, URh 38.4 m)
    "ferry": 130.0,
    # aerialway station: no per-mode figure in the reference; a station is a building, as a whole stop
    "aerialway": 130.0,
}
# A service point stands for the whole stop; its platforms and stop positions spread around it. The
# reference's `exact` (uic_ref) pairs link every object of a stop to the one registry point: p90 51.2 m
# -> 128 m (distance_summary_by_method.csv), so a whole stop takes at least this radius.
STOP_LEVEL_RADIUS_M = 130.0
# The registry's full official name, municipality included, is as specific as an identifier within the
# country (ATLAS names are unique); an OSM object carrying it is accepted at twice its kind's radius.
FULL_NAME_RADIUS_FACTOR = 2.0
NAME_MAX_DISTANCE_M = max(NAME_RADIUS_M.values()) * FULL_NAME_RADIUS_FACTOR
# Joint score (0-100) of a name-stage pair: the name similarity discounted by the distance relative to
# the pair's radius, by at most DISTANCE_WEIGHT (at the radius). 100 at 60 m loses to 92 at 20 m (bus).
DISTANCE_WEIGHT = 0.5
# Two registry stops whose joint scores for one OSM object differ by less than this are a tie: the
# object is left to the later stages rather than given to either (no coin toss).
JOINT_TIE_MARGIN = 1.0
NAME_MIN_SCORE = 85.0
DISTANCE_MAX_M = 50.0
DISTANCE_RATIO_MIN_D2_M = 10.0
DISTANCE_RATIO_MIN = 4.0
# Two registry stops proposing one object at distances this close are a tie (GPS noise is larger).
DISTANCE_TIE_M = 1.0
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
