"""`registry_position_mismatch`: a registry stop whose two published positions disagree.

- `registry_position_mismatch` (a registry stop, matched or not): its registry publishes two positions
  that disagree beyond the source's tolerance (NaPTAN: OSGB36 grid vs WGS84, NAPTAN_POSITION_MISMATCH_M),
  as the source marks it in `attributes["position_mismatch"]`. P2 beyond POSITION_MISMATCH_P2_FACTOR
  tolerances, else P3; for a matched stop the details say which position its OSM object is nearer to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.geo import haversine_m
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import OsmObject, ProblemRecord, RegistryKey, problem_identity

# A registry stop whose two positions lie more than this many tolerances apart is P2 (else P3): far
# enough that the matcher, which uses one of them, may have paired the stop with the wrong object.
POSITION_MISMATCH_P2_FACTOR = 4.0


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    """Registry stops whose source found their two published positions disagreeing.

    The source (which knows its coordinate systems) measures and marks; this check knows no
    registry: `attributes["position_mismatch"]` = {distance_m, tolerance_m, other_lat, other_lon,
    other_crs?}. A malformed mark is ignored (it comes from our own parser, never from a user).
    """
    nearest: dict[RegistryKey, tuple[float, OsmObject]] = {}
    for match in ctx.matches:
        obj = ctx.obj_by_key.get(match.osm_key)
        best = nearest.get(match.key)
        if obj is not None and (best is None or match.distance_m < best[0]):
            nearest[match.key] = (match.distance_m, obj)
    for stop in ctx.registry:
        mark = stop.attributes.get("position_mismatch") if stop.attributes else None
        if not isinstance(mark, dict):
            continue
        try:
            distance, tolerance = float(mark["distance_m"]), float(mark["tolerance_m"])
            other_lat, other_lon = float(mark["other_lat"]), float(mark["other_lon"])
        except (KeyError, TypeError, ValueError):
            continue
        details: dict[str, Any] = {
            "distance_m": round(distance, 1),
            "tolerance_m": tolerance,
            "position": {"lat": stop.lat, "lon": stop.lon, "crs": "EPSG:4326"},
            "other_position": {"lat": other_lat, "lon": other_lon, "crs": mark.get("other_crs")},
        }
        if stop.key in nearest:
            obj = nearest[stop.key][1]
            to_position = haversine_m(stop.lat, stop.lon, obj.lat, obj.lon)
            to_other = haversine_m(other_lat, other_lon, obj.lat, obj.lon)
            details["osm_key"] = obj.osm_key
            details["osm_distance_m"] = {
                "position": round(to_position, 1),
                "other_position": round(to_other, 1),
            }
            details["osm_agrees_with"] = "position" if to_position <= to_other else "other_position"
        yield ProblemRecord(
            identity=problem_identity("registry_position_mismatch", stop.stop_id, None, stop.source),
            problem_type="registry_position_mismatch",
            priority=2 if distance > POSITION_MISMATCH_P2_FACTOR * tolerance else 3,
            stop_id=stop.stop_id,
            source=stop.source,
            osm_key=None,
            operator_code=stop.operator_code,
            distance_m=round(distance, 1),
            message=f"{stop.name or stop.stop_id}: the registry's two positions lie {distance:.0f} m "
            f"apart (more than {tolerance:g} m)",
            details=details,
            lat=stop.lat,
            lon=stop.lon,
        )


TYPE = ProblemType(
    code="registry_position_mismatch",
    label=N_("Registry positions disagree"),
    description=N_("the registry gives the stop two positions that lie apart"),
    priority_rule="P2 the two positions lie more than POSITION_MISMATCH_P2_FACTOR tolerances apart; else P3",
    detect=detect,
)
