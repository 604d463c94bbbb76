"""Exports that fix data: an osmChange file for JOSM, a MapRoulette cooperative challenge, and a report
of suspected registry errors for the registry's stewards.

The builders at the top are pure (plain records in, text out); `problems_with_fixes` and
`registry_error_rows` at the bottom read the snapshot for a filtered problem set.

What a fix proposes, per matched pair (registry stop ↔ OSM object) behind a problem:

* tag **additions** taken from the registry: ``uic_ref`` (number), ``local_ref`` (designation, not on
  station objects), ``ref:IFOPT`` (sloid, unless the object already has ``ref:IFOPT`` or
  ``ref:sloid``) and ``uic_name`` (official name). ``name`` is never touched: naming is local practice.
* a tag that is present with another value is **not** overwritten, only reported as a conflict,
  unless a person decided the registry is right (``osm_wrong_registry_right``) or the caller asks
  for ``overwrite=true``;
* a node is moved to the registry position only for ``distance`` problems and only with ``move=true``;
* problems a person decided against (``atlas_wrong``, ``not_a_problem``) or already fixed
  (``fixed_in_osm``) propose nothing.

Limitation (documented in the API description too): we store a way's centre, not its node list.
An osmChange ``<modify>`` of a way must repeat every ``<nd ref>``, otherwise applying it would delete
the way's geometry; so **ways are left out of the osmChange file** (listed in an XML comment and the
``X-StopSync-Skipped-Ways`` header) and are fixed through the MapRoulette file instead, whose
cooperative tag operations (``setTags``) need no geometry. Objects without a version (an Overpass
extract without metadata) are skipped the same way: JOSM cannot upload a modify without one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.services.csv_safety import safe_dict_row
from database import db
from database.models import AtlasStop, OsmStop

OSM_MAX_VALUE_LENGTH = 255  # the OSM API refuses longer keys and values
FIXABLE_TYPES = frozenset({"distance", "attributes"})
MOVE_TYPES = frozenset({"distance"})
# Decisions after which a fix must not be proposed: a person said the registry is wrong, there is no
# problem, or it is already fixed.
NO_FIX_DECISIONS = frozenset({"atlas_wrong", "not_a_problem", "fixed_in_osm"})
REGISTRY_RIGHT_DECISIONS = frozenset({"osm_wrong_registry_right"})
STATION_VALUES = frozenset({"station"})

# MapRoulette cooperative work: meta.type 1 = tag fix (see maproulette/mr-cli `cooperativeType`).
MAPROULETTE_COOPERATIVE_VERSION = 2
MAPROULETTE_TAG_FIX = 1


@dataclass(frozen=True)
class FixStop:
    """The registry side of a pair, as the fix builders need it."""

    sloid: str
    uic_number: int | None
    designation: str | None
    designation_official: str | None
    operator_abbr: str | None
    lat: float
    lon: float


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

    @property
    def new_tags(self) -> dict[str, str]:
        return {**self.obj.tags, **self.set_tags}

    @property
    def changes_anything(self) -> bool:
        return bool(self.set_tags) or self.move_to is not None


def _proposed_tags(stop: FixStop, obj: FixObject) -> dict[str, str]:
    """What the registry says these tags should be on this object."""
    proposed: dict[str, str] = {}
    if stop.uic_number is not None:
        proposed["uic_ref"] = str(stop.uic_number)
    is_station = obj.tags.get("public_transport") in STATION_VALUES or obj.tags.get("railway") == "station"
    if stop.designation and not is_station:
        proposed["local_ref"] = stop.designation.strip()
    if not (obj.tags.get("ref:IFOPT") or obj.tags.get("ref:sloid")):
        proposed["ref:IFOPT"] = stop.sloid
    if stop.designation_official:
        proposed["uic_name"] = stop.designation_official.strip()
    return {k: v for k, v in proposed.items() if v and len(v) <= OSM_MAX_VALUE_LENGTH}


def propose_fix(
    stop: FixStop,
    obj: FixObject,
    problem_type: str,
    identity: str,
    *,
    decision: str | None = None,
    overwrite: bool = False,
    move: bool = False,
) -> TagFix | None:
    """The fix one problem suggests for its OSM object, or None when it suggests nothing."""
    if problem_type not in FIXABLE_TYPES or decision in NO_FIX_DECISIONS:
        return None
    may_overwrite = overwrite or decision in REGISTRY_RIGHT_DECISIONS
    fix = TagFix(obj=obj, problems=[identity], sloids=[stop.sloid])
    for key, value in _proposed_tags(stop, obj).items():
        current = obj.tags.get(key)
        if current is None or current == "":
            fix.set_tags[key] = value
        elif current != value:
            if may_overwrite:
                fix.set_tags[key] = value
            else:
                fix.conflicts.append({"key": key, "osm": current, "registry": value, "sloid": stop.sloid})
    if move and problem_type in MOVE_TYPES and obj.osm_type == "node":
        fix.move_to = (round(stop.lat, 7), round(stop.lon, 7))
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
    return [merged[k] for k in sorted(merged, key=_key_order)]


def _key_order(osm_key: str) -> tuple[str, int]:
    kind, _, num = osm_key.partition("/")
    return kind, int(num) if num.isdigit() else 0


# ---------------------------------------------------------------------------------------------
# osmChange
# ---------------------------------------------------------------------------------------------


@dataclass
class OsmChange:
    """The osmChange document and what had to be left out of it."""

    xml: bytes
    modified: list[str]
    skipped_ways: list[str]
    skipped_no_version: list[str]


def build_osmchange(fixes: Sequence[TagFix], generator: str = "StopSync") -> OsmChange:
    """An osmChange 0.6 document (``<osmChange version="0.6"><modify>…``) that JOSM opens.

    Each modified node carries id, version, lat/lon and its complete tag list (current tags plus the
    proposed ones), as the API expects for a modify: tags not listed would be deleted.
    """
    root = ET.Element("osmChange", {"version": "0.6", "generator": generator})
    modify = ET.SubElement(root, "modify")
    modified: list[str] = []
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
        for key, value in sorted(fix.new_tags.items()):
            if not key or len(key) > OSM_MAX_VALUE_LENGTH or len(value) > OSM_MAX_VALUE_LENGTH:
                continue
            ET.SubElement(node, "tag", {"k": key, "v": value})
        modified.append(obj.osm_key)
    if skipped_ways or skipped_no_version:
        note = []
        if skipped_ways:
            note.append(
                "ways left out (their node list is not stored; use the MapRoulette file): "
                + " ".join(skipped_ways)
            )
        if skipped_no_version:
            note.append("objects without a version left out: " + " ".join(skipped_no_version))
        # XML comments must not contain "--"; OSM keys never do.
        root.insert(0, ET.Comment(" " + " | ".join(note) + " "))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return OsmChange(body + b"\n", modified, skipped_ways, skipped_no_version)


# ---------------------------------------------------------------------------------------------
# MapRoulette
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskProblem:
    """A problem as a MapRoulette task needs it."""

    identity: str
    problem_type: str
    priority: int
    message: str
    sloid: str | None
    osm_key: str | None
    operator_abbr: str | None
    lat: float
    lon: float


def maproulette_task(problem: TaskProblem, fix: TagFix | None, stop_url: str | None) -> dict[str, Any]:
    """One task: a FeatureCollection with the problem's point and, if it has a tag fix, the
    ``cooperativeWork`` that MapRoulette applies (tag-only: ``setTags`` on one element)."""
    properties: dict[str, Any] = {
        "id": problem.identity,
        "problem_type": problem.problem_type,
        "priority": problem.priority,
        "message": problem.message,
        "sloid": problem.sloid,
        "operator": problem.operator_abbr,
        "stopsync_url": stop_url,
    }
    if fix is not None:
        properties["@id"] = fix.obj.osm_key
        properties["conflicts"] = fix.conflicts
    elif problem.osm_key:
        properties["@id"] = problem.osm_key
    task: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": problem.identity,
                "geometry": {"type": "Point", "coordinates": [round(problem.lon, 7), round(problem.lat, 7)]},
                "properties": properties,
            }
        ],
    }
    if fix is not None and fix.set_tags:
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


def maproulette_lines(tasks: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Line-by-line GeoJSON, the format MapRoulette reads for challenges: one task per line."""
    for task in tasks:
        yield json.dumps(task, ensure_ascii=False, separators=(",", ":")) + "\n"


# ---------------------------------------------------------------------------------------------
# Registry error report
# ---------------------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "operator_abbr",
    "sloid",
    "uic_number",
    "designation_official",
    "designation",
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
    if decision in {"not_a_problem", "osm_wrong_registry_right"}:
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


def report_csv(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """CSV text, header first; `evidence` is a JSON cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
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
        groups.setdefault(row.get("operator_abbr") or "", []).append(row)
    operators = [
        {
            "operator_abbr": name or None,
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


def _pair_key(problem: Mapping[str, Any]) -> str | None:
    """The OSM side of a problem: its own, or (whole stops) the nearest matched object in details."""
    details = problem.get("details") or {}
    key = problem.get("osm_key") or details.get("osm_key")
    return key if isinstance(key, str) else None


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
        row.sloid,
        row.uic_number,
        row.designation,
        row.designation_official,
        row.operator_abbr,
        row.lat,
        row.lon,
    )


def _fix_object(row: Any) -> FixObject:
    return FixObject(
        row.osm_key, row.osm_type, row.osm_id, row.version, dict(row.tags or {}), row.lat, row.lon
    )


def problems_with_fixes(
    problems: Iterable[Mapping[str, Any]], *, move: bool = False, overwrite: bool = False
) -> list[tuple[Mapping[str, Any], TagFix | None]]:
    """Each problem (as the problems service returns it, with its decision) and the fix it proposes."""
    listed = list(problems)
    fixable = [p for p in listed if p["problem_type"] in FIXABLE_TYPES and p.get("sloid") and _pair_key(p)]
    fixable_ids = {p["identity"] for p in fixable}
    stops = _load(AtlasStop, AtlasStop.sloid, {p["sloid"] for p in fixable})
    objects = _load(OsmStop, OsmStop.osm_key, {k for p in fixable if (k := _pair_key(p))})
    out: list[tuple[Mapping[str, Any], TagFix | None]] = []
    for p in listed:
        fix = None
        stop, obj = stops.get(p.get("sloid") or ""), objects.get(_pair_key(p) or "")
        if p["identity"] in fixable_ids and stop is not None and obj is not None:
            decision = (p.get("decision") or {}).get("decision")
            fix = propose_fix(
                _fix_stop(stop),
                _fix_object(obj),
                p["problem_type"],
                p["identity"],
                decision=decision,
                overwrite=overwrite,
                move=move,
            )
        out.append((p, fix))
    return out


def task_problem(p: Mapping[str, Any]) -> TaskProblem:
    return TaskProblem(
        identity=p["identity"],
        problem_type=p["problem_type"],
        priority=p["priority"],
        message=p["message"],
        sloid=p.get("sloid"),
        osm_key=p.get("osm_key"),
        operator_abbr=p.get("operator"),
        lat=p["lat"],
        lon=p["lon"],
    )


def stop_url(base_url: str, p: Mapping[str, Any]) -> str:
    if p.get("sloid"):
        return f"{base_url.rstrip('/')}/stops/atlas/{p['sloid']}"
    if p.get("osm_key"):
        return f"{base_url.rstrip('/')}/stops/osm/{p['osm_key']}"
    return f"{base_url.rstrip('/')}/review"


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
        if found is not None and p.get("sloid"):
            suspects.append((p, found))
    stops = _load(AtlasStop, AtlasStop.sloid, {p["sloid"] for p, _ in suspects})
    objects = _load(OsmStop, OsmStop.osm_key, {k for p, _ in suspects if (k := _pair_key(p))})
    rows = []
    for p, (suspicion, confidence) in suspects:
        stop = stops.get(p["sloid"])
        key = _pair_key(p)
        obj = objects.get(key or "")
        decision = p.get("decision") or {}
        number = stop.uic_number if stop else None
        registry_url = (
            registry_url_template.replace("{sloid}", p["sloid"]).replace("{number}", str(number or ""))
            if registry_url_template
            else ""
        )
        rows.append(
            {
                "operator_abbr": p.get("operator") or (stop.operator_abbr if stop else None),
                "operator_name": stop.operator_name if stop else None,
                "sloid": p["sloid"],
                "uic_number": number,
                "designation_official": stop.designation_official if stop else None,
                "designation": stop.designation if stop else None,
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
    rows.sort(key=lambda r: (r["operator_abbr"] or "", _CONFIDENCE_ORDER[r["confidence"]], r["sloid"]))
    return rows


_CONFIDENCE_ORDER = {"confirmed": 0, "strong": 1, "possible": 2}
_REPORT_TAGS = frozenset({"name", "uic_name", "uic_ref", "local_ref", "ref:IFOPT", "ref:sloid", "operator"})
