"""`distance`: a matched pair whose positions are too far apart.

- `distance` (a match; for a whole stop matched to several objects, its nearest one):
  P1 operator ≠ SBB and d > 80 m; P2 operator ≠ SBB and 25 < d ≤ 80 m;
  P3 SBB and d > 25 m, or any operator with 15 < d ≤ 25 m.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.declarations import declaration_for
from pipeline.matching.context import is_platform_level
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import MatchRecord, ProblemRecord, RegistryKey, RegistryStop, problem_identity


def distance_priority(distance_m: float, stop: RegistryStop) -> int | None:
    """Priority of a distance problem (1 highest), None when the pair is close enough: the policy the
    stop's registry declares (`RegistryDeclaration.distance_priority`; ATLAS: the SBB rule)."""
    return declaration_for(stop.source).distance_priority(distance_m, stop)


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    """Platform-level stops: one problem per matched pair. Whole stops (service points, matched to
    several objects): one problem per stop, measured to its nearest object, since its platforms are
    expected to lie around its position."""
    nearest_of_stop: dict[RegistryKey, MatchRecord] = {}
    for m in ctx.matches:
        stop = ctx.stop_by_id[m.key]
        if is_platform_level(stop):
            yield from _distance_problem(ctx, stop, m, m.osm_key)
        else:
            best = nearest_of_stop.get(m.key)
            if best is None or (m.distance_m, m.osm_key) < (best.distance_m, best.osm_key):
                nearest_of_stop[m.key] = m
    for stop_key in sorted(nearest_of_stop):
        yield from _distance_problem(ctx, ctx.stop_by_id[stop_key], nearest_of_stop[stop_key], None)


def _distance_problem(
    ctx: ProblemContext, stop: RegistryStop, m: MatchRecord, key: str | None
) -> Iterable[ProblemRecord]:
    priority = distance_priority(m.distance_m, stop)
    if priority is None:
        return
    obj = ctx.obj_by_key[m.osm_key]
    nearest = "" if key else "the nearest of "
    yield ProblemRecord(
        identity=problem_identity("distance", m.stop_id, key, m.source),
        problem_type="distance",
        priority=priority,
        stop_id=m.stop_id,
        source=m.source,
        osm_key=key,
        operator_code=stop.operator_code,
        distance_m=m.distance_m,
        message=f"{stop.name or m.stop_id} is {m.distance_m:.0f} m from {nearest}its OSM "
        f"object{'' if key else 's'} ({m.osm_key}, matched by {m.method})",
        details={
            "method": m.method,
            "osm_key": m.osm_key,
            "registry": [stop.lat, stop.lon],
            "osm": [obj.lat, obj.lon],
        },
        lat=stop.lat,
        lon=stop.lon,
    )


TYPE = ProblemType(
    code="distance",
    label=N_("Too far apart"),
    description=N_("matched, but the positions disagree"),
    priority_rule="the stop's registry declares it (RegistryDeclaration.distance_priority); ATLAS: P1 "
    "operator not SBB and over 80 m, P2 operator not SBB and over 25 m, P3 SBB and over 25 m or any "
    "operator over 15 m",
    pair=True,
    detect=detect,
)
