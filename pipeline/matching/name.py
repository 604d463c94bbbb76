"""Stage 2: name + distance.

For every registry stop still unmatched, the free OSM objects within NAME_MAX_DISTANCE_M whose best
name (uic_name, name, official_name, gtfs:name) scores at least NAME_MIN_SCORE against the official
name after normalisation (see `normalize`) are candidates, unless a hard rule forbids the pair
(`MatchContext.pair_rejection`: contradicting platform code or identifiers, manual unlink, station
vs platform). Pairs are committed best score first, then nearest, then by ids; each OSM object once.

A platform-level stop (traffic point) takes one object. A whole stop (service point) takes every
free object that names it: its platforms and stop positions often carry no `uic_ref`, and they are
part of that stop, not unmatched objects. Whole stops already matched in stage 1 take part too.
"""

from __future__ import annotations

import numpy as np

from pipeline.matching.context import MatchContext, is_platform_level
from pipeline.matching.params import METHOD_NAME, NAME_MAX_DISTANCE_M, NAME_MIN_SCORE


def match_by_name(ctx: MatchContext) -> int:
    whole_stops = {i for i, s in enumerate(ctx.registry) if not is_platform_level(s)}
    pending = sorted(set(ctx.unmatched_registry()) | whole_stops)
    if not pending:
        return 0
    points = ctx.registry_index.xy[pending]
    neighbours = ctx.osm_index.within(points, NAME_MAX_DISTANCE_M)
    proposals = []
    for reg_i, candidates in zip(pending, neighbours, strict=True):
        stop = ctx.registry[reg_i]
        if not stop.designation_official:
            continue
        for osm_i in candidates:
            if ctx.pair_rejection(reg_i, osm_i, allow_matched_registry=reg_i in whole_stops) is not None:
                continue
            score = ctx.name_score(reg_i, osm_i)
            if score < NAME_MIN_SCORE:
                continue
            dist = float(np.hypot(*(ctx.registry_index.xy[reg_i] - ctx.osm_index.xy[osm_i])))
            evidence = {
                "stage": 2,
                "rule": "name score and distance",
                "additional_object_of_stop": reg_i in ctx.matched_registry,
                "name_score": score,
                "candidates_in_radius": len(candidates),
            }
            proposals.append(
                ((-score, round(dist, 3), stop.sloid, ctx.osm[osm_i].osm_key), reg_i, osm_i, evidence)
            )
    return ctx.commit_greedy(proposals, METHOD_NAME, multi=whole_stops)
