"""The closed sets of codes the API accepts as filter values and writes as decisions.

Match methods come from the matcher itself (`pipeline.matching.params.METHODS`), so a new method
is accepted as soon as the pipeline can produce it. Problem types mirror `pipeline/problems.py`.
"""

from __future__ import annotations

from pipeline.matching.params import METHODS as PIPELINE_METHODS

MATCH_METHODS: tuple[str, ...] = tuple(PIPELINE_METHODS)
# `manual_match_orphaned`: a person's manual link whose objects vanished (pipeline/reconcile.py);
# `route_contradiction`: a match whose GTFS routes and OSM route relations share no line (P2).
PROBLEM_TYPES: tuple[str, ...] = (
    "distance",
    "unmatched",
    "attributes",
    "duplicates",
    "manual_match_orphaned",
    "route_contradiction",
)
PRIORITIES: tuple[int, ...] = (1, 2, 3)
DECISIONS: tuple[str, ...] = (
    "fixed_in_osm",
    "atlas_wrong",
    "not_a_problem",
    "needs_survey",
    "osm_wrong_registry_right",
)
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
