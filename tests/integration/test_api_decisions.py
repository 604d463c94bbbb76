"""POST/GET /api/v1/decisions: editors decide, history is kept, decisions outlive re-imports."""

from __future__ import annotations

from sqlalchemy import text

from database import db
from database.models import DecisionEvent
from tests import factories as f


def decide(client, csrf: str, identity: str, decision: str = "not_a_problem", note: str = ""):
    return client.post(
        "/api/v1/decisions",
        json={"problem_identity": identity, "decision": decision, "note": note},
        headers={"X-CSRF-Token": csrf},
    )


def test_editor_records_a_decision(app, client):
    problem = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1")
    user, csrf = f.login_as(client, role="editor")
    response = decide(client, csrf, problem.identity, "fixed_in_osm", "moved the platform")
    assert response.status_code == 201
    body = response.get_json()
    assert body["created"] is True
    assert body["decision"]["decision"] == "fixed_in_osm"
    assert body["decision"]["note"] == "moved the platform"
    assert body["decision"]["author"] == user.username
    assert body["decision"]["stop_id"] == "ch:1:sloid:1"
    assert body["decision"]["osm_key"] == "node/1"


def test_changing_a_decision_keeps_the_history(app, client):
    problem = f.problem("unmatched", stop_id="ch:1:sloid:1")
    _, csrf = f.login_as(client)
    assert decide(client, csrf, problem.identity, "needs_survey").status_code == 201
    response = decide(client, csrf, problem.identity, "atlas_wrong", "stop was removed")
    assert response.status_code == 200
    body = client.get("/api/v1/decisions", query_string={"problem_identity": problem.identity}).get_json()
    [decision] = body["decisions"]
    assert decision["decision"] == "atlas_wrong"
    assert [event["action"] for event in decision["history"]] == ["created", "updated"]
    assert decision["history"][1]["payload"]["previous"]["decision"] == "needs_survey"


def test_repeating_the_same_decision_writes_no_event(app, client):
    problem = f.problem("unmatched", stop_id="ch:1:sloid:1")
    _, csrf = f.login_as(client)
    decide(client, csrf, problem.identity, "needs_survey", "x")
    assert decide(client, csrf, problem.identity, "needs_survey", "x").status_code == 200
    assert db.session.query(DecisionEvent).count() == 1


def test_api_token_can_record_decisions_without_csrf(app, client):
    problem = f.problem("unmatched", stop_id="ch:1:sloid:1")
    token = f.api_token(f.create_user(role="editor"))
    response = client.post(
        "/api/v1/decisions",
        json={"problem_identity": problem.identity, "decision": "not_a_problem"},
        headers=f.bearer(token),
    )
    assert response.status_code == 201


def test_anonymous_cannot_record_decisions(app, client):
    problem = f.problem("unmatched", stop_id="ch:1:sloid:1")
    response = client.post(
        "/api/v1/decisions", json={"problem_identity": problem.identity, "decision": "fixed_in_osm"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_decision_on_an_unknown_problem_is_a_404(app, client):
    _, csrf = f.login_as(client)
    response = decide(client, csrf, "distance:ch:1:sloid:404:node/404")
    assert response.status_code == 404


def test_invalid_decision_bodies_are_a_422_naming_the_field(app, client):
    problem = f.problem("unmatched", stop_id="ch:1:sloid:1")
    _, csrf = f.login_as(client)
    headers = {"X-CSRF-Token": csrf}
    cases = [
        ({"problem_identity": problem.identity, "decision": "meh"}, "decision"),
        ({"problem_identity": problem.identity}, "decision"),
        ({"decision": "fixed_in_osm"}, "problem_identity"),
        ({"problem_identity": problem.identity, "decision": "fixed_in_osm", "note": 5}, "note"),
        ({"problem_identity": problem.identity, "decision": "fixed_in_osm", "note": "x" * 5001}, "note"),
        ({"problem_identity": problem.identity, "decision": "fixed_in_osm", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/decisions", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["details"]["field"] == field
    response = client.post(
        "/api/v1/decisions", data="not json", headers=headers, content_type="application/json"
    )
    assert response.status_code == 400


def test_decision_survives_a_reimport_of_the_snapshot(app, client):
    problem = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1", distance_m=60.0)
    _, csrf = f.login_as(client)
    decide(client, csrf, problem.identity, "needs_survey")
    # An import replaces the whole snapshot: the problem row is deleted and written again.
    db.session.execute(text("DELETE FROM problems"))
    db.session.commit()
    f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1", distance_m=61.0)
    [listed] = client.get("/api/v1/problems").get_json()["problems"]
    assert listed["decision"]["decision"] == "needs_survey"


def test_recent_decisions_are_listed_newest_first_with_a_cursor(app, client):
    for index in range(3):
        f.decision(f.problem("unmatched", stop_id=f"ch:1:sloid:{index}").identity)
    first = client.get("/api/v1/decisions?limit=2").get_json()
    assert len(first["decisions"]) == 2
    assert first["decisions"][0]["id"] > first["decisions"][1]["id"]
    rest = client.get(f"/api/v1/decisions?limit=2&cursor={first['next_cursor']}").get_json()
    assert len(rest["decisions"]) == 1
    assert rest["next_cursor"] is None
