"""Stage 1c: stop areas — the objects a mapper grouped into one stop belong to the same registry stop.

A `public_transport=stop_area` relation groups the platforms, stop positions and station of one stop.
After the identifier stages, each stop area gets an **anchor**, the registry stop it stands for:

1. the stop of the members matched by an identifier (or a manual link): a service point, or the
   parent service point of a matched traffic point (its platforms are the stop's children);
2. else the stop area's own identifier of the stop, as the registry declares it
   (`RegistryDeclaration.stop_area`; ATLAS: its `uic_ref`, a number naming one registry stop or the
   platforms of one; NaPTAN: its `naptan:StopAreaCode`, the StopArea that is the stops' parent_id);
3. else its `uic_name`, then its `name`, equal after normalisation to the official name of exactly
   one registry stop within STOP_AREA_MAX_DISTANCE_M of a member.

A stop area whose members point at several registry stops, or whose own identifier contradicts its
members, has no anchor: the later stages decide for each object alone.

Every still unmatched member that is a stop object then joins the anchor (method `stop_area`, the
relation in the evidence), even without a name or identifier of its own ("Perron 2", "Quai 3"):
- a member with a platform code (`local_ref`, `ref`, or a name such as "Perron 2") joins the
  registry platform (a traffic point of the stop) with that platform_code, when there is one;
- else the stop itself (a service point), or its only platform; a stop known only by several
  platforms leaves a member without a code alone (which platform it is, nobody said);
- never when a hard rule forbids the pair (`MatchContext.pair_rejection`: its own `uic_ref` or
  `ref:IFOPT` names another registry stop, a contradicting platform code, a manual unlink, a station
  object for a platform); when it carries an identifier of another stop even one the registry does not
  hold (a railway station's `uic_ref` from a foreign numbering, in a stop area with the bus stop in
  front of it); when its mode contradicts the stop's (a railway object and a bus-only stop: in
  Switzerland "X, Bahnhof" the bus stop and "X" the station are two registry stops); when it lies
  farther than STOP_AREA_MAX_DISTANCE_M from the stop; or when its own name names another registry stop
  nearby and not this one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from pipeline.declarations import declaration_for
from pipeline.matching.context import MatchContext, is_platform_level, osm_names
from pipeline.matching.normalize import normalise, normalise_ref
from pipeline.matching.params import (
    METHOD_EXACT_SLOID,
    METHOD_EXACT_UIC,
    METHOD_EXACT_UIC_LOCAL_REF,
    METHOD_MANUAL,
    METHOD_STOP_AREA,
    NAME_MIN_SCORE,
    STOP_AREA_MAX_DISTANCE_M,
)
from pipeline.records import OsmStopArea, OsmStructure, RegistryKey

# Matches that say who a member is: an identifier or a person. Proximity matches do not anchor.
ANCHOR_METHODS = frozenset({METHOD_MANUAL, METHOD_EXACT_SLOID, METHOD_EXACT_UIC, METHOD_EXACT_UIC_LOCAL_REF})

# A member's mode from its tags, against the registry's `meansOfTransport`: a railway object belongs
# to a stop served by rail, an object tagged for buses only to one served by bus.
_RAIL_TAGS = (("railway", "station"), ("railway", "halt"), ("railway", "platform"), ("railway", "stop"),
              ("train", "yes"))  # fmt: skip
_BUS_TAGS = (("highway", "bus_stop"), ("bus", "yes"), ("trolleybus", "yes"), ("amenity", "bus_station"))
_RAIL_MODES = frozenset({"TRAIN", "RACK_RAILWAY", "METRO"})
_BUS_MODES = frozenset({"BUS"})

# "Perron 2", "Quai 3", "Gleis 4", "Kante B", "Binario 1": a platform named by its code alone.
_PLATFORM_NAME = re.compile(
    r"^\s*(?:perron|quai|voie|gleis|kante|steig|bahnsteig|bussteig|binario|piattaforma|platform|track)"
    r"\s*[.:]?\s*([0-9]{1,3}[a-z]?|[a-z])\s*$",
    re.IGNORECASE,
)


@dataclass
class StopGroup:
    """One registry stop as a whole: the service point (when the registry has it) and its platforms."""

    stop_id: str
    stop: int | None  # registry index of the whole stop, None when only its platforms are loaded
    platforms: list[int] = field(default_factory=list)

    def indexes(self) -> list[int]:
        return ([self.stop] if self.stop is not None else []) + self.platforms


@dataclass(frozen=True)
class Anchor:
    group: StopGroup
    rule: str  # which evidence named the stop
    detail: dict[str, Any]


def stop_groups(ctx: MatchContext) -> dict[RegistryKey, StopGroup]:
    """Registry stops by whole stop: a traffic point belongs to its parent, a service point is its own.
    Keyed by (source, whole stop's id): two registries' equal ids are two stops."""
    groups: dict[RegistryKey, StopGroup] = {}
    for reg_i in sorted(range(len(ctx.registry)), key=lambda i: ctx.registry[i].stop_id):
        stop = ctx.registry[reg_i]
        if stop.parent_id and stop.parent_id != stop.stop_id:
            parent = RegistryKey(stop.source, stop.parent_id)
            group = groups.setdefault(parent, StopGroup(stop.parent_id, None))
            group.platforms.append(reg_i)
        else:
            group = groups.setdefault(stop.key, StopGroup(stop.stop_id, None))
            group.stop = reg_i
    for key, group in groups.items():
        # A parent that is itself a loaded registry stop holds both roles.
        if group.stop is None and key in ctx.registry_by_sloid:
            group.stop = ctx.registry_by_sloid[key]
    return groups


def group_of(ctx: MatchContext, reg_i: int) -> RegistryKey:
    """The (source, stop_id) of the whole stop a registry stop belongs to."""
    stop = ctx.registry[reg_i]
    return RegistryKey(stop.source, stop.parent_id or stop.stop_id)


def platform_code(ctx: MatchContext, osm_i: int) -> str | None:
    """The object's platform code: `local_ref` (or `ref`), else a name that is only a code ("Perron 2")."""
    code = ctx.osm_refs[osm_i]
    if code is not None:
        return code
    for name in osm_names(ctx.osm[osm_i]):
        found = _PLATFORM_NAME.match(name) if name else None
        if found:
            return normalise_ref(found.group(1))
    return None


def member_indexes(ctx: MatchContext, area: OsmStopArea) -> list[int]:
    seen: dict[int, None] = {}
    for member in area.members:
        osm_i = ctx.osm_by_key.get(member.osm_key)
        if osm_i is not None:
            seen.setdefault(osm_i, None)
    return list(seen)


def anchor_of(
    ctx: MatchContext,
    area: OsmStopArea,
    members: list[int],
    identified: dict[int, tuple[int, str]],
    groups: dict[RegistryKey, StopGroup],
) -> tuple[Anchor | None, str | None]:
    """The registry stop this stop area stands for, or (None, why not)."""
    by_members: dict[RegistryKey, list[tuple[int, int, str]]] = defaultdict(list)
    for osm_i in members:
        if osm_i in identified:
            reg_i, method = identified[osm_i]
            by_members[group_of(ctx, reg_i)].append((osm_i, reg_i, method))
    if len(by_members) > 1:
        return None, "members_match_several_registry_stops"
    # The stop area's own identifier of the stop it groups, as its registry declares it (ATLAS: its
    # `uic_ref`, the UIC number; NaPTAN: its `naptan:StopAreaCode`, the stops' parent_id).
    named = ctx.stops_named_by_stop_area(area.tags)
    by_number = {group_of(ctx, i) for i in named[2]} if named else set()
    if by_members:
        stop_id, found = next(iter(by_members.items()))
        if by_number and stop_id not in by_number:
            return None, "stop_area_uic_ref_contradicts_members"
        first = min(found, key=lambda f: ctx.osm[f[0]].osm_key)
        detail = {
            "anchor_osm_key": ctx.osm[first[0]].osm_key,
            "anchor_sloid": ctx.registry[first[1]].stop_id,
            "anchor_method": first[2],
        }
        return Anchor(groups[stop_id], "a member matched by identifier", detail), None
    if named is not None and len(by_number) == 1:
        stop_id = next(iter(by_number))
        area_tag, area_value, _stops = named
        # ATLAS's evidence as before: the UIC number as a number under "uic".
        by_tag: dict[str, Any] = {"uic": int(area_value)} if area_tag == "uic_ref" else {area_tag: area_value}
        return Anchor(groups[stop_id], f"the stop area's {area_tag}", by_tag), None
    if len(by_number) > 1:
        return None, "stop_area_uic_ref_names_several_stops"
    for tag, value in (("uic_name", area.uic_name), ("name", area.name)):
        group = _group_by_name(ctx, value, members, groups)
        if group is not None:
            return Anchor(group, f"the stop area's {tag}", {tag: value}), None
    return None, "no_anchor"


def _group_by_name(
    ctx: MatchContext, value: str | None, members: list[int], groups: dict[RegistryKey, StopGroup]
) -> StopGroup | None:
    """The one whole stop near the members whose official name equals `value` after normalisation."""
    wanted = normalise(value) if value else ""
    if not wanted:
        return None
    points = ctx.osm_index.xy[members]
    near = {i for found in ctx.registry_index.within(points, STOP_AREA_MAX_DISTANCE_M) for i in found}
    named = {group_of(ctx, i) for i in near if normalise(ctx.registry[i].name or "") == wanted}
    return groups[next(iter(named))] if len(named) == 1 else None


def _target(ctx: MatchContext, group: StopGroup, osm_i: int) -> int | None:
    """The registry stop of `group` this member joins: its platform by code, else the whole stop."""
    code = platform_code(ctx, osm_i)
    if code is not None:
        for reg_i in group.platforms:
            if ctx.registry_refs[reg_i] == code:
                return reg_i
    if group.stop is not None:
        return group.stop
    if len(group.platforms) == 1:
        return group.platforms[0]
    return None


def _name_points_elsewhere(ctx: MatchContext, group: StopGroup, osm_i: int, reg_i: int) -> bool:
    """The member's own name fits another registry stop nearby and none of this stop's."""
    if not any(osm_names(ctx.osm[osm_i])):
        return False
    own = group.indexes()
    if any(ctx.name_score(i, osm_i) >= NAME_MIN_SCORE for i in own):
        return False
    point = ctx.osm_index.xy[osm_i : osm_i + 1]
    near = ctx.registry_index.within(point, STOP_AREA_MAX_DISTANCE_M)[0]
    return any(
        i not in own and ctx.registry[i].name and ctx.name_score(i, osm_i) >= NAME_MIN_SCORE for i in near
    )


def _other_identifier(ctx: MatchContext, group: StopGroup, reg_i: int, osm_i: int) -> str | None:
    """The rule when the member carries an identifier that is not this stop's (registry or not)."""
    obj, stop = ctx.osm[osm_i], ctx.registry[reg_i]
    # Its registry code names another stop (ATLAS: a `uic_ref` of a foreign numbering; NaPTAN: another
    # stop's `naptan:NaptanCode`), even one the registry does not hold.
    if ctx.same_code(reg_i, osm_i) is False:
        return "uic_ref_names_another_stop"
    # Its registry stop id (ATLAS `ref:IFOPT` / `ref:sloid`, NaPTAN `naptan:AtcoCode`) names neither the
    # stop, nor its whole stop, nor a stop below it (an ATLAS sloid's quay `ch:1:sloid:7000:1:2`).
    for ident in declaration_for(stop.source).stop_id.of_osm(obj).values():
        if ident != stop.stop_id and ident != group.stop_id and not ident.startswith(group.stop_id + ":"):
            return "ifopt_names_another_stop"
    return None


def _mode_differs(ctx: MatchContext, reg_i: int, osm_i: int) -> bool:
    """A railway object for a stop the registry does not serve by rail, or a bus-only object for a stop
    it does not serve by bus. Unknown modes on either side never refuse."""
    means = ctx.registry[reg_i].modes or ""
    modes = {m.strip().upper() for m in means.split("|") if m.strip()}
    if not modes or "UNKNOWN" in modes:
        return False
    tags = ctx.osm[osm_i].tags
    rail = any(tags.get(k) == v for k, v in _RAIL_TAGS)
    bus = any(tags.get(k) == v for k, v in _BUS_TAGS)
    if rail:
        return not modes & _RAIL_MODES
    return bus and not modes & _BUS_MODES


def member_rejection(ctx: MatchContext, group: StopGroup, osm_i: int) -> tuple[int | None, str | None]:
    """(the registry stop the member would join, None) or (that stop or None, the rule against it)."""
    reg_i = _target(ctx, group, osm_i)
    if reg_i is None:
        return None, "stop_area_platform_unknown"
    rule = ctx.pair_rejection(reg_i, osm_i, allow_station=not is_platform_level(ctx.registry[reg_i]),
                              allow_matched_registry=True)  # fmt: skip
    if rule is not None:
        return reg_i, rule
    rule = _other_identifier(ctx, group, reg_i, osm_i)
    if rule is not None:
        return reg_i, rule
    if _mode_differs(ctx, reg_i, osm_i):
        return reg_i, "mode_differs"
    if ctx.distance_m(reg_i, osm_i) > STOP_AREA_MAX_DISTANCE_M:
        return reg_i, "beyond_stop_area_radius"
    if _name_points_elsewhere(ctx, group, osm_i, reg_i):
        return reg_i, "name_names_another_registry_stop"
    return reg_i, None


@dataclass
class StopAreaOutcome:
    """What the stage did with each stop area: for the run's counts and the explanations."""

    anchored: dict[int, str] = field(default_factory=dict)  # relation id → anchor stop_id
    unanchored: dict[int, str] = field(default_factory=dict)  # relation id → why not
    # OSM key → (relation id, rule) of members the anchor could not take.
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)


def match_by_stop_areas(ctx: MatchContext, structure: OsmStructure | None) -> StopAreaOutcome:
    """Commit the unmatched members of every anchored stop area to its stop (method `stop_area`)."""
    outcome = StopAreaOutcome()
    if structure is None or not structure.stop_areas:
        return outcome
    groups = stop_groups(ctx)
    ordered = sorted(structure.stop_areas, key=lambda a: a.osm_id)
    areas = [(area, member_indexes(ctx, area)) for area in ordered]
    # The identified objects are looked up only among stop-area members: only theirs are kept (all
    # of a national run's 700,000 identifier matches took about 80 MiB at this stage's peak).
    in_areas = {osm_i for _area, members in areas for osm_i in members}
    identified: dict[int, tuple[int, str]] = {}
    for match in ctx.matches:
        if match.method in ANCHOR_METHODS:
            osm_i = ctx.osm_by_key[match.osm_key]
            if osm_i in in_areas:
                identified.setdefault(osm_i, (ctx.registry_by_sloid[match.key], match.method))
    for area, members in areas:
        if not members:
            continue
        anchor, why_not = anchor_of(ctx, area, members, identified, groups)
        if anchor is None:
            outcome.unanchored[area.osm_id] = why_not or "no_anchor"
            continue
        outcome.anchored[area.osm_id] = anchor.group.stop_id
        for osm_i in _free(ctx, members):
            reg_i, rule = member_rejection(ctx, anchor.group, osm_i)
            if rule is not None or reg_i is None:
                outcome.refused.setdefault(ctx.osm[osm_i].osm_key, (area.osm_id, rule or "no_target"))
                continue
            evidence = {
                "stage": 1,
                "rule": intern(f"member of a stop area anchored by {anchor.rule}"),
                "stop_area": area.osm_id,
                "stop_area_name": area.name,
                "stop_sloid": anchor.group.stop_id,
                "platform_code": platform_code(ctx, osm_i),
                "radius_m": STOP_AREA_MAX_DISTANCE_M,
                **anchor.detail,
            }
            ctx.commit(reg_i, osm_i, METHOD_STOP_AREA, evidence)
            outcome.refused.pop(ctx.osm[osm_i].osm_key, None)  # refused by an earlier stop area
    return outcome


def _free(ctx: MatchContext, members: Iterable[int]) -> list[int]:
    return sorted((i for i in members if i not in ctx.used_osm), key=lambda i: ctx.osm[i].osm_key)
