"""`route_contradiction`: a matched pair whose timetable routes and OSM route relations disagree.

- `route_contradiction` (a match, only with route evidence): P2 both sides have routes (GTFS at the
  registry stop, route relations at the OSM object) and none agree: no common line (route id or
  line ref), or common lines only in opposite directions (`pipeline.matching.route.classify_routes`).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.matching.route import classify_routes
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import ProblemRecord, problem_identity


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    """P2 for a matched pair whose routes disagree (both sides have some, none agree)."""
    evidence = ctx.route_evidence
    if evidence is None or not evidence.registry_routes or not evidence.osm_routes:
        return
    for m in ctx.matches:
        verdict = classify_routes(
            evidence.registry_routes.get(m.key, ()), evidence.osm_routes.get(m.osm_key, ())
        )
        if not verdict.contradicts:
            continue
        stop = ctx.stop_by_id[m.key]
        why = "no common line" if verdict.outcome == "no_common_line" else "common lines, opposite directions"
        yield ProblemRecord(
            identity=problem_identity("route_contradiction", m.stop_id, m.osm_key, m.source),
            problem_type="route_contradiction",
            priority=2,
            stop_id=m.stop_id,
            source=m.source,
            osm_key=m.osm_key,
            operator_code=stop.operator_code,
            distance_m=m.distance_m,
            message=f"{stop.name or m.stop_id} and {m.osm_key} are served by different routes ({why})",
            details={
                "reason": verdict.outcome,
                "method": m.method,
                "registry_routes": list(verdict.registry_lines),
                "osm_routes": list(verdict.osm_lines),
            },
            lat=stop.lat,
            lon=stop.lon,
        )


TYPE = ProblemType(
    code="route_contradiction",
    label=N_("Routes disagree"),
    description=N_("matched, but timetable and OSM name other lines"),
    priority_rule="P2 both sides have routes and none agree (no common line, or opposite directions only)",
    pair=True,
    detect=detect,
)
