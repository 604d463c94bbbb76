"""The stop page's and search's per-request cost: queries the planner can answer from indexes, and
production answers that are not validated again per request (the tests validate them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text

from app.services import decisions
from database import db


def _plan_of(call: Callable[[], Any], table: str) -> str:
    """EXPLAIN (sequential scans disabled) of the statement `call` runs against `table`."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if f" {table} " in statement:
            seen.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen, f"no statement on {table}"
    statement, parameters = seen[0]
    connection = db.session.connection()
    # With sequential scans priced out, a plan that still reads the whole table has no other way.
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    db.session.rollback()
    return "\n".join(row[0] for row in rows)


def test_a_stops_problems_are_found_through_indexes_not_a_scan_of_every_problem(app):
    plan = _plan_of(
        lambda: decisions.problems_for(stops=[("atlas", "ch:1:sloid:7000")], osm_keys=["node/1"]),
        "problems",
    )
    # Each side of the OR is an index lookup, not a filter over every row of some full scan.
    assert "Seq Scan on problems" not in plan, plan
    assert "Index Cond: ((stop_id)::text = ANY" in plan, plan
    assert "Index Cond: ((osm_key)::text = ANY" in plan, plan


def test_a_stops_decisions_are_found_through_indexes_not_a_scan_of_every_decision(app):
    plan = _plan_of(
        lambda: decisions.decisions_for(
            stops=[("atlas", "ch:1:sloid:7000")], osm_keys=["node/1"], identities=[]
        ),
        "decisions",
    )
    assert "Seq Scan on decisions" not in plan, plan
    assert "Index Cond: ((stop_id)::text = ANY" in plan, plan
