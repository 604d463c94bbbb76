"""Several app instances behind one address share everything a browser or script depends on.

Two real gunicorn processes on one PostgreSQL and one Redis stand in for the replicas behind a
reverse proxy. One `requests.Session` talks to both: cookies are scoped by host, not port, so the
browser's cookie jar is the same whichever instance a proxy picks, exactly as behind a proxy. Every
step goes to the other instance than the step before, so any state kept in one process (sign-in,
CSRF, OSM sign-in state, rate-limit counters) would break the flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests import factories as f
from tests.conftest import Stack
from tests.integration.app_instances import gunicorn
from tests.oauth_provider import CLIENT_ID, CLIENT_SECRET, running_provider

PUBLIC_BASE_URL = "https://stopsync.example.org"
CALLBACK_URL = PUBLIC_BASE_URL + "/login/osm/callback"


class Instances:
    """Two app processes on the same servers; `url(i, path)` addresses instance i % 2."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def url(self, index: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[index % len(self.ports)]}{path}"


@pytest.fixture
def two_instances(stack: Stack, clean_state: Stack, tmp_path: Path):
    """`two_instances(**env)` starts two gunicorn processes with the same settings."""
    with ExitStack() as started:

        def start(**env: str) -> Instances:
            ports = [
                started.enter_context(gunicorn(stack, tmp_path / f"app-{i}.log", **env)) for i in range(2)
            ]
            return Instances(ports)

        yield start


@pytest.fixture(scope="module")
def default_pair(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instances]:
    """Two instances with the default settings, shared by this module's tests that need no others
    (each test's rows and Redis keys are still wiped after it by `clean_state`)."""
    logs = tmp_path_factory.mktemp("pair")
    with ExitStack() as started:
        yield Instances([started.enter_context(gunicorn(stack, logs / f"app-{i}.log")) for i in range(2)])


@pytest.fixture
def editor(app) -> str:
    """An admin's username (admins may also request runs: a CSRF-checked write)."""
    return f.create_user(role="admin").username


def _csrf(browser: requests.Session, url: str) -> str:
    response = browser.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def _me(browser: requests.Session, url: str) -> dict | None:
    return browser.get(url, timeout=10).json()["user"]


def test_a_sign_in_on_one_instance_is_honoured_and_ended_on_the_other(default_pair, editor):
    apps = default_pair
    browser = requests.Session()
    token = _csrf(browser, apps.url(0, "/api/v1/me"))
    response = browser.post(
        apps.url(1, "/login"),
        data={"username": editor, "password": f.DEFAULT_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=20,
    )
    assert response.status_code == 303, response.text
    assert _me(browser, apps.url(0, "/api/v1/me"))["username"] == editor
    signed_in_cookie = browser.cookies.get("session")

    token = _csrf(browser, apps.url(1, "/api/v1/me"))
    assert (
        browser.post(apps.url(0, "/logout"), data={"csrf_token": token}, allow_redirects=False).status_code
        == 303
    )
    assert _me(browser, apps.url(1, "/api/v1/me")) is None
    replay = requests.Session()
    replay.cookies.set("session", signed_in_cookie)
    assert _me(replay, apps.url(1, "/api/v1/me")) is None, "a signed-out cookie is dead on every instance"


def test_a_csrf_token_from_one_instance_is_accepted_by_the_other_and_a_missing_one_refused(
    default_pair, editor
):
    apps = default_pair
    browser = requests.Session()
    token = _csrf(browser, apps.url(0, "/api/v1/me"))
    browser.post(
        apps.url(1, "/login"),
        data={"username": editor, "password": f.DEFAULT_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=20,
    )
    token = _csrf(browser, apps.url(0, "/api/v1/me"))  # signing in started a new session: new token

    accepted = browser.post(apps.url(1, "/api/v1/pipeline/runs"), headers={"X-CSRF-Token": token}, timeout=10)
    assert accepted.status_code == 202, accepted.text
    refused = browser.post(apps.url(0, "/api/v1/pipeline/runs"), timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "csrf_failed"


def test_the_sign_in_budget_is_one_budget_across_instances(two_instances, editor):
    apps = two_instances(RATELIMIT_LOGIN="4 per hour")
    statuses = []
    for i in range(5):
        browser = requests.Session()
        token = _csrf(browser, apps.url(i, "/api/v1/me"))
        response = browser.post(
            apps.url(i + 1, "/login"),
            data={"username": editor, "password": "wrong password entirely", "csrf_token": token},
            allow_redirects=False,
            timeout=20,
        )
        statuses.append(response.status_code)
    assert statuses[-1] == 429, statuses
    assert 429 not in statuses[:4], statuses


def test_an_osm_sign_in_started_on_one_instance_completes_on_the_other(two_instances):
    with running_provider({CALLBACK_URL}) as provider:
        apps = two_instances(
            STOPSYNC_ENV="test",  # production refuses a plain-http OAuth provider
            OSM_OAUTH_CLIENT_ID=CLIENT_ID,
            OSM_OAUTH_CLIENT_SECRET=CLIENT_SECRET,
            OSM_OAUTH_BASE_URL=provider.base_url,
            OSM_API_BASE_URL=provider.base_url,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        )
        browser = requests.Session()
        start = browser.get(apps.url(0, "/login/osm?next=/review"), allow_redirects=False, timeout=10)
        assert start.status_code == 302, start.text
        back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
        assert back.status_code == 302
        parts = urlsplit(back.headers["Location"])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK_URL
        assert parse_qs(parts.query)["state"]

        done = browser.get(apps.url(1, f"{parts.path}?{parts.query}"), allow_redirects=False, timeout=20)
        assert done.status_code == 303, done.text
        assert done.headers["Location"] == "/review"
        assert _me(browser, apps.url(0, "/api/v1/me"))["username"] == "osm:Anna Mapper"
