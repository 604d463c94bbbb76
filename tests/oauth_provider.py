"""A small real OAuth 2.0 provider shaped like openstreetmap.org, for the sign-in tests.

It runs as an HTTP server on a free local port (a thread of the test process) and implements what
StopSync uses of openstreetmap.org, with the checks a real authorization server makes:

- GET /oauth2/authorize: known client, exact registered redirect URI, response_type=code, scope
  read_prefs, a PKCE S256 code_challenge (required); answers as if the mapper `user` had signed
  in and clicked "Authorize" (or "Deny" with `deny=True`): a redirect with `code` and the `state`
  it was given, unchanged. With `consent_page=True` it first shows a page with an "Authorize"
  button (a form posting the same parameters back), as openstreetmap.org does: a browser then
  comes back from the provider's site, not from ours.
- POST /oauth2/token: client authentication (HTTP Basic, or client_id/client_secret in the form),
  grant_type=authorization_code, a code that exists, is unused (single use) and unexpired, the same
  redirect URI, and a `code_verifier` whose SHA-256 (base64url) is the stored challenge.
- GET /api/0.6/user/details.json: a valid bearer token, answered as openstreetmap.org does.

Every request is recorded in `requests`, so a test can prove that a refused callback never
reached the token endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from markupsafe import escape
from werkzeug.serving import make_server

from devstack.services import free_port

CLIENT_ID = "stopsync-test-client"
CLIENT_SECRET = "stopsync-test-secret-0123456789"
CODE_LIFETIME_S = 600


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of `verifier` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Provider:
    """State of the running provider; tests change `user`, `deny` and `details_override` between steps."""

    base_url: str
    redirect_uris: set[str]
    user: dict[str, Any] = field(default_factory=lambda: {"id": 4711, "display_name": "Anna Mapper"})
    deny: bool = False
    consent_page: bool = False
    # When set, user/details.json answers this body (status, JSON-serialisable body or raw text).
    details_override: tuple[int, Any] | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)

    def paths_requested(self) -> list[str]:
        """The paths requested so far, in order."""
        return [path for _, path in self.requests]


def _oauth_error(status: int, error: str, description: str, provider: Provider):
    provider.token_errors.append(error)
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def _client_credentials() -> tuple[str | None, str | None]:
    if request.authorization is not None and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")


def build_app(provider: Provider) -> Flask:
    """The provider's WSGI app."""
    app = Flask("test_oauth_provider")

    @app.before_request
    def record() -> None:
        provider.requests.append((request.method, request.path))

    @app.route("/oauth2/authorize", methods=["GET", "POST"])
    def authorize():
        if request.method == "GET" and provider.consent_page:
            fields = "".join(
                f'<input type="hidden" name="{escape(key)}" value="{escape(value)}">'
                for key, value in request.args.items()
            )
            return (
                "<!doctype html><title>Authorize</title><form method=post>"
                f"{fields}<button type=submit>Authorize</button></form>"
            )
        args = request.values
        # Errors about the client or the redirect URI are shown to the user, never redirected.
        if args.get("client_id") != CLIENT_ID:
            return "unknown client", 400
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in provider.redirect_uris:
            return "redirect_uri is not registered for this client", 400
        state = args.get("state")

        def back(**params: str):
            if state is not None:
                params["state"] = state
            return redirect(f"{redirect_uri}?{urlencode(params)}", code=302)

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "read_prefs" not in (args.get("scope") or "").split():
            return back(error="invalid_scope")
        challenge = args.get("code_challenge")
        if not challenge or args.get("code_challenge_method") != "S256":
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        if provider.deny:
            return back(error="access_denied", error_description="The resource owner denied the request.")
        code = secrets.token_urlsafe(24)
        provider.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": challenge,
            "user": dict(provider.user),
            "expires": time.monotonic() + CODE_LIFETIME_S,
        }
        return back(code=code)

    @app.post("/oauth2/token")
    def token():
        client_id, client_secret = _client_credentials()
        if client_id != CLIENT_ID or not hmac.compare_digest(client_secret or "", CLIENT_SECRET):
            return _oauth_error(401, "invalid_client", "Client authentication failed.", provider)
        if request.form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "Only authorization_code.", provider)
        grant = provider.codes.pop(request.form.get("code") or "", None)  # single use, even if refused
        if grant is None or grant["expires"] < time.monotonic():
            return _oauth_error(400, "invalid_grant", "The code is unknown, used or expired.", provider)
        if request.form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(400, "invalid_grant", "The redirect_uri differs.", provider)
        verifier = request.form.get("code_verifier") or ""
        if not hmac.compare_digest(s256(verifier), grant["challenge"]):
            return _oauth_error(400, "invalid_grant", "The code_verifier does not match.", provider)
        access_token = secrets.token_urlsafe(32)
        provider.tokens[access_token] = grant["user"]
        return jsonify(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "scope": "read_prefs",
                "created_at": int(time.time()),
            }
        )

    @app.get("/api/0.6/user/details.json")
    def user_details():
        header = request.headers.get("Authorization", "")
        scheme, _, access_token = header.partition(" ")
        user = provider.tokens.get(access_token) if scheme.lower() == "bearer" else None
        if user is None:
            return "Couldn't authenticate you", 401
        if provider.details_override is not None:
            status, body = provider.details_override
            if isinstance(body, str):
                return body, status, {"Content-Type": "application/json"}
            return jsonify(body), status
        return jsonify(
            {
                "version": "0.6",
                "generator": "StopSync test provider",
                "user": {
                    "id": user["id"],
                    "display_name": user["display_name"],
                    "account_created": "2015-03-01T10:00:00Z",
                    "description": "",
                    "contributor_terms": {"agreed": True, "pd": False},
                    "roles": [],
                    "changesets": {"count": 120},
                    "traces": {"count": 0},
                    "blocks": {"received": {"count": 0, "active": 0}},
                    "languages": ["de", "en"],
                    "messages": {"received": {"count": 0, "unread": 0}, "sent": {"count": 0}},
                },
            }
        )

    return app


@contextmanager
def running_provider(redirect_uris: set[str]) -> Iterator[Provider]:
    """Start the provider on a free local port; stop it on exit."""
    port = free_port()
    provider = Provider(base_url=f"http://127.0.0.1:{port}", redirect_uris=redirect_uris)
    server = make_server("127.0.0.1", port, build_app(provider), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oauth-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
