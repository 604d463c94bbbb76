"""The OpenAPI document is valid and true to the routes; the docs page shows all of it."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

API_PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """`/stops/osm/<osm_type>/<int:osm_id>` -> `/stops/osm/{osm_type}/{osm_id}`."""
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)


def routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        for method in rule.methods - IGNORED_METHODS:
            found.add((openapi_path(rule.rule.removeprefix(API_PREFIX)), method.lower()))
    return found


def described(document) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_rule_to_openapi_path_conversion():
    assert openapi_path("/stops/osm/<osm_type>/<int:osm_id>") == "/stops/osm/{osm_type}/{osm_id}"
    assert (
        openapi_path("/exports/<any(stops, matches):dataset>.<any(csv, geojson):fmt>")
        == "/exports/{dataset}.{fmt}"
    )
    assert openapi_path("/stops/<source>/<path:stop_id>") == "/stops/{source}/{stop_id}"


def test_every_api_route_is_described_and_every_description_is_a_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    actual = routes(app)
    documented = described(document)
    assert sorted(actual - documented) == [], "routes missing from app/api/openapi*.py"
    assert sorted(documented - actual) == [], "described paths that are not routes"


def test_document_is_valid_openapi_31(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_operation_has_a_unique_id_and_documents_errors(client):
    document = client.get("/api/v1/openapi.json").get_json()
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for item in document["paths"].values():
        for op in item.values():
            if op["operationId"] != "getOpenapi":
                assert "500" in op["responses"], op["operationId"]


def test_write_operations_name_their_role_and_security(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in {"post", "patch", "delete"}:
                assert op.get("x-required-role") in {"editor", "admin"}, (method, path)
                assert {"bearerAuth": []} in op["security"]


def test_docs_page_lists_every_operation_without_inline_scripts(client):
    document = client.get("/api/v1/openapi.json").get_json()
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for item in document["paths"].values():
        for op in item.values():
            assert f'id="{op["operationId"]}"' in html
    # Only external scripts (the header menu) and JSON data blocks (the page language's messages).
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert 'href="/api/v1/openapi.json"' in html
