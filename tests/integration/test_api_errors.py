"""One JSON error shape for every /api failure: 400, 401, 403, 404, 405, 409, 422, 429, 500."""

from __future__ import annotations

import pytest

from tests import factories as f


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details"}
    assert error["status"] == status
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error


def test_400_for_a_bad_parameter(app, client):
    error = assert_error_shape(client.get("/api/v1/stops?bbox=1,2,3"), 400)
    assert error["details"]["parameter"] == "bbox"


def test_400_for_a_body_that_is_not_json(app, client):
    token = f.api_token(f.create_user(role="editor"))
    response = client.post(
        "/api/v1/decisions", data="{oops", content_type="application/json", headers=f.bearer(token)
    )
    assert_error_shape(response, 400)


def test_401_and_403(app, client):
    assert_error_shape(client.get("/api/v1/users"), 401)
    token = f.api_token(f.create_user(role="editor"))
    assert_error_shape(client.get("/api/v1/users", headers=f.bearer(token)), 403)


@pytest.mark.parametrize(
    "url", ["/api/v1/nothing-here", "/api/v1/stops/atlas/ch:1:sloid:404", "/api/v2/stops"]
)
def test_404(app, client, url):
    assert_error_shape(client.get(url), 404)


def test_405_keeps_the_allow_header(app, client):
    response = client.delete("/api/v1/stats")
    error = assert_error_shape(response, 405)
    assert error["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_409_for_a_conflict(app, client):
    token = f.api_token(f.create_user("root", role="admin"))
    response = client.post(
        "/api/v1/users", json={"username": "root", "password": "long enough pw"}, headers=f.bearer(token)
    )
    assert_error_shape(response, 409)


def test_422_for_a_body_breaking_a_rule(app, client):
    token = f.api_token(f.create_user(role="editor"))
    response = client.post(
        "/api/v1/decisions", json={"problem_identity": "x", "decision": "whatever"}, headers=f.bearer(token)
    )
    error = assert_error_shape(response, 422)
    assert error["details"]["field"] == "decision"


def test_429_with_retry_after(make_app):
    client = make_app(RATELIMIT_DEFAULT="2 per minute").test_client()
    statuses = [client.get("/api/v1/search?q=x").status_code for _ in range(2)]
    assert statuses == [200, 200]
    response = client.get("/api/v1/search?q=x")
    assert_error_shape(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_500_hides_the_exception_and_gives_a_request_id(make_app):
    app = make_app()

    def explode():
        raise RuntimeError("secret connection string postgres://user:pw@host")

    app.add_url_rule("/api/v1/test-explode", "test_explode", explode)
    response = app.test_client().get("/api/v1/test-explode")
    error = assert_error_shape(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert len(error["details"]["request_id"]) >= 8


def test_pages_keep_html_errors(app, client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/api/v1/stops/osm/node/%20", "/api/v1/stops/atlas/%20"])
def test_a_blank_path_parameter_is_a_400_naming_it_never_a_500(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert response.get_json()["error"]["status"] == response.status_code


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/stops/osm/node/%20", "osm_id"),
        ("/api/v1/stops/atlas/%20", "stop_id"),
        # A plain text type (a GTFS route_id is any text) would hand the blank on to the view.
        ("/api/v1/routes/gtfs/%20", "route_id"),
    ],
)
def test_a_blank_path_parameter_is_refused_as_blank_before_its_type_reads_it(client, path, name):
    response = client.get(path)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"]["parameter"] == name
    assert error["message"] == "must not be blank"
