"""Stage 1: exact identifiers.

1a. registry stop_id == OSM `ref:IFOPT` or `ref:sloid`: every OSM object naming the stop_id is linked.
1b. registry UIC number == OSM `uic_ref`:
    - the number names exactly one registry stop: every OSM object with that `uic_ref` is linked to it
      (one stop, several OSM objects: platform, stop position, station);
    - the number names several registry stops (platforms): pairs are refined by `platform_code` ==
      `local_ref` (normalised: "01" == "1"); OSM objects without a usable `local_ref` are left to the
      later stages, which still enforce the UIC number.
One-to-many is allowed here only from a registry stop to OSM objects; an OSM object is linked once.
"""

from __future__ import annotations

from pipeline.matching.context import MatchContext
from pipeline.matching.params import METHOD_EXACT_SLOID, METHOD_EXACT_UIC, METHOD_EXACT_UIC_LOCAL_REF


def match_by_sloid(ctx: MatchContext) -> set[int]:
    """1a: `ref:IFOPT` / `ref:sloid` equal to the registry stop_id. Returns the registry stops it matched."""
    matched: set[int] = set()
    for ident in sorted(ctx.osm_by_identifier):
        reg_i = ctx.registry_by_sloid.get(ident)
        if reg_i is None or reg_i in ctx.matched_registry:
            continue
        stop = ctx.registry[reg_i]
        linked = False
        for osm_i in sorted(ctx.osm_by_identifier[ident], key=lambda i: ctx.osm[i].osm_key):
            if osm_i in ctx.used_osm or (stop.stop_id, ctx.osm[osm_i].osm_key) in ctx.forbidden:
                continue
            tag = "ref:IFOPT" if ctx.osm[osm_i].ifopt == ident else "ref:sloid"
            ctx.commit(
                reg_i,
                osm_i,
                METHOD_EXACT_SLOID,
                {"stage": 1, "rule": f"stop_id == {tag}", "identifier": ident},
                lock_registry=False,
            )
            linked = True
        if linked:
            ctx.matched_registry.add(reg_i)
            matched.add(reg_i)
    return matched


def match_by_uic(ctx: MatchContext, by_sloid: set[int] | None = None) -> int:
    """1b: UIC number == `uic_ref`, refined by platform_code == local_ref when the number has several stops.

    A stop already linked in 1a (`by_sloid`) still takes the objects of its number whose `local_ref`
    agrees with its platform_code: the stop position of a platform rarely carries `ref:sloid`.
    """
    by_sloid = by_sloid or set()
    committed = 0
    for number in sorted(ctx.osm_by_uic):
        reg_all = ctx.registry_by_number.get(number)
        if not reg_all:
            continue
        osm_free = sorted(
            (i for i in ctx.osm_by_uic[number] if i not in ctx.used_osm), key=lambda i: ctx.osm[i].osm_key
        )
        if not osm_free:
            continue
        if len(reg_all) == 1:
            reg_i = reg_all[0]
            if reg_i in ctx.matched_registry and reg_i not in by_sloid:
                continue
            stop_id = ctx.registry[reg_i].stop_id
            for osm_i in osm_free:
                if (stop_id, ctx.osm[osm_i].osm_key) in ctx.forbidden:
                    continue
                if reg_i in by_sloid and not _same_platform(ctx, reg_i, osm_i):
                    continue
                ctx.commit(
                    reg_i,
                    osm_i,
                    METHOD_EXACT_UIC,
                    {
                        "stage": 1,
                        "rule": "uic_ref names one registry stop",
                        "uic": number,
                        "osm_objects_with_uic": len(ctx.osm_by_uic[number]),
                    },
                    lock_registry=False,
                )
                committed += 1
                ctx.matched_registry.add(reg_i)
            continue
        committed += _match_by_local_ref(ctx, number, reg_all, osm_free, by_sloid)
    return committed


def _same_platform(ctx: MatchContext, reg_i: int, osm_i: int) -> bool:
    reg_ref, osm_ref = ctx.registry_refs[reg_i], ctx.osm_refs[osm_i]
    return reg_ref is not None and reg_ref == osm_ref


def _match_by_local_ref(
    ctx: MatchContext, number: int, reg_all: list[int], osm_free: list[int], by_sloid: set[int]
) -> int:
    by_ref: dict[str, list[int]] = {}
    for reg_i in sorted(reg_all, key=lambda i: ctx.registry[i].stop_id):
        ref = ctx.registry_refs[reg_i]
        if ref is not None and (reg_i not in ctx.matched_registry or reg_i in by_sloid):
            # Two registry stops with the same number and platform_code are duplicates: the first
            # (lowest stop_id) takes the OSM objects, the duplicates problem reports the others.
            by_ref.setdefault(ref, []).append(reg_i)
    committed = 0
    for osm_i in osm_free:
        ref = ctx.osm_refs[osm_i]
        if ref is None or ref not in by_ref:
            continue
        reg_i = by_ref[ref][0]
        stop = ctx.registry[reg_i]
        if (stop.stop_id, ctx.osm[osm_i].osm_key) in ctx.forbidden:
            continue
        ctx.commit(
            reg_i,
            osm_i,
            METHOD_EXACT_UIC_LOCAL_REF,
            {
                "stage": 1,
                "rule": "uic_ref and local_ref == platform_code",
                "uic": number,
                "platform_code": stop.platform_code,
                "local_ref": ctx.osm[osm_i].local_ref,
                "registry_stops_with_uic": len(reg_all),
            },
            lock_registry=False,
        )
        ctx.matched_registry.add(reg_i)
        committed += 1
    return committed
