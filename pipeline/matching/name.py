"""Stage 2: name and distance, scored together.

A candidate pair is a registry stop and an OSM object whose best name (uic_name, name, official_name,
gtfs:name) scores at least NAME_MIN_SCORE against the official name after normalisation (`normalize`),
within the radius of the pair's kind (`kinds.name_radius_m`, `params.NAME_RADIUS_M`), with no hard rule
against it (`MatchContext.pair_rejection`: contradicting platform code or identifiers, manual unlink,
station vs platform) and no contradiction of modes (`kinds.kinds_contradict`: a railway station is not
the bus stop of the same name).

Each pair gets one **joint score**: name score x (1 - DISTANCE_WEIGHT x distance / radius), and
conflicts are resolved on it, so a nearer stop with a slightly lower name score beats a farther one
with a perfect name. When the two best choices score within JOINT_TIE_MARGIN of each other, nothing is
committed: a tie is left to the later stages, never decided by input order.

2a (strict names: folding, abbreviations, municipality prefix, region code, word order). Every free OSM
    object goes to the registry stop with its best joint score. A stop may take several objects (its
    platforms, stop positions, the station of a whole stop), as in stage 1 where one `uic_ref` links
    every object of a stop; stops already matched in stage 1 take part, so objects without
    identifiers join their stop.
2b (loose names, a fallback: a qualifier in parentheses, a generic word like "Bahnhof", or one part of
    "A/B" dropped). Only registry stops that are still unmatched, and only their best object (with
    any object within JOINT_TIE_MARGIN of it: a platform and its stop position side by side); an
    object claimed by several stops goes to the best joint score, ties refused. A loose reading is
    how a stop is found when nothing names it strictly; it is not evidence enough to pull more
    objects ("Dietfurt, Bahnhof", the bus stop, is not "Dietfurt", the railway station, when its own
    objects name it in full).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from pipeline.matching.context import MatchContext, is_platform_level, osm_names
from pipeline.matching.kinds import kinds_contradict, name_radius_m, object_kind
from pipeline.matching.normalize import same_full_name
from pipeline.matching.params import (
    DISTANCE_WEIGHT,
    JOINT_TIE_MARGIN,
    METHOD_NAME,
    NAME_MAX_DISTANCE_M,
    NAME_MIN_SCORE,
)

# (joint score, reg_i, osm_i, name score, distance m, radius m, full name)
Candidate = tuple[float, int, int, float, float, float, bool]


def joint_score(name_score: float, distance_m: float, radius_m: float) -> float:
    """The name score discounted by the distance relative to the radius (0-100, rounded to 0.1)."""
    return round(name_score * (1.0 - DISTANCE_WEIGHT * min(distance_m / radius_m, 1.0)), 1)


def _candidate(ctx: MatchContext, reg_i: int, osm_i: int, loose: bool) -> Candidate | None:
    stop = ctx.registry[reg_i]
    if not stop.name:
        return None
    obj = ctx.osm[osm_i]
    # Cheap tests first: the distance against the largest radius the pair could have, then the modes.
    dist = float(np.hypot(*(ctx.registry_index.xy[reg_i] - ctx.osm_index.xy[osm_i])))
    whole_stop = not is_platform_level(stop)
    if dist > name_radius_m(stop, obj, whole_stop=whole_stop, full_name=True) or kinds_contradict(stop, obj):
        return None
    if ctx.pair_rejection(reg_i, osm_i, allow_matched_registry=True) is not None:
        return None
    score = ctx.name_score(reg_i, osm_i, loose=loose)
    if score < NAME_MIN_SCORE:
        return None
    full = any(same_full_name(stop.name, n) for n in osm_names(obj) if n)
    radius = name_radius_m(stop, obj, whole_stop=whole_stop, full_name=full)
    if dist > radius:
        return None
    return (joint_score(score, dist, radius), reg_i, osm_i, score, dist, radius, full)


def name_candidates(ctx: MatchContext, osm_i: int, loose: bool = False) -> list[Candidate]:
    """The registry stops an OSM object may join by name, best joint score first (then nearest, stop_id)."""
    if not any(osm_names(ctx.osm[osm_i])):
        return []
    point = ctx.osm_index.xy[osm_i : osm_i + 1]
    found = ctx.registry_index.within(point, NAME_MAX_DISTANCE_M)[0]
    out = [c for reg_i in found if (c := _candidate(ctx, reg_i, osm_i, loose)) is not None]
    out.sort(key=lambda c: (-c[0], c[4], ctx.registry[c[1]].stop_id))
    return out


def _evidence(
    ctx: MatchContext, best: Candidate, rule: str, runner_up: Candidate | None, n: int
) -> dict[str, Any]:
    joint, reg_i, osm_i, score, _dist, radius, full = best
    return {
        "stage": 2,
        "rule": rule,
        "additional_object_of_stop": reg_i in ctx.matched_registry,
        "name_score": score,
        "joint_score": joint,
        "radius_m": radius,
        "kind": object_kind(ctx.osm[osm_i], ctx.registry[reg_i]),
        "full_name": full,
        "candidates": n,
        "runner_up": None
        if runner_up is None
        else {
            "stop_id": ctx.registry[runner_up[1]].stop_id,
            "osm_key": ctx.osm[runner_up[2]].osm_key,
            "joint_score": runner_up[0],
        },
    }


def _is_tie(best: Candidate, runner_up: Candidate | None) -> bool:
    return runner_up is not None and best[0] - runner_up[0] < JOINT_TIE_MARGIN


def match_strict(ctx: MatchContext) -> int:
    """2a: every free OSM object to the registry stop with its best joint score (strict names)."""
    committed = 0
    for osm_i in sorted(range(len(ctx.osm)), key=lambda i: ctx.osm[i].osm_key):
        if osm_i in ctx.used_osm:
            continue
        candidates = name_candidates(ctx, osm_i)
        if not candidates:
            continue
        best, runner_up = candidates[0], (candidates[1] if len(candidates) > 1 else None)
        if runner_up is not None and _is_tie(best, runner_up):
            ctx.name_ties.append(
                (ctx.osm[osm_i].osm_key, ctx.registry[best[1]].key, ctx.registry[runner_up[1]].key)
            )
            continue
        evidence = _evidence(ctx, best, "best joint score of name and distance", runner_up, len(candidates))
        ctx.commit(best[1], osm_i, METHOD_NAME, evidence)
        committed += 1
    return committed


def match_loose(ctx: MatchContext) -> int:
    """2b: each still unmatched registry stop to its best object(s) by a loose name reading."""
    pending = [i for i in ctx.unmatched_registry() if ctx.registry[i].name]
    if not pending:
        return 0
    points = ctx.registry_index.xy[pending]
    neighbours = ctx.osm_index.within(points, NAME_MAX_DISTANCE_M)
    per_object: dict[int, list[Candidate]] = defaultdict(list)
    for reg_i, found in zip(pending, neighbours, strict=True):
        scored = [
            c for osm_i in found if osm_i not in ctx.used_osm and (c := _candidate(ctx, reg_i, osm_i, True))
        ]
        if not scored:
            continue
        scored.sort(key=lambda c: (-c[0], c[4], ctx.osm[c[2]].osm_key))
        # Objects as good as the best (a platform and its stop position side by side) come together:
        # choosing one of them would be a coin toss.
        for c in scored:
            if scored[0][0] - c[0] < JOINT_TIE_MARGIN:
                per_object[c[2]].append(c)
    committed = 0
    for osm_i in sorted(per_object, key=lambda i: ctx.osm[i].osm_key):
        claims = sorted(per_object[osm_i], key=lambda c: (-c[0], c[4], ctx.registry[c[1]].stop_id))
        runner_up = claims[1] if len(claims) > 1 else None
        if _is_tie(claims[0], runner_up):
            continue
        evidence = _evidence(ctx, claims[0], "loose name reading, best joint score", runner_up, len(claims))
        ctx.commit(claims[0][1], osm_i, METHOD_NAME, evidence)
        committed += 1
    return committed


def match_by_name(ctx: MatchContext) -> int:
    """Stage 2: strict names (2a), then loose readings for the stops still unmatched (2b)."""
    return match_strict(ctx) + match_loose(ctx)
