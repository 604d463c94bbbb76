"""The closed sets of codes the API accepts as filter values and writes as decisions.

Match methods come from the matcher itself (`pipeline.matching.params.METHODS`), so a new method
is accepted as soon as the pipeline can produce it. Problem types come from the problem type
registry (`pipeline.problems.registry`): one list for the detection, the API and the pages.
"""

from __future__ import annotations

from pipeline.matching.params import METHODS as PIPELINE_METHODS
from pipeline.problems import registry as problem_registry
from pipeline.review import DECISION_FIXED_IN_OSM, DECISION_WRONG_MATCH

MATCH_METHODS: tuple[str, ...] = tuple(PIPELINE_METHODS)
# Every registered problem type (`pipeline/problems/<code>.py`), in the registry's order.
PROBLEM_TYPES: tuple[str, ...] = problem_registry.codes()
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
PAIR_PROBLEM_TYPES: tuple[str, ...] = problem_registry.pair_codes()
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
