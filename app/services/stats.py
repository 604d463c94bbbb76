"""Counts for the stats page and API: per match method, problem type and priority, operator, means
of transport, decisions, distance buckets, and the last pipeline run.

Computed on request (a handful of aggregate queries over indexed snapshot tables): never stale after
an import, unlike a cache that nobody invalidates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from app.services import run_history
from database import db
from database.models import PipelineRun

# Registry stops with at least one match, hashed once per query instead of probed per row.
# Registry stops are (source, stop_id): two registries may use the same id string.
MATCHED_CTE = "matched AS (SELECT DISTINCT source, stop_id FROM matches)"

# Distance buckets of matches, in metres (upper bounds; the last is open-ended).
DISTANCE_BUCKETS_M = (5, 20, 50, 100)


def _distance_buckets() -> list[dict[str, Any]]:
    bounds = list(DISTANCE_BUCKETS_M)
    cases = " ".join(f"WHEN distance_m <= {upper} THEN {index}" for index, upper in enumerate(bounds))
    rows = db.session.execute(
        text(f"SELECT CASE {cases} ELSE {len(bounds)} END AS bucket, count(*) AS n FROM matches GROUP BY 1")
    )
    counts = {row.bucket: row.n for row in rows}
    buckets = []
    lower: float | None = 0
    for index, upper in enumerate([*bounds, None]):
        buckets.append({"min_m": lower, "max_m": upper, "count": counts.get(index, 0)})
        lower = upper
    return buckets


def compute_stats() -> dict[str, Any]:
    """Every figure of the stats page, in one JSON-ready dict."""
    session = db.session
    totals = session.execute(
        text(
            """
            SELECT (SELECT count(*) FROM registry_stops) AS registry_stops,
                   (SELECT count(*) FROM osm_stops) AS osm_stops,
                   (SELECT count(*) FROM matches) AS matches,
                   (SELECT count(*) FROM (SELECT DISTINCT source, stop_id FROM matches) d) AS matched_atlas,
                   (SELECT count(*) FROM (SELECT DISTINCT osm_key FROM matches) d) AS matched_osm,
                   (SELECT count(*) FROM problems) AS problems
            """
        )
    ).one()
    methods = session.execute(
        text(
            "SELECT method, count(*) AS count, round(avg(distance_m)::numeric, 1)::float AS mean_distance_m,"
            " round(percentile_cont(0.5) WITHIN GROUP (ORDER BY distance_m)::numeric, 1)::float"
            " AS median_distance_m"
            " FROM matches GROUP BY method ORDER BY count(*) DESC, method"
        )
    )
    problem_rows = session.execute(
        text(
            "SELECT p.problem_type, p.priority, count(*) AS count,"
            " count(d.id) FILTER (WHERE d.status <> 'needs_review') AS decided"
            " FROM problems p LEFT JOIN decisions d ON d.problem_identity = p.identity"
            " GROUP BY p.problem_type, p.priority ORDER BY p.problem_type, p.priority"
        )
    )
    problem_types: dict[str, dict[str, Any]] = {}
    for row in problem_rows:
        entry = problem_types.setdefault(
            row.problem_type,
            {"problem_type": row.problem_type, "count": 0, "decided": 0, "undecided": 0, "by_priority": {}},
        )
        entry["count"] += row.count
        entry["decided"] += row.decided
        entry["undecided"] += row.count - row.decided
        entry["by_priority"][str(row.priority)] = row.count
    decided = sum(entry["decided"] for entry in problem_types.values())
    operators = session.execute(
        text(
            f"""
            WITH {MATCHED_CTE}
            SELECT s.operator, s.registry_stops, s.matched, coalesce(p.problems, 0) AS problems
            FROM (
                SELECT coalesce(a.operator_code, '') AS operator, count(*) AS registry_stops,
                       count(m.stop_id) AS matched
                FROM registry_stops a
                LEFT JOIN matched m ON m.source = a.source AND m.stop_id = a.stop_id
                GROUP BY 1
            ) s
            LEFT JOIN (
                SELECT coalesce(operator_code, '') AS operator, count(*) AS problems FROM problems GROUP BY 1
            ) p ON p.operator = s.operator
            ORDER BY s.registry_stops DESC, s.operator
            """
        )
    )
    transports = session.execute(
        text(
            f"""
            WITH {MATCHED_CTE}
            SELECT t.transport, count(*) AS registry_stops, count(m.stop_id) AS matched
            FROM registry_stops a
            LEFT JOIN matched m ON m.source = a.source AND m.stop_id = a.stop_id
            CROSS JOIN unnest(string_to_array(coalesce(nullif(a.modes, ''), 'UNKNOWN'), '|'))
                AS t(transport)
            GROUP BY t.transport ORDER BY count(*) DESC, t.transport
            """
        )
    )
    decisions = session.execute(
        text("SELECT decision, status, count(*) AS count FROM decisions GROUP BY 1, 2 ORDER BY 1, 2")
    )
    last_run = session.scalar(select(PipelineRun).order_by(PipelineRun.id.desc()).limit(1))
    last_success = session.scalar(
        select(PipelineRun).where(PipelineRun.status == "succeeded").order_by(PipelineRun.id.desc()).limit(1)
    )
    return {
        "totals": {
            "registry_stops": totals.registry_stops,
            "osm_stops": totals.osm_stops,
            "matches": totals.matches,
            "matched_atlas": totals.matched_atlas,
            "unmatched_atlas": totals.registry_stops - totals.matched_atlas,
            "matched_osm": totals.matched_osm,
            "unmatched_osm": totals.osm_stops - totals.matched_osm,
            "problems": totals.problems,
            "decided": decided,
            "undecided": totals.problems - decided,
        },
        "match_methods": [dict(row._mapping) for row in methods],
        "distance_buckets": _distance_buckets(),
        "problem_types": list(problem_types.values()),
        "operators": [dict(row._mapping) for row in operators],
        "modes": [dict(row._mapping) for row in transports],
        "decisions": [dict(row._mapping) for row in decisions],
        "last_run": run_history.run_as_dict(last_run) if last_run else None,
        "last_successful_run": run_history.run_as_dict(last_success) if last_success else None,
    }
