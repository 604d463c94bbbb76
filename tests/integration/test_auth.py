"""Sign-in, sessions, API tokens, CSRF and roles, against the real database and Redis."""

from __future__ import annotations

import re

from app.services import users as user_service
from database import db
from tests import factories as f


def test_me_is_anonymous_with_a_csrf_token_before_sign_in(client):
    body = client.get("/api/v1/me").get_json()
    assert body["user"] is None
    assert len(body["csrf_token"]) > 20


def test_login_sets_a_session_and_me_shows_the_user(app, client):
    user = f.create_user("anna", role="editor")
    f.login(client, user.username)
    body = client.get("/api/v1/me").get_json()
    assert body["user"]["username"] == "anna"
    assert body["user"]["role"] == "editor"
    assert body["user"]["auth"] == "session"


def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    f.create_user("anna")
    token = f.csrf_token(client)
    response = client.post(
        "/login", data={"username": "anna", "password": f.DEFAULT_PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_cookie_is_secure_when_configured(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        f.create_user("anna")
    client = app.test_client()
    token = f.csrf_token(client)
    response = client.post(
        "/login", data={"username": "anna", "password": f.DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_and_unknown_user_get_the_same_answer(app, client):
    f.create_user("anna")
    answers = []
    for username, password in [("anna", "wrong password!!"), ("nobody", "wrong password!!")]:
        token = f.csrf_token(client)
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/login")
        with client.session_transaction() as session:
            answers.append(session.get("_flashes"))
            session.pop("_flashes", None)
    assert answers[0] == answers[1]
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_login_without_csrf_token_is_refused(app, client):
    f.create_user("anna")
    response = client.post("/login", data={"username": "anna", "password": f.DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_login_redirects_only_to_same_site_paths(app, client):
    f.create_user("anna")
    for target, expected in [("/review?x=1", "/review?x=1"), ("https://evil.example/", "/"), ("//evil", "/")]:
        token = f.csrf_token(client)
        response = client.post(
            "/login",
            data={"username": "anna", "password": f.DEFAULT_PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["Location"] == expected


def test_inactive_user_cannot_sign_in(app, client):
    user = f.create_user("anna")
    user.is_active = False
    db.session.commit()
    token = f.csrf_token(client)
    response = client.post(
        "/login", data={"username": "anna", "password": f.DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"].startswith("/login")


def test_logout_needs_csrf_and_ends_the_session(app, client):
    _, token = f.login_as(client)
    assert client.post("/logout").status_code == 400
    assert client.get("/api/v1/me").get_json()["user"] is not None
    response = client.post("/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_password_change_ends_existing_sessions(app, client):
    user, _ = f.login_as(client)
    user_service.update_user(user, password="another long password")
    db.session.commit()
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_cookie_authenticated_write_without_csrf_header_is_a_400_json(app, client):
    f.login_as(client, role="admin")
    response = client.post("/api/v1/users", json={"username": "bob", "password": "long enough pw"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_cookie_authenticated_write_with_csrf_header_succeeds(app, client):
    _, token = f.login_as(client, role="admin")
    response = client.post(
        "/api/v1/users",
        json={"username": "bob", "password": "long enough pw", "role": "editor"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["user"]["username"] == "bob"


def test_bearer_token_write_needs_no_csrf(app, client):
    admin = f.create_user(role="admin")
    token = f.api_token(admin)
    response = client.post(
        "/api/v1/users", json={"username": "bob", "password": "long enough pw"}, headers=f.bearer(token)
    )
    assert response.status_code == 201


def test_unknown_bearer_token_is_a_401_not_anonymous(app, client):
    response = client.get("/api/v1/me", headers=f.bearer("ssk_not-a-real-token"))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_only_a_hash_of_the_api_token_is_stored(app):
    user = f.create_user()
    token = f.api_token(user)
    assert token.startswith("ssk_")
    assert user.api_token_hash == user_service.hash_token(token)
    assert token not in user.api_token_hash


def test_issuing_a_new_token_revokes_the_old_one(app, client):
    user = f.create_user(role="admin")
    old = f.api_token(user)
    new = f.api_token(user)
    assert client.get("/api/v1/users", headers=f.bearer(old)).status_code == 401
    assert client.get("/api/v1/users", headers=f.bearer(new)).status_code == 200


def test_anonymous_write_is_401_and_low_role_is_403(app, client):
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    editor = f.create_user(role="editor")
    response = client.get("/api/v1/users", headers=f.bearer(f.api_token(editor)))
    assert response.status_code == 403
    assert response.get_json()["error"]["details"]["required_role"] == "admin"


def test_admin_lists_users_without_secrets(app, client):
    admin = f.create_user("root", role="admin")
    f.create_user("anna")
    body = client.get("/api/v1/users", headers=f.bearer(f.api_token(admin))).get_json()
    assert [u["username"] for u in body["users"]] == ["anna", "root"]
    assert all("password_hash" not in u and "api_token_hash" not in u for u in body["users"])
    assert body["users"][1]["has_api_token"] is True


def test_admin_issues_a_token_that_works_for_the_user(app, client):
    admin = f.create_user(role="admin")
    editor = f.create_user(role="editor")
    response = client.post(f"/api/v1/users/{editor.id}/token", headers=f.bearer(f.api_token(admin)))
    assert response.status_code == 201
    token = response.get_json()["token"]
    me = client.get("/api/v1/me", headers=f.bearer(token)).get_json()
    assert me["user"]["username"] == editor.username
    assert me["user"]["auth"] == "token"


def test_editor_may_issue_a_token_only_for_themselves(app, client):
    editor = f.create_user(role="editor")
    other = f.create_user(role="editor")
    headers = f.bearer(f.api_token(editor))
    assert client.post(f"/api/v1/users/{other.id}/token", headers=headers).status_code == 403
    assert client.post(f"/api/v1/users/{editor.id}/token", headers=headers).status_code == 201


def test_creating_a_duplicate_user_is_a_409_and_a_weak_password_a_422(app, client):
    admin = f.create_user("root", role="admin")
    headers = f.bearer(f.api_token(admin))
    response = client.post(
        "/api/v1/users", json={"username": "root", "password": "long enough pw"}, headers=headers
    )
    assert response.status_code == 409
    response = client.post("/api/v1/users", json={"username": "bob", "password": "short"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["field"] == "password"
    response = client.post(
        "/api/v1/users",
        json={"username": "bob", "password": "long enough pw", "role": "god"},
        headers=headers,
    )
    assert response.status_code == 422


def test_deactivating_a_user_revokes_their_token(app, client):
    admin = f.create_user(role="admin")
    editor = f.create_user(role="editor")
    editor_token = f.api_token(editor)
    response = client.patch(
        f"/api/v1/users/{editor.id}", json={"is_active": False}, headers=f.bearer(f.api_token(admin))
    )
    assert response.status_code == 200
    assert response.get_json()["user"]["is_active"] is False
    assert client.get("/api/v1/me", headers=f.bearer(editor_token)).status_code == 401


def test_admin_cannot_deactivate_themselves(app, client):
    admin = f.create_user(role="admin")
    response = client.patch(
        f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=f.bearer(f.api_token(admin))
    )
    assert response.status_code == 409


def test_login_is_rate_limited(make_app):
    app = make_app(RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = []
    for _ in range(5):
        token = f.csrf_token(client)
        response = client.post("/login", data={"username": "x", "password": "y", "csrf_token": token})
        statuses.append(response.status_code)
    assert statuses[:3] == [303, 303, 303]
    assert statuses[3:] == [429, 429]


def test_users_token_cli_prints_a_working_token(app, client):
    f.create_user("anna")
    result = app.test_cli_runner().invoke(args=["users", "token", "anna"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert re.fullmatch(r"ssk_[A-Za-z0-9_-]{40,}", token)
    assert client.get("/api/v1/me", headers=f.bearer(token)).get_json()["user"]["username"] == "anna"


def test_users_token_cli_fails_for_an_unknown_user(app):
    result = app.test_cli_runner().invoke(args=["users", "token", "ghost"])
    assert result.exit_code != 0
    assert "no user" in result.output


def test_pages_behind_a_role_redirect_anonymous_visitors_to_login(make_app):
    from app.auth import require_role

    app = make_app()

    @require_role("admin")
    def admin_page():
        return "secret admin page"

    app.add_url_rule("/test-admin-page", "test_admin_page", admin_page)
    client = app.test_client()
    response = client.get("/test-admin-page?tab=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Ftest-admin-page%3Ftab%3D2"
    with app.app_context():
        f.login_as(client, role="editor")
    response = client.get("/test-admin-page")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    with app.app_context():
        f.login_as(client, role="admin")
    assert client.get("/test-admin-page").get_data(as_text=True) == "secret admin page"


def test_me_is_never_cached(app, client):
    assert client.get("/api/v1/me").headers["Cache-Control"] == "no-store"
