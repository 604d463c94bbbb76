"""The stop page's and search's per-request cost: queries the planner can answer from indexes, and
production answers that are not validated again per request (the tests validate them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Blueprint
from sqlalchemy import event, text

from app.api.schemas.endpoint import OPERATIONS, endpoint
from app.api.schemas.lines import UserOne
from app.api.schemas.stops import NoQuery
from app.config import ConfigError, load_settings
from app.services import decisions
from database import db
from tests import factories as f


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


def _broken_body_app(make_app, **settings: Any):
    """An app with one API view whose body breaks its response model."""
    broken = Blueprint("broken_hot_path", __name__, url_prefix="/api/v1")

    @broken.get("/test-unchecked-model")
    @endpoint("testUncheckedModel", "meta", ok=UserOne)
    def broken_view(query: NoQuery) -> dict[str, Any]:
        return {"user": {"id": "not a number"}}

    try:
        app = make_app(**settings)
        app.register_blueprint(broken)
        return app.test_client().get("/api/v1/test-unchecked-model")
    finally:
        OPERATIONS.pop("testUncheckedModel", None)


def test_production_does_not_validate_each_answer_against_its_model_again(make_app):
    # What production runs (API_VALIDATE_RESPONSES empty there): the body goes out as the view built it.
    response = _broken_body_app(make_app, API_VALIDATE_RESPONSES="false")
    assert response.status_code == 200
    assert response.get_json() == {"user": {"id": "not a number"}}


def test_tests_and_development_validate_each_answer_against_its_model(make_app):
    assert _broken_body_app(make_app).status_code == 500  # the test default: on


def test_answer_validation_defaults_to_off_in_production_and_on_elsewhere():
    production = load_settings({}, STOPSYNC_ENV="production", SECRET_KEY="x" * 40)
    assert production.validate_api_responses is False
    assert load_settings({}, STOPSYNC_ENV="development").validate_api_responses is True
    assert load_settings({}, STOPSYNC_ENV="test").validate_api_responses is True
    forced = load_settings({}, STOPSYNC_ENV="production", SECRET_KEY="x" * 40, API_VALIDATE_RESPONSES="true")
    assert forced.validate_api_responses is True
    with pytest.raises(ConfigError, match="API_VALIDATE_RESPONSES"):
        load_settings({}, STOPSYNC_ENV="test", API_VALIDATE_RESPONSES="sometimes")


def _commands(redis_client, name: str) -> int:
    return int(redis_client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


def test_a_rate_limited_request_costs_one_redis_round_trip_with_exact_headers(make_app, redis_client):
    app = make_app(RATELIMIT_DEFAULT="5 per minute")
    client = app.test_client()
    client.get("/api/v1/search?q=Bern")  # the first hit sets the window (and loads the script)
    redis_client.config_resetstat()
    second = client.get("/api/v1/search?q=Bern")
    # The headers' count and reset came with the increment: one script call (its INCRBY and TTL
    # count in commandstats too), no GET of the counter and no TTL call of the client's own.
    assert _commands(redis_client, "evalsha") == 1
    assert _commands(redis_client, "get") == 0
    assert _commands(redis_client, "ttl") == 1
    assert second.headers["X-RateLimit-Limit"] == "5"
    assert second.headers["X-RateLimit-Remaining"] == "3"
    assert 0 < int(second.headers["X-RateLimit-Reset"]) - time.time() <= 61
    for _ in range(3):
        client.get("/api/v1/search?q=Bern")
    limited = client.get("/api/v1/search?q=Bern")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(limited.headers["Retry-After"]) <= 61


def _statements_of(client, path: str) -> tuple[dict[str, Any], list[str]]:
    """The JSON answer of GET `path` and the SQL statements it ran (the pre-ping excluded)."""
    seen: list[str] = []

    def capture(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        if statement.strip().lower() != "select 1":
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert response.status_code == 200, response.get_json()
    return response.get_json(), seen


def test_a_stop_page_reads_its_counterparts_problems_and_lines_in_one_statement(app, client):
    stop, node, _ = f.matched_pair()
    f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key)
    f.osm_route(9001, [node.osm_key], ref="11")
    for path in (f"/api/v1/stops/atlas/{stop.stop_id}", f"/api/v1/stops/osm/{node.osm_key}"):
        body, statements = _statements_of(client, path)
        assert len(statements) == 1, statements
        assert [m["osm_key"] for m in body["matches"]] == [node.osm_key]
        assert [p["identity"] for p in body["problems"]] == [f"distance:{stop.stop_id}:{node.osm_key}"]
        assert [line["ref"] for line in body["lines"]["osm"]] == ["11"]


def test_a_stop_page_with_a_decision_reads_it_with_its_history(app, client):
    stop, node, _ = f.matched_pair()
    problem = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key)
    f.decision(problem.identity, "needs_survey", source="atlas", stop_id=stop.stop_id)
    body, statements = _statements_of(client, f"/api/v1/stops/atlas/{stop.stop_id}")
    assert body["problems"][0]["decision"]["decision"] == "needs_survey"
    assert [d["decision"] for d in body["decisions"]] == ["needs_survey"]
    assert [e["action"] for e in body["decisions"][0]["history"]] == ["created"]
    assert len(statements) <= 4, statements  # the page, then problems, decisions, history


@pytest.mark.parametrize("path", ["/api/v1/stops/atlas/{stop_id}", "/api/v1/search?q={name}"])
def test_public_reads_end_their_transaction_with_a_commit_so_prepared_statements_survive(app, client, path):
    """psycopg deallocates every prepared statement on ROLLBACK: a read that ended with the pool's
    rollback was parsed and planned again on every request."""
    stop = f.atlas_stop(name="Vaduz, Post")
    endings: list[str] = []
    listeners = {kind: (lambda *_args, kind=kind: endings.append(kind)) for kind in ("commit", "rollback")}
    for kind, listener in listeners.items():
        event.listen(db.engine, kind, listener)
    try:
        assert client.get(path.format(stop_id=stop.stop_id, name="Vaduz")).status_code == 200
    finally:
        for kind, listener in listeners.items():
            event.remove(db.engine, kind, listener)
    assert endings[:1] == ["commit"], endings


def test_a_name_search_reads_prefixes_fuzzy_names_and_their_osm_objects_in_one_statement(app, client):
    stop, node, _ = f.matched_pair(name="Vaduz, Post")
    # A typo: no prefix fits, so the fuzzy lookup runs (inside the same statement).
    body, statements = _statements_of(client, "/api/v1/search?q=Vaduz%2C+Psot")
    assert [r["key"] for r in body["results"]] == [stop.stop_id]
    assert [o["key"] for o in body["results"][0]["osm"]] == [node.osm_key]
    assert body["results"][0]["match"] == "fuzzy"
    # One statement folds the query, looks names up and reads the matched pairs of what it found.
    assert len(statements) == 1, statements


def test_every_name_search_runs_the_same_statement_text_so_it_is_prepared(app, client):
    """psycopg prepares a statement only once it has seen its exact text five times on a connection:
    a name search whose text varied with the query (its spellings, its length) was planned anew."""
    f.matched_pair(name="Vaduz, Post")
    texts = set()
    # One to four spellings, short and long queries, prefix and fuzzy matches.
    for query in ("Vaduz", "Vaduz Post", "vaduz, post", "Va", "Vaduz Post Platz", "Vaduz, Psot"):
        body, statements = _statements_of(client, f"/api/v1/search?q={query}")
        assert body["results"], query
        texts.update(statements)
    assert len(texts) == 1, texts


@pytest.mark.parametrize("query", ["{uic}", "{sloid}", "node/{osm_id}", "n{osm_id}"])
def test_an_identifier_search_reads_its_lookups_and_matched_pairs_in_one_statement(app, client, query):
    """A UIC number, a stop_id or an OSM id: the registry and OSM lookups that apply and the matched
    pairs of what they found in one statement (a bare number ran three lookups and the pairs: four)."""
    stop, node, _ = f.matched_pair(name="Vaduz, Post")
    osm_id = node.osm_key.split("/")[1]
    term = query.format(uic=stop.code, sloid=stop.stop_id, osm_id=osm_id)
    body, statements = _statements_of(client, f"/api/v1/search?q={term}")
    assert len(statements) == 1, statements
    assert body["results"][0]["match"] == "identifier"
    if query.startswith("n"):
        # The OSM object, with its matched registry stop (read by the same statement).
        assert [r["key"] for r in body["results"]] == [node.osm_key]
        assert body["results"][0]["registry"] == stop.stop_id
    else:
        assert body["results"][0]["key"] == stop.stop_id
        assert [o["key"] for o in body["results"][0]["osm"]] == [node.osm_key]
