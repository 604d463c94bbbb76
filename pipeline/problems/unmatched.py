"""`unmatched`: a registry stop or an OSM object without a counterpart.

- `unmatched`, registry side: P1 no OSM object with its UIC number and none within 80 m; P2 nearest OSM
  object > 50 m, or OSM has another number of platforms for the UIC; P3 everything else.
- `unmatched`, OSM side: P1 its `uic_ref` is not in the registry, or is malformed (not ASCII digits);
  P2 no registry stop within 50 m, or count mismatch for its `uic_ref`; P3 everything else.
  `details.malformed` names its malformed identifier tags.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pipeline.declarations import DISTANCE_P1_M
from pipeline.matching.context import parse_uic
from pipeline.problems.attributes import MALFORMED_UIC_REF, malformed_tags, malformed_uic_ref
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import ProblemRecord, problem_identity

ISOLATION_RADIUS_M = 50.0


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    yield from _unmatched_registry(ctx)
    yield from _unmatched_osm(ctx)


def _unmatched_registry(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    positions = [ctx.registry_pos[s] for s in ctx.unmatched_registry]
    dists, idxs = ctx.nearest(ctx.osm_index, ctx.registry_index.xy[positions])
    for pos, dist, idx in zip(positions, dists, idxs, strict=True):
        stop = ctx.registry[pos]
        nearest = None if not np.isfinite(dist) else float(dist)
        uic = stop.code_number
        osm_with_uic = ctx.osm_count_by_uic.get(uic, 0) if uic is not None else 0
        count_mismatch = (
            uic is not None
            and osm_with_uic > 0
            and ctx.osm_platform_count_by_uic.get(uic, 0) != ctx.registry_count_by_uic[uic]
        )
        if osm_with_uic == 0 and (nearest is None or nearest > DISTANCE_P1_M):
            priority, reason = 1, "no OSM object with this UIC number and none within 80 m"
        elif nearest is None or nearest > ISOLATION_RADIUS_M:
            priority, reason = 2, "no OSM object within 50 m"
        elif count_mismatch:
            priority, reason = 2, "OSM has a different number of platforms for this UIC number"
        else:
            priority, reason = 3, "OSM objects nearby, none could be matched unambiguously"
        yield ProblemRecord(
            identity=problem_identity("unmatched", stop.stop_id, None),
            problem_type="unmatched",
            priority=priority,
            stop_id=stop.stop_id,
            source=stop.source,
            osm_key=None,
            operator_code=stop.operator_code,
            distance_m=None if nearest is None else round(nearest, 2),
            message=f"{stop.name or stop.stop_id} has no OSM counterpart: {reason}",
            details={
                "side": "registry",
                "reason": reason,
                "nearest_osm": None if nearest is None else ctx.osm[int(idx)].osm_key,
                "nearest_osm_m": None if nearest is None else round(nearest, 2),
                "osm_objects_with_uic": osm_with_uic,
            },
            lat=stop.lat,
            lon=stop.lon,
        )


def _unmatched_osm(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    positions = [ctx.osm_pos[k] for k in ctx.unmatched_osm]
    dists, idxs = ctx.nearest(ctx.registry_index, ctx.osm_index.xy[positions])
    for pos, dist, idx in zip(positions, dists, idxs, strict=True):
        obj = ctx.osm[pos]
        nearest = None if not np.isfinite(dist) else float(dist)
        uic = parse_uic(obj.uic_ref)
        registry_with_uic = ctx.registry_count_by_uic.get(uic, 0) if uic is not None else 0
        count_mismatch = (
            uic is not None
            and registry_with_uic > 0
            and (ctx.osm_platform_count_by_uic.get(uic, 0) != registry_with_uic)
        )
        if malformed_uic_ref(obj.uic_ref):
            priority, reason = 1, f"uic_ref {obj.uic_ref!r} is {MALFORMED_UIC_REF}"
        elif obj.uic_ref and registry_with_uic == 0:
            priority, reason = 1, f"uic_ref {obj.uic_ref} is not in the registry"
        elif nearest is None or nearest > ISOLATION_RADIUS_M:
            priority, reason = 2, "no registry stop within 50 m"
        elif count_mismatch:
            priority, reason = 2, "the registry has a different number of stops for this uic_ref"
        else:
            priority, reason = 3, "registry stops nearby, none could be matched unambiguously"
        nearest_stop = None if nearest is None else ctx.registry[int(idx)]
        yield ProblemRecord(
            identity=problem_identity("unmatched", None, obj.osm_key),
            problem_type="unmatched",
            priority=priority,
            stop_id=None,
            osm_key=obj.osm_key,
            operator_code=nearest_stop.operator_code if nearest_stop is not None else None,
            distance_m=None if nearest is None else round(nearest, 2),
            message=f"OSM {obj.osm_key} ({obj.name or 'no name'}) has no registry counterpart: {reason}",
            details={
                "side": "osm",
                "reason": reason,
                "nearest_sloid": None if nearest_stop is None else nearest_stop.stop_id,
                "nearest_sloid_m": None if nearest is None else round(nearest, 2),
                "registry_stops_with_uic": registry_with_uic,
                **malformed_tags(obj),
            },
            lat=obj.lat,
            lon=obj.lon,
        )


TYPE = ProblemType(
    code="unmatched",
    label=N_("Unmatched"),
    description=N_("no counterpart on the other side"),
    priority_rule="P1 no candidate by identifier nor within 80 m (OSM: uic_ref unknown or malformed); "
    "P2 nothing within 50 m or a platform count mismatch; P3 otherwise",
    detect=detect,
)
