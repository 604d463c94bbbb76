""" "Why was this stop not matched (to that object)?" — candidates with per-criterion evidence.

Replays the rules of the stages for one registry stop against the OSM objects around it, using the
indexes of a `MatchContext` that has already run (cheap: one KD-tree query), and names the rule that
actually kept each pair apart, in the order the stages apply them:

1. a hard rule on the pair (`MatchContext.pair_rejection`: manual unlink, contradicting identifier or
   platform code, a station object for a platform) or the object already belongs to another stop;
2. the stop-area stage, when the object is a member of a stop area standing for this stop (given the
   stop areas): the rule that kept it out (another stop's identifier, another mode, too far, ...);
3. the name stage, which lets every stop take further objects (a whole stop its platforms, stop
   positions and station): no name, the name below NAME_MIN_SCORE, beyond the radius of the pair's
   kind, or a tie between two stops;
4. for a stop nothing matched yet, the distance stages: beyond DISTANCE_MAX_M, several candidates
   and none clearly nearest, a nearer candidate, or two stops claiming the object at the same distance.

A stop that is already matched can still take an object by name (or stop area), so "already matched"
is never the reason by itself: the reason is the rule of the stage that could have taken the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.matching.context import MatchContext, is_platform_level, osm_names
from pipeline.matching.distance import ratio_accepts
from pipeline.matching.kinds import name_radius_m
from pipeline.matching.name import name_candidates
from pipeline.matching.normalize import same_full_name
from pipeline.matching.params import (
    DISTANCE_MAX_M,
    DISTANCE_TIE_M,
    EXPLAIN_MAX_CANDIDATES,
    EXPLAIN_RADIUS_M,
    JOINT_TIE_MARGIN,
    NAME_MIN_SCORE,
)
from pipeline.matching.stop_area import (
    ANCHOR_METHODS,
    StopGroup,
    anchor_of,
    group_of,
    member_indexes,
    member_rejection,
    stop_groups,
)
from pipeline.records import OsmStructure

# Every rule `rejected_by` can name, in the order above (the API documents them; the pages word them).
REJECTION_RULES = (
    "manual_unlink",
    "osm_is_station",
    "local_ref_contradicts_designation",
    "uic_ref_names_another_registry_stop",
    "uic_ref_and_uic_name_name_another_stop",
    "ifopt_names_another_registry_stop",
    "osm_already_matched",
    "uic_ref_names_another_stop",
    "ifopt_names_another_stop",
    "mode_differs",
    "beyond_stop_area_radius",
    "name_names_another_registry_stop",
    "stop_area_platform_unknown",
    "registry_has_no_name",
    "osm_has_no_name",
    "name_below_score",
    "beyond_name_radius_for_kind",
    "ambiguous_name_tie",
    "too_far_for_distance_match",
    "too_far_for_name_match",
    "ambiguous_several_candidates_within_radius",
    "not_the_nearest_candidate",
    "ambiguous_distance_tie",
    "lost_conflict_to_better_pair",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One OSM object near a registry stop, and what each criterion says about the pair."""

    osm_key: str
    distance_m: float
    name_score: float
    # The registry's declared code (ATLAS UIC number ↔ uic_ref, NaPTAN NaptanCode ↔ naptan:NaptanCode);
    # None: one side has none. The key keeps its ATLAS-era name (the API answers with it).
    same_uic: bool | None
    same_platform_code: bool | None
    same_identifier: bool
    matched_to: str | None  # method of the match this object is in, if any
    rejected_by: str | None  # the rule that kept the pair apart; None = it is (or would be) matched
    stop_area: int | None = None  # the stop area (relation id) standing for this stop that holds it

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


class _StopAreas:
    """The stop-area stage replayed for one registry stop: which candidates a stop area of it holds."""

    def __init__(self, ctx: MatchContext, structure: OsmStructure | None, reg_i: int) -> None:
        self.ctx = ctx
        self.member_of: dict[int, int] = {}  # osm index → relation id of a stop area standing for the stop
        self.group: StopGroup | None = None
        if structure is None or not structure.stop_areas:
            return
        groups = stop_groups(ctx)
        own = group_of(ctx, reg_i)
        self.group = groups.get(own)
        identified: dict[int, tuple[int, str]] = {}
        for m in ctx.matches:
            if m.method in ANCHOR_METHODS and m.osm_key in ctx.osm_by_key and m.key in ctx.registry_by_sloid:
                identified.setdefault(ctx.osm_by_key[m.osm_key], (ctx.registry_by_sloid[m.key], m.method))
        for area in sorted(structure.stop_areas, key=lambda a: a.osm_id):
            members = member_indexes(ctx, area)
            if not members:
                continue
            anchor, _why_not = anchor_of(ctx, area, members, identified, groups)
            if anchor is not None and anchor.group is self.group:
                for osm_i in members:
                    self.member_of.setdefault(osm_i, area.osm_id)

    def rule(self, reg_i: int, osm_i: int) -> str | None:
        """The stop-area stage's rule against this member joining this stop, None when it would join
        (or the object is no member of a stop area of this stop)."""
        if osm_i not in self.member_of or self.group is None:
            return None
        _target, rule = member_rejection(self.ctx, self.group, osm_i)
        return rule


def explain_candidates(
    ctx: MatchContext,
    stop_id: str,
    radius_m: float = EXPLAIN_RADIUS_M,
    limit: int = EXPLAIN_MAX_CANDIDATES,
    structure: OsmStructure | None = None,
    source: str | None = None,
) -> list[Candidate]:
    """Candidates around registry stop (`source`, `stop_id`), nearest first, each with the rule that kept
    it apart (`structure`: the stop areas around, so the stop-area stage is replayed too)."""
    reg_i = ctx.index_of(stop_id, source)
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
    method_by_pair = {(m.key, m.osm_key): m.method for m in ctx.matches}
    method_by_osm = {m.osm_key: m.method for m in ctx.matches}
    areas = _StopAreas(ctx, structure, reg_i)
    out = []
    for k in order:
        osm_i = found[k]
        obj = ctx.osm[osm_i]
        score = ctx.name_score(reg_i, osm_i)
        reg_ref, osm_ref = ctx.registry_refs[reg_i], ctx.osm_refs[osm_i]
        matched = (stop.key, obj.osm_key) in method_by_pair
        rejected = None if matched else rejection(ctx, reg_i, osm_i, areas)
        out.append(
            Candidate(
                osm_key=obj.osm_key,
                distance_m=round(ctx.distance_m(reg_i, osm_i), 2),
                name_score=score,
                same_uic=ctx.same_code(reg_i, osm_i),
                same_platform_code=None if reg_ref is None or osm_ref is None else reg_ref == osm_ref,
                same_identifier=stop.stop_id in {obj.ifopt, obj.sloid_tag},
                matched_to=method_by_osm.get(obj.osm_key),
                rejected_by=rejected,
                stop_area=areas.member_of.get(osm_i),
            )
        )
    return out


def rejection(ctx: MatchContext, reg_i: int, osm_i: int, areas: _StopAreas | None = None) -> str:
    """The rule that kept this unmatched pair apart (see the module docstring for the order)."""
    rule = ctx.pair_rejection(reg_i, osm_i, allow_matched_registry=True)
    if rule is not None:
        return rule
    if areas is not None:
        rule = areas.rule(reg_i, osm_i)
        if rule is not None:
            return rule
    name_rule = _name_rule(ctx, reg_i, osm_i)
    if reg_i in ctx.matched_registry:
        # The distance stages take only stops nothing matched: the name stage was the pair's chance.
        return name_rule
    return _distance_rule(ctx, reg_i, osm_i, name_rule)


def _name_rule(ctx: MatchContext, reg_i: int, osm_i: int) -> str:
    """Why the name stage did not pair them (a stop may take several objects there)."""
    stop, obj = ctx.registry[reg_i], ctx.osm[osm_i]
    if not stop.name:
        return "registry_has_no_name"
    names = [n for n in osm_names(obj) if n]
    if not names:
        return "osm_has_no_name"
    # 2b, the loose readings, is only for stops nothing matched yet.
    loose = reg_i not in ctx.matched_registry
    if ctx.name_score(reg_i, osm_i, loose=loose) < NAME_MIN_SCORE:
        return "name_below_score"
    full = any(same_full_name(stop.name, n) for n in names)
    radius = name_radius_m(stop, obj, whole_stop=not is_platform_level(stop), full_name=full)
    if ctx.distance_m(reg_i, osm_i) > radius:
        return "beyond_name_radius_for_kind"
    key = obj.osm_key
    if any(tie[0] == key and stop.key in tie[1:] for tie in ctx.name_ties):
        return "ambiguous_name_tie"
    candidates = name_candidates(ctx, osm_i, loose=loose)
    tied = [c[1] for c in candidates if candidates[0][0] - c[0] < JOINT_TIE_MARGIN]
    if len(tied) > 1 and reg_i in tied:
        return "ambiguous_name_tie"
    return "lost_conflict_to_better_pair"


def _distance_rule(ctx: MatchContext, reg_i: int, osm_i: int, name_rule: str) -> str:
    """For a stop nothing matched: why neither the name nor the distance stages paired them."""
    if name_rule == "ambiguous_name_tie":
        return name_rule  # the name stage saw the pair first and refused it as a tie
    dist = float(np.hypot(*(ctx.registry_index.xy[reg_i] - ctx.osm_index.xy[osm_i])))
    if dist > DISTANCE_MAX_M:
        if name_rule in ("name_below_score", "registry_has_no_name", "osm_has_no_name"):
            return "too_far_for_distance_match"
        if name_rule == "beyond_name_radius_for_kind":
            return "too_far_for_name_match"
        return name_rule
    point = ctx.registry_index.xy[reg_i : reg_i + 1]
    nearby = ctx.osm_index.within(point, DISTANCE_MAX_M)[0]
    allowed = sorted(
        float(np.hypot(*(ctx.osm_index.xy[i] - ctx.registry_index.xy[reg_i])))
        for i in nearby
        if i not in ctx.used_osm and ctx.pair_rejection(reg_i, i) is None
    )
    if len(allowed) >= 2 and not ratio_accepts(allowed[0], allowed[1]):
        return "ambiguous_several_candidates_within_radius"
    if allowed and dist > allowed[0]:
        return "not_the_nearest_candidate"
    # The only or clearly nearest candidate of this stop: another unmatched stop claimed it as close.
    others = ctx.registry_index.within(ctx.osm_index.xy[osm_i : osm_i + 1], dist + DISTANCE_TIE_M)[0]
    if any(
        i != reg_i and i not in ctx.matched_registry and ctx.pair_rejection(i, osm_i) is None for i in others
    ):
        return "ambiguous_distance_tie"
    return "lost_conflict_to_better_pair"
