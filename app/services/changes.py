"""Change over time: which problems each run made appear or resolved, and trend series per run.

The raw material is `problem_changes`, written by the importer in the swap transaction (one row per
problem that appeared or was resolved by a run). The first run records every problem as appeared,
so the number of open problems after run N is the running sum of appeared minus resolved up to N: the
trend series need no snapshot history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select, tuple_
from sqlalchemy.orm import aliased

from app.services import editor_links, run_history
from app.services.ifopt_usage import registry_stops_where_ifopt_is_used
from database import db
from database.models import Decision, OsmStop, PipelineRun, Problem, ProblemChange, RegistryStopRow
from pipeline.records import RegistryKey, identity_registry_key, parse_problem_identity

TREND_DIMENSIONS = ("type", "operator")
CHANGE_KINDS = ("appeared", "resolved")


def _run_reference(run: PipelineRun | None, run_id: int) -> dict[str, Any]:
    """A run as a change names it; just its id when the row is gone."""
    return run_history.run_reference(run) if run is not None else {"id": run_id}


def _links(row: Any, ifopt_stops: set[RegistryKey]) -> list[editor_links.EditorLink]:
    """Editor links of a still-open problem's OSM object, or to add its missing registry stop."""
    if row.osm_key:
        return editor_links.links_for_osm_objects([row.osm_key])
    stop = row.RegistryStopRow
    if stop is not None:
        return editor_links.links_for_unmatched_registry_stop(
            stop, row.parent_means, ifopt=RegistryKey(stop.source, stop.stop_id) in ifopt_stops
        )
    return []


def stop_names(identities: list[str]) -> dict[str, dict[str, Any]]:
    """Per problem identity: its stop's keys and names, and whether each side is still in the data.

    Names come from the current snapshot (the registry's official platform_code, the OSM object's name
    or uic_name); for a stop or object that has left it, from the evidence a decision on that problem
    recorded, if any. `stop_name` is the one to show: the registry name first, else the OSM name.
    The registry stop is the identity's (source, stop_id): another registry's stop with the same id
    neither names it nor keeps it "in the data".
    """
    session = db.session
    keys = {
        identity: (identity_registry_key(part) if part else None, osm_key)
        for identity, (_, part, osm_key) in ((i, parse_problem_identity(i)) for i in identities)
    }
    stops = {stop for stop, _ in keys.values() if stop is not None}
    osm_keys = {key for _, key in keys.values() if key}
    atlas: dict[RegistryKey, str | None] = (
        {
            RegistryKey(source, stop_id): name
            for source, stop_id, name in session.execute(
                select(RegistryStopRow.source, RegistryStopRow.stop_id, RegistryStopRow.name).where(
                    tuple_(RegistryStopRow.source, RegistryStopRow.stop_id).in_(sorted(stops))
                )
            )
        }
        if stops
        else {}
    )
    osm = (
        {
            key: name or uic_name
            for key, name, uic_name in session.execute(
                select(OsmStop.osm_key, OsmStop.name, OsmStop.uic_name).where(OsmStop.osm_key.in_(osm_keys))
            )
        }
        if osm_keys
        else {}
    )
    missing = [
        i for i, (stop, key) in keys.items() if (stop and stop not in atlas) or (key and key not in osm)
    ]
    evidence: dict[str, Any] = (
        dict(
            session.execute(
                select(Decision.problem_identity, Decision.evidence).where(
                    Decision.problem_identity.in_(missing)
                )
            ).all()
        )
        if missing
        else {}
    )
    out: dict[str, dict[str, Any]] = {}
    for identity, (stop, key) in keys.items():
        recorded = evidence.get(identity) or {}
        atlas_name = atlas.get(stop) if stop in atlas else _recorded_name(recorded, "atlas")
        osm_name = osm.get(key) if key in osm else _recorded_name(recorded, "osm")
        out[identity] = {
            "source": stop.source if stop else None,
            "stop_id": stop.stop_id if stop else None,
            "osm_key": key,
            "atlas_name": atlas_name if stop else None,
            "osm_name": osm_name if key else None,
            "stop_name": (atlas_name if stop else None) or (osm_name if key else None),
            "atlas_in_data": stop is not None and stop in atlas,
            "osm_in_data": bool(key) and key in osm,
        }
    return out


def _recorded_name(evidence: dict[str, Any], side: str) -> str | None:
    """The name a decision's evidence recorded for one side (pipeline/review/evidence.py build_evidence)."""
    recorded = evidence.get(side) if isinstance(evidence, dict) else None
    if not isinstance(recorded, dict):
        return None
    if side == "atlas":
        name = recorded.get("name")
    else:
        raw_tags = recorded.get("tags")
        tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
        name = tags.get("name") or tags.get("uic_name")
    return name if isinstance(name, str) and name else None


def latest_run_with_changes() -> int | None:
    return db.session.scalar(select(func.max(ProblemChange.run_id)))


def run_changes(
    run_id: int,
    *,
    change: str | None = None,
    problem_types: list[str] | None = None,
    operators: list[str] | None = None,
    priorities: list[int] | None = None,
    limit: int = 200,
    after_id: int | None = None,
) -> dict[str, Any] | None:
    """Run-to-run differences of one run: totals, and a page of the changes. None: no such run."""
    session = db.session
    parent = aliased(RegistryStopRow)
    run = session.get(PipelineRun, run_id)
    if run is None:
        return None
    previous_id = session.scalar(select(func.max(ProblemChange.run_id)).where(ProblemChange.run_id < run_id))
    filters = [ProblemChange.run_id == run_id]
    if change:
        filters.append(ProblemChange.change == change)
    if problem_types:
        filters.append(ProblemChange.problem_type.in_(problem_types))
    if operators:
        filters.append(ProblemChange.operator_code.in_(operators))
    if priorities:
        filters.append(ProblemChange.priority.in_(priorities))
    totals: dict[str, dict[str, Any]] = {kind: {"total": 0, "by_type": {}} for kind in CHANGE_KINDS}
    for kind, ptype, count in session.execute(
        select(ProblemChange.change, ProblemChange.problem_type, func.count())
        .where(*filters)
        .group_by(ProblemChange.change, ProblemChange.problem_type)
    ):
        totals[kind]["total"] += count
        totals[kind]["by_type"][ptype] = count
    page_query = (
        select(
            ProblemChange.id,
            ProblemChange.problem_identity,
            ProblemChange.problem_type,
            ProblemChange.change,
            ProblemChange.priority,
            ProblemChange.operator_code,
            Problem.message,
            Problem.stop_id,
            Problem.osm_key,
            Problem.lat,
            Problem.lon,
            RegistryStopRow,
            parent.modes.label("parent_means"),
        )
        .outerjoin(
            Problem,
            and_(Problem.identity == ProblemChange.problem_identity, ProblemChange.change == "appeared"),
        )
        # A registry stop missing in OSM: its row gives the tags of the "Add in JOSM" link.
        .outerjoin(
            RegistryStopRow,
            and_(
                RegistryStopRow.source == Problem.source,
                RegistryStopRow.stop_id == Problem.stop_id,
                Problem.problem_type == "unmatched",
                Problem.osm_key.is_(None),
            ),
        )
        # The parent is a stop of the same registry.
        .outerjoin(
            parent, and_(parent.source == RegistryStopRow.source, parent.stop_id == RegistryStopRow.parent_id)
        )
        .where(*filters)
        .order_by(ProblemChange.id)
        .limit(limit + 1)
    )
    if after_id is not None:
        page_query = page_query.where(ProblemChange.id > after_id)
    rows = list(session.execute(page_query))
    more = len(rows) > limit
    rows = rows[:limit]
    ifopt_stops = registry_stops_where_ifopt_is_used(
        {RegistryKey(r.RegistryStopRow.source, r.RegistryStopRow.stop_id) for r in rows if r.RegistryStopRow}
    )
    names = stop_names([r.problem_identity for r in rows])
    items = [
        {
            "id": r.id,
            "problem_identity": r.problem_identity,
            "problem_type": r.problem_type,
            "change": r.change,
            "priority": r.priority,
            "operator": r.operator_code,
            # Only still-open problems have a message and a place; resolved ones are gone from the snapshot.
            "still_open": r.message is not None,
            "message": r.message,
            "lat": r.lat,
            "lon": r.lon,
            "links": _links(r, ifopt_stops),
            # The stop, named, for every row: a resolved problem is no longer in the snapshot, but its
            # identity still says which stop it was about.
            **names[r.problem_identity],
        }
        for r in rows
    ]
    return {
        "run": run_history.run_reference(run) if run is not None else None,
        "previous_run_id": previous_id,
        "totals": totals,
        "changes": items,
        "next_after": rows[-1].id if more and rows else None,
    }


def trends(by: str, *, runs: int = 30, series_limit: int = 8) -> dict[str, Any]:
    """Per run and per problem type (or operator): appeared, resolved and open problems.

    Series are the `series_limit` keys with the most open problems after the latest run; the rest
    are summed into "other" so totals stay right.
    """
    session = db.session
    column = ProblemChange.problem_type if by == "type" else func.coalesce(ProblemChange.operator_code, "")
    appeared = func.sum(case((ProblemChange.change == "appeared", 1), else_=0))
    resolved = func.sum(case((ProblemChange.change == "resolved", 1), else_=0))
    rows = list(
        session.execute(
            select(ProblemChange.run_id, column.label("key"), appeared.label("a"), resolved.label("r"))
            .group_by(ProblemChange.run_id, column)
            .order_by(ProblemChange.run_id)
        )
    )
    run_ids = sorted({r.run_id for r in rows})
    # Open counts need every run since the first; only the last `runs` are returned.
    per_key: dict[str, dict[int, tuple[int, int]]] = {}
    for r in rows:
        per_key.setdefault(r.key or "", {})[r.run_id] = (int(r.a), int(r.r))
    series_all: dict[str, dict[str, list[int]]] = {}
    for key, by_run in per_key.items():
        open_now = 0
        values: dict[str, list[int]] = {"appeared": [], "resolved": [], "open": []}
        for run_id in run_ids:
            came, went = by_run.get(run_id, (0, 0))
            open_now += came - went
            values["appeared"].append(came)
            values["resolved"].append(went)
            values["open"].append(open_now)
        series_all[key] = values
    shown_runs = run_ids[-runs:]
    cut = len(run_ids) - len(shown_runs)
    ranked = sorted(series_all, key=lambda k: (-(series_all[k]["open"][-1] if run_ids else 0), k))
    keep, rest = ranked[:series_limit], ranked[series_limit:]
    series: list[dict[str, Any]] = [
        {"key": key or None, **{name: vals[cut:] for name, vals in series_all[key].items()}} for key in keep
    ]
    if rest:
        summed = {
            name: [sum(series_all[k][name][i] for k in rest) for i in range(len(run_ids))][cut:]
            for name in ("appeared", "resolved", "open")
        }
        series.append({"key": "other", "grouped": len(rest), **summed})
    run_rows = {
        run.id: run for run in session.scalars(select(PipelineRun).where(PipelineRun.id.in_(shown_runs)))
    }
    return {
        "by": by,
        "runs": [_run_reference(run_rows.get(run_id), run_id) for run_id in shown_runs],
        "series": series,
        "totals": {
            name: [sum(s[name][i] for s in series) for i in range(len(shown_runs))]
            for name in ("appeared", "resolved", "open")
        },
    }
