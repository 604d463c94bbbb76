"""Exports that fix data: an osmChange file (JOSM, osmium), a MapRoulette cooperative challenge, and a
report of suspected registry errors for the registry's stewards.

The builders are pure (plain records in, text out); `plan_fixes` and `registry_error_rows` at the
bottom read the snapshot for a filtered problem set.

What a fix plan proposes:

* **Tag additions** on the OSM object of a pair (registry stop ↔ OSM object) behind a `distance` or
  `attributes` problem, from the registry: ``uic_ref`` (number), ``local_ref`` (platform_code, not on
  stations), ``ref:IFOPT`` (stop_id, unless the object already carries it as ``ref:IFOPT`` or
  ``ref:sloid``) and ``uic_name`` (official name). ``name`` is never touched: naming is local
  practice. A tag present with another value is not overwritten, only reported as a conflict, unless
  a person decided the registry is right (``osm_wrong_registry_right``) or the caller asks for
  ``overwrite=true``.
* **Conflicts are refused, not written.** An object whose own identifier (``uic_ref``, ``ref:IFOPT``,
  ``ref:sloid``, ``uic_name``) names *another* registry stop gets nothing from this pair, not even
  with ``overwrite=true``: it is that other stop, or a person must sort it out. An object whose
  ``uic_ref``, ``ref:IFOPT`` or ``ref:sloid`` contradicts the registry without naming another stop
  gets no identity tag either, unless ``overwrite`` or a "registry right" decision lets us replace
  the contradicting value (``ref:sloid`` never: we do not write it). Each refusal is listed with
  its reason (`FixPlan.refused`, the report sidecar and a count header).
* **Position fixes**, only with ``move=true`` and only for `distance` problems: a platform or station
  *node* moves to the registry position. Never a ``stop_position`` (or ``railway=tram_stop``/``stop``:
  it lies on the road or track), never a node that is a vertex of a way (``way_member``; unknown
  counts as "maybe", so no move), never a way, and for a whole stop (a service point: one point for
  all its platforms) only its sole OSM object. Each withheld move is listed (`moves_refused`).
* **New stops** (``create=true``): a registry stop with an `unmatched` problem, no OSM object with
  its UIC number and no OSM stop object within `CREATE_MIN_DISTANCE_M` (nearer, the stop is
  probably mapped and needs linking, not a copy) becomes a new node at the registry position, tagged
  by the table in `app/services/new_stop_tags.py`. Stops we cannot tag, or that a person decided
  against or wants surveyed first, are listed (`not_created`).
* `FixPlan.addressed`: the problems the plan removes entirely once applied (a created stop, a moved
  object, an attributes problem whose every mismatch is a tag it sets). The proof test applies the
  demo's file with osmium and checks exactly these are gone.
* Nothing is ever deleted. Problems decided ``atlas_wrong``, ``not_a_problem`` or ``fixed_in_osm``
  propose nothing.

osmChange (``<osmChange version="0.6">``, as JOSM writes and osmium applies it): ``<modify>`` repeats
each node with its *current* version and its complete tag list (a modify replaces the object);
``<create>`` holds the new nodes with ids -1, -2, …; there is no ``<delete>``. Ways are left out of
it: a ``<modify>`` of a way must repeat every ``<nd ref>``, and we store a way's centre, not its node
list; they are fixed through the MapRoulette file, whose tag operations need no geometry. Objects
without a version (an Overpass answer without ``out meta``) are left out too: no editor can upload a
modify without one.

MapRoulette (cooperative challenge, line-by-line GeoJSON as MapRoulette documents it: every line an
RFC 7464 record, RS + one FeatureCollection + LF): one task per OSM object with a tag fix
(cooperative type 1, ``modifyElement`` with ``setTags``; MapRoulette applies it without an editor),
one task per new stop (cooperative type 2: a base64 osmChange holding its ``<create>``); the task
geometry is the OSM object's position, or the registry position for a missing stop.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select, tuple_

from app.services.csv_safety import UTF8_BOM, safe_dict_row
from app.services.ifopt_usage import registry_stops_where_ifopt_is_used
from app.services.new_stop_tags import is_platform_level, stop_modes, tags_for_new_stop, why_no_tags
from database import db
from database.models import Match, OsmStop, RegistryStopRow
from pipeline.declarations import RegistryDeclaration, declaration_for
from pipeline.matching.normalize import fold
from pipeline.records import LEGACY_IDENTITY_SOURCE, RegistryKey
from pipeline.text import ascii_int, xml_safe

OSM_MAX_VALUE_LENGTH = 255  # the OSM API refuses longer keys and values
FIXABLE_TYPES = frozenset({"distance", "attributes"})
MOVE_TYPES = frozenset({"distance"})
# Decisions after which a fix must not be proposed: a person said the registry is wrong, there is no
# problem, it is already fixed, or the two objects are not the same stop at all (wrong match).
NO_FIX_DECISIONS = frozenset({"atlas_wrong", "not_a_problem", "fixed_in_osm", "wrong_match"})
# A stop nobody has seen is not created while a person asks for a survey first.
NO_CREATE_DECISIONS = NO_FIX_DECISIONS | {"needs_survey"}
REGISTRY_RIGHT_DECISIONS = frozenset({"osm_wrong_registry_right"})
STATION_VALUES = frozenset({"station"})
# The problems' isolation radius (pipeline/problems/unmatched.py ISOLATION_RADIUS_M): an OSM stop object this
# near is probably the stop itself, so a person links it instead of us adding a second one.
CREATE_MIN_DISTANCE_M = 50.0
# Tags that say which stop an object is. uic_name is a name, so only a hard conflict (it is another
# registry stop's official name) refuses a pair; a merely different spelling is an ordinary conflict.
# Which tags those are is the registry's declaration (`pipeline.declarations`); ATLAS: uic_ref,
# ref:IFOPT, ref:sloid and uic_name. A fix writes only the first tag of each identifier (ref:IFOPT,
# never ref:sloid) and never another registry's tags.


def identity_keys(registry: RegistryDeclaration) -> tuple[str, ...]:
    """The tags saying which stop an object is: code tags, id tags, then the official-name tags."""
    code = registry.code.osm_tags if registry.code is not None else ()
    return tuple(dict.fromkeys([*code, *registry.stop_id.osm_tags, *registry.name_tags[1:]]))


def identifier_keys(registry: RegistryDeclaration) -> frozenset[str]:
    """The identifier tags (code and id), without the name tags."""
    code = registry.code.osm_tags if registry.code is not None else ()
    return frozenset([*code, *registry.stop_id.osm_tags])


def written_keys(registry: RegistryDeclaration) -> frozenset[str]:
    """The identifier tags a fix may write: the first of each identifier."""
    keys = [i.osm_tags[0] for i in registry.identifiers if i.osm_tags]
    return frozenset(keys)


# MapRoulette cooperative work (maproulette/mr-cli `cooperativeType`): 1 = tag fix, 2 = change file.
MAPROULETTE_COOPERATIVE_VERSION = 2
MAPROULETTE_TAG_FIX = 1
MAPROULETTE_CHANGE_FILE = 2
RECORD_SEPARATOR = "\x1e"  # RFC 7464, the start of every line MapRoulette reads


@dataclass(frozen=True)
class FixStop:
    """The registry side of a pair, as the fix builders need it."""

    stop_id: str
    code: str | None
    platform_code: str | None
    name: str | None
    operator_code: str | None
    lat: float
    lon: float
    operator_name: str | None = None
    modes: str | None = None
    dataset: str = "service_point"
    source: str = "atlas"
    # The registry's extras (NaPTAN stop type, ...), for the rules its declaration states.
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> RegistryKey:
        """(source, stop_id): two registries may use the same id for different stops."""
        return RegistryKey(self.source, self.stop_id)


def problem_stop(problem: Mapping[str, Any]) -> RegistryKey | None:
    """The registry stop a problem (as the problems service returns it) is about, or None."""
    stop_id = problem.get("stop_id")
    return RegistryKey(problem.get("source") or LEGACY_IDENTITY_SOURCE, stop_id) if stop_id else None


@dataclass(frozen=True)
class FixObject:
    """The OSM side of a pair, with its full current tags."""

    osm_key: str
    osm_type: str
    osm_id: int
    version: int | None
    tags: Mapping[str, str]
    lat: float
    lon: float
    way_member: bool | None = None  # a vertex of a way (True), not (False), unknown (None)


@dataclass(frozen=True)
class RegistryIds:
    """Which registry stops each identifier value names: an OSM object carrying another stop's number,
    stop_id or official name is that stop, whatever it was paired with."""

    # Per registry (its `source`): normalised code → stops, stop ids, folded official name → stops.
    by_number: Mapping[tuple[str, str], frozenset[str]]
    sloids: frozenset[tuple[str, str]]
    by_name: Mapping[tuple[str, str], frozenset[str]]

    @classmethod
    def of(
        cls, stops: Iterable[tuple[str, str | None, str | None] | tuple[str, str | None, str | None, str]]
    ) -> RegistryIds:
        """From (stop_id, code, name[, source]) of every registry stop (no source: ATLAS's)."""
        numbers: dict[tuple[str, str], set[str]] = {}
        names: dict[tuple[str, str], set[str]] = {}
        sloids: set[tuple[str, str]] = set()
        for stop_id, code, name, *rest in stops:
            source = rest[0] if rest else "atlas"
            registry = declaration_for(source)
            sloids.add((source, stop_id))
            number = registry.code.normalise(code) if registry.code is not None else None
            if number is not None:
                numbers.setdefault((source, number), set()).add(stop_id)
            if name and fold(name):
                names.setdefault((source, fold(name)), set()).add(stop_id)
        return cls(
            {k: frozenset(v) for k, v in numbers.items()},
            frozenset(sloids),
            {k: frozenset(v) for k, v in names.items()},
        )

    def named_by(self, key: str, value: str, source: str = "atlas") -> frozenset[str]:
        """The stops of registry `source` this tag value identifies (the registry's declared tags)."""
        registry = declaration_for(source)
        if registry.code is not None and key in registry.code.osm_tags:
            number = registry.code.normalise(value)
            return self.by_number.get((source, number), frozenset()) if number is not None else frozenset()
        if key in registry.stop_id.osm_tags:
            return frozenset({value.strip()}) if (source, value.strip()) in self.sloids else frozenset()
        if key in registry.name_tags[1:]:
            return self.by_name.get((source, fold(value)), frozenset())
        return frozenset()


@dataclass
class TagFix:
    """The change proposed for one OSM object (merged over every problem that touches it)."""

    obj: FixObject
    set_tags: dict[str, str] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    move_to: tuple[float, float] | None = None
    move_blocked: bool = False
    problems: list[str] = field(default_factory=list)
    sloids: list[str] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # pairs that may write nothing
    moves_refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def new_tags(self) -> dict[str, str]:
        return {**self.obj.tags, **self.set_tags}

    @property
    def changes_anything(self) -> bool:
        return bool(self.set_tags) or self.move_to is not None


@dataclass(frozen=True)
class NewStop:
    """A node to create for a registry stop missing in OSM."""

    stop_id: str
    problem: str
    lat: float
    lon: float
    tags: Mapping[str, str]
    source: str = LEGACY_IDENTITY_SOURCE


def _official_value(stop: FixStop, key: str) -> str | None:
    registry = declaration_for(stop.source)
    if registry.code is not None and key in registry.code.osm_tags:
        return registry.code.normalise(stop.code)
    if key in registry.stop_id.osm_tags:
        return stop.stop_id
    if key in registry.name_tags[1:]:
        return stop.name
    return None


def _same_identity(stop: FixStop, key: str, value: str) -> bool:
    registry = declaration_for(stop.source)
    if registry.code is not None and key in registry.code.osm_tags:
        code = registry.code.normalise(stop.code)
        return code is not None and registry.code.normalise(value) == code
    if key in registry.stop_id.osm_tags:
        return value.strip() == stop.stop_id
    if key in registry.name_tags[1:]:
        return bool(stop.name) and fold(value) == fold(stop.name or "")
    return False


def identity_conflicts(stop: FixStop, obj: FixObject, registry: RegistryIds | None) -> list[dict[str, Any]]:
    """The object's identity tags that disagree with this registry stop, each with the other registry
    stops it names (``names``, empty when it names none)."""
    out: list[dict[str, Any]] = []
    for key in identity_keys(declaration_for(stop.source)):
        value = (obj.tags.get(key) or "").strip()
        if not value or _same_identity(stop, key, value):
            continue
        others = (
            sorted(registry.named_by(key, value, stop.source) - {stop.stop_id})
            if registry is not None
            else []
        )
        official = _official_value(stop, key)
        if not others and official is None:
            continue  # the registry has nothing this value could contradict
        out.append({"key": key, "osm": value, "registry": official, "names": others})
    return out


def _proposed_tags(stop: FixStop, obj: FixObject, stop_objects: int = 1) -> dict[str, str]:
    """What the registry says these tags should be on this object.

    ``ref:IFOPT`` names one object: a platform's stop_id (traffic point) goes on that platform, a whole
    stop's stop_id (service point) only on a station or on the stop's sole OSM object. Written on each
    of two platforms it would make them duplicates of each other.
    """
    registry = declaration_for(stop.source)
    proposed: dict[str, str] = {}
    if stop.code is not None and registry.code is not None and registry.code.osm_tags:
        proposed[registry.code.osm_tags[0]] = registry.code.normalise(stop.code) or ""
    is_station = obj.tags.get("public_transport") in STATION_VALUES or obj.tags.get("railway") == "station"
    if stop.platform_code and not is_station and registry.platform_tag:
        proposed[registry.platform_tag] = stop.platform_code.strip()
    one_object = is_platform_level(stop) or is_station or stop_objects <= 1
    id_tags = registry.stop_id.osm_tags
    if one_object and id_tags and stop.stop_id not in (obj.tags.get(t) for t in id_tags):
        proposed[id_tags[0]] = stop.stop_id
    if stop.name:
        # The official name's own tags (ATLAS: uic_name); `name` itself is local practice, never written.
        for key in registry.name_tags[1:]:
            proposed[key] = stop.name.strip()
    return {
        k: v
        for k, v in proposed.items()
        if v and len(v) <= OSM_MAX_VALUE_LENGTH and k not in registry.foreign_tags
    }


def move_refusal(obj: FixObject) -> tuple[str, str] | None:
    """(reason, message) when this object must not be moved to the registry position, else None."""
    tags = obj.tags
    if obj.osm_type != "node":
        return "not_a_node", "a way is never moved (its shape would change)"
    pt, railway = tags.get("public_transport"), tags.get("railway")
    if pt == "stop_position" or railway in ("tram_stop", "stop"):
        return "stop_position", "a stop position lies on the road or track and stays there"
    platform_or_station = (
        pt in ("platform", "station")
        or tags.get("highway") == "bus_stop"
        or railway in ("platform", "station", "halt")
        or tags.get("aerialway") == "station"
        or tags.get("amenity") == "ferry_terminal"
    )
    if not platform_or_station:
        return "not_a_platform_or_station", "only platforms and stations are moved"
    if obj.way_member is None:
        return "way_membership_unknown", "the OSM source did not say whether the node is part of a way"
    if obj.way_member:
        return "way_member", "the node is part of a way; moving it would bend the way"
    return None


def propose_fix(
    stop: FixStop,
    obj: FixObject,
    problem_type: str,
    identity: str,
    *,
    decision: str | None = None,
    overwrite: bool = False,
    move: bool = False,
    registry: RegistryIds | None = None,
    stop_objects: int = 1,
) -> TagFix | None:
    """The fix one problem suggests for its OSM object, or None when it suggests nothing.

    A pair refused for an identity conflict comes back as a fix that changes nothing and carries the
    refusal (``refused``), so that it can be reported. `stop_objects`: how many OSM objects the
    registry stop is matched to; a whole stop's single point places its object only when it is the
    only one (platforms on both sides of a road cannot both go to that point).
    """
    if problem_type not in FIXABLE_TYPES or decision in NO_FIX_DECISIONS:
        return None
    may_overwrite = overwrite or decision in REGISTRY_RIGHT_DECISIONS
    fix = TagFix(obj=obj, problems=[identity], sloids=[stop.stop_id])
    found = identity_conflicts(stop, obj, registry)
    declared = declaration_for(stop.source)
    hard = [c for c in found if c["names"]]
    soft = [c for c in found if not c["names"] and c["key"] in identifier_keys(declared)]
    # Overwriting may replace one stale identifier, but not when the object's uic_name disagrees as
    # well: an object whose number and official name both point elsewhere is another stop. A tag we
    # never write (ref:sloid) is never replaced either.
    name_too = [c for c in found if c["key"] in declared.name_tags[1:]]
    written = written_keys(declared)
    unreplaceable = not may_overwrite or bool(name_too) or any(c["key"] not in written for c in soft)
    if hard or (soft and unreplaceable):
        names = sorted({s for c in hard for s in c["names"]})
        listed = hard or soft + name_too
        keys = ", ".join(f"{c['key']}={c['osm']}" for c in listed)
        if hard:
            reason, message = (
                "identifier_names_another_registry_stop",
                f"{obj.osm_key} carries {keys}, which names {', '.join(names)}: not written",
            )
        elif name_too:
            reason, message = (
                "identifier_contradicts_registry",
                f"{obj.osm_key} carries {keys}: number and name both point to another stop, not written",
            )
        else:
            reason, message = (
                "identifier_contradicts_registry",
                f"{obj.osm_key} carries {keys}, which contradicts the registry: not written "
                "(overwrite=true or a 'registry right' decision replaces it)",
            )
        fix.refused.append(
            {
                "osm_key": obj.osm_key,
                "stop_id": stop.stop_id,
                "problem": identity,
                "reason": reason,
                "message": message,
                "conflicts": listed,
            }
        )
        return fix
    for key, value in _proposed_tags(stop, obj, stop_objects).items():
        current = obj.tags.get(key)
        if current is None or current == "":
            fix.set_tags[key] = value
        elif current != value:
            if may_overwrite:
                fix.set_tags[key] = value
            else:
                fix.conflicts.append({"key": key, "osm": current, "registry": value, "stop_id": stop.stop_id})
    if move and problem_type in MOVE_TYPES:
        refusal = move_refusal(obj)
        if refusal is None and stop_objects > 1 and not is_platform_level(stop):
            refusal = (
                "whole_stop_several_objects",
                f"the registry gives one point for the whole stop, matched to {stop_objects} OSM objects",
            )
        if refusal is None:
            fix.move_to = (round(stop.lat, 7), round(stop.lon, 7))
        else:
            reason, message = refusal
            fix.moves_refused.append(
                {
                    "osm_key": obj.osm_key,
                    "stop_id": stop.stop_id,
                    "problem": identity,
                    "reason": reason,
                    "message": message,
                }
            )
    return fix


def merge_fixes(fixes: Iterable[TagFix | None]) -> list[TagFix]:
    """One fix per OSM object. Two stops proposing different values for a tag cancel that tag."""
    merged: dict[str, TagFix] = {}
    for fix in fixes:
        if fix is None:
            continue
        key = fix.obj.osm_key
        into = merged.get(key)
        if into is None:
            merged[key] = fix
            continue
        for tag, value in fix.set_tags.items():
            if tag in into.set_tags and into.set_tags[tag] != value:
                into.conflicts.append(
                    {"key": tag, "osm": fix.obj.tags.get(tag), "registry": [into.set_tags[tag], value]}
                )
                into.set_tags.pop(tag)
            elif not any(c["key"] == tag for c in into.conflicts):
                into.set_tags[tag] = value
        if fix.move_to is not None and not into.move_blocked:
            if into.move_to is None:
                into.move_to = fix.move_to
            elif into.move_to != fix.move_to:
                # Two stops want the node in two places: leave the position to a person.
                into.move_to, into.move_blocked = None, True
        into.conflicts.extend(c for c in fix.conflicts if c not in into.conflicts)
        into.problems.extend(p for p in fix.problems if p not in into.problems)
        into.sloids.extend(s for s in fix.sloids if s not in into.sloids)
        into.refused.extend(r for r in fix.refused if not _same_refusal(r, into.refused))
        into.moves_refused.extend(r for r in fix.moves_refused if not _same_refusal(r, into.moves_refused))
    return [merged[k] for k in sorted(merged, key=_key_order)]


def _same_refusal(refusal: Mapping[str, Any], listed: Sequence[Mapping[str, Any]]) -> bool:
    """Two problems of one pair (distance and attributes) refuse it for the same reason once."""
    same = ("osm_key", "stop_id", "reason")
    return any(all(r.get(k) == refusal.get(k) for k in same) for r in listed)


def _key_order(osm_key: str) -> tuple[str, int]:
    kind, _, num = osm_key.partition("/")
    return kind, ascii_int(num, max_digits=20) or 0


def propose_create(
    stop: FixStop,
    problem: Mapping[str, Any],
    *,
    decision: str | None = None,
    modes: Sequence[str] | None = None,
    ifopt: bool = True,
) -> tuple[NewStop | None, dict[str, Any] | None]:
    """(the node to create, None), or (None, why not) for a registry-side `unmatched` problem;
    (None, None) for any other problem."""
    details = problem.get("details") or {}
    if (
        problem.get("problem_type") != "unmatched"
        or problem.get("osm_key")
        or details.get("side") != "registry"
        or problem_stop(problem) != stop.key
    ):
        return None, None
    identity = problem["identity"]

    def refuse(reason: str, message: str) -> tuple[None, dict[str, Any]]:
        return None, {"stop_id": stop.stop_id, "problem": identity, "reason": reason, "message": message}

    if decision in NO_CREATE_DECISIONS:
        return refuse("decided", f"a reviewer decided '{decision}'")
    if details.get("osm_objects_with_uic"):
        return refuse("osm_has_this_number", "OSM has an object with this UIC number: link or fix it instead")
    nearest = details.get("nearest_osm_m")
    if nearest is not None and float(nearest) <= CREATE_MIN_DISTANCE_M:
        return refuse(
            "osm_stop_nearby",
            f"an OSM stop object lies {float(nearest):.0f} m away ({details.get('nearest_osm')}): "
            "check it before adding another",
        )
    tags = tags_for_new_stop(stop, modes, ifopt=ifopt)
    if not tags:
        return refuse("no_tagging", why_no_tags(stop, modes) or "no tagging known")
    return NewStop(stop.stop_id, identity, round(stop.lat, 7), round(stop.lon, 7), tags, stop.source), None


# ---------------------------------------------------------------------------------------------
# The plan: every fix, creation and refusal for a set of problems
# ---------------------------------------------------------------------------------------------


@dataclass
class FixPlan:
    """Everything a set of problems proposes, and everything it withholds, with reasons."""

    fixes: list[TagFix]
    creates: list[NewStop]
    not_created: list[dict[str, Any]]
    per_problem: list[tuple[Mapping[str, Any], TagFix | None, NewStop | None]]
    addressed: list[str] = field(default_factory=list)  # problems the plan removes completely

    @property
    def refused(self) -> list[dict[str, Any]]:
        return [r for fix in self.fixes for r in fix.refused]

    @property
    def moves_refused(self) -> list[dict[str, Any]]:
        return [r for fix in self.fixes for r in fix.moves_refused]


def _pair_key(problem: Mapping[str, Any]) -> str | None:
    """The OSM side of a problem: its own, or (whole stops) the nearest matched object in details."""
    details = problem.get("details") or {}
    key = problem.get("osm_key") or details.get("osm_key")
    return key if isinstance(key, str) else None


def build_plan(
    problems: Iterable[Mapping[str, Any]],
    stops: Mapping[RegistryKey, FixStop],
    objects: Mapping[str, FixObject],
    registry: RegistryIds | None,
    *,
    modes: Mapping[RegistryKey, Sequence[str]] | None = None,
    objects_per_stop: Mapping[RegistryKey, int] | None = None,
    ifopt_stops: Collection[RegistryKey] | None = None,
    move: bool = False,
    overwrite: bool = False,
    create: bool = False,
) -> FixPlan:
    """The fix plan of these problems (as the problems service returns them, with their decision).

    `stops` are keyed by registry stop key (source, stop_id), as are the other per-stop mappings:
    `modes` gives a stop's means of transport when it has none of its own (a traffic point: its
    service point's); `objects_per_stop` how many OSM objects each stop is matched to (default 1);
    `ifopt_stops` the stops whose new OSM object carries `ref:IFOPT` (None: every stop).
    """
    per_problem: list[tuple[Mapping[str, Any], TagFix | None, NewStop | None]] = []
    not_created: list[dict[str, Any]] = []
    counts = objects_per_stop or {}
    for p in problems:
        decision = (p.get("decision") or {}).get("decision")
        stop_key = problem_stop(p)
        stop = stops.get(stop_key) if stop_key is not None else None
        fix: TagFix | None = None
        new: NewStop | None = None
        obj = objects.get(_pair_key(p) or "")
        if stop is not None and obj is not None and p["problem_type"] in FIXABLE_TYPES:
            fix = propose_fix(
                stop,
                obj,
                p["problem_type"],
                p["identity"],
                decision=decision,
                overwrite=overwrite,
                move=move,
                registry=registry,
                # A problem of its own pair (a platform) places one object; a whole stop's counts.
                stop_objects=counts.get(stop.key, 1),
            )
        elif create and stop is not None:
            new, refusal = propose_create(
                stop,
                p,
                decision=decision,
                modes=(modes or {}).get(stop.key),
                ifopt=ifopt_stops is None or stop.key in ifopt_stops,
            )
            if refusal is not None:
                not_created.append(refusal)
        per_problem.append((p, fix, new))
    creates = sorted(
        {(n.source, n.stop_id): n for _, _, n in per_problem if n is not None}.values(),
        key=lambda n: (n.stop_id, n.source),
    )
    fixes = merge_fixes(f for _, f, _ in per_problem)
    by_key = {f.obj.osm_key: f for f in fixes}
    addressed = [
        p["identity"]
        for p, fix, new in per_problem
        if new is not None
        or (
            fix is not None
            and (key := problem_stop(p)) is not None
            and _addresses(p, stops[key], by_key[fix.obj.osm_key], counts.get(key, 1))
        )
    ]
    return FixPlan(fixes, creates, not_created, per_problem, addressed)


# Attribute mismatches a tag fix can settle; `operator` and `name` are local practice, never written.
SETTLED_BY_TAGS = frozenset({"uic_ref", "uic_name", "local_ref"})


def _addresses(problem: Mapping[str, Any], stop: FixStop, fix: TagFix, stop_objects: int) -> bool:
    """Does the (merged) fix of the problem's object remove this problem entirely?"""
    if problem["problem_type"] == "distance":
        return fix.move_to == (round(stop.lat, 7), round(stop.lon, 7))
    if problem["problem_type"] != "attributes":
        return False
    proposed = _proposed_tags(stop, fix.obj, stop_objects)
    mismatches = (problem.get("details") or {}).get("mismatches") or []
    return bool(mismatches) and all(
        m.get("attribute") in SETTLED_BY_TAGS
        and m["attribute"] in proposed
        and fix.set_tags.get(m["attribute"]) == proposed[m["attribute"]]
        for m in mismatches
    )


# ---------------------------------------------------------------------------------------------
# osmChange
# ---------------------------------------------------------------------------------------------


@dataclass
class OsmChange:
    """The osmChange document and what had to be left out of it."""

    xml: bytes
    modified: list[str]
    created: list[tuple[int, str]]  # (negative id, stop_id)
    skipped_ways: list[str]
    skipped_no_version: list[str]

    @property
    def empty(self) -> bool:
        return not self.modified and not self.created


def _add_tags(node: ET.Element, tags: Mapping[str, str]) -> None:
    for raw_key, raw_value in sorted(tags.items()):
        # Control characters cannot be written in XML (nor held by the OSM API): dropped.
        key, value = xml_safe(raw_key), xml_safe(raw_value)
        if not key or len(key) > OSM_MAX_VALUE_LENGTH or len(value) > OSM_MAX_VALUE_LENGTH:
            continue
        ET.SubElement(node, "tag", {"k": key, "v": value})


def build_osmchange(
    fixes: Sequence[TagFix],
    creates: Sequence[NewStop] = (),
    generator: str = "StopSync",
    refused: Sequence[Mapping[str, Any]] = (),
) -> OsmChange:
    """An osmChange 0.6 document that JOSM opens and ``osmium apply-changes`` applies.

    Each modified node carries id, its current version, lat/lon and its complete tag list (current
    tags plus the proposed ones), as the API expects for a modify: tags not listed would be deleted.
    Created nodes get ids -1, -2, … in the order given. Empty actions are left out.
    """
    root = ET.Element("osmChange", {"version": "0.6", "generator": generator})
    modify = ET.Element("modify")
    create = ET.Element("create")
    modified: list[str] = []
    created: list[tuple[int, str]] = []
    skipped_ways: list[str] = []
    skipped_no_version: list[str] = []
    for fix in fixes:
        if not fix.changes_anything:
            continue
        obj = fix.obj
        if obj.osm_type != "node":
            skipped_ways.append(obj.osm_key)
            continue
        if obj.version is None or obj.version < 1:
            skipped_no_version.append(obj.osm_key)
            continue
        lat, lon = fix.move_to if fix.move_to is not None else (obj.lat, obj.lon)
        node = ET.SubElement(
            modify,
            "node",
            {"id": str(obj.osm_id), "version": str(obj.version), "lat": f"{lat:.7f}", "lon": f"{lon:.7f}"},
        )
        _add_tags(node, fix.new_tags)
        modified.append(obj.osm_key)
    for number, new in enumerate(creates, start=1):
        node = ET.SubElement(
            create, "node", {"id": str(-number), "lat": f"{new.lat:.7f}", "lon": f"{new.lon:.7f}"}
        )
        _add_tags(node, new.tags)
        created.append((-number, new.stop_id))
    note = []
    if skipped_ways:
        note.append(
            "ways left out (their node list is not stored; use the MapRoulette file): "
            + " ".join(skipped_ways)
        )
    if skipped_no_version:
        note.append("objects without a version left out: " + " ".join(skipped_no_version))
    if refused:
        keys = sorted({str(r.get("osm_key")) for r in refused}, key=_key_order)
        note.append("refused, an identifier contradicts the registry (see the report): " + " ".join(keys))
    if note:
        # XML comments must not contain "--"; OSM keys and our texts never do.
        root.append(ET.Comment(" " + " | ".join(note).replace("--", "- -") + " "))
    if created:
        root.append(create)
    if modified:
        root.append(modify)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return OsmChange(body + b"\n", modified, created, skipped_ways, skipped_no_version)


def plan_report(plan: FixPlan, change: OsmChange | None = None) -> dict[str, Any]:
    """The JSON sidecar of an export: what it writes and, with reasons, what it does not."""
    modified = set(change.modified) if change is not None else None
    written = {n.problem for n in plan.creates} | {
        i
        for f in plan.fixes
        if f.changes_anything and (modified is None or f.obj.osm_key in modified)
        for i in f.problems
    }
    # What the file removes when applied: a fix left out of it (a way, no version) removes nothing.
    addressed = [i for i in plan.addressed if i in written]
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "counts": {
            "modified": len(change.modified)
            if change is not None
            else sum(1 for f in plan.fixes if f.set_tags),
            "created": len(plan.creates),
            "refused": len(plan.refused),
            "moves_refused": len(plan.moves_refused),
            "not_created": len(plan.not_created),
            "addressed": len(addressed),
            "skipped_ways": len(change.skipped_ways) if change is not None else 0,
            "skipped_no_version": len(change.skipped_no_version) if change is not None else 0,
        },
        "modified": [
            {
                "osm_key": f.obj.osm_key,
                "version": f.obj.version,
                "set_tags": dict(sorted(f.set_tags.items())),
                "move_to": list(f.move_to) if f.move_to is not None else None,
                "conflicts": f.conflicts,
                "problems": f.problems,
                "sloids": f.sloids,
            }
            for f in plan.fixes
            if f.changes_anything and (modified is None or f.obj.osm_key in modified)
        ],
        "created": [
            {
                "id": -i,
                "source": n.source,
                "stop_id": n.stop_id,
                "problem": n.problem,
                "lat": n.lat,
                "lon": n.lon,
                "tags": dict(n.tags),
            }
            for i, n in enumerate(plan.creates, start=1)
        ],
        "addressed": addressed,
        "refused": plan.refused,
        "moves_refused": plan.moves_refused,
        "not_created": plan.not_created,
        "skipped_ways": change.skipped_ways if change is not None else [],
        "skipped_no_version": change.skipped_no_version if change is not None else [],
    }


# ---------------------------------------------------------------------------------------------
# MapRoulette
# ---------------------------------------------------------------------------------------------


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


def _problem_properties(problems: Sequence[Mapping[str, Any]], stop_url: str | None) -> dict[str, Any]:
    first = min(problems, key=lambda p: (p["priority"], p["identity"]))
    return {
        "problem_type": first["problem_type"],
        "priority": first["priority"],
        "message": " | ".join(p["message"] for p in problems),
        "problems": [p["identity"] for p in problems],
        "stop_id": first.get("stop_id"),
        "operator": first.get("operator"),
        "stopsync_url": stop_url,
    }


def maproulette_fix_task(
    fix: TagFix, problems: Sequence[Mapping[str, Any]], stop_url: str | None
) -> dict[str, Any]:
    """A tag-fix task (cooperative type 1) for one OSM object: ``setTags`` on that element, applied
    by MapRoulette itself. The geometry is the object's position (a way's centre)."""
    properties = {
        "id": fix.obj.osm_key,
        "@id": fix.obj.osm_key,
        **_problem_properties(problems, stop_url),
        "sloids": fix.sloids,
        "conflicts": fix.conflicts,
    }
    if fix.refused:
        properties["refused"] = fix.refused
    task: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": fix.obj.osm_key,
                "geometry": _point(fix.obj.lat, fix.obj.lon),
                "properties": properties,
            }
        ],
    }
    if fix.set_tags:
        task["cooperativeWork"] = {
            "meta": {"version": MAPROULETTE_COOPERATIVE_VERSION, "type": MAPROULETTE_TAG_FIX},
            "operations": [
                {
                    "operationType": "modifyElement",
                    "data": {
                        "id": fix.obj.osm_key,
                        "operations": [{"operation": "setTags", "data": dict(sorted(fix.set_tags.items()))}],
                    },
                }
            ],
        }
    return task


def maproulette_create_task(new: NewStop, problem: Mapping[str, Any], stop_url: str | None) -> dict[str, Any]:
    """A creation task (cooperative type 2): an osmChange with the new node, base64-encoded, that
    MapRoulette loads into the mapper's editor. The geometry is the registry position."""
    change = build_osmchange([], [new])
    # ATLAS's task ids as before; another registry's name it (its ids may equal ATLAS's).
    stop_part = new.stop_id if new.source == LEGACY_IDENTITY_SOURCE else f"{new.source}/{new.stop_id}"
    task_id = f"new/{stop_part}"
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": task_id,
                "geometry": _point(new.lat, new.lon),
                "properties": {
                    "id": task_id,
                    **_problem_properties([problem], stop_url),
                    "tags": dict(new.tags),
                },
            }
        ],
        "cooperativeWork": {
            "meta": {"version": MAPROULETTE_COOPERATIVE_VERSION, "type": MAPROULETTE_CHANGE_FILE},
            "file": {
                "type": "xml",
                "format": "osc",
                "encoding": "base64",
                "content": base64.b64encode(change.xml).decode("ascii"),
            },
        },
    }


def maproulette_problem_task(problem: Mapping[str, Any], stop_url: str | None) -> dict[str, Any]:
    """A plain task (no cooperative work) for a problem without a fix: a person looks at it."""
    properties = {"id": problem["identity"], **_problem_properties([problem], stop_url)}
    if problem.get("osm_key"):
        properties["@id"] = problem["osm_key"]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": problem["identity"],
                "geometry": _point(problem["lat"], problem["lon"]),
                "properties": properties,
            }
        ],
    }


def maproulette_tasks(
    plan: FixPlan, stop_url_of: Any, *, fixable_only: bool = True
) -> Iterator[dict[str, Any]]:
    """Every task of a plan: tag fixes (one per object), creations, then (unless `fixable_only`) the
    problems that propose neither. `stop_url_of(problem)` gives a problem's StopSync page."""
    by_identity = {p["identity"]: p for p, _, _ in plan.per_problem}
    for fix in plan.fixes:
        if fix.set_tags:
            problems = [by_identity[i] for i in fix.problems if i in by_identity]
            yield maproulette_fix_task(fix, problems, stop_url_of(problems[0]))
    for new in plan.creates:
        problem = by_identity[new.problem]
        yield maproulette_create_task(new, problem, stop_url_of(problem))
    if fixable_only:
        return
    fixed = {i for fix in plan.fixes if fix.set_tags for i in fix.problems} | {
        n.problem for n in plan.creates
    }
    for p, _, _ in plan.per_problem:
        if p["identity"] not in fixed:
            yield maproulette_problem_task(p, stop_url_of(p))


def maproulette_lines(tasks: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Line-by-line GeoJSON as MapRoulette reads it: each task an RFC 7464 record (RS, JSON, LF)."""
    for task in tasks:
        yield RECORD_SEPARATOR + json.dumps(task, ensure_ascii=False, separators=(",", ":")) + "\n"


# ---------------------------------------------------------------------------------------------
# Registry error report
# ---------------------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "operator_code",
    "stop_id",
    "code",
    "name",
    "platform_code",
    "suspicion",
    "confidence",
    "problem_type",
    "priority",
    "problem_identity",
    "registry_lat",
    "registry_lon",
    "osm_key",
    "osm_lat",
    "osm_lon",
    "distance_m",
    "evidence",
    "decision",
    "decision_note",
    "stopsync_url",
    "osm_url",
    "registry_url",
)


def classify_registry_suspicion(
    problem_type: str, priority: int, details: Mapping[str, Any], decision: str | None, method: str | None
) -> tuple[str, str] | None:
    """(suspicion, confidence) when a problem points at the registry rather than at OSM, else None.

    confidence: ``confirmed`` (a reviewer decided the registry is wrong), ``strong`` (the data alone
    says so), ``possible`` (worth a look).
    """
    if decision == "atlas_wrong":
        return "a reviewer found the registry entry wrong", "confirmed"
    if decision in {"not_a_problem", "osm_wrong_registry_right", "wrong_match"}:
        return None
    if problem_type == "duplicates" and details.get("side") == "registry":
        rules = "; ".join(str(r.get("rule")) for r in details.get("reasons", []))
        return f"duplicate registry entries ({rules})", "strong" if priority <= 2 else "possible"
    if problem_type == "unmatched" and details.get("side") == "registry" and priority == 1:
        return "no OSM object with this number and none within 80 m: stop may not exist or position wrong", (
            "possible"
        )
    if problem_type == "distance" and priority == 1 and method and method.startswith("exact"):
        return "the OSM object with the same identifier is far away: registry position may be wrong", (
            "possible"
        )
    return None


def report_csv(rows: Iterable[Mapping[str, Any]], *, bom: bool = True) -> Iterator[str]:
    """CSV text, header first; `evidence` is a JSON cell. Excel-friendly like every export
    (app/services/exports.py): the UTF-8 byte-order mark first unless `bom=False`, CRLF line ends."""
    buffer = io.StringIO()
    if bom:
        buffer.write(UTF8_BOM)
    # CRLF as RFC 4180 has it (and as the other exports write): see exports.csv_stream.
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        flat = dict(row)
        flat["evidence"] = json.dumps(row.get("evidence") or {}, ensure_ascii=False, sort_keys=True)
        # Notes, names and registry fields are free text: the shared CSV-injection guard.
        writer.writerow(safe_dict_row(flat))
        yield buffer.getvalue()


def report_json(rows: Sequence[Mapping[str, Any]], operator: str | None) -> dict[str, Any]:
    """The report grouped by operator, most items first."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get("operator_code") or "", []).append(row)
    operators = [
        {
            "operator_code": name or None,
            "count": len(items),
            "by_confidence": {
                level: sum(1 for i in items if i["confidence"] == level)
                for level in ("confirmed", "strong", "possible")
            },
            "items": list(items),
        }
        for name, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "operator": operator,
        "count": len(rows),
        "operators": operators,
    }


# ---------------------------------------------------------------------------------------------
# Reading the filtered problem set
# ---------------------------------------------------------------------------------------------

_CHUNK = 5000


def _load(model: Any, column: Any, keys: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        for row in db.session.scalars(select(model).where(column.in_(chunk))):
            found[getattr(row, column.key)] = row
    return found


def _fix_stop(row: Any) -> FixStop:
    return FixStop(
        row.stop_id,
        row.code,
        row.platform_code,
        row.name,
        row.operator_code,
        row.lat,
        row.lon,
        operator_name=row.operator_name,
        modes=row.modes,
        dataset=row.dataset,
        source=row.source,
        attributes=row.attributes or {},
    )


def _fix_object(row: Any) -> FixObject:
    return FixObject(
        row.osm_key,
        row.osm_type,
        row.osm_id,
        row.version,
        dict(row.tags or {}),
        row.lat,
        row.lon,
        way_member=row.way_member,
    )


def _load_registry(keys: Collection[RegistryKey]) -> dict[RegistryKey, RegistryStopRow]:
    """These registry stops by (source, stop_id): an id alone would also load another registry's."""
    found: dict[RegistryKey, RegistryStopRow] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        for row in db.session.scalars(
            select(RegistryStopRow).where(tuple_(RegistryStopRow.source, RegistryStopRow.stop_id).in_(chunk))
        ):
            found[RegistryKey(row.source, row.stop_id)] = row
    return found


def _match_counts(keys: Collection[RegistryKey]) -> dict[RegistryKey, int]:
    """How many OSM objects each of these registry stops is matched to."""
    counts: dict[RegistryKey, int] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        rows = db.session.execute(
            select(Match.source, Match.stop_id, func.count())
            .where(tuple_(Match.source, Match.stop_id).in_(ordered[start : start + _CHUNK]))
            .group_by(Match.source, Match.stop_id)
        )
        counts.update({RegistryKey(source, stop_id): int(n) for source, stop_id, n in rows})
    return counts


def registry_ids() -> RegistryIds:
    """Number, stop_id and official name of every registry stop in the snapshot."""
    rows = db.session.execute(
        select(RegistryStopRow.stop_id, RegistryStopRow.code, RegistryStopRow.name, RegistryStopRow.source)
    )
    return RegistryIds.of((r.stop_id, r.code, r.name, r.source) for r in rows)


def plan_fixes(
    problems: Iterable[Mapping[str, Any]],
    *,
    move: bool = False,
    overwrite: bool = False,
    create: bool = False,
) -> FixPlan:
    """The fix plan of a filtered problem set, read from the snapshot."""
    listed = list(problems)
    wanted = [
        p
        for p in listed
        if p.get("stop_id")
        and (p["problem_type"] in FIXABLE_TYPES or (create and p["problem_type"] == "unmatched"))
    ]
    rows = _load_registry({key for p in wanted if (key := problem_stop(p)) is not None})
    objects = _load(
        OsmStop,
        OsmStop.osm_key,
        {k for p in wanted if p["problem_type"] in FIXABLE_TYPES and (k := _pair_key(p))},
    )
    # A traffic point (one platform) has no means of transport of its own: its service point's.
    # The parent is a stop of the same registry.
    orphans = {
        key: RegistryKey(key.source, r.parent_id)
        for key, r in rows.items()
        if not stop_modes(r.modes) and r.parent_id
    }
    parents = _load_registry(set(orphans.values()))
    modes = {key: stop_modes(parents[parent].modes) for key, parent in orphans.items() if parent in parents}
    whole = {key for key, r in rows.items() if not is_platform_level(r)}
    unmatched = {
        key for p in wanted if p["problem_type"] == "unmatched" and (key := problem_stop(p)) is not None
    }
    return build_plan(
        listed,
        {key: _fix_stop(row) for key, row in rows.items()},
        {key: _fix_object(row) for key, row in objects.items()},
        registry_ids() if objects else None,
        modes=modes,
        objects_per_stop=_match_counts(whole),
        ifopt_stops=registry_stops_where_ifopt_is_used(unmatched) if create else set(),
        move=move,
        overwrite=overwrite,
        create=create,
    )


def stop_url(base_url: str, p: Mapping[str, Any]) -> str:
    if p.get("stop_id"):
        return f"{base_url.rstrip('/')}/stops/{p.get('source') or 'atlas'}/{p['stop_id']}"
    if p.get("osm_key"):
        return f"{base_url.rstrip('/')}/stops/osm/{p['osm_key']}"
    return f"{base_url.rstrip('/')}/review"


def registry_link(template: str, stop_id: str, number: str | int | None) -> str:
    """The registry's own page of a stop from `template` (`{stop_id}`, `{number}`), or "" when there is
    no template or the stop lacks the number it needs (a link with a hole would be a wrong page)."""
    if not template or ("{number}" in template and number is None):
        return ""
    return template.replace("{stop_id}", quote(stop_id, safe=":")).replace("{number}", str(number or ""))


def registry_error_rows(
    problems: Iterable[Mapping[str, Any]], *, base_url: str, registry_url_template: str = ""
) -> list[dict[str, Any]]:
    """Rows of the registry error report: the problems that point at the registry, with evidence."""
    suspects = []
    for p in problems:
        decision = p.get("decision") or {}
        details = p.get("details") or {}
        found = classify_registry_suspicion(
            p["problem_type"], p["priority"], details, decision.get("decision"), details.get("method")
        )
        if found is not None and p.get("stop_id"):
            suspects.append((p, found))
    stops = _load_registry({sk for p, _ in suspects if (sk := problem_stop(p)) is not None})
    objects = _load(OsmStop, OsmStop.osm_key, {k for p, _ in suspects if (k := _pair_key(p))})
    rows = []
    for p, (suspicion, confidence) in suspects:
        stop = stops.get(RegistryKey(p.get("source") or LEGACY_IDENTITY_SOURCE, p["stop_id"]))
        key = _pair_key(p)
        obj = objects.get(key or "")
        decision = p.get("decision") or {}
        number = stop.code if stop else None
        registry_url = registry_link(registry_url_template, p["stop_id"], number)
        rows.append(
            {
                "operator_code": p.get("operator") or (stop.operator_code if stop else None),
                "operator_name": stop.operator_name if stop else None,
                "stop_id": p["stop_id"],
                "code": number,
                "name": stop.name if stop else None,
                "platform_code": stop.platform_code if stop else None,
                "suspicion": suspicion,
                "confidence": confidence,
                "problem_type": p["problem_type"],
                "priority": p["priority"],
                "problem_identity": p["identity"],
                "registry_lat": stop.lat if stop else p["lat"],
                "registry_lon": stop.lon if stop else p["lon"],
                "osm_key": key,
                "osm_lat": obj.lat if obj else None,
                "osm_lon": obj.lon if obj else None,
                "distance_m": p.get("distance_m"),
                "evidence": {
                    "message": p["message"],
                    "details": p.get("details") or {},
                    "osm_tags": {k: v for k, v in (obj.tags or {}).items() if k in _REPORT_TAGS}
                    if obj
                    else {},
                },
                "decision": decision.get("decision"),
                "decision_note": decision.get("note"),
                "stopsync_url": stop_url(base_url, p),
                "osm_url": f"https://www.openstreetmap.org/{key}" if key else "",
                "registry_url": registry_url,
            }
        )
    rows.sort(key=lambda r: (r["operator_code"] or "", _CONFIDENCE_ORDER[r["confidence"]], r["stop_id"]))
    return rows


_CONFIDENCE_ORDER = {"confirmed": 0, "strong": 1, "possible": 2}
_REPORT_TAGS = frozenset({"name", "uic_name", "uic_ref", "local_ref", "ref:IFOPT", "ref:sloid", "operator"})
