"""Stage 1: exact identifiers, as each registry declares them (`pipeline.declarations`).

Every index is per registry: a value is looked up only among the stops of the registry whose tag
carries it, so two registries sharing values (a border station's UIC number in ATLAS and zHV) never
make each other's values ambiguous. ATLAS's declaration gives the rules below; NaPTAN's is the same
with `naptan:AtcoCode` and `naptan:NaptanCode`.

1a. registry stop_id == a declared id tag (ATLAS: `ref:IFOPT` or `ref:sloid`): every OSM object naming
    the stop_id is linked.
1b. registry code == a declared code tag (ATLAS: UIC number == `uic_ref`):
    - the number names exactly one registry stop: every OSM object with that `uic_ref` is linked to it
      (one stop, several OSM objects: platform, stop position, station);
    - the number names several registry stops (platforms): pairs are refined by `platform_code` ==
      `local_ref` (normalised: "01" == "1"); OSM objects without a usable `local_ref` are left to the
      later stages, which still enforce the UIC number.
One-to-many is allowed here only from a registry stop to OSM objects; an OSM object is linked once.
"""

from __future__ import annotations

from sys import intern

from pipeline.declarations import declaration_for
from pipeline.matching.context import MatchContext
from pipeline.matching.params import METHOD_EXACT_SLOID, METHOD_EXACT_UIC, METHOD_EXACT_UIC_LOCAL_REF


def match_by_sloid(ctx: MatchContext) -> set[int]:
    """1a: a declared id tag (ATLAS: `ref:IFOPT` / `ref:sloid`) equal to the registry stop_id.
    Returns the registry stops it matched."""
    matched: set[int] = set()
    for source, ident in sorted(ctx.osm_by_identifier):
        reg_i = ctx.registry_by_id.get((source, ident))
        if reg_i is None or reg_i in ctx.matched_registry:
            continue
        stop = ctx.registry[reg_i]
        linked = False
        for osm_i in sorted(ctx.osm_by_identifier[(source, ident)], key=lambda i: ctx.osm[i].osm_key):
            if osm_i in ctx.used_osm or (stop.key, ctx.osm[osm_i].osm_key) in ctx.forbidden:
                continue
            tag = ctx.identifier_tag(osm_i, source, ident)
            ctx.commit(
                reg_i,
                osm_i,
                METHOD_EXACT_SLOID,
                {"stage": 1, "rule": intern(f"stop_id == {tag}"), "identifier": ident},
                lock_registry=False,
            )
            linked = True
        if linked:
            ctx.matched_registry.add(reg_i)
            matched.add(reg_i)
    return matched


def _code_order(key: tuple[str, str]) -> tuple[str, int, str]:
    # Numbers in numeric order (shorter first), as they were compared before codes were text.
    return key[0], len(key[1]), key[1]


def _code_tags(source: str) -> str:
    """The OSM tags carrying the registry's code, as the evidence names them (ATLAS: "uic_ref", as
    stored before registries were plug-ins; NaPTAN: "naptan:NaptanCode")."""
    code = declaration_for(source).code
    return " / ".join(code.osm_tags) if code is not None else "code"


def _evidence_value(value: str) -> int | str:
    """A code as the match evidence records it: a number as a number (ATLAS's UIC numbers)."""
    return int(value) if value.isascii() and value.isdigit() else value


def match_by_uic(ctx: MatchContext, by_sloid: set[int] | None = None) -> int:
    """1b: code == a declared code tag (ATLAS: UIC number == `uic_ref`), refined by platform_code ==
    local_ref when the code names several stops of the registry.

    A stop already linked in 1a (`by_sloid`) still takes the objects of its code whose `local_ref`
    agrees with its platform_code: the stop position of a platform rarely carries `ref:sloid`.
    """
    by_sloid = by_sloid or set()
    committed = 0
    for key in sorted(ctx.osm_by_code, key=_code_order):
        reg_all = ctx.registry_by_code.get(key)
        if not reg_all:
            continue
        number = _evidence_value(key[1])
        osm_free = sorted(
            (i for i in ctx.osm_by_code[key] if i not in ctx.used_osm), key=lambda i: ctx.osm[i].osm_key
        )
        if not osm_free:
            continue
        if len(reg_all) == 1:
            reg_i = reg_all[0]
            if reg_i in ctx.matched_registry and reg_i not in by_sloid:
                continue
            stop_key = ctx.registry[reg_i].key
            for osm_i in osm_free:
                if (stop_key, ctx.osm[osm_i].osm_key) in ctx.forbidden:
                    continue
                if reg_i in by_sloid and not _same_platform(ctx, reg_i, osm_i):
                    continue
                ctx.commit(
                    reg_i,
                    osm_i,
                    METHOD_EXACT_UIC,
                    {
                        "stage": 1,
                        # One string per rule, not per match (a match's own copy: 60 MiB at Germany size).
                        "rule": intern(f"{_code_tags(key[0])} names one registry stop"),
                        "uic": number,
                        "osm_objects_with_uic": len(ctx.osm_by_code[key]),
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
    ctx: MatchContext, number: int | str, reg_all: list[int], osm_free: list[int], by_sloid: set[int]
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
        if (stop.key, ctx.osm[osm_i].osm_key) in ctx.forbidden:
            continue
        ctx.commit(
            reg_i,
            osm_i,
            METHOD_EXACT_UIC_LOCAL_REF,
            {
                "stage": 1,
                "rule": intern(f"{_code_tags(stop.source)} and local_ref == platform_code"),
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
