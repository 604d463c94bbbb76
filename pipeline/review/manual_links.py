"""Manual links (a person's link or unlink of a pair) checked against the new snapshot before matching:
active, moved to a successor, or orphaned with a `manual_match_orphaned` problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.geo import haversine_m
from pipeline.problems import manual_match_orphaned
from pipeline.records import ManualLink, ProblemRecord, problem_identity
from pipeline.review.evidence import atlas_evidence, osm_evidence
from pipeline.review.successors import Snapshot


@dataclass(frozen=True)
class ManualLinkState:
    """A manual_matches row as plain values."""

    id: int
    stop_id: str
    osm_key: str
    action: str  # link | unlink
    status: str  # active | orphaned
    evidence: dict[str, Any]
    note: str = ""
    source: str = "atlas"  # the registry stop's plug-in (`manual_matches.source`)


@dataclass
class ManualLinkOutcome:
    """What a run does with one manual link: where it now points, its status, and maybe a problem."""

    id: int
    stop_id: str
    osm_key: str
    action: str
    status: str
    updates: dict[str, Any] = field(default_factory=dict)
    problem: ProblemRecord | None = None
    migration: dict[str, Any] | None = None
    source: str = "atlas"  # the registry stop's plug-in, as the link's

    @property
    def link(self) -> ManualLink | None:
        """The instruction for the matcher, or None when the link cannot apply to this snapshot."""
        if self.status != "active":
            return None
        return ManualLink(
            self.stop_id, self.osm_key, "link" if self.action == "link" else "unlink", self.source
        )


def resolve_manual_links(
    links: Sequence[ManualLinkState], snapshot: Snapshot, run_id: int | None = None
) -> list[ManualLinkOutcome]:
    """Check every manual link against the new snapshot before matching.

    Both objects present → active. An object vanished → follow its successor (uic_ref + local_ref,
    ref:IFOPT / stop_id, same name nearby); a unique successor moves the link, otherwise the link
    becomes ``orphaned`` and yields a ``manual_match_orphaned`` problem with a stable identity.
    """
    outcomes: list[ManualLinkOutcome] = []
    taken = {(link.source, link.stop_id, link.osm_key) for link in links}
    for link in sorted(links, key=lambda item: item.id):
        ev = link.evidence or {}
        stop_id, key = link.stop_id, link.osm_key
        notes: list[str] = []
        candidates: dict[str, list[str]] = {}
        rules: dict[str, str | None] = {}
        if key not in snapshot.osm:
            found = snapshot.osm_successor(ev.get("osm") or {"osm_key": key})
            if found.status == "found" and found.key:
                key, rules["osm"] = found.key, found.rule
            else:
                notes.append(f"OSM object {key} no longer exists: {found.reason}")
                candidates["osm"] = list(found.candidates)
        if snapshot.stop(link.source, stop_id) is None:
            found = snapshot.registry_successor(
                ev.get("atlas") or {"stop_id": stop_id}, partner_osm_key=key, source=link.source
            )
            if found.status == "found" and found.key:
                stop_id, rules["atlas"] = found.key, found.rule
            else:
                notes.append(f"ATLAS stop {stop_id} no longer exists: {found.reason}")
                candidates["atlas"] = list(found.candidates)
        moved = (stop_id, key) != (link.stop_id, link.osm_key)
        if not notes and moved and (link.source, stop_id, key) in taken:
            notes.append(f"the successor pair {stop_id} ↔ {key} already has its own manual link")
        outcome = ManualLinkOutcome(
            link.id, link.stop_id, link.osm_key, link.action, "active", source=link.source
        )
        if notes:
            outcome.status = "orphaned"
            outcome.problem = _orphan_problem(link, snapshot, notes, candidates)
            history = list(ev.get("history", []))
            if link.status != "orphaned":
                outcome.updates["status"] = "orphaned"
                history.append({"event": "orphaned", "run_id": run_id, "reasons": notes})
            outcome.updates["evidence"] = {
                **ev,
                "orphaned": {"run_id": run_id, "reasons": notes},
                "history": history,
            }
            if ev.get("orphaned", {}).get("reasons") == notes and link.status == "orphaned":
                outcome.updates.pop("evidence")
            outcomes.append(outcome)
            continue
        if (stop_id, key) != (link.stop_id, link.osm_key):
            taken.discard((link.source, link.stop_id, link.osm_key))
            taken.add((link.source, stop_id, key))
            outcome.migration = {
                "event": "migrated",
                "run_id": run_id,
                "from": {"stop_id": link.stop_id, "osm_key": link.osm_key},
                "to": {"stop_id": stop_id, "osm_key": key},
                "rules": rules,
            }
            history = [*ev.get("history", []), outcome.migration]
            fresh = _link_evidence(snapshot, link.source, stop_id, key)
            outcome.updates.update(
                {"stop_id": stop_id, "osm_key": key, "evidence": {**ev, **fresh, "history": history}}
            )
            outcome.stop_id, outcome.osm_key = stop_id, key
        if link.status != "active":
            outcome.updates["status"] = "active"
            evidence = dict(outcome.updates.get("evidence") or ev)
            evidence.pop("orphaned", None)
            evidence["history"] = [*evidence.get("history", []), {"event": "reactivated", "run_id": run_id}]
            outcome.updates["evidence"] = evidence
        outcomes.append(outcome)
    return outcomes


def _link_evidence(snapshot: Snapshot, source: str, stop_id: str, key: str) -> dict[str, Any]:
    stop, obj = snapshot.stop(source, stop_id), snapshot.osm.get(key)
    return {
        "atlas": atlas_evidence(stop) if stop else None,
        "osm": osm_evidence(obj) if obj else None,
        "distance_m": round(haversine_m(stop.lat, stop.lon, obj.lat, obj.lon), 2) if stop and obj else None,
    }


def _orphan_problem(
    link: ManualLinkState, snapshot: Snapshot, notes: list[str], candidates: dict[str, list[str]]
) -> ProblemRecord:
    ev = link.evidence or {}
    stop = snapshot.stop(link.source, link.stop_id)
    obj = snapshot.osm.get(link.osm_key)
    # Place the problem on whatever still exists, else where the vanished object last was.
    anchor: Any = stop or obj or ev.get("atlas") or ev.get("osm")
    lat = getattr(anchor, "lat", None) if not isinstance(anchor, Mapping) else anchor.get("lat")
    lon = getattr(anchor, "lon", None) if not isinstance(anchor, Mapping) else anchor.get("lon")
    operator = stop.operator_code if stop else (ev.get("atlas") or {}).get("operator_code")
    verb = "link" if link.action == "link" else "unlink"
    return ProblemRecord(
        identity=problem_identity(manual_match_orphaned.TYPE.code, link.stop_id, link.osm_key, link.source),
        problem_type=manual_match_orphaned.TYPE.code,
        priority=manual_match_orphaned.priority(link.action),
        stop_id=link.stop_id,
        source=link.source,
        osm_key=link.osm_key,
        operator_code=operator,
        distance_m=None,
        message=f"Manual {verb} {link.stop_id} ↔ {link.osm_key} no longer applies: " + "; ".join(notes),
        details={
            "manual_match_id": link.id,
            "action": link.action,
            "reasons": notes,
            "candidates": candidates,
            "note": link.note,
        },
        lat=float(lat) if lat is not None else 0.0,
        lon=float(lon) if lon is not None else 0.0,
    )
