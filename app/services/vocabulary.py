"""The closed sets of codes the API accepts as filter values and writes as decisions.

Match methods come from the matcher itself (`pipeline.matching.params.METHODS`), so a new method
is accepted as soon as the pipeline can produce it. Problem types mirror `pipeline/problems.py`.
"""

from __future__ import annotations

from pipeline.matching.params import METHODS as PIPELINE_METHODS
from pipeline.reconcile import DECISION_FIXED_IN_OSM, DECISION_WRONG_MATCH

MATCH_METHODS: tuple[str, ...] = tuple(PIPELINE_METHODS)
# `manual_match_orphaned`: a person's manual link whose objects vanished (pipeline/reconcile.py);
# `route_contradiction`: a match whose GTFS routes and OSM route relations share no line (P2);
# `registry_position_mismatch`: a registry stop whose two published positions disagree (NaPTAN).
PROBLEM_TYPES: tuple[str, ...] = (
    "distance",
    "unmatched",
    "attributes",
    "duplicates",
    "manual_match_orphaned",
    "route_contradiction",
    "registry_position_mismatch",
)
PRIORITIES: tuple[int, ...] = (1, 2, 3)
DECISIONS: tuple[str, ...] = (
    DECISION_FIXED_IN_OSM,
    "atlas_wrong",
    "not_a_problem",
    "needs_survey",
    "osm_wrong_registry_right",
    # The automatic match itself is wrong: recording it forbids the pair (a manual unlink) from the
    # next run on (`app/services/decisions.py`).
    DECISION_WRONG_MATCH,
)
# Problems about a matched pair (both sides named): the only ones a "wrong match" decision fits.
PAIR_PROBLEM_TYPES: tuple[str, ...] = ("distance", "attributes", "route_contradiction")
# A decision's status: standing, sent back to review by a re-import, or a fix a later run confirmed.
DECISION_STATUSES: tuple[str, ...] = ("active", "needs_review", "verified_fixed")
MATCH_STATUSES: tuple[str, ...] = ("matched", "unmatched")
SIDES: tuple[str, ...] = ("atlas", "osm")
# ATLAS `meansOfTransport` values (a stop may list several, separated by "|").
TRANSPORTS: tuple[str, ...] = (
    "BUS",
    "TRAM",
    "TRAIN",
    "METRO",
    "RACK_RAILWAY",
    "CABLE_RAILWAY",
    "CABLE_CAR",
    "CHAIRLIFT",
    "ELEVATOR",
    "BOAT",
    "UNKNOWN",
)
