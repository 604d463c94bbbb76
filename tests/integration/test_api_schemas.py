"""Every documented operation, called with a real request on demo-like rows: its answer has a status
the document lists, a content type it lists, and a body its schema accepts (the schema generated
from the model the view's answer is validated against).

The schemathesis fuzz (test_api_fuzz.py) throws generated input at the API; this walks each
operation once on purpose, so a success answer of every operation is checked, not only the ones
the fuzzer happens to reach. A new operation without an example here fails
`test_every_documented_operation_has_an_example`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Blueprint
from jsonschema import Draft202012Validator

from app.api.openapi import openapi_document
from app.api.schemas.endpoint import OPERATIONS, endpoint
from app.api.schemas.lines import UserOne
from app.api.schemas.stops import NoQuery
from tests import factories as f
from tests.integration.test_api_fuzz import seed_demo_like_rows

DOCUMENT = openapi_document()


def operations() -> dict[str, tuple[str, str]]:
    """operationId -> (method, path template)."""
    return {
        op["operationId"]: (method, path)
        for path, item in DOCUMENT["paths"].items()
        for method, op in item.items()
    }


Example = Callable[[dict[str, Any]], tuple[str, str, dict[str, Any]]]


def _get(url: str) -> Example:
    return lambda ids: ("get", url.format(**ids), {})


# One real request per operation: (method, URL, extra client kwargs), built from the seeded rows.
EXAMPLES: dict[str, Example] = {
    "listStops": _get("/api/v1/stops?bbox=9.4,47.0,9.7,47.3&limit=50"),
    "getRegistryStop": _get("/api/v1/stops/{source}/{stop_id}"),
    "getOsmStop": _get("/api/v1/stops/osm/{osm_type}/{osm_id}"),
    "search": _get("/api/v1/search?q=Vaduz"),
    "listProblems": _get("/api/v1/problems?limit=2&sort=distance"),
    "listDecisions": _get("/api/v1/decisions"),
    "recordDecision": lambda ids: (
        "post",
        "/api/v1/decisions",
        {"json": {"problem_identity": ids["identity"], "decision": "not_a_problem", "note": "walk"}},
    ),
    "getStats": _get("/api/v1/stats"),
    "export": _get("/api/v1/exports/problems.csv?type=unmatched"),
    "getMe": _get("/api/v1/me"),
    "listUsers": _get("/api/v1/users"),
    "createUser": lambda ids: (
        "post",
        "/api/v1/users",
        {"json": {"username": "walker", "password": "a long enough password", "role": "editor"}},
    ),
    "updateUser": lambda ids: ("patch", f"/api/v1/users/{ids['other_user']}", {"json": {"role": "viewer"}}),
    "issueToken": lambda ids: ("post", f"/api/v1/users/{ids['other_user']}/token", {}),
    "getOpenapi": _get("/api/v1/openapi.json"),
    "getPipelineStatus": _get("/api/v1/pipeline/status"),
    "listRuns": _get("/api/v1/pipeline/runs?limit=5"),
    "requestRun": lambda ids: ("post", "/api/v1/pipeline/runs", {"json": {"only_if_changed": True}}),
    "streamPipeline": _get("/api/v1/pipeline/stream"),
    "listManualMatches": _get("/api/v1/manual-matches?status=active,orphaned,deleted"),
    "saveManualMatch": lambda ids: (
        "post",
        "/api/v1/manual-matches",
        {"json": {"stop_id": ids["stop_id"], "osm_key": ids["osm_key"], "action": "link", "note": "walk"}},
    ),
    "getManualMatch": _get("/api/v1/manual-matches/{manual_match}"),
    "deleteManualMatch": lambda ids: ("delete", f"/api/v1/manual-matches/{ids['manual_match']}", {}),
    "getRegistryCandidates": _get("/api/v1/stops/{source}/{stop_id}/candidates"),
    "getOsmCandidates": _get("/api/v1/stops/osm/{osm_type}/{osm_id}/candidates"),
    "getOsmChange": _get("/api/v1/fixes/osmchange.osc"),
    "getOsmChangeReport": _get("/api/v1/fixes/osmchange.report.json?move=true"),
    "getMapRoulette": _get("/api/v1/fixes/maproulette.geojson?fixable_only=false"),
    "getMapRouletteReport": _get("/api/v1/fixes/maproulette.report.json"),
    "getRegistryErrors": _get("/api/v1/reports/registry-errors.json"),
    "getChanges": _get("/api/v1/changes"),
    "getTrends": _get("/api/v1/trends?by=operator"),
    "listOperators": _get("/api/v1/operators"),
    "listRoutes": _get("/api/v1/routes?side=both"),
    "getRoute": _get("/api/v1/routes/osm/7001"),
    "getTileJson": _get("/api/v1/tiles.json"),
    "getTile": _get("/api/v1/tiles/{snapshot}/0/0/0.mvt"),
}


def _schema_for(op: dict[str, Any], status: int, media: str) -> dict[str, Any] | None:
    response = op["responses"].get(str(status))
    assert response is not None, f"{op['operationId']}: status {status} is not documented"
    while "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content", {})
    if not content:
        return None
    assert media in content, f"{op['operationId']} {status}: {media} not among {sorted(content)}"
    return content[media].get("schema")


def _seed(client) -> tuple[dict[str, Any], str]:
    token = seed_demo_like_rows()
    problems = client.get("/api/v1/problems?limit=100").get_json()["problems"]
    paired = next(p for p in problems if p["stop_id"] and p["osm_key"])
    osm_type, osm_id = paired["osm_key"].split("/")
    other = f.create_user("walk-target", role="editor")
    manual = client.post(
        "/api/v1/manual-matches",
        json={"stop_id": paired["stop_id"], "osm_key": paired["osm_key"], "action": "unlink"},
        headers=f.bearer(token),
    )
    assert manual.status_code in (200, 201), manual.get_json()
    tilejson = client.get("/api/v1/tiles.json").get_json() or {}
    ids = {
        "source": paired.get("source") or "atlas",
        "stop_id": paired["stop_id"],
        "osm_key": paired["osm_key"],
        "osm_type": osm_type,
        "osm_id": osm_id,
        "identity": paired["identity"],
        "other_user": other.id,
        "manual_match": manual.get_json()["manual_match"]["id"],
        "snapshot": tilejson.get("snapshot", "s0"),
    }
    return ids, token


def test_every_documented_operation_has_an_example():
    assert sorted(set(operations()) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(operations())) == []


def test_every_operation_answers_as_its_schema_says(app, client):
    ids, token = _seed(client)
    checked = []
    for operation_id, (method, template) in operations().items():
        op = DOCUMENT["paths"][template][method]
        verb, url, kwargs = EXAMPLES[operation_id](ids)
        assert verb == method, operation_id
        response = getattr(client, verb)(url, headers=f.bearer(token), buffered=False, **kwargs)
        try:
            assert response.status_code < 500, (operation_id, response.status_code)
            media = response.mimetype
            schema = _schema_for(op, response.status_code, media) if response.status_code != 204 else None
            if media == "application/json" and schema is not None and response.status_code != 302:
                body = response.get_json()
                validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
                errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]
                assert not errors, (operation_id, errors[:5])
            checked.append((operation_id, response.status_code))
        finally:
            response.close()
    # The examples are meant to succeed: a walk of 4xx answers would check only the error shape.
    failures = [(op, status) for op, status in checked if status >= 400]
    assert failures == []


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/problems?limit=%D9%A1", "limit"),  # U+0661, an Arabic-Indic one: int() takes it
        ("/api/v1/problems?limit=1_0", "limit"),
        ("/api/v1/problems?priority=1,9", "priority"),
        ("/api/v1/problems?typo=1", "typo"),
        ("/api/v1/stops/osm/node/0", "osm_id"),
        ("/api/v1/stops/osm/area/1", "osm_type"),
        ("/api/v1/exports/stops.geojson?bom=false", "bom"),
        ("/api/v1/exports/stops.csv?sort=distance", "sort"),
        ("/api/v1/search?q=%20", "q"),
    ],
)
def test_a_query_or_path_parameter_a_model_refuses_is_a_400_naming_it(app, client, url, parameter):
    response = client.get(url)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"]["parameter"] == parameter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"problem_identity": "x", "decision": "maybe"}, "decision"),
        ({"decision": "not_a_problem"}, "problem_identity"),
        ({"problem_identity": "x", "decision": "not_a_problem", "extra": 1}, "extra"),
        ({"problem_identity": 5, "decision": "not_a_problem"}, "problem_identity"),
        ({"problem_identity": "a\u0000b", "decision": "not_a_problem"}, "problem_identity"),
        ({"problem_identity": "\ud800", "decision": "not_a_problem"}, "problem_identity"),
    ],
)
def test_a_body_field_a_model_refuses_is_a_422_naming_it(app, client, body, field):
    token = f.api_token(f.create_user(role="editor"))
    response = client.post("/api/v1/decisions", json=body, headers=f.bearer(token))
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["field"] == field


def test_a_body_that_is_not_a_json_object_is_a_400(app, client):
    token = f.api_token(f.create_user(role="editor"))
    for data in ("[1, 2]", '"text"', "{oops"):
        response = client.post(
            "/api/v1/decisions", data=data, content_type="application/json", headers=f.bearer(token)
        )
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_body"


def test_json_booleans_are_not_coerced_from_strings(app, client):
    admin = f.create_user("boss", role="admin")
    other = f.create_user("someone", role="editor")
    response = client.patch(
        f"/api/v1/users/{other.id}", json={"is_active": "false"}, headers=f.bearer(f.api_token(admin))
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["field"] == "is_active"


def test_a_streamed_export_leaves_unread_and_has_one_charset(app, client):
    seed_demo_like_rows()
    response = client.get("/api/v1/exports/stops.csv", buffered=False)
    try:
        assert response.status_code == 200
        assert response.is_streamed  # the schema layer did not read it into memory
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    finally:
        response.close()


def test_a_response_that_breaks_its_model_is_a_500_with_a_request_id(make_app):
    broken = Blueprint("broken_api", __name__, url_prefix="/api/v1")

    @broken.get("/test-broken-model")
    @endpoint("testBrokenModel", "meta", ok=UserOne)
    def broken_view(query: NoQuery) -> dict[str, Any]:
        return {"user": {"id": "not a number"}}

    try:
        app = make_app()
        app.register_blueprint(broken)
        response = app.test_client().get("/api/v1/test-broken-model")
    finally:
        OPERATIONS.pop("testBrokenModel", None)
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal_error"
    assert "not a number" not in response.get_data(as_text=True)
    assert error["details"]["request_id"]


def test_only_our_own_reference_page_is_served_no_cdn_pages(app, client):
    # spectree can serve Swagger UI, Redoc and friends, which load their scripts from a CDN; the
    # API reference is /api/docs, rendered on the server from the same document.
    for url in ("/apidoc/swagger/", "/apidoc/redoc/", "/apidoc/openapi.json", "/api/v1/apidoc/swagger/"):
        assert client.get(url).status_code == 404, url
    page = client.get("/api/docs").get_data(as_text=True)
    assert "cdn." not in page
    assert "unpkg" not in page
