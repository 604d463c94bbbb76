"""Flask-Talisman: CSP with nonces and no unsafe-inline, frame-ancestors none, HSTS over TLS only."""

from __future__ import annotations

import re

import pytest


def csp(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


@pytest.mark.parametrize("url", ["/api/docs", "/api/v1/stats", "/login"])
def test_csp_forbids_inline_code_and_framing(app, client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = csp(response)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self'")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_each_page_gets_a_fresh_script_nonce(app, client):
    nonces = []
    for _ in range(2):
        policy = csp(client.get("/api/docs"))
        found = re.search(r"'nonce-([A-Za-z0-9_\-+/=]+)'", policy["script-src"])
        assert found, policy["script-src"]
        nonces.append(found.group(1))
    assert nonces[0] != nonces[1]


def test_no_hsts_over_plain_http(app, client):
    assert "Strict-Transport-Security" not in client.get("/api/v1/stats").headers


def test_hsts_over_tls_when_enabled(make_app):
    client = make_app(HSTS_ENABLED=True).test_client()
    for url in ("/api/docs", "/api/v1/stats"):
        header = client.get(url, base_url="https://stopsync.example").headers["Strict-Transport-Security"]
        assert "max-age=31536000" in header


def test_hsts_can_be_turned_off(make_app):
    client = make_app(HSTS_ENABLED=False).test_client()
    assert (
        "Strict-Transport-Security"
        not in client.get("/api/v1/stats", base_url="https://stopsync.example").headers
    )


def test_force_https_redirects_pages_and_api_but_not_health_probes(make_app):
    client = make_app(FORCE_HTTPS=True).test_client()
    response = client.get("/api/v1/stats")
    assert response.status_code in {301, 302}
    assert response.headers["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200


def test_session_cookie_flags_on_a_page(make_app):
    client = make_app(SESSION_COOKIE_SECURE=True).test_client()
    cookie = client.get("/login", base_url="https://stopsync.example").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie
