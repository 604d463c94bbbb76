""" "Why was this stop not matched (to that object)?" — candidates with per-criterion evidence.

Replays the rules of the name and distance stages for one registry stop against the OSM objects
around it, using the indexes of a `MatchContext` that has already run (cheap: one KD-tree query).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.matching.context import MatchContext
from pipeline.matching.distance import ratio_accepts
from pipeline.matching.params import (
    DISTANCE_MAX_M,
    EXPLAIN_MAX_CANDIDATES,
    EXPLAIN_RADIUS_M,
    NAME_MAX_DISTANCE_M,
    NAME_MIN_SCORE,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One OSM object near a registry stop, and what each criterion says about the pair."""

    osm_key: str
    distance_m: float
    name_score: float
    same_uic: bool | None  # None: one side has no UIC number
    same_platform_code: bool | None
    same_identifier: bool
    matched_to: str | None  # method of the match this object is in, if any
    rejected_by: str | None  # the first rule that rules the pair out; None = it is (or would be) matched

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


def explain_candidates(
    ctx: MatchContext, sloid: str, radius_m: float = EXPLAIN_RADIUS_M, limit: int = EXPLAIN_MAX_CANDIDATES
) -> list[Candidate]:
    """Candidates around `sloid`, nearest first, each with the rule that rejected it."""
    reg_i = ctx.registry_by_sloid.get(sloid)
    if reg_i is None:
        return []
    stop = ctx.registry[reg_i]
    point = ctx.registry_index.xy[reg_i : reg_i + 1]
    found = ctx.osm_index.within(point, radius_m)[0]
    if not found:
        return []
    deltas = ctx.osm_index.xy[found] - ctx.registry_index.xy[reg_i]
    planar = np.hypot(deltas[:, 0], deltas[:, 1])
    order = sorted(range(len(found)), key=lambda k: (planar[k], ctx.osm[found[k]].osm_key))[:limit]
    method_by_pair = {(m.sloid, m.osm_key): m.method for m in ctx.matches}
    method_by_osm = {m.osm_key: m.method for m in ctx.matches}
    free_dists = sorted(float(planar[k]) for k in range(len(found)) if found[k] not in ctx.used_osm)
    out = []
    for k in order:
        osm_i = found[k]
        obj = ctx.osm[osm_i]
        dist = float(planar[k])
        score = ctx.name_score(reg_i, osm_i)
        reg_ref, osm_ref = ctx.registry_refs[reg_i], ctx.osm_refs[osm_i]
        osm_uic = ctx.osm_uic[osm_i]
        if (stop.sloid, obj.osm_key) in method_by_pair:
            rejected = None
        else:
            rejected = _rejection(ctx, reg_i, osm_i, dist, score, free_dists)
        out.append(
            Candidate(
                osm_key=obj.osm_key,
                distance_m=round(ctx.distance_m(reg_i, osm_i), 2),
                name_score=score,
                same_uic=None if osm_uic is None or stop.uic_number is None else osm_uic == stop.uic_number,
                same_platform_code=None if reg_ref is None or osm_ref is None else reg_ref == osm_ref,
                same_identifier=stop.sloid in {obj.ifopt, obj.sloid_tag},
                matched_to=method_by_osm.get(obj.osm_key),
                rejected_by=rejected,
            )
        )
    return out


def _rejection(
    ctx: MatchContext, reg_i: int, osm_i: int, dist: float, score: float, free_dists: list[float]
) -> str:
    rule = ctx.pair_rejection(reg_i, osm_i)
    if rule is not None:
        return rule
    if dist <= NAME_MAX_DISTANCE_M and score >= NAME_MIN_SCORE:
        return "lost_conflict_to_better_pair"
    if dist > DISTANCE_MAX_M:
        return "too_far_for_distance_match" if score < NAME_MIN_SCORE else "too_far_for_name_match"
    within = [d for d in free_dists if d <= DISTANCE_MAX_M]
    if len(within) >= 2 and not ratio_accepts(within[0], within[1]):
        return "ambiguous_several_candidates_within_radius"
    if within and dist > within[0]:
        return "not_the_nearest_candidate"
    return "lost_conflict_to_better_pair"
