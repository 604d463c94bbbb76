"""`unmatched`: a registry stop or an OSM object without a counterpart.

- `unmatched`, registry side: P1 no OSM object with its code (the registry's declared second
  identifier: ATLAS UIC number, NaPTAN NaptanCode) and none within 80 m; P2 nearest OSM object > 50 m,
  or OSM has another number of platforms for the code; P3 everything else.
- `unmatched`, OSM side: P1 a tag carrying a registry's code (ATLAS `uic_ref`, NaPTAN
  `naptan:NaptanCode`) names no stop of that registry, or a `uic_ref` is malformed (not ASCII digits);
  P2 no registry stop within 50 m, or count mismatch for that code; P3 everything else.
  `details.malformed` names its malformed identifier tags.
The reasons name the identifier by its declared label ("UIC number", "NaptanCode") and tag, so the
ATLAS texts are those of before the registry-agnostic core, word for word.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pipeline.declarations import DISTANCE_P1_M
from pipeline.problems.attributes import MALFORMED_UIC_REF, malformed_tags, malformed_uic_ref
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import OsmObject, ProblemRecord, problem_identity

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
        code = ctx.code_of(stop)
        key = (stop.source, code or "")
        osm_with_code = ctx.osm_count_by_code.get(key, 0) if code is not None else 0
        count_mismatch = (
            code is not None
            and osm_with_code > 0
            and ctx.osm_platform_count_by_code.get(key, 0) != ctx.registry_count_by_code[key]
        )
        declared = ctx.declared[stop.source]
        label = (declared.code or declared.stop_id).label or "identifier"
        if osm_with_code == 0 and (nearest is None or nearest > DISTANCE_P1_M):
            priority, reason = 1, f"no OSM object with this {label} and none within 80 m"
        elif nearest is None or nearest > ISOLATION_RADIUS_M:
            priority, reason = 2, "no OSM object within 50 m"
        elif count_mismatch:
            priority, reason = 2, f"OSM has a different number of platforms for this {label}"
        else:
            priority, reason = 3, "OSM objects nearby, none could be matched unambiguously"
        yield ProblemRecord(
            identity=problem_identity("unmatched", stop.stop_id, None, stop.source),
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
                # The stored key keeps its ATLAS-era name (decisions' evidence and the API read it):
                # OSM objects carrying the stop's code in its registry's tag.
                "osm_objects_with_uic": osm_with_code,
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
        claims = _code_claims(ctx, obj)
        first = claims[0][2] if claims else None
        registry_with_code = ctx.registry_count_by_code.get(first, 0) if first is not None else 0
        unknown = next(
            ((t, r) for t, r, k in claims if k is None or ctx.registry_count_by_code.get(k, 0) == 0), None
        )
        mismatch = next(
            (
                t
                for t, _r, k in claims
                if k is not None
                and ctx.registry_count_by_code.get(k, 0) > 0
                and ctx.osm_platform_count_by_code.get(k, 0) != ctx.registry_count_by_code[k]
            ),
            None,
        )
        # A malformed `uic_ref` is reported whichever registries run: it is OSM's tag for the UIC
        # number everywhere (British stations carry 70xxxxx numbers too), and `details.malformed` names it.
        if malformed_uic_ref(obj.uic_ref):
            priority, reason = 1, f"uic_ref {obj.uic_ref!r} is {MALFORMED_UIC_REF}"
        elif unknown is not None:
            priority, reason = 1, f"{unknown[0]} {unknown[1]} is not in the registry"
        elif nearest is None or nearest > ISOLATION_RADIUS_M:
            priority, reason = 2, "no registry stop within 50 m"
        elif mismatch is not None:
            priority, reason = 2, f"the registry has a different number of stops for this {mismatch}"
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
                # ATLAS-era key name kept (stored evidence): stops holding the object's first code value.
                "registry_stops_with_uic": registry_with_code,
                **malformed_tags(obj),
            },
            lat=obj.lat,
            lon=obj.lon,
        )


def _code_claims(ctx: ProblemContext, obj: OsmObject) -> list[tuple[str, str, tuple[str, str] | None]]:
    """Each (tag, value as written, (source, normalised value)) by which the object claims the code
    of a registry of this run, in declaration order; the key is None for a value the registry cannot
    read (`8503000;8503001` as a `uic_ref`)."""
    claims: list[tuple[str, str, tuple[str, str] | None]] = []
    for source, declaration in ctx.declared.items():
        if declaration.code is None:
            continue
        for tag in declaration.code.osm_tags:
            raw = obj.tags.get(tag)
            if raw:
                value = declaration.code.normalise(raw)
                claims.append((tag, raw, None if value is None else (source, value)))
    return claims


TYPE = ProblemType(
    code="unmatched",
    label=N_("Unmatched"),
    description=N_("no counterpart on the other side"),
    priority_rule="P1 no candidate by identifier nor within 80 m (OSM: a registry code tag such as uic_ref "
    "or naptan:NaptanCode naming no stop, or a malformed uic_ref); "
    "P2 nothing within 50 m or a platform count mismatch; P3 otherwise",
    detect=detect,
)
