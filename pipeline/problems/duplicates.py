"""`duplicates`: the same stop twice on one side.

- `duplicates`, registry side: P2 same number + platform_code; P3 same position (< SAME_PLACE_M).
- `duplicates`, OSM side: P3 same `uic_ref` + `local_ref`, or same `ref:IFOPT`, on two objects of the
  same kind (two platforms; a platform and its stop position are not duplicates).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pipeline.matching.normalize import normalise_ref
from pipeline.problems.base import N_, ProblemContext, ProblemType, osm_kind
from pipeline.records import ProblemRecord, RegistryKey, problem_identity

SAME_PLACE_M = 1.0


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    yield from _registry_duplicates(ctx)
    yield from _osm_duplicates(ctx)


def _registry_duplicates(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    # (source, stop_id) → {"priority", "reasons": [...]}: a duplicate lies within one registry; two
    # registries naming one place (or using one id string) are not each other's duplicates.
    groups: dict[RegistryKey, dict[str, Any]] = {}
    by_key: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for s in ctx.registry:
        ref = normalise_ref(s.platform_code)
        if s.code_number is not None and ref is not None:
            by_key[(s.source, s.code_number, ref)].append(s.stop_id)
    for (source, number, ref), sloids in by_key.items():
        if len(sloids) < 2:
            continue
        for stop_id in sloids:
            entry = groups.setdefault(RegistryKey(source, stop_id), {"priority": 2, "reasons": []})
            entry["priority"] = 2
            entry["reasons"].append(
                {
                    "rule": "same number and platform_code",
                    "number": number,
                    "platform_code": ref,
                    "members": sorted(sloids),
                }
            )
    if len(ctx.registry) > 1:
        pairs = ctx.registry_index.tree.query_pairs(r=SAME_PLACE_M)
        close: dict[RegistryKey, set[str]] = defaultdict(set)
        for a, b in pairs:
            ka, kb = ctx.registry[a].key, ctx.registry[b].key
            if ka.source == kb.source:
                close[ka].add(kb.stop_id)
                close[kb].add(ka.stop_id)
        for stop_key, others in close.items():
            entry = groups.setdefault(stop_key, {"priority": 3, "reasons": []})
            entry["reasons"].append(
                {"rule": f"same position (< {SAME_PLACE_M:g} m)", "members": sorted(others)}
            )
    for stop_key in sorted(groups):
        stop, entry = ctx.stop_by_id[stop_key], groups[stop_key]
        stop_id = stop.stop_id
        yield ProblemRecord(
            identity=problem_identity("duplicates", stop_id, None, stop.source),
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


def _osm_duplicates(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for o in ctx.osm:
        kind = osm_kind(o)
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
        obj = ctx.obj_by_key[osm_key]
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


TYPE = ProblemType(
    code="duplicates",
    label=N_("Duplicate"),
    description=N_("the same stop appears twice on one side"),
    priority_rule="registry: P2 same number and platform code, P3 same position; OSM: P3 same "
    "uic_ref + local_ref or same ref:IFOPT on two objects of one kind",
    detect=detect,
)
