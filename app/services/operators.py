"""The registry steward's view: per operator of the registry, its stops, how many are matched, its
problems by type and priority (open and undecided), the distances of its matches, and the trend of
its open problems over the last runs, each figure with the links that open exactly those stops.

Everything is computed on request from the snapshot tables (a few grouped scans; a national
registry has about 430 operators) and `problem_changes`, so it is never stale after an import.

The trend needs no snapshot history: `problem_changes` records, per run, every problem that
appeared or was resolved, with the operator it had then. Walking back from the open problems of the
current snapshot, the open count after the run before is the count after a run minus what that run
made appear plus what it resolved. The current figure is exact; an earlier one is off only for a
problem whose operator changed while it stayed open (its identity, and so its change rows, stay).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER

from app.services import vocabulary
from database import db

# Runs shown in each operator's trend (the API's `runs` parameter may ask for more, up to the cap).
DEFAULT_TREND_RUNS = 5
MAX_TREND_RUNS = 50
# The map link's zoom from the operator's extent, for a map about this many pixels wide and high:
# a phone's width, so the whole network fits on every screen.
_MAP_PIXELS = 360
_MIN_ZOOM, _MAX_ZOOM = 7, 17

_STOPS_SQL = """
    SELECT coalesce(a.operator_code, '') AS operator,
           mode() WITHIN GROUP (ORDER BY a.operator_name) AS operator_name,
           count(*) AS registry_stops,
           count(m.stop_id) AS matched,
           min(a.lon) AS min_lon, min(a.lat) AS min_lat, max(a.lon) AS max_lon, max(a.lat) AS max_lat
    FROM registry_stops a
    LEFT JOIN (SELECT DISTINCT source, stop_id FROM matches) m
        ON m.source = a.source AND m.stop_id = a.stop_id
    GROUP BY 1
"""
# Per match, not per stop: a stop with two platforms mapped as two objects has two distances.
_DISTANCE_SQL = """
    SELECT coalesce(a.operator_code, '') AS operator,
           count(*) AS matches,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY m.distance_m) AS median_m,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY m.distance_m) AS p90_m,
           max(m.distance_m) AS max_m
    FROM matches m JOIN registry_stops a ON a.source = m.source AND a.stop_id = m.stop_id
    GROUP BY 1
"""
# "Undecided" as everywhere else (stats, review queue): no decision, or one sent back to review.
_PROBLEMS_SQL = """
    SELECT coalesce(p.operator_code, '') AS operator, p.problem_type, p.priority,
           count(*) AS open,
           count(*) FILTER (WHERE d.id IS NULL OR d.status = 'needs_review') AS undecided
    FROM problems p LEFT JOIN decisions d ON d.problem_identity = p.identity
    GROUP BY 1, 2, 3
"""
_RUNS_SQL = """
    SELECT c.run_id, r.finished_at, r.started_at
    FROM (SELECT DISTINCT run_id FROM problem_changes) c
    LEFT JOIN pipeline_runs r ON r.id = c.run_id
    ORDER BY c.run_id DESC
    LIMIT :runs
"""
_CHANGES_SQL = """
    SELECT run_id, coalesce(operator_code, '') AS operator,
           count(*) FILTER (WHERE change = 'appeared') AS appeared,
           count(*) FILTER (WHERE change = 'resolved') AS resolved
    FROM problem_changes
    WHERE run_id = ANY(:run_ids)
    GROUP BY 1, 2
"""


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def map_hash(bbox: list[float] | None) -> str:
    """`#map=zoom/lat/lon` showing `bbox` (west, south, east, north) whole, in the map page's format."""
    if not bbox:
        return ""
    west, south, east, north = bbox
    lat = (south + north) / 2
    # Degrees of longitude per pixel at zoom z: 360 / (256 * 2^z); latitude spans shrink by cos(lat).
    span = max(east - west, (north - south) / max(math.cos(math.radians(lat)), 0.1), 1e-6)
    zoom = math.floor(math.log2(360 * _MAP_PIXELS / (256 * span)))
    zoom = max(_MIN_ZOOM, min(_MAX_ZOOM, zoom))
    return f"#map={zoom}/{lat:.5f}/{(west + east) / 2:.5f}"


def _url(path: str, query: dict[str, Any], fragment: str = "") -> str:
    return path + ("?" + urlencode(query) if query else "") + fragment


def operator_links(
    operator: str, bbox: list[float] | None, problem_types: Iterable[str] = (), priorities: Iterable[str] = ()
) -> dict[str, Any]:
    """Where each figure of an operator leads: the map (filtered, framed on its stops), the review
    queue and the registry report, all filtered by the operator. Per problem type and priority only
    for those it has (a zero leads nowhere), which keeps a national answer small."""
    view = map_hash(bbox)
    base = {"operator": operator}
    return {
        "map": _url("/", {**base, "side": "atlas"}, view),
        "map_matched": _url("/", {**base, "side": "atlas", "status": "matched"}, view),
        "map_unmatched": _url("/", {**base, "side": "atlas", "status": "unmatched"}, view),
        # Any priority is any problem: the map has no "has a problem" switch of its own.
        "map_problems": _url("/", {**base, "priority": ",".join(map(str, vocabulary.PRIORITIES))}, view),
        "map_by_type": {t: _url("/", {**base, "problem_type": t}, view) for t in problem_types},
        "map_by_priority": {p: _url("/", {**base, "priority": p}, view) for p in priorities},
        "review": _url("/review", base),
        "review_by_type": {t: _url("/review", {**base, "type": t}) for t in problem_types},
        "review_by_priority": {p: _url("/review", {**base, "priority": p}) for p in priorities},
        "registry_report": _url("/api/v1/reports/registry-errors.csv", base),
        "registry_report_json": _url("/api/v1/reports/registry-errors.json", base),
    }


def _empty(operator: str) -> dict[str, Any]:
    return {
        "operator": operator or None,
        "operator_name": None,
        "registry_stops": 0,
        "matched": 0,
        "unmatched": 0,
        "matched_share": None,
        "problems": {"open": 0, "undecided": 0, "by_type": {}, "by_priority": {}},
        "distance_m": {"matches": 0, "median": None, "p90": None, "max": None},
        "bbox": None,
    }


def operator_overview(*, q: str | None = None, runs: int = DEFAULT_TREND_RUNS) -> dict[str, Any]:
    """Every operator's figures (see the module doc), largest first; `q` keeps the operators whose
    abbreviation or name contains it (case-insensitive)."""
    session = db.session
    rows: dict[str, dict[str, Any]] = {}
    for r in session.execute(text(_STOPS_SQL)):
        entry = rows.setdefault(r.operator, _empty(r.operator))
        entry.update(
            operator_name=r.operator_name,
            registry_stops=r.registry_stops,
            matched=r.matched,
            unmatched=r.registry_stops - r.matched,
            matched_share=_share(r.matched, r.registry_stops),
            bbox=[r.min_lon, r.min_lat, r.max_lon, r.max_lat],
        )
    for r in session.execute(text(_DISTANCE_SQL)):
        entry = rows.setdefault(r.operator, _empty(r.operator))
        entry["distance_m"] = {
            "matches": r.matches,
            "median": _round(r.median_m),
            "p90": _round(r.p90_m),
            "max": _round(r.max_m),
        }
    for r in session.execute(text(_PROBLEMS_SQL)):
        problems = rows.setdefault(r.operator, _empty(r.operator))["problems"]
        problems["open"] += r.open
        problems["undecided"] += r.undecided
        by_type = problems["by_type"].setdefault(r.problem_type, {"open": 0, "undecided": 0})
        by_type["open"] += r.open
        by_type["undecided"] += r.undecided
        by_priority = problems["by_priority"].setdefault(str(r.priority), {"open": 0, "undecided": 0})
        by_priority["open"] += r.open
        by_priority["undecided"] += r.undecided
    trend_runs = _trend(session, rows, runs)
    needle = (q or "").casefold()
    operators = []
    for key, entry in rows.items():
        if (
            needle
            and needle not in key.casefold()
            and needle not in (entry["operator_name"] or "").casefold()
        ):
            continue
        # Stops without an operator cannot be filtered for: no links rather than links to everything.
        problems = entry["problems"]
        entry["links"] = (
            operator_links(key, entry["bbox"], sorted(problems["by_type"]), sorted(problems["by_priority"]))
            if key
            else None
        )
        operators.append(entry)
    operators.sort(key=lambda e: (-e["registry_stops"], -e["problems"]["open"], e["operator"] or ""))
    return {
        "operators": operators,
        "count": len(operators),
        "runs": trend_runs,
        "totals": {
            "registry_stops": sum(e["registry_stops"] for e in operators),
            "matched": sum(e["matched"] for e in operators),
            "open": sum(e["problems"]["open"] for e in operators),
            "undecided": sum(e["problems"]["undecided"] for e in operators),
        },
    }


def _trend(session: Any, rows: dict[str, dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """Adds `trend` to every row (oldest run first) and returns the runs it covers."""
    found = list(session.execute(text(_RUNS_SQL), {"runs": runs}))
    run_ids = [r.run_id for r in reversed(found)]
    changes: dict[str, dict[int, tuple[int, int]]] = {}
    if run_ids:
        statement = text(_CHANGES_SQL).bindparams(bindparam("run_ids", type_=ARRAY(INTEGER)))
        for r in session.execute(statement, {"run_ids": run_ids}):
            changes.setdefault(r.operator, {})[r.run_id] = (r.appeared, r.resolved)
    for key, entry in rows.items():
        by_run = changes.get(key, {})
        open_after = entry["problems"]["open"]
        series: list[dict[str, int]] = []
        for run_id in reversed(run_ids):
            appeared, resolved = by_run.get(run_id, (0, 0))
            series.append({"run_id": run_id, "open": open_after, "appeared": appeared, "resolved": resolved})
            # Never below zero, even where an operator change made the walk drift (module doc).
            open_after = max(0, open_after - appeared + resolved)
        series.reverse()
        entry["trend"] = series
        latest = series[-1] if series else None
        entry["change_last_run"] = (
            {"appeared": latest["appeared"], "resolved": latest["resolved"]}
            if latest
            else {"appeared": 0, "resolved": 0}
        )
    return [
        {
            "id": r.run_id,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "started_at": r.started_at.isoformat() if r.started_at else None,
        }
        for r in reversed(found)
    ]
