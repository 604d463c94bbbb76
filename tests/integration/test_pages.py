"""Server-rendered pages and the asset routes, through the Flask test client on the real database."""

from __future__ import annotations

import re

import pytest

from app.pages import assets
from tests import factories as f

PAGES = ["/", "/review", "/stats", "/login"]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_with_a_csp_that_allows_no_inline_code(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    html = response.get_data(as_text=True)
    assert '<meta name="csrf-token" content="' in html
    assert '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a>' in html or (
        path == "/"  # the map page shows the attribution in the map corner instead of a footer
    )


def test_nav_offers_log_in_to_anonymous_visitors(client):
    html = client.get("/review").get_data(as_text=True)
    assert 'href="/login?next=/review"' in html
    assert "Log out" not in html
    assert "Log in</a> as an editor to record decisions" in html


def test_nav_shows_the_signed_in_user_and_a_logout_form_with_its_csrf_token(app, client):
    user, token = f.login_as(client, role="editor")
    html = client.get("/review").get_data(as_text=True)
    assert user.username in html
    logout_form = r'<form method="post" action="/logout"[^>]*>\s*<input type="hidden" name="csrf_token"'
    assert re.search(logout_form, html)
    assert f'<meta name="csrf-token" content="{token}">' in html
    assert 'data-can-decide="true"' in html


def test_review_page_disables_decisions_for_anonymous_visitors(client):
    html = client.get("/review").get_data(as_text=True)
    assert 'data-can-decide="false"' in html
    assert re.search(r'data-decision="fixed_in_osm"[^>]*disabled', html)


def test_login_page_shows_the_failure_message_after_a_wrong_password(app, client):
    f.create_user("anna")
    client.post(
        "/login",
        data={"username": "anna", "password": "wrong", "csrf_token": f.csrf_token(client), "next": "/review"},
    )
    html = client.get("/login?next=/review").get_data(as_text=True)
    assert "Unknown username or wrong password." in html
    assert 'name="next" value="/review"' in html


def test_logout_form_in_the_nav_signs_the_user_out(app, client):
    _, token = f.login_as(client)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_map_page_starts_on_the_extent_of_the_data(app, client):
    f.atlas_stop(lat=47.05, lon=9.47)
    f.osm_stop(lat=47.25, lon=9.60)
    html = client.get("/").get_data(as_text=True)
    assert 'data-bounds="9.47,47.05,9.6,47.25"' in html


def test_map_page_starts_on_switzerland_without_data(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-bounds="5.96,45.82,10.49,47.81"' in html


def test_page_scripts_and_styles_are_linked_with_their_content_hash(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'src="/vendor/leaflet/leaflet\.js\?v=[0-9a-f]{12}"', html)
    assert re.search(r'href="/static/css/app\.css\?v=[0-9a-f]{12}"', html)


def test_static_file_with_its_current_hash_is_cached_for_a_year(client):
    url = assets.asset_url("css/app.css")
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]


def test_static_file_without_a_hash_is_cached_briefly(client):
    response = client.get("/static/js/map.js")
    assert response.status_code == 200
    assert "max-age=300" in response.headers["Cache-Control"]
    assert "immutable" not in response.headers["Cache-Control"]


def test_vendored_file_is_served_with_its_manifest_hash(client):
    response = client.get(assets.vendor_url("leaflet/leaflet.js"))
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert b"Leaflet" in response.data[:200]


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/manifest.json",
        "/vendor/leaflet/nothing.js",
        "/vendor/../pyproject.toml",
        "/static/../config.py",
        "/static/%2e%2e/config.py",
        "/static/js/nothing.js",
    ],
)
def test_asset_routes_serve_nothing_outside_their_folders(client, path):
    assert client.get(path).status_code == 404


def test_asset_routes_are_not_rate_limited(make_app):
    app = make_app(RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    statuses = {client.get("/static/css/app.css").status_code for _ in range(5)}
    assert statuses == {200}


def test_registry_stop_page_shows_both_sides_the_match_problems_and_decision_history(app, client):
    stop, node, _ = f.matched_pair(name="Vaduz, Post", distance_m=42.0)
    problem = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key, priority=1, distance_m=42.0)
    editor = f.create_user("steward")
    f.decision(problem.identity, "needs_survey", author=editor, note="look at the shelter")

    response = client.get(f"/stops/atlas/{stop.stop_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Vaduz, Post</h1>" in html
    assert f'href="https://www.openstreetmap.org/{node.osm_key}"' in html
    assert f"load_object?objects=n{node.osm_id}" in html
    assert "Stop code" in html  # the match method (exact_uic), labelled
    assert "42.0 m" in html
    assert f'data-identity="{problem.identity}"' in html
    assert "Needs a survey" in html
    assert "look at the shelter" in html
    assert "steward" in html
    assert 'id="why-not-matched"' in html  # the review workflow's section is included


def test_osm_object_page_links_back_to_its_registry_stop(app, client):
    stop, node, _ = f.matched_pair()
    html = client.get(f"/stops/osm/{node.osm_key}").get_data(as_text=True)
    assert f'href="/stops/atlas/{stop.stop_id}"' in html
    assert '"current": true' in html  # the small map marks the object the page is about


def test_unmatched_registry_stop_page_offers_the_area_in_josm(app, client):
    stop = f.atlas_stop(lat=47.2, lon=9.5)
    html = client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    assert "Not matched" in html
    assert "load_and_zoom?left=9.499400&amp;right=9.500600&amp;top=47.200600&amp;bottom=47.199400" in html


def test_stop_page_decision_forms_are_only_for_editors(app, client):
    stop = f.atlas_stop()
    f.problem("unmatched", stop_id=stop.stop_id)
    assert "decision-form" not in client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    f.login_as(client, role="editor")
    assert 'class="decision-form"' in client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/stops/atlas/ch:1:sloid:404", "/stops/osm/node/404", "/stops/osm/area/1", "/stops/osm/node/x"]
)
def test_unknown_stop_pages_answer_404_as_html(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
