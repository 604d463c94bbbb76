"""Request bodies over MAX_CONTENT_LENGTH_BYTES are refused with a 413 before they are read: in the
API's JSON error shape under /api, as an HTML error page elsewhere (the sign-in form).

The first tests use Flask's test client; the last ones send real oversized requests over a socket to
gunicorn as production runs it (gevent workers), with and without a Content-Length.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.services import users as user_service
from devstack.services import free_port, gunicorn_command
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIMIT = 1_048_576


def _login_form(client, padding_bytes: int) -> dict[str, str]:
    return {
        "username": "anna",
        "password": f.DEFAULT_PASSWORD,
        "csrf_token": f.csrf_token(client),
        "padding": "x" * padding_bytes,
    }


def test_an_oversized_json_body_to_an_api_write_is_a_413_in_the_json_shape(app, client):
    headers = f.bearer(f.api_token(f.create_user(role="admin")))
    body = {"username": "bob", "password": "y" * (DEFAULT_LIMIT + 1)}
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 413
    assert response.get_json() == {
        "error": {
            "status": 413,
            "code": "payload_too_large",
            "message": f"The request body is too large: this server accepts at most {DEFAULT_LIMIT} bytes.",
            "details": {"max_bytes": DEFAULT_LIMIT},
        }
    }
    assert user_service.get_by_username("bob") is None


def test_a_json_body_under_the_limit_is_still_read_and_validated(app, client):
    headers = f.bearer(f.api_token(f.create_user(role="admin")))
    body = {"username": "bob", "password": "y" * (DEFAULT_LIMIT - 100)}
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["field"] == "password"


def test_an_oversized_sign_in_form_is_a_413_html_page(app, client):
    f.create_user("anna")
    response = client.post("/login", data=_login_form(client, DEFAULT_LIMIT))
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert f"this server accepts at most {DEFAULT_LIMIT} bytes" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").get_json()["user"] is None


def test_an_oversized_body_is_refused_before_anything_else_looks_at_the_request(app, client):
    # Anonymous: the view would answer 401 without reading the body; the size is checked first.
    response = client.post("/api/v1/users", data=b"x" * (DEFAULT_LIMIT + 1))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_max_content_length_bytes_is_a_setting(make_app):
    app = make_app(MAX_CONTENT_LENGTH_BYTES=4096)
    client = app.test_client()
    with app.app_context():
        f.create_user("anna")
        response = client.post("/login", data=_login_form(client, 5000))
        assert response.status_code == 413
        assert "at most 4096 bytes" in response.get_data(as_text=True)
        # An ordinary sign-in (a few hundred bytes) is well under it.
        response = client.post("/login", data=_login_form(client, 0))
        assert response.status_code == 303
        assert not response.headers["Location"].startswith("/login")


# --- the same over a socket, against gunicorn --------------------------------------------------


@pytest.fixture
def served(stack, clean_state, tmp_path) -> Iterator[int]:
    """A gunicorn (one gevent worker) serving the app on a free loopback port; yields the port."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            gunicorn_command(port, workers=1, timeout_s=30),
            cwd=ROOT,
            env=stack.base_env(STOPSYNC_ENV="production", LOG_LEVEL="WARNING"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while _request(port, "GET", "/healthz")[0] != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "gunicorn did not serve within 60 s"
            time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _exchange(
    port: int, method: str, path: str, body=None, headers: dict[str, str] | None = None, chunked: bool = False
) -> tuple[int, http.client.HTTPMessage | None, bytes]:
    """(status, response headers, body); status 0 when the connection failed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    except OSError:
        return 0, None, b""
    finally:
        connection.close()


def _request(
    port: int, method: str, path: str, body=None, headers: dict[str, str] | None = None, chunked: bool = False
) -> tuple[int, str, bytes]:
    """(status, content type, body); status 0 when the connection failed."""
    status, response_headers, payload = _exchange(port, method, path, body, headers, chunked)
    return status, response_headers.get("Content-Type", "") if response_headers else "", payload


def _pieces(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON object of `total` bytes, handed over in pieces (sent chunked, without Content-Length)."""
    head, tail = b'{"username": "bob", "password": "', b'"}'
    yield head
    remaining = total - len(head) - len(tail)
    while remaining > 0:
        yield b"y" * min(size, remaining)
        remaining -= size
    yield tail


def test_gunicorn_refuses_an_oversized_api_body_with_a_json_413(app, served):
    token = f.api_token(f.create_user(role="admin"))
    headers = {**f.bearer(token), "Content-Type": "application/json"}
    body = json.dumps({"username": "bob", "password": "y" * (2 * DEFAULT_LIMIT)}).encode()
    status, content_type, payload = _request(served, "POST", "/api/v1/users", body, headers)
    assert status == 413
    assert content_type == "application/json"
    assert json.loads(payload)["error"]["code"] == "payload_too_large"
    assert _request(served, "GET", "/healthz")[0] == 200


def test_gunicorn_refuses_an_oversized_chunked_api_body_without_content_length(app, served):
    token = f.api_token(f.create_user(role="admin"))
    headers = {**f.bearer(token), "Content-Type": "application/json"}
    status, content_type, payload = _request(
        served, "POST", "/api/v1/users", _pieces(2 * DEFAULT_LIMIT), headers, chunked=True
    )
    assert status == 413, payload
    assert content_type == "application/json"
    assert json.loads(payload)["error"]["details"] == {"max_bytes": DEFAULT_LIMIT}
    assert user_service.get_by_username("bob") is None
    # A chunked body under the limit is read as usual (here: refused for its too-long password).
    status, _, payload = _request(
        served, "POST", "/api/v1/users", _pieces(DEFAULT_LIMIT - 100), headers, chunked=True
    )
    assert status == 422, payload


def test_gunicorn_refuses_an_oversized_sign_in_form_with_an_html_413(app, served):
    form = urlencode({"username": "anna", "password": "x", "padding": "x" * (2 * DEFAULT_LIMIT)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, content_type, payload = _request(served, "POST", "/login", form, headers)
    assert status == 413
    assert content_type.startswith("text/html")
    assert b"this server accepts at most" in payload
    assert _request(served, "GET", "/healthz")[0] == 200


def test_gunicorn_reads_a_chunked_sign_in_form_under_the_limit_as_usual(app, served):
    f.create_user("anna")
    status, headers, payload = _exchange(served, "GET", "/api/v1/me")
    assert status == 200
    assert headers is not None
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    form = urlencode(
        {"username": "anna", "password": f.DEFAULT_PASSWORD, "csrf_token": json.loads(payload)["csrf_token"]}
    ).encode()
    pieces = (form[i : i + 16] for i in range(0, len(form), 16))
    status, headers, _ = _exchange(
        served,
        "POST",
        "/login",
        pieces,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        chunked=True,
    )
    assert status == 303
    assert headers is not None
    assert headers["Location"] == "/"
