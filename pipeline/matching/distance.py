"""Stage 3: distance only, where the nearest candidate is unambiguous.

Candidates are the free OSM objects within DISTANCE_MAX_M that no hard rule forbids
(`MatchContext.pair_rejection`).
3a (`distance_unique`): exactly one candidate.
3b (`distance_ratio`): several candidates, the nearest clearly nearer: d2 >= DISTANCE_RATIO_MIN_D2_M and
    d2 / d1 >= DISTANCE_RATIO_MIN; with d1 == 0 (same position) the ratio is infinite, accepted when
    d2 >= DISTANCE_RATIO_MIN_D2_M (the reference divided by zero here).
3a runs again after 3b, because 3b locks objects and can leave a single candidate elsewhere.
Each pass commits one-to-one, nearest pair first. An object that two registry stops propose at
distances within DISTANCE_TIE_M of each other is a tie and is refused: input order never decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.matching.context import MatchContext
from pipeline.matching.params import (
    DISTANCE_MAX_M,
    DISTANCE_RATIO_MIN,
    DISTANCE_RATIO_MIN_D2_M,
    DISTANCE_TIE_M,
    METHOD_DISTANCE_RATIO,
    METHOD_DISTANCE_UNIQUE,
)


def _candidates(ctx: MatchContext) -> list[tuple[int, list[tuple[float, int]]]]:
    """For each unmatched registry stop: allowed candidates as (planar distance, osm index), nearest first."""
    pending = ctx.unmatched_registry()
    if not pending:
        return []
    points = ctx.registry_index.xy[pending]
    neighbours = ctx.osm_index.within(points, DISTANCE_MAX_M)
    out = []
    for reg_i, found in zip(pending, neighbours, strict=True):
        allowed = [i for i in found if ctx.pair_rejection(reg_i, i) is None]
        if not allowed:
            continue
        deltas = ctx.osm_index.xy[allowed] - ctx.registry_index.xy[reg_i]
        dists = np.hypot(deltas[:, 0], deltas[:, 1])
        ranked = sorted(
            zip(dists.tolist(), allowed, strict=True), key=lambda p: (p[0], ctx.osm[p[1]].osm_key)
        )
        out.append((reg_i, ranked))
    return out


def without_ties(
    proposals: list[tuple[tuple[Any, ...], int, int, dict[str, Any]]],
) -> list[tuple[tuple[Any, ...], int, int, dict[str, Any]]]:
    """The proposals minus those for an object two registry stops claim at (nearly) the same distance."""
    by_object: dict[int, list[float]] = {}
    for key, _reg_i, osm_i, _evidence in proposals:
        by_object.setdefault(osm_i, []).append(key[0])
    tied = set()
    for osm_i, dists in by_object.items():
        dists.sort()
        if len(dists) > 1 and dists[1] - dists[0] < DISTANCE_TIE_M:
            tied.add(osm_i)
    return [p for p in proposals if p[2] not in tied]


def ratio_accepts(d1: float, d2: float) -> bool:
    """The 3b rule: is the nearest candidate (d1) clearly nearer than the second (d2)?"""
    if d2 < DISTANCE_RATIO_MIN_D2_M:
        return False
    if d1 <= 0.0:
        return True
    return d2 / d1 >= DISTANCE_RATIO_MIN


def match_unique(ctx: MatchContext, pass_no: int = 1) -> int:
    """3a: the only candidate within DISTANCE_MAX_M."""
    proposals = []
    for reg_i, ranked in _candidates(ctx):
        if len(ranked) != 1:
            continue
        dist, osm_i = ranked[0]
        evidence = {
            "stage": 3,
            "rule": "only candidate within radius",
            "radius_m": DISTANCE_MAX_M,
            "pass": pass_no,
        }
        proposals.append(
            ((round(dist, 3), ctx.registry[reg_i].stop_id, ctx.osm[osm_i].osm_key), reg_i, osm_i, evidence)
        )
    return ctx.commit_greedy(without_ties(proposals), METHOD_DISTANCE_UNIQUE)


def match_ratio(ctx: MatchContext) -> int:
    """3b: nearest candidate clearly nearer than the second."""
    proposals = []
    for reg_i, ranked in _candidates(ctx):
        if len(ranked) < 2:
            continue
        (d1, osm_i), (d2, _second) = ranked[0], ranked[1]
        if not ratio_accepts(d1, d2):
            continue
        evidence = {
            "stage": 3,
            "rule": "ratio test",
            "d1_m": round(d1, 2),
            "d2_m": round(d2, 2),
            "ratio": None if d1 == 0 else round(d2 / d1, 2),
            "candidates": len(ranked),
        }
        proposals.append(
            ((round(d1, 3), ctx.registry[reg_i].stop_id, ctx.osm[osm_i].osm_key), reg_i, osm_i, evidence)
        )
    return ctx.commit_greedy(without_ties(proposals), METHOD_DISTANCE_RATIO)
