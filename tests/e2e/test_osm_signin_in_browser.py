"""Sign in with OpenStreetMap in headless Chromium, against the local OAuth 2.0 provider.

The app is served on 127.0.0.1 and the provider on `localhost`: another site for the browser. The
mapper clicks "Authorize" on the provider's page, as on openstreetmap.org, so the redirect back is a
cross-site navigation, and the session cookie (with the pending state) must still be sent: with
SameSite=Strict it would not be, and this test fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from devstack.services import free_port
from tests.conftest import Stack, _build_app
from tests.e2e.conftest import STEP_TIMEOUT_MS
from tests.oauth_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


@dataclass
class OsmSite:
    app_url: str
    provider_url: str
    provider: Provider


@pytest.fixture
def osm_site(stack: Stack, clean_state: Stack) -> Iterator[OsmSite]:
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with running_provider({app_url + "/login/osm/callback"}) as provider:
        provider.consent_page = True
        provider_url = provider.base_url.replace("127.0.0.1", "localhost")
        app = _build_app(
            stack,
            OSM_OAUTH_CLIENT_ID=CLIENT_ID,
            OSM_OAUTH_CLIENT_SECRET=CLIENT_SECRET,
            OSM_OAUTH_BASE_URL=provider_url,
            OSM_API_BASE_URL=provider.base_url,
            PUBLIC_BASE_URL=app_url,
        )
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="e2e-osm-server", daemon=True)
        thread.start()
        try:
            yield OsmSite(app_url, provider_url, provider)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()


@pytest.fixture
def osm_page(browser: Any, osm_site: OsmSite) -> Iterator[Any]:
    """A fresh browser context that reaches only the app and the provider."""
    context = browser.new_context(base_url=osm_site.app_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(STEP_TIMEOUT_MS)

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith((osm_site.app_url, osm_site.provider_url)):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    try:
        yield page
    finally:
        context.close()


def test_a_mapper_signs_in_with_openstreetmap_from_the_login_page(osm_site, osm_page):
    osm_page.goto("/login?next=/review")
    osm_page.get_by_role("link", name="Sign in with OpenStreetMap").click()
    osm_page.wait_for_url(osm_site.provider_url + "/oauth2/authorize?*")
    osm_page.get_by_role("button", name="Authorize").click()
    osm_page.wait_for_url(osm_site.app_url + "/review")
    expect(osm_page.locator(".account-name")).to_contain_text("osm:Anna Mapper")
    expect(osm_page.locator(".account-name .role-badge")).to_have_text("editor")
    oauth_requests = [r for r in osm_site.provider.requests if r[1] != "/favicon.ico"]
    assert oauth_requests == [
        ("GET", "/oauth2/authorize"),  # the browser: the consent page
        ("POST", "/oauth2/authorize"),  # the browser: "Authorize"
        ("POST", "/oauth2/token"),  # the app: code + client secret + PKCE verifier
        ("GET", "/api/0.6/user/details.json"),  # the app: who signed in
    ]
    # Signing out works as for a password account.
    osm_page.get_by_role("button", name="Log out").click()
    expect(osm_page.get_by_role("link", name="Log in")).to_be_visible()
    assert not osm_page.errors


def test_a_declined_sign_in_comes_back_to_the_login_page_with_a_message(osm_site, osm_page):
    osm_site.provider.deny = True
    osm_page.goto("/login")
    osm_page.get_by_role("link", name="Sign in with OpenStreetMap").click()
    osm_page.get_by_role("button", name="Authorize").click()  # the provider then answers "denied"
    expect(osm_page.get_by_role("alert")).to_have_text("Sign-in with OpenStreetMap was cancelled.")
    expect(osm_page.get_by_role("link", name="Sign in with OpenStreetMap")).to_be_visible()
    assert not osm_page.errors
