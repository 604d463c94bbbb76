"""Problem detection: pure functions from matched/unmatched records to `ProblemRecord`s.

Types and priorities (1 = most urgent):

- `distance` (a match; for a whole stop matched to several objects, its nearest one):
  P1 operator ≠ SBB and d > 80 m; P2 operator ≠ SBB and 25 < d ≤ 80 m;
  P3 SBB and d > 25 m, or any operator with 15 < d ≤ 25 m.
- `unmatched`, registry side: P1 no OSM object with its UIC number and none within 80 m; P2 nearest OSM
  object > 50 m, or OSM has another number of platforms for the UIC; P3 everything else.
- `unmatched`, OSM side: P1 its `uic_ref` is not in the registry, or is malformed (not ASCII digits);
  P2 no registry stop within 50 m, or count mismatch for its `uic_ref`; P3 everything else.
  `details.malformed` names its malformed identifier tags.
- `attributes` (a match): P1 `uic_ref` ≠ number, or `uic_name` ≠ official name (case-insensitive);
  P2 `local_ref` ≠ platform_code; P3 operator differs, or `name` differs (only when there is no
  `uic_name`, name score below NAME_MISMATCH_BELOW). A malformed `uic_ref` (P1, or P2 when the
  registry has no number) or `local_ref` (P2) is a mismatch marked `"malformed": <why>`.
- `duplicates`, registry side: P2 same number + platform_code; P3 same position (< SAME_PLACE_M).
- `duplicates`, OSM side: P3 same `uic_ref` + `local_ref`, or same `ref:IFOPT`, on two objects of the
  same kind (two platforms; a platform and its stop position are not duplicates).
- `route_contradiction` (a match, only with route evidence): P2 both sides have routes (GTFS at the
  registry stop, route relations at the OSM object) and none agree: no common line (route id or
  line ref), or common lines only in opposite directions (`pipeline.matching.route.classify_routes`).
- `registry_position_mismatch` (a registry stop, matched or not): its registry publishes two positions
  that disagree beyond the source's tolerance (NaPTAN: OSGB36 grid vs WGS84, NAPTAN_POSITION_MISMATCH_M),
  as the source marks it in `attributes["position_mismatch"]`. P2 beyond POSITION_MISMATCH_P2_FACTOR
  tolerances, else P3; for a matched stop the details say which position its OSM object is nearer to.

Thresholds follow the reference system (stop_sync_osm_atlas `problem_detection/context.py`). One
`attributes` problem per match, at the highest severity found, with every mismatch in `details`.
Identities are `problem_identity(type, stop_id, osm_key)`: stable as long as the ids are.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pipeline.declarations import DISTANCE_P1_M, declaration_for
from pipeline.geo import haversine_m
from pipeline.matching.context import SpatialIndex, is_platform_level, parse_uic
from pipeline.matching.normalize import fold, name_score, normalise_ref
from pipeline.matching.route import RouteEvidence, classify_routes
from pipeline.records import MatchRecord, OsmObject, ProblemRecord, RegistryStop, problem_identity
from pipeline.text import has_foreign_characters

ISOLATION_RADIUS_M = 50.0
# A registry stop whose two positions lie more than this many tolerances apart is P2 (else P3): far
# enough that the matcher, which uses one of them, may have paired the stop with the wrong object.
POSITION_MISMATCH_P2_FACTOR = 4.0
SAME_PLACE_M = 1.0
NAME_MISMATCH_BELOW = 70.0  # `name` (when there is no uic_name) counts as different below this score

# Operator spellings that mean the same company (OSM `operator` → registry abbreviation).
OPERATOR_ALIASES: dict[str, str] = {
    "cff": "sbb",
    "ffs": "sbb",
    "sbb cff ffs": "sbb",
    "schweizerische bundesbahnen": "sbb",
    "postauto": "pag",
    "carpostal": "pag",
    "autopostale": "pag",
    "postauto ag": "pag",
    "postauto schweiz": "pag",
    "liemobil": "vlm",  # Verkehrsbetrieb LIECHTENSTEINmobil
    "liechtensteinmobil": "vlm",
}

PT_PLATFORM_KINDS = ("platform", "stop_position", "station")


def _osm_kind(obj: OsmObject) -> str:
    if obj.public_transport in PT_PLATFORM_KINDS:
        return obj.public_transport or "other"
    if obj.highway == "bus_stop" or obj.railway in {"platform", "tram_stop"}:
        return "platform"
    if obj.railway in {"station", "halt"}:
        return "station"
    return "other"


def distance_priority(distance_m: float, stop: RegistryStop) -> int | None:
    """Priority of a distance problem (1 highest), None when the pair is close enough: the policy the
    stop's registry declares (`RegistryDeclaration.distance_priority`; ATLAS: the SBB rule)."""
    return declaration_for(stop.source).distance_priority(distance_m, stop)


_COMMA = re.compile(r"\s*,\s*")
_SPACES = re.compile(r"\s+")


def _same_name(a: str, b: str) -> bool:
    """Equal up to case and spacing around commas and words ("Bern,  Bahnhof" == "bern, bahnhof")."""

    def canon(text: str) -> str:
        return _SPACES.sub(" ", _COMMA.sub(",", text.strip().lower()))

    return canon(a) == canon(b)


def _same_operator(stop: RegistryStop, operator: str) -> bool:
    osm_op = fold(operator)
    osm_op = OPERATOR_ALIASES.get(osm_op, osm_op)
    names = {fold(n) for n in (stop.operator_code, stop.operator_name) if n}
    names = {OPERATOR_ALIASES.get(n, n) for n in names}
    if osm_op in names:
        return True
    # "SBB" vs "SBB CFF FFS", "BLS" vs "BLS AG": one contains the other as whole words.
    return any(f" {n} " in f" {osm_op} " or f" {osm_op} " in f" {n} " for n in names if n)


MALFORMED_UIC_REF = "not a UIC number (ASCII digits 0-9 only)"
MALFORMED_LOCAL_REF = "holds a character no platform code can (a non-ASCII digit, a control or bidi mark)"


def malformed_uic_ref(value: str | None) -> bool:
    """A `uic_ref` that is neither a number nor a `;` list of numbers ("85O3000", "²", "8503000 A").

    Such a value is never an identifier for the matcher; it is reported as an attribute problem so a
    mapper can repair it. A `;` list is OSM's way of giving several values, not a typo.
    """
    if not value or not value.strip():
        return False
    return any(parse_uic(part) is None for part in value.split(";"))


def malformed_local_ref(value: str | None) -> bool:
    """A `local_ref` the matcher cannot use as a platform code although it is not empty."""
    return bool(value and value.strip()) and has_foreign_characters(value)


def _malformed_tags(obj: OsmObject) -> dict[str, list[str]]:
    """`{"malformed": [tag, ...]}` naming the identifier tags of `obj` that are malformed, or {}."""
    bad = [
        tag
        for tag, malformed in (
            ("uic_ref", malformed_uic_ref(obj.uic_ref)),
            ("local_ref", malformed_local_ref(obj.local_ref)),
        )
        if malformed
    ]
    return {"malformed": bad} if bad else {}


def attribute_mismatches(stop: RegistryStop, obj: OsmObject) -> list[dict[str, Any]]:
    """Every attribute on which the pair disagrees, each with its priority. Only present values count.

    A malformed OSM identifier (`malformed_uic_ref`, `malformed_local_ref`) is a mismatch even when the
    registry has no value to compare with, marked `"malformed": <why>`.
    """
    out: list[dict[str, Any]] = []
    osm_uic = parse_uic(obj.uic_ref)
    if malformed_uic_ref(obj.uic_ref):
        out.append(
            {
                "attribute": "uic_ref",
                "registry": stop.code_number,
                "osm": obj.uic_ref,
                "malformed": MALFORMED_UIC_REF,
                "priority": 1 if stop.code_number is not None else 2,
            }
        )
    elif obj.uic_ref and stop.code_number is not None and osm_uic != stop.code_number:
        out.append({"attribute": "uic_ref", "registry": stop.code_number, "osm": obj.uic_ref, "priority": 1})
    official = stop.name
    if official and obj.uic_name:
        if not _same_name(official, obj.uic_name):
            out.append({"attribute": "uic_name", "registry": official, "osm": obj.uic_name, "priority": 1})
    elif official and obj.name:
        score = name_score(official, obj.name)
        if score < NAME_MISMATCH_BELOW:
            out.append(
                {"attribute": "name", "registry": official, "osm": obj.name, "score": score, "priority": 3}
            )
    reg_ref, osm_ref = normalise_ref(stop.platform_code), normalise_ref(obj.local_ref)
    if malformed_local_ref(obj.local_ref):
        out.append(
            {
                "attribute": "local_ref",
                "registry": stop.platform_code,
                "osm": obj.local_ref,
                "malformed": MALFORMED_LOCAL_REF,
                "priority": 2,
            }
        )
    elif reg_ref is not None and osm_ref is not None and reg_ref != osm_ref:
        out.append(
            {"attribute": "local_ref", "registry": stop.platform_code, "osm": obj.local_ref, "priority": 2}
        )
    if obj.operator and (stop.operator_code or stop.operator_name) and not _same_operator(stop, obj.operator):
        out.append(
            {"attribute": "operator", "registry": stop.operator_code, "osm": obj.operator, "priority": 3}
        )
    return out


class ProblemDetector:
    """Holds the lookups shared by every check; `detect()` returns all problems, sorted by identity."""

    def __init__(
        self,
        registry: Sequence[RegistryStop],
        osm: Sequence[OsmObject],
        matches: Sequence[MatchRecord],
        unmatched_registry: Iterable[str],
        unmatched_osm: Iterable[str],
        route_evidence: RouteEvidence | None = None,
    ) -> None:
        self.route_evidence = route_evidence
        self.registry = list(registry)
        self.osm = list(osm)
        self.matches = list(matches)
        self.unmatched_registry = list(unmatched_registry)
        self.unmatched_osm = list(unmatched_osm)
        self.stop_by_sloid = {s.stop_id: s for s in self.registry}
        self.obj_by_key = {o.osm_key: o for o in self.osm}
        self.registry_pos = {s.stop_id: i for i, s in enumerate(self.registry)}
        self.osm_pos = {o.osm_key: i for i, o in enumerate(self.osm)}
        self.registry_index = SpatialIndex.build(
            [s.lat for s in self.registry], [s.lon for s in self.registry]
        )
        self.osm_index = SpatialIndex.build([o.lat for o in self.osm], [o.lon for o in self.osm])
        self.registry_count_by_uic: dict[int, int] = defaultdict(int)
        for s in self.registry:
            if s.code_number is not None:
                self.registry_count_by_uic[s.code_number] += 1
        self.osm_count_by_uic: dict[int, int] = defaultdict(int)
        self.osm_platform_count_by_uic: dict[int, int] = defaultdict(int)
        for o in self.osm:
            uic = parse_uic(o.uic_ref)
            if uic is None:
                continue
            self.osm_count_by_uic[uic] += 1
            if _osm_kind(o) == "platform":
                self.osm_platform_count_by_uic[uic] += 1

    def detect(self) -> list[ProblemRecord]:
        problems: dict[str, ProblemRecord] = {}
        for generator in (
            self.distance,
            self.attributes,
            self.route_contradictions,
            self.unmatched,
            self.duplicates,
            self.registry_position_mismatches,
        ):
            for problem in generator():
                problems.setdefault(problem.identity, problem)
        return sorted(problems.values(), key=lambda p: p.identity)

    # -- distance ------------------------------------------------------------------------------

    def distance(self) -> Iterable[ProblemRecord]:
        """Platform-level stops: one problem per matched pair. Whole stops (service points, matched to
        several objects): one problem per stop, measured to its nearest object, since its platforms are
        expected to lie around its position."""
        nearest_of_stop: dict[str, MatchRecord] = {}
        for m in self.matches:
            stop = self.stop_by_sloid[m.stop_id]
            if is_platform_level(stop):
                yield from self._distance_problem(stop, m, m.osm_key)
            else:
                best = nearest_of_stop.get(m.stop_id)
                if best is None or (m.distance_m, m.osm_key) < (best.distance_m, best.osm_key):
                    nearest_of_stop[m.stop_id] = m
        for stop_id in sorted(nearest_of_stop):
            yield from self._distance_problem(self.stop_by_sloid[stop_id], nearest_of_stop[stop_id], None)

    def _distance_problem(
        self, stop: RegistryStop, m: MatchRecord, key: str | None
    ) -> Iterable[ProblemRecord]:
        priority = distance_priority(m.distance_m, stop)
        if priority is None:
            return
        obj = self.obj_by_key[m.osm_key]
        nearest = "" if key else "the nearest of "
        yield ProblemRecord(
            identity=problem_identity("distance", m.stop_id, key),
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

    # -- attributes ----------------------------------------------------------------------------

    def attributes(self) -> Iterable[ProblemRecord]:
        for m in self.matches:
            stop, obj = self.stop_by_sloid[m.stop_id], self.obj_by_key[m.osm_key]
            mismatches = attribute_mismatches(stop, obj)
            if not mismatches:
                continue
            names = ", ".join(
                x["attribute"] + (" (malformed)" if x.get("malformed") else "") for x in mismatches
            )
            yield ProblemRecord(
                identity=problem_identity("attributes", m.stop_id, m.osm_key),
                problem_type="attributes",
                priority=min(x["priority"] for x in mismatches),
                stop_id=m.stop_id,
                source=m.source,
                osm_key=m.osm_key,
                operator_code=stop.operator_code,
                distance_m=m.distance_m,
                message=f"{stop.name or m.stop_id} and {m.osm_key} disagree on {names}",
                details={"mismatches": mismatches, "method": m.method},
                lat=stop.lat,
                lon=stop.lon,
            )

    # -- routes --------------------------------------------------------------------------------

    def route_contradictions(self) -> Iterable[ProblemRecord]:
        """P2 for a matched pair whose routes disagree (both sides have some, none agree)."""
        evidence = self.route_evidence
        if evidence is None or not evidence.registry_routes or not evidence.osm_routes:
            return
        for m in self.matches:
            verdict = classify_routes(
                evidence.registry_routes.get(m.stop_id, ()), evidence.osm_routes.get(m.osm_key, ())
            )
            if not verdict.contradicts:
                continue
            stop = self.stop_by_sloid[m.stop_id]
            why = (
                "no common line"
                if verdict.outcome == "no_common_line"
                else "common lines, opposite directions"
            )
            yield ProblemRecord(
                identity=problem_identity("route_contradiction", m.stop_id, m.osm_key),
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

    # -- unmatched -----------------------------------------------------------------------------

    def _nearest(self, index: SpatialIndex, xy: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if len(index.xy) == 0 or len(xy) == 0:
            return np.full(len(xy), np.inf), np.full(len(xy), -1)
        dist, idx = index.tree.query(xy, k=k)
        return dist, idx

    def unmatched(self) -> Iterable[ProblemRecord]:
        yield from self._unmatched_registry()
        yield from self._unmatched_osm()

    def _unmatched_registry(self) -> Iterable[ProblemRecord]:
        positions = [self.registry_pos[s] for s in self.unmatched_registry]
        dists, idxs = self._nearest(self.osm_index, self.registry_index.xy[positions])
        for pos, dist, idx in zip(positions, dists, idxs, strict=True):
            stop = self.registry[pos]
            nearest = None if not np.isfinite(dist) else float(dist)
            uic = stop.code_number
            osm_with_uic = self.osm_count_by_uic.get(uic, 0) if uic is not None else 0
            count_mismatch = (
                uic is not None
                and osm_with_uic > 0
                and self.osm_platform_count_by_uic.get(uic, 0) != self.registry_count_by_uic[uic]
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
                    "nearest_osm": None if nearest is None else self.osm[int(idx)].osm_key,
                    "nearest_osm_m": None if nearest is None else round(nearest, 2),
                    "osm_objects_with_uic": osm_with_uic,
                },
                lat=stop.lat,
                lon=stop.lon,
            )

    def _unmatched_osm(self) -> Iterable[ProblemRecord]:
        positions = [self.osm_pos[k] for k in self.unmatched_osm]
        dists, idxs = self._nearest(self.registry_index, self.osm_index.xy[positions])
        for pos, dist, idx in zip(positions, dists, idxs, strict=True):
            obj = self.osm[pos]
            nearest = None if not np.isfinite(dist) else float(dist)
            uic = parse_uic(obj.uic_ref)
            registry_with_uic = self.registry_count_by_uic.get(uic, 0) if uic is not None else 0
            count_mismatch = (
                uic is not None
                and registry_with_uic > 0
                and (self.osm_platform_count_by_uic.get(uic, 0) != registry_with_uic)
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
            nearest_stop = None if nearest is None else self.registry[int(idx)]
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
                    **_malformed_tags(obj),
                },
                lat=obj.lat,
                lon=obj.lon,
            )

    # -- registry_position_mismatch ------------------------------------------------------------

    def registry_position_mismatches(self) -> Iterable[ProblemRecord]:
        """Registry stops whose source found their two published positions disagreeing.

        The source (which knows its coordinate systems) measures and marks; this check knows no
        registry: `attributes["position_mismatch"]` = {distance_m, tolerance_m, other_lat, other_lon,
        other_crs?}. A malformed mark is ignored (it comes from our own parser, never from a user).
        """
        nearest: dict[str, tuple[float, OsmObject]] = {}
        for match in self.matches:
            obj = self.obj_by_key.get(match.osm_key)
            best = nearest.get(match.stop_id)
            if obj is not None and (best is None or match.distance_m < best[0]):
                nearest[match.stop_id] = (match.distance_m, obj)
        for stop in self.registry:
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
            if stop.stop_id in nearest:
                obj = nearest[stop.stop_id][1]
                to_position = haversine_m(stop.lat, stop.lon, obj.lat, obj.lon)
                to_other = haversine_m(other_lat, other_lon, obj.lat, obj.lon)
                details["osm_key"] = obj.osm_key
                details["osm_distance_m"] = {
                    "position": round(to_position, 1),
                    "other_position": round(to_other, 1),
                }
                details["osm_agrees_with"] = "position" if to_position <= to_other else "other_position"
            yield ProblemRecord(
                identity=problem_identity("registry_position_mismatch", stop.stop_id, None),
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

    # -- duplicates ----------------------------------------------------------------------------

    def duplicates(self) -> Iterable[ProblemRecord]:
        yield from self._registry_duplicates()
        yield from self._osm_duplicates()

    def _registry_duplicates(self) -> Iterable[ProblemRecord]:
        groups: dict[str, dict[str, Any]] = {}  # stop_id → {"priority", "reasons": [...]}
        by_key: dict[tuple[int, str], list[str]] = defaultdict(list)
        for s in self.registry:
            ref = normalise_ref(s.platform_code)
            if s.code_number is not None and ref is not None:
                by_key[(s.code_number, ref)].append(s.stop_id)
        for (number, ref), sloids in by_key.items():
            if len(sloids) < 2:
                continue
            for stop_id in sloids:
                entry = groups.setdefault(stop_id, {"priority": 2, "reasons": []})
                entry["priority"] = 2
                entry["reasons"].append(
                    {
                        "rule": "same number and platform_code",
                        "number": number,
                        "platform_code": ref,
                        "members": sorted(sloids),
                    }
                )
        if len(self.registry) > 1:
            pairs = self.registry_index.tree.query_pairs(r=SAME_PLACE_M)
            close: dict[str, set[str]] = defaultdict(set)
            for a, b in pairs:
                sa, sb = self.registry[a].stop_id, self.registry[b].stop_id
                close[sa].add(sb)
                close[sb].add(sa)
            for stop_id, others in close.items():
                entry = groups.setdefault(stop_id, {"priority": 3, "reasons": []})
                entry["reasons"].append(
                    {"rule": f"same position (< {SAME_PLACE_M:g} m)", "members": sorted(others)}
                )
        for stop_id in sorted(groups):
            stop, entry = self.stop_by_sloid[stop_id], groups[stop_id]
            yield ProblemRecord(
                identity=problem_identity("duplicates", stop_id, None),
                problem_type="duplicates",
                priority=entry["priority"],
                stop_id=stop_id,
                source=stop.source,
                osm_key=None,
                operator_code=stop.operator_code,
                distance_m=None,
                message=f"{stop.name or stop_id} looks duplicated in the registry: "
                + "; ".join(r["rule"] for r in entry["reasons"]),
                details={"side": "registry", "reasons": entry["reasons"]},
                lat=stop.lat,
                lon=stop.lon,
            )

    def _osm_duplicates(self) -> Iterable[ProblemRecord]:
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for o in self.osm:
            kind = _osm_kind(o)
            ref = normalise_ref(o.local_ref)
            if o.uic_ref and ref is not None:
                groups[("uic_ref+local_ref", o.uic_ref.strip(), ref, kind)].append(o.osm_key)
            if o.ifopt:
                groups[("ref:IFOPT", o.ifopt.strip(), kind)].append(o.osm_key)
        reasons: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for key, members in groups.items():
            if len(members) < 2:
                continue
            for member in members:
                reasons[member].append(
                    {
                        "rule": f"same {key[0]}",
                        "value": list(key[1:-1]),
                        "kind": key[-1],
                        "members": sorted(members),
                    }
                )
        for osm_key in sorted(reasons):
            obj = self.obj_by_key[osm_key]
            yield ProblemRecord(
                identity=problem_identity("duplicates", None, osm_key),
                problem_type="duplicates",
                priority=3,
                stop_id=None,
                osm_key=osm_key,
                operator_code=None,
                distance_m=None,
                message=f"OSM {osm_key} ({obj.name or 'no name'}) shares identifiers with another object: "
                + "; ".join(r["rule"] for r in reasons[osm_key]),
                details={"side": "osm", "reasons": reasons[osm_key]},
                lat=obj.lat,
                lon=obj.lon,
            )


def detect_problems(
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    matches: Sequence[MatchRecord],
    unmatched_registry: Iterable[str],
    unmatched_osm: Iterable[str],
    route_evidence: RouteEvidence | None = None,
) -> list[ProblemRecord]:
    """Every problem of one snapshot, sorted by identity."""
    return ProblemDetector(registry, osm, matches, unmatched_registry, unmatched_osm, route_evidence).detect()
