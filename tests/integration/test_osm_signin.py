"""Sign in with OpenStreetMap, against a real local OAuth 2.0 provider (tests/oauth_provider.py).

Each test drives the whole redirect chain: the app's GET /login/osm answers a redirect to the
provider's authorize endpoint, a real HTTP request to the provider answers the redirect back to
PUBLIC_BASE_URL's callback, and the app's callback exchanges the code over real HTTP (state, PKCE
and client secret checked by the provider) and reads the user details.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from app.osm_signin import sign_in_account
from app.services import users as user_service
from app.services.osm_accounts import OsmIdentity
from database import db
from database.models import User, UserSession
from devstack.services import free_port
from tests import factories as f
from tests.oauth_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

PUBLIC_BASE_URL = "https://stopsync.example.org"
CALLBACK_URL = PUBLIC_BASE_URL + "/login/osm/callback"
STATE_PREFIX = "_state_openstreetmap_"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider({CALLBACK_URL}) as running:
        yield running


def _osm_app(make_app, provider_url: str, **overrides: Any) -> Flask:
    settings = {
        "OSM_OAUTH_CLIENT_ID": CLIENT_ID,
        "OSM_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "OSM_OAUTH_BASE_URL": provider_url,
        "OSM_API_BASE_URL": provider_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        **overrides,
    }
    return make_app(**settings)


@pytest.fixture
def osm_app(make_app, provider: Provider) -> Iterator[Flask]:
    app = _osm_app(make_app, provider.base_url)
    with app.app_context():
        yield app
        db.session.remove()


def start(client: FlaskClient, next_path: str = "/review") -> dict[str, str]:
    """GET /login/osm: must be a redirect to the provider's authorize endpoint; returns its query."""
    response = client.get("/login/osm?" + urlencode({"next": next_path}))
    assert response.status_code == 302, response.get_data(as_text=True)
    return {
        "url": response.headers["Location"],
        **{k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()},
    }


def authorize(url: str) -> str:
    """The mapper at the provider: a real HTTP request, answered with the redirect back; returns it."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def callback(client: FlaskClient, back_url: str):
    """The browser following the provider's redirect to PUBLIC_BASE_URL's callback."""
    assert back_url.startswith(CALLBACK_URL + "?"), back_url
    parts = urlsplit(back_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: FlaskClient, next_path: str = "/review"):
    """The whole sign-in; returns the callback's response."""
    return callback(client, authorize(start(client, next_path)["url"]))


def me(client: FlaskClient) -> dict[str, Any] | None:
    return client.get("/api/v1/me").get_json()["user"]


def replace_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def flashed_message(client: FlaskClient, response) -> str:
    """The error message the login page shows after a sign-in sent the browser back to it."""
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].startswith("/login?")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    alerts = re.findall(r'<p class="notice notice-error" role="alert">(.*?)</p>', page, re.DOTALL)
    assert len(alerts) == 1, page
    return html.unescape(alerts[0])


# --- the full flow -------------------------------------------------------------------------------


def test_osm_sign_in_runs_the_full_redirect_and_signs_in_with_the_osm_signin_role(osm_app, provider):
    client = osm_app.test_client()
    params = start(client, "/review")
    assert params["url"].startswith(provider.base_url + "/oauth2/authorize?")
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["scope"] == "read_prefs"
    assert params["redirect_uri"] == CALLBACK_URL
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url of a SHA-256, unpadded
    assert len(params["state"]) >= 20
    back = authorize(params["url"])
    assert parse_qs(urlsplit(back).query)["state"] == [params["state"]]
    response = callback(client, back)
    assert response.status_code == 303
    assert response.headers["Location"] == "/review"
    # Lax, not Strict: the redirect back from openstreetmap.org must carry the cookie (and its state).
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    user = me(client)
    assert user is not None
    assert user["username"] == "osm:Anna Mapper"
    assert user["role"] == "editor"
    assert user["auth"] == "session"
    assert provider.paths_requested() == ["/oauth2/authorize", "/oauth2/token", "/api/0.6/user/details.json"]
    row = db.session.scalar(select(User).where(User.osm_uid == 4711))
    assert row is not None
    assert row.osm_display_name == "Anna Mapper"
    assert row.auth_provider == "osm"


def test_the_osm_session_is_the_same_server_side_session_as_a_password_sign_in(osm_app, provider):
    client = osm_app.test_client()
    sign_in(client)
    user_id = me(client)["id"]
    assert (
        db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id))
        == 1
    )
    cookie = client.get_cookie("session").value
    csrf = f.csrf_token(client)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    replay = osm_app.test_client()
    replay.set_cookie("session", cookie)
    assert me(replay) is None


def test_a_decision_by_an_osm_mapper_carries_their_osm_name(osm_app, provider):
    problem = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1")
    client = osm_app.test_client()
    sign_in(client)
    csrf = f.csrf_token(client)
    response = client.post(
        "/api/v1/decisions",
        json={"problem_identity": problem.identity, "decision": "fixed_in_osm", "note": "moved it"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["decision"]["author"] == "osm:Anna Mapper"
    listed = client.get("/api/v1/decisions?" + urlencode({"author": "osm:Anna Mapper"})).get_json()
    assert [row["author"] for row in listed["decisions"]] == ["osm:Anna Mapper"]


def test_the_header_shows_the_osm_name_when_signed_in(osm_app, provider):
    client = osm_app.test_client()
    sign_in(client)
    page = client.get("/").get_data(as_text=True)
    assert 'data-user="osm:Anna Mapper"' in page
    assert "osm:Anna Mapper" in page.split('class="account"', 1)[1]


def test_the_login_page_offers_osm_sign_in_when_configured_and_keeps_next(osm_app):
    page = osm_app.test_client().get("/login?next=/review").get_data(as_text=True)
    assert "Sign in with OpenStreetMap" in page
    assert 'href="/login/osm?next=/review"' in page or 'href="/login/osm?next=%2Freview"' in page


def test_without_client_credentials_there_is_no_button_and_the_routes_are_404(client):
    assert "Sign in with OpenStreetMap" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/osm").status_code == 404
    assert client.get("/login/osm/callback?code=x&state=y").status_code == 404


def test_the_redirect_uri_comes_from_public_base_url_never_the_host_header(osm_app, provider):
    client = osm_app.test_client()
    response = client.get("/login/osm", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["redirect_uri"] == [CALLBACK_URL]


def test_next_is_kept_only_as_a_same_site_path(osm_app, provider):
    client = osm_app.test_client()
    response = sign_in(client, "//evil.example/x")
    assert response.headers["Location"] == "/"


# --- refusals ------------------------------------------------------------------------------------


def test_a_tampered_state_is_refused_and_no_token_is_requested(osm_app, provider):
    client = osm_app.test_client()
    back = authorize(start(client)["url"])
    state = parse_qs(urlsplit(back).query)["state"][0]
    tampered = replace_param(back, "state", state[:-1] + ("A" if state[-1] != "A" else "B"))
    response = callback(client, tampered)
    assert response.status_code == 400
    assert "invalid or has expired" in response.get_data(as_text=True)
    assert me(client) is None
    assert "/oauth2/token" not in provider.paths_requested()
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_missing_state_is_refused(osm_app, provider):
    client = osm_app.test_client()
    back = authorize(start(client)["url"])
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = client.get("/login/osm/callback?" + urlencode({"code": code}))
    assert response.status_code == 400
    assert me(client) is None
    assert "/oauth2/token" not in provider.paths_requested()


def test_a_callback_from_a_sign_in_started_in_another_browser_is_refused(osm_app, provider):
    # Login CSRF: an attacker starts a sign-in with their own OSM account and makes the victim's
    # browser open the callback. The victim's session never held that state.
    attacker, victim = osm_app.test_client(), osm_app.test_client()
    back = authorize(start(attacker)["url"])
    response = callback(victim, back)
    assert response.status_code == 400
    assert me(victim) is None
    assert "/oauth2/token" not in provider.paths_requested()


def test_a_replayed_callback_is_refused(osm_app, provider):
    client = osm_app.test_client()
    back = authorize(start(client)["url"])
    assert callback(client, back).status_code == 303
    csrf = f.csrf_token(client)
    client.post("/logout", data={"csrf_token": csrf})
    assert callback(client, back).status_code == 400
    assert me(client) is None


def test_only_the_newest_started_sign_in_of_a_browser_stays_valid(osm_app, provider):
    client = osm_app.test_client()
    first = start(client)
    for _ in range(5):
        newest = start(client)
    with client.session_transaction() as session:
        assert [key for key in session if key.startswith(STATE_PREFIX)] == [STATE_PREFIX + newest["state"]]
    assert callback(client, authorize(first["url"])).status_code == 400
    assert callback(client, authorize(newest["url"])).status_code == 303


def test_a_wrong_pkce_verifier_is_refused_by_the_provider_and_the_sign_in_fails_cleanly(osm_app, provider):
    # A stolen code redeemed with another verifier: what PKCE exists to stop.
    client = osm_app.test_client()
    params = start(client)
    with client.session_transaction() as session:
        entry = session[STATE_PREFIX + params["state"]]
        entry["data"]["code_verifier"] = "an-attackers-own-verifier-" + "x" * 30
        session[STATE_PREFIX + params["state"]] = entry
    response = callback(client, authorize(params["url"]))
    assert "OpenStreetMap refused the sign-in" in flashed_message(client, response)
    assert provider.token_errors == ["invalid_grant"]
    assert "/api/0.6/user/details.json" not in provider.paths_requested()
    assert me(client) is None
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_wrong_client_secret_is_refused_by_the_provider_and_the_sign_in_fails_cleanly(make_app, provider):
    app = _osm_app(make_app, provider.base_url, OSM_OAUTH_CLIENT_SECRET="not-the-secret")
    with app.app_context():
        client = app.test_client()
        response = sign_in(client)
        assert "OpenStreetMap refused the sign-in" in flashed_message(client, response)
        assert provider.token_errors == ["invalid_client"]
        assert me(client) is None


def test_declining_on_openstreetmap_returns_to_the_login_page_with_a_message(osm_app, provider):
    provider.deny = True
    client = osm_app.test_client()
    response = sign_in(client)
    assert "was cancelled" in flashed_message(client, response)
    assert "/oauth2/token" not in provider.paths_requested()
    assert me(client) is None


def test_openstreetmap_down_gives_a_clear_message_not_a_500(make_app):
    with running_provider({CALLBACK_URL}) as provider:
        app = _osm_app(make_app, provider.base_url)
        client = app.test_client()
        with app.app_context():
            back = authorize(start(client)["url"])
    # The provider has stopped: the token exchange meets a closed port.
    with app.app_context():
        response = callback(client, back)
        assert "could not be reached" in flashed_message(client, response)
        assert me(client) is None


@contextmanager
def _silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    port = free_port()
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()


def test_a_hung_openstreetmap_is_given_up_after_osm_oauth_timeout_s(make_app, provider):
    with _silent_server() as silent:
        app = _osm_app(make_app, silent, OSM_OAUTH_TIMEOUT_S=1.0)
        with app.app_context():
            client = app.test_client()
            authorize_url = start(client)["url"]
            # The mapper authorizes at the real provider; the token endpoint is the silent server.
            back = authorize(authorize_url.replace(silent, provider.base_url))
            response = callback(client, back)
            assert "could not be reached" in flashed_message(client, response)
            assert me(client) is None


@pytest.mark.parametrize(
    "details",
    [
        (200, {"user": {"id": "4711", "display_name": "Anna"}}),
        (200, {"user": {"id": True, "display_name": "Anna"}}),
        (200, {"user": {"id": -5, "display_name": "Anna"}}),
        (200, {"user": {"id": 4711, "display_name": "An\x00na"}}),
        (200, {"user": {"id": 4711, "display_name": "Anna\nAdmin"}}),
        (200, {"user": {"id": 4711, "display_name": "A" * 256}}),
        (200, {"user": {"id": 4711, "display_name": "   "}}),
        (200, {"user": {"id": 4711}}),
        (200, {"users": []}),
        (200, [1, 2]),
        (200, "<html>not json</html>"),
        (200, '{"user": {"id": 4711, "display_name": "\\ud800"}}'),
        (500, {"error": "boom"}),
    ],
)
def test_unusable_user_details_end_the_sign_in_with_a_message_and_no_account(osm_app, provider, details):
    provider.details_override = details
    client = osm_app.test_client()
    response = sign_in(client)
    message = flashed_message(client, response)
    # "OpenStreetMap gave an answer we could not use ...", "... did not say who signed in", ...
    assert message.startswith("OpenStreetMap ")
    assert me(client) is None
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_osm_sign_in_is_rate_limited(make_app, provider):
    app = _osm_app(make_app, provider.base_url, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [client.get("/login/osm").status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 429, 429]


# --- accounts ------------------------------------------------------------------------------------


def test_the_row_is_keyed_by_osm_id_and_renamed_at_each_sign_in(osm_app, provider):
    problem = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1")
    client = osm_app.test_client()
    sign_in(client)
    first_id = me(client)["id"]
    csrf = f.csrf_token(client)
    client.post(
        "/api/v1/decisions",
        json={"problem_identity": problem.identity, "decision": "fixed_in_osm"},
        headers={"X-CSRF-Token": csrf},
    )
    client.post("/logout", data={"csrf_token": f.csrf_token(client)})
    provider.user = {"id": 4711, "display_name": "Anna Renamed"}
    sign_in(client)
    user = me(client)
    assert user["id"] == first_id
    assert user["username"] == "osm:Anna Renamed"
    decisions = client.get("/api/v1/decisions").get_json()["decisions"]
    assert [row["author"] for row in decisions] == ["osm:Anna Renamed"]
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_a_name_given_up_on_openstreetmap_and_taken_by_another_mapper_parks_the_old_row(osm_app, provider):
    client = osm_app.test_client()
    provider.user = {"id": 100, "display_name": "Bob"}
    sign_in(client)
    client.post("/logout", data={"csrf_token": f.csrf_token(client)})
    # Bob (id 100) renamed himself on OpenStreetMap; id 200 took the name "Bob".
    provider.user = {"id": 200, "display_name": "Bob"}
    sign_in(client)
    assert me(client)["username"] == "osm:Bob"
    db.session.expire_all()
    names = dict(db.session.execute(select(User.osm_uid, User.username)).all())
    assert names == {100: "osm:#100", 200: "osm:Bob"}
    client.post("/logout", data={"csrf_token": f.csrf_token(client)})
    provider.user = {"id": 100, "display_name": "Robert"}
    sign_in(client)
    db.session.expire_all()
    names = dict(db.session.execute(select(User.osm_uid, User.username)).all())
    assert names == {100: "osm:Robert", 200: "osm:Bob"}


def test_osm_signin_role_viewer_signs_in_without_the_right_to_decide(make_app, provider):
    app = _osm_app(make_app, provider.base_url, OSM_SIGNIN_ROLE="viewer")
    with app.app_context():
        problem = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1")
        client = app.test_client()
        sign_in(client)
        assert me(client)["role"] == "viewer"
        response = client.post(
            "/api/v1/decisions",
            json={"problem_identity": problem.identity, "decision": "fixed_in_osm"},
            headers={"X-CSRF-Token": f.csrf_token(client)},
        )
        assert response.status_code == 403
        f.atlas_stop(stop_id="ch:1:sloid:1")
        page = client.get("/stops/atlas/ch:1:sloid:1").get_data(as_text=True)
        assert "Your role cannot record decisions" in page


def test_a_role_an_admin_granted_survives_the_next_osm_sign_in(make_app, provider):
    app = _osm_app(make_app, provider.base_url, OSM_SIGNIN_ROLE="viewer")
    with app.app_context():
        mapper = app.test_client()
        sign_in(mapper)
        mapper_id = me(mapper)["id"]
        admin_client = app.test_client()
        _, csrf = f.login_as(admin_client, role="admin")
        response = admin_client.patch(
            f"/api/v1/users/{mapper_id}", json={"role": "editor"}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["user"]["auth_provider"] == "osm"
        mapper.post("/logout", data={"csrf_token": f.csrf_token(mapper)})
        sign_in(mapper)
        assert me(mapper)["role"] == "editor"


def test_osm_accounts_cannot_be_made_admin_or_given_a_password(osm_app, provider):
    mapper = osm_app.test_client()
    sign_in(mapper)
    mapper_id = me(mapper)["id"]
    admin_client = osm_app.test_client()
    _, csrf = f.login_as(admin_client, role="admin")
    for body, field in [
        ({"role": "admin"}, "role"),
        ({"password": "a long and uncommon passphrase"}, "password"),
    ]:
        response = admin_client.patch(f"/api/v1/users/{mapper_id}", json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 422, response.get_data(as_text=True)
        assert field in response.get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(User, mapper_id)
    assert row.role == "editor"
    assert row.password_hash == user_service.NO_PASSWORD_HASH


def test_an_osm_account_cannot_sign_in_with_the_password_form(osm_app, provider):
    sign_in(osm_app.test_client())
    client = osm_app.test_client()
    for password in ["", "!no-password", user_service.NO_PASSWORD_HASH, "anything at all 123"]:
        response = client.post(
            "/login",
            data={"username": "osm:Anna Mapper", "password": password, "csrf_token": f.csrf_token(client)},
        )
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/login")
        assert me(client) is None


def test_a_local_account_cannot_take_an_osm_name(osm_app):
    with pytest.raises(user_service.UserError, match="OpenStreetMap"):
        user_service.create_user("osm:Anna Mapper", "a long and uncommon passphrase", "editor")
    with pytest.raises(user_service.UserError, match="OpenStreetMap"):
        user_service.create_user("OSM:Anna Mapper", "a long and uncommon passphrase", "editor")
    db.session.rollback()


def test_a_deactivated_osm_account_cannot_sign_in_again(osm_app, provider):
    client = osm_app.test_client()
    sign_in(client)
    mapper_id = me(client)["id"]
    user_service.update_user(db.session.get(User, mapper_id), is_active=False)
    db.session.commit()
    assert me(client) is None  # deactivation ended the session
    response = sign_in(client)
    assert "deactivated" in flashed_message(client, response)
    assert me(client) is None


def test_a_local_account_holding_an_osm_name_blocks_that_sign_in_with_a_message(osm_app, provider):
    # Only possible for local accounts created before "osm:" names were reserved.
    db.session.add(User(username="osm:Anna Mapper", password_hash="x", role="admin", is_active=True))
    db.session.commit()
    client = osm_app.test_client()
    response = sign_in(client)
    assert "belongs to a local account" in flashed_message(client, response)
    assert me(client) is None
    db.session.expire_all()
    assert db.session.scalar(select(User.role).where(User.username == "osm:Anna Mapper")) == "admin"
    assert db.session.scalar(select(func.count()).select_from(User).where(User.osm_uid.is_not(None))) == 0


def test_a_concurrent_first_sign_in_of_the_same_account_uses_the_row_the_other_one_made(osm_app, stack):
    # Two tabs finishing their first sign-in at once: the second insert waits on the unique index,
    # fails when the first commits, and the sign-in then finds and uses that row (no 500).
    other = create_engine(stack.database_url)
    outcome: dict[str, Any] = {}
    with other.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, role, is_active, osm_uid, osm_display_name) "
                "VALUES ('osm:Anna Mapper', :hash, 'editor', true, 4711, 'Anna Mapper')"
            ),
            {"hash": user_service.NO_PASSWORD_HASH},
        )

        def second_tab() -> None:
            with osm_app.app_context():
                try:
                    user = sign_in_account(OsmIdentity(4711, "Anna Mapper"), "editor")
                    db.session.commit()
                    outcome["user"] = (user.id, user.username)
                except Exception as exc:  # the test reports it below
                    outcome["error"] = exc
                finally:
                    db.session.remove()

        thread = threading.Thread(target=second_tab)
        thread.start()
        deadline = time.monotonic() + 20
        waiting = 0
        while waiting == 0 and time.monotonic() < deadline:
            with other.connect() as probe:
                waiting = probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO users%'"
                    )
                )
        assert waiting, "the second sign-in never waited for the first one's row"
        transaction.commit()
        thread.join(timeout=20)
    other.dispose()
    assert "error" not in outcome, outcome.get("error")
    first_id = db.session.scalar(select(User.id).where(User.osm_uid == 4711))
    assert outcome["user"] == (first_id, "osm:Anna Mapper")
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
