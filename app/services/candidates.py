""" "Why not matched": the candidates around a stop, per-criterion evidence, and the rule that rejected each.

The matcher's own explanation (`pipeline.matching.explain.explain_candidates`) replays the rules of
the proximity stages against a `MatchContext`. Here that context is rebuilt from the current
snapshot around one stop only: the OSM objects within the explain radius, every registry stop those
objects' identifiers name (the rules "uic_ref names another registry stop" and "ref:IFOPT names
another stop" need them), the partners of their matches (to know what is taken), the person's manual
unlinks, and the stop areas holding the objects with their members (to replay the stop-area stage).
One small spatial query per side, and one for the stop areas.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, or_, select, tuple_

from app.services import editor_links
from app.services.evidence import osm_record, registry_record
from app.services.registry import find_registry_stop
from database import db
from database.base import SRID_WGS84
from database.models import ManualMatch, Match, OsmStop, OsmStopAreaMember, OsmStopAreaRow, RegistryStopRow
from database.snapshot import mapping
from pipeline.declarations import declaration_for, declarations
from pipeline.matching.context import MatchContext, osm_names
from pipeline.matching.explain import explain_candidates
from pipeline.matching.normalize import name_score, name_variants, normalise_ref
from pipeline.matching.params import (
    DISTANCE_MAX_M,
    EXPLAIN_MAX_CANDIDATES,
    EXPLAIN_RADIUS_M,
    NAME_MAX_DISTANCE_M,
    NAME_MIN_SCORE,
    NAME_RADIUS_M,
    STOP_AREA_MAX_DISTANCE_M,
    STOP_LEVEL_RADIUS_M,
)
from pipeline.records import OsmMember, OsmStopArea, OsmStructure, RegistryKey

_NAME_RADII = ", ".join(f"{kind} {radius:g} m" for kind, radius in NAME_RADIUS_M.items())
_NAME_RADII += (
    f"; a whole stop at least {STOP_LEVEL_RADIUS_M:g} m, twice with its full official name where the "
    "registry's names are unique (ATLAS)"
)

# What each rejection code (pipeline.matching.explain.REJECTION_RULES) means, in words a reviewer
# understands; tests/unit/test_explain.py checks that every code has its words.
REJECTION_TEXT: dict[str, str] = {
    "manual_unlink": "a person forbade this pair (manual unlink)",
    "osm_is_station": "the OSM object is a station area, not a platform or stop position",
    "local_ref_contradicts_designation": "its local_ref contradicts the registry platform code",
    "uic_ref_names_another_registry_stop": "its uic_ref is the number of another registry stop",
    "uic_ref_and_uic_name_name_another_stop": "its uic_ref and its uic_name both name another stop",
    "ifopt_names_another_registry_stop": "its stop-id tag (ATLAS ref:IFOPT / ref:sloid, NaPTAN "
    "naptan:AtcoCode) names another registry stop (NaPTAN: also a closed one)",
    "osm_already_matched": "the OSM object is already matched to another registry stop",
    "uic_ref_names_another_stop": "its uic_ref is another stop's number (one the registry may not hold), "
    "so its stop area does not make it part of this stop",
    "ifopt_names_another_stop": "its ref:IFOPT / ref:sloid names another stop, so its stop area does not "
    "make it part of this stop",
    "mode_differs": "it is a railway object and the stop is not served by rail (or a bus stop and the "
    "stop is not served by bus), so its stop area does not make it part of this stop",
    "beyond_stop_area_radius": "in a stop area of this stop, but farther than "
    f"{STOP_AREA_MAX_DISTANCE_M:g} m from it",
    "name_names_another_registry_stop": "in a stop area of this stop, but its own name names another "
    "registry stop nearby",
    "stop_area_platform_unknown": "in a stop area of this stop, but without a platform code, and the "
    "registry knows this stop only by its platforms",
    "registry_has_no_name": "the registry stop has no name to compare",
    "osm_has_no_name": "the OSM object has no name to compare and no identifier of this stop",
    "name_below_score": f"the name is not similar enough (below {NAME_MIN_SCORE:g})",
    "beyond_name_radius_for_kind": "a similar name, but farther than the name radius for its kind "
    f"({_NAME_RADII})",
    "ambiguous_name_tie": "another registry stop's name and distance fit the object as well: a tie is "
    "left undecided",
    "lost_conflict_to_better_pair": "another pair scored better in the same stage",
    "too_far_for_distance_match": f"farther than {DISTANCE_MAX_M:g} m and the name is not similar enough",
    "too_far_for_name_match": "a similar name, but farther than the name radius for its kind and than "
    f"{DISTANCE_MAX_M:g} m",
    "ambiguous_several_candidates_within_radius": "several candidates within "
    f"{DISTANCE_MAX_M:g} m and none clearly nearest",
    "not_the_nearest_candidate": "a nearer candidate was preferred",
    "ambiguous_distance_tie": "another registry stop nothing matched is as near to the object: a tie is "
    "left undecided",
}

# The identifier rules in the words of the stop's registry: its declared tags and labels (ATLAS: uic_ref
# and the UIC number, ref:IFOPT / ref:sloid; NaPTAN: naptan:NaptanCode and the NaptanCode,
# naptan:AtcoCode). `{code_tags}`, `{code}`, `{name_tags}`, `{id_tags}` are filled per registry.
_IDENTIFIER_RULE_TEXT: dict[str, str] = {
    "uic_ref_names_another_registry_stop": "its {code_tags} is the {code} of another registry stop",
    "uic_ref_and_uic_name_name_another_stop": "its {code_tags} and its {name_tags} both name another stop",
    "ifopt_names_another_registry_stop": "its {id_tags} names another registry stop{closed}",
    "uic_ref_names_another_stop": "its {code_tags} is another stop's {code} (one the registry may not "
    "hold), so its stop area does not make it part of this stop",
    "ifopt_names_another_stop": "its {id_tags} names another stop, so its stop area does not make it "
    "part of this stop",
}


def rejection_text(rule: str, source: str) -> str:
    """What rejection `rule` means, in the words of registry `source` (its identifiers by their
    declared tags and labels); the rule code itself for an unknown rule."""
    template = _IDENTIFIER_RULE_TEXT.get(rule)
    if template is None:
        return REJECTION_TEXT.get(rule, rule)
    try:
        declared = declaration_for(source)
    except KeyError:  # a registry no longer installed: the generic words
        return REJECTION_TEXT.get(rule, rule)
    code = declared.code or declared.stop_id
    return template.format(
        code_tags=" / ".join(code.osm_tags),
        code=code.label or "code",
        name_tags=" / ".join(declared.name_tags[1:]) or "name",
        id_tags=" / ".join(declared.stop_id.osm_tags),
        closed=" (also a closed one)" if declared.stop_id.exclusive else "",
    )


# OSM tags → the registry's means of transport (`meansOfTransport`).
_MODE_TAGS: tuple[tuple[str, str, str], ...] = (
    ("highway", "bus_stop", "BUS"),
    ("bus", "yes", "BUS"),
    ("trolleybus", "yes", "BUS"),
    ("amenity", "bus_station", "BUS"),
    ("railway", "tram_stop", "TRAM"),
    ("tram", "yes", "TRAM"),
    ("train", "yes", "TRAIN"),
    ("railway", "halt", "TRAIN"),
    ("railway", "station", "TRAIN"),
    ("railway", "platform", "TRAIN"),
    ("subway", "yes", "METRO"),
    ("funicular", "yes", "CABLE_RAILWAY"),
    ("aerialway", "station", "CABLE_CAR"),
    ("amenity", "ferry_terminal", "BOAT"),
    ("ferry", "yes", "BOAT"),
)


def osm_modes(tags: dict[str, str]) -> set[str]:
    return {mode for key, value, mode in _MODE_TAGS if tags.get(key) == value}


def registry_modes(modes: str | None) -> set[str]:
    return {m.strip().upper() for m in (modes or "").split("|") if m.strip()}


def _degrees(radius_m: float, lat: float) -> float:
    """A radius in degrees that covers `radius_m` in every direction at latitude `lat` (for && on geom)."""
    return radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.1))


def _near(model: type[RegistryStopRow] | type[OsmStop], lat: float, lon: float, radius_m: float) -> list[Any]:
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID_WGS84)
    box = func.ST_Expand(point, _degrees(radius_m, lat))
    return list(db.session.scalars(select(model).where(model.geom.op("&&")(box))))


def _stop_areas(osm: dict[str, OsmStop]) -> OsmStructure:
    """The stop areas holding any of these objects, with every member; the members' rows are added to
    `osm` (their matches anchor the stop area)."""
    session = db.session
    area_ids = set(
        session.scalars(
            select(OsmStopAreaMember.stop_area_id).where(OsmStopAreaMember.osm_key.in_(list(osm)))
        )
    )
    if not area_ids:
        return OsmStructure()
    members: dict[int, list[OsmMember]] = {}
    for row in session.scalars(
        select(OsmStopAreaMember)
        .where(OsmStopAreaMember.stop_area_id.in_(area_ids))
        .order_by(OsmStopAreaMember.stop_area_id, OsmStopAreaMember.sequence)
    ):
        members.setdefault(row.stop_area_id, []).append(OsmMember(row.role, row.osm_key, row.sequence))
    missing = {m.osm_key for ms in members.values() for m in ms} - set(osm)
    if missing:
        for obj in session.scalars(select(OsmStop).where(OsmStop.osm_key.in_(missing))):
            osm[obj.osm_key] = obj
    areas = tuple(
        OsmStopArea(
            a.osm_id, a.version, a.name, a.uic_ref, a.uic_name, a.tags or {}, tuple(members.get(a.osm_id, ()))
        )
        for a in session.scalars(
            select(OsmStopAreaRow).where(OsmStopAreaRow.osm_id.in_(area_ids)).order_by(OsmStopAreaRow.osm_id)
        )
    )
    return OsmStructure(stop_areas=areas)


def _key(row: RegistryStopRow | Match | ManualMatch) -> RegistryKey:
    return RegistryKey(row.source, row.stop_id)


def _context(registry: dict[RegistryKey, RegistryStopRow], osm: dict[str, OsmStop]) -> MatchContext:
    """A matching context over these rows, with every match among them replayed and manual unlinks."""
    session = db.session
    # Identifiers the candidate objects carry: registry stops they name take part in the rules.
    # Each registry's declared tags (ATLAS: uic_ref; ref:IFOPT and ref:sloid), values normalised as
    # the registry stores them (a UIC number as decimal text).
    numbers: set[str] = set()
    idents: set[str] = set()
    for registry_declaration in declarations().values():
        for o in osm.values():
            # `of_tags`: a stored row, not the parser's OsmObject record, carries these tags.
            if registry_declaration.code is not None:
                numbers.update(registry_declaration.code.of_tags(o.tags).values())
            idents.update(registry_declaration.stop_id.of_tags(o.tags).values())
    if numbers or idents:
        for stop in session.scalars(
            select(RegistryStopRow).where(
                or_(RegistryStopRow.code.in_(numbers), RegistryStopRow.stop_id.in_(idents))
            )
        ):
            registry.setdefault(_key(stop), stop)
    # Registry stops are keyed (source, stop_id): two registries may use the same id string.
    matches = list(
        session.scalars(
            select(Match).where(
                or_(Match.osm_key.in_(osm), tuple_(Match.source, Match.stop_id).in_(list(registry)))
            )
        )
    )
    missing = {_key(m) for m in matches} - set(registry)
    if missing:
        for stop in session.scalars(
            select(RegistryStopRow).where(
                tuple_(RegistryStopRow.source, RegistryStopRow.stop_id).in_(list(missing))
            )
        ):
            registry[_key(stop)] = stop
    missing_keys = {m.osm_key for m in matches} - set(osm)
    if missing_keys:
        for obj in session.scalars(select(OsmStop).where(OsmStop.osm_key.in_(missing_keys))):
            osm[obj.osm_key] = obj
    ctx = MatchContext(
        registry=[registry_record(s) for s in registry.values()],
        osm=[osm_record(o) for o in osm.values()],
    )
    ctx.replay(mapping.MATCHES.record_of(m) for m in matches if _key(m) in registry and m.osm_key in osm)
    unlinks = session.execute(
        select(ManualMatch.source, ManualMatch.stop_id, ManualMatch.osm_key).where(
            ManualMatch.action == "unlink",
            ManualMatch.status == "active",
            or_(
                tuple_(ManualMatch.source, ManualMatch.stop_id).in_(list(registry)),
                ManualMatch.osm_key.in_(osm),
            ),
        )
    )
    ctx.forbidden.update((RegistryKey(source, stop_id), key) for source, stop_id, key in unlinks)
    return ctx


def _name_evidence(ctx: MatchContext, reg_i: int, osm_i: int) -> dict[str, Any]:
    stop, obj = ctx.registry[reg_i], ctx.osm[osm_i]
    best_tag, best_value, best = None, None, 0.0
    for tag, value in zip(("uic_name", "name", "official_name", "gtfs:name"), osm_names(obj), strict=True):
        if not value:
            continue
        score = name_score(stop.name, value)
        if score > best:
            best_tag, best_value, best = tag, value, score
    if best_value is None or not stop.name:
        reason = "no name to compare" if stop.name else "the registry stop has no name"
    elif best >= 100.0:
        reason = f"{best_tag} is the same name after normalisation"
    elif best >= NAME_MIN_SCORE:
        reason = f"{best_tag} is similar ({best:.0f} ≥ {NAME_MIN_SCORE:g})"
    else:
        reason = f"{best_tag} differs ({best:.0f} < {NAME_MIN_SCORE:g})"
    return {
        "score": best,
        "threshold": NAME_MIN_SCORE,
        "compared_tag": best_tag,
        "registry": stop.name,
        "osm": best_value,
        "normalised": {
            "registry": list(name_variants(stop.name or "")),
            "osm": list(name_variants(best_value or "")),
        },
        "reason": reason,
    }


def _explain_pair(ctx: MatchContext, reg_i: int, osm_i: int, candidate: Any) -> dict[str, Any]:
    stop, obj = ctx.registry[reg_i], ctx.osm[osm_i]
    reg_modes, obj_modes = registry_modes(stop.modes), osm_modes(obj.tags)
    ident = obj.ifopt or obj.sloid_tag
    rejected = candidate.rejected_by
    return {
        "rejected_by": rejected,
        "rejected_reason": rejection_text(rejected, stop.source) if rejected else None,
        "matched_to": candidate.matched_to,
        "stop_area": candidate.stop_area,
        "criteria": {
            "identifier": {
                "same": candidate.same_identifier,
                "registry_sloid": stop.stop_id,
                "osm_ref_ifopt": ident,
                "same_uic": candidate.same_uic,
                "registry_uic": stop.code,
                "osm_uic_ref": obj.uic_ref,
            },
            "name": _name_evidence(ctx, reg_i, osm_i),
            "distance": {
                "m": candidate.distance_m,
                "within_distance_stage": candidate.distance_m <= DISTANCE_MAX_M,
                "within_name_stage": candidate.distance_m <= NAME_MAX_DISTANCE_M,
            },
            "platform_code": {
                "same": candidate.same_platform_code,
                "registry": stop.platform_code,
                "osm": obj.local_ref or obj.tags.get("ref"),
                "normalised": [
                    normalise_ref(stop.platform_code),
                    normalise_ref(obj.local_ref or obj.tags.get("ref")),
                ],
            },
            "mode": {
                "registry": sorted(reg_modes),
                "osm": sorted(obj_modes),
                "compatible": (bool(reg_modes & obj_modes) or "UNKNOWN" in reg_modes)
                if reg_modes and obj_modes
                else None,
                "note": "evidence only: the matcher does not reject on mode",
            },
        },
    }


def _registry_summary(stop: Any) -> dict[str, Any]:
    return {
        "kind": "atlas",
        "key": stop.stop_id,
        "name": stop.name,
        "platform_code": stop.platform_code,
        "code": stop.code,
        "operator": stop.operator_code,
        "modes": stop.modes,
        "lat": stop.lat,
        "lon": stop.lon,
    }


def _osm_summary(obj: Any) -> dict[str, Any]:
    return {
        "kind": "osm",
        "key": obj.osm_key,
        "name": obj.name,
        "uic_ref": obj.uic_ref,
        "local_ref": obj.local_ref,
        "public_transport": obj.public_transport,
        "lat": obj.lat,
        "lon": obj.lon,
        # A near miss is often fixed by editing its tags: open it in an editor from the list.
        "links": editor_links.links_for_osm_objects([obj.osm_key]),
    }


def candidates_for_registry(
    stop_id: str, radius_m: float = EXPLAIN_RADIUS_M, source: str | None = None
) -> dict[str, Any] | None:
    """The OSM objects around a registry stop and why each was (not) matched. None: no such stop."""
    stop = find_registry_stop(stop_id, source)
    if stop is None:
        return None
    osm = {o.osm_key: o for o in _near(OsmStop, stop.lat, stop.lon, radius_m)}
    structure = _stop_areas(osm)
    registry = {_key(stop): stop}
    if structure.stop_areas:
        # The other registry stops of this whole stop: a stop-area member joins one of them by its code.
        group = stop.parent_id or stop.stop_id
        for other in db.session.scalars(
            select(RegistryStopRow).where(
                RegistryStopRow.source == stop.source,
                or_(RegistryStopRow.parent_id == group, RegistryStopRow.stop_id == group),
            )
        ):
            registry.setdefault(_key(other), other)
    ctx = _context(registry, osm)
    reg_i = ctx.registry_by_sloid[_key(stop)]
    out = []
    explained = explain_candidates(
        ctx,
        stop.stop_id,
        radius_m=radius_m,
        limit=EXPLAIN_MAX_CANDIDATES,
        structure=structure,
        source=stop.source,
    )
    for candidate in explained:
        osm_i = ctx.osm_by_key[candidate.osm_key]
        out.append({**_osm_summary(ctx.osm[osm_i]), **_explain_pair(ctx, reg_i, osm_i, candidate)})
    matched = [
        {"osm_key": m.osm_key, "method": m.method, "distance_m": m.distance_m}
        for m in ctx.matches
        if m.key == _key(stop)
    ]
    return {
        "subject": _registry_summary(stop),
        "matched": matched,
        "radius_m": radius_m,
        "candidates": out,
    }


def candidates_for_osm(osm_key: str, radius_m: float = EXPLAIN_RADIUS_M) -> dict[str, Any] | None:
    """The registry stops around an OSM object and why each was (not) matched to it."""
    obj = db.session.get(OsmStop, osm_key)
    if obj is None:
        return None
    registry = {_key(s): s for s in _near(RegistryStopRow, obj.lat, obj.lon, radius_m)}
    # The explanation of each nearby stop looks at the objects around *that* stop: load twice the radius.
    osm = {o.osm_key: o for o in _near(OsmStop, obj.lat, obj.lon, 2 * radius_m)}
    osm.setdefault(obj.osm_key, obj)
    structure = _stop_areas(osm)
    ctx = _context(registry, osm)
    osm_i = ctx.osm_by_key[osm_key]
    out = []
    for stop_key in registry:
        reg_i = ctx.registry_by_sloid[stop_key]
        for candidate in explain_candidates(
            ctx,
            stop_key.stop_id,
            radius_m=radius_m,
            limit=10_000,
            structure=structure,
            source=stop_key.source,
        ):
            if candidate.osm_key == osm_key:
                stop = ctx.registry[reg_i]
                out.append({**_registry_summary(stop), **_explain_pair(ctx, reg_i, osm_i, candidate)})
                break
    out.sort(key=lambda c: (c["criteria"]["distance"]["m"], c["key"]))
    matched = [
        {"stop_id": m.stop_id, "method": m.method, "distance_m": m.distance_m}
        for m in ctx.matches
        if m.osm_key == osm_key
    ]
    return {
        "subject": _osm_summary(obj),
        "matched": matched,
        "radius_m": radius_m,
        "candidates": out[:EXPLAIN_MAX_CANDIDATES],
    }
