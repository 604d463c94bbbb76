"""Sign in with OpenStreetMap: OAuth 2.0 authorization code flow with PKCE, through Authlib.

GET /login/osm?next=/review
    Starts a sign-in: a fresh `state` and PKCE `code_verifier` go into the (signed) session
    cookie, and the browser is sent to openstreetmap.org's authorize page with the state, the
    S256 `code_challenge`, scope `read_prefs` and the redirect URI PUBLIC_BASE_URL +
    /login/osm/callback (never built from the request's Host header, which a client can forge).
GET /login/osm/callback?code=...&state=...
    Authlib checks that `state` is the one this browser was given (a tampered, replayed or foreign
    state is a 400 and no request leaves for openstreetmap.org), exchanges the code for a token
    with the client secret and the code_verifier, and we read who signed in from
    /api/0.6/user/details.json. The mapper becomes (or stays) a user row keyed by their OSM id
    (app/services/osm_accounts.py), and the browser session starts exactly as for a password
    sign-in (`app.auth.establish_session`), so sign-out, CSRF and roles work the same.

The state travels in the session cookie, which is SameSite=Lax: browsers send it on the top-level
redirect back from openstreetmap.org (with Strict they would not, and every sign-in would fail).
The OSM access token is used for that one read and then dropped: nothing here acts on the
mapper's OSM account. Without OSM_OAUTH_CLIENT_ID/SECRET both routes are 404 and the login page
shows no button. Every failure after a valid state (the mapper declined, openstreetmap.org
refused the code or could not be reached, an unusable answer) goes back to the login page with
one message, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from app.auth import establish_session, login_url, safe_next
from app.extensions import limiter
from app.services import osm_accounts
from database import db
from database.models import User

logger = logging.getLogger(__name__)

bp = Blueprint("osm_signin", __name__)

# The Authlib client's name; its state entries live in the session under "_state_openstreetmap_<state>".
CLIENT_NAME = "openstreetmap"
STATE_KEY_PREFIX = f"_state_{CLIENT_NAME}_"
NEXT_KEY = "osm_signin_next"
CALLBACK_PATH = "/login/osm/callback"
SCOPE = "read_prefs"  # the least openstreetmap.org grants; enough to read who signed in
USER_DETAILS_PATH = "/api/0.6/user/details.json"
OAUTH_EXTENSION = "stopsync_osm_oauth"


def init_osm_signin(app: Flask) -> None:
    """Register the routes, the template flag `osm_signin_enabled`, and (when configured) the
    OAuth client. One Authlib registry per app: each app (and test app) has its own settings."""
    settings = app.config["SETTINGS"]
    app.register_blueprint(bp)
    enabled = settings.osm_signin_enabled
    app.context_processor(lambda: {"osm_signin_enabled": enabled})
    if not enabled:
        return
    oauth = OAuth()
    oauth.init_app(app)
    base = settings.OSM_OAUTH_BASE_URL.rstrip("/")
    oauth.register(
        name=CLIENT_NAME,
        client_id=settings.OSM_OAUTH_CLIENT_ID,
        client_secret=settings.OSM_OAUTH_CLIENT_SECRET,
        authorize_url=f"{base}/oauth2/authorize",
        access_token_url=f"{base}/oauth2/token",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            # A hung openstreetmap.org must not hold a worker: every call of the sign-in is bounded.
            "default_timeout": settings.OSM_OAUTH_TIMEOUT_S,
        },
        user_agent=f"StopSync (+{settings.PUBLIC_BASE_URL})",
    )
    app.extensions[OAUTH_EXTENSION] = oauth


def _client() -> Any:
    oauth = current_app.extensions.get(OAUTH_EXTENSION)
    if oauth is None:
        abort(404)
    return oauth.create_client(CLIENT_NAME)


def redirect_uri() -> str:
    """Where openstreetmap.org sends the browser back: from PUBLIC_BASE_URL, never the Host header."""
    return current_app.config["SETTINGS"].PUBLIC_BASE_URL.rstrip("/") + CALLBACK_PATH


# Both routes count against one budget per client: starting sign-ins fills the session cookie and
# each callback may cost two requests to openstreetmap.org.
osm_signin_limit = limiter.shared_limit(
    lambda: current_app.config["SETTINGS"].RATELIMIT_LOGIN, scope="osm-signin"
)


@bp.get("/login/osm")
@osm_signin_limit
def start():
    """Send the browser to openstreetmap.org to sign in (302), remembering `next` (a same-site path)."""
    client = _client()
    # Only the newest sign-in of a browser stays valid: older pending states are dropped, so
    # repeated clicks cannot grow the session cookie past what browsers keep (4 KB).
    for key in [key for key in session if key.startswith(STATE_KEY_PREFIX)]:
        session.pop(key)
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    return client.authorize_redirect(redirect_uri())


@bp.get(CALLBACK_PATH)
@osm_signin_limit
def callback():
    """Finish the sign-in: check the state, exchange the code (with PKCE), read the OSM account."""
    client = _client()
    next_url = safe_next(session.get(NEXT_KEY))
    try:
        token = client.authorize_access_token()
        response = client.get(
            current_app.config["SETTINGS"].OSM_API_BASE_URL.rstrip("/") + USER_DETAILS_PATH, token=token
        )
        response.raise_for_status()
        identity = osm_accounts.identity_from_user_details(response.json())
    except MismatchingStateError:
        # Not this browser's sign-in: tampered, replayed, expired, or started in another browser.
        logger.info("OSM sign-in refused: state does not match this browser's sign-in")
        session.pop(NEXT_KEY, None)
        message = gettext("This sign-in link is invalid or has expired. Start again from the login page.")
        return render_template("error.html", status=400, title="Bad Request", message=message), 400
    except AuthlibBaseError as exc:
        # An error answer on the callback (the mapper declined) or from the token endpoint (a code
        # used twice, a wrong PKCE verifier or client secret), or a token answer without a token.
        logger.info("OSM sign-in failed: %s", exc.error)
        if exc.error == "access_denied":
            return _back_to_login(gettext("Sign-in with OpenStreetMap was cancelled."), next_url)
        return _back_to_login(gettext("OpenStreetMap refused the sign-in. Please try again."), next_url)
    except (requests.ConnectionError, requests.Timeout) as exc:
        logger.warning("OSM sign-in failed: openstreetmap.org unreachable (%s)", type(exc).__name__)
        return _back_to_login(
            gettext("OpenStreetMap could not be reached. Please try again later."), next_url
        )
    except (requests.RequestException, ValueError) as exc:
        # An HTTP error status, or a body that is not the JSON asked for (ValueError covers both
        # JSON decoding and osm_accounts.OsmAccountError).
        logger.warning("OSM sign-in failed: unusable answer from openstreetmap.org (%s)", type(exc).__name__)
        message = str(exc) if isinstance(exc, osm_accounts.OsmAccountError) else None
        return _back_to_login(
            message or gettext("OpenStreetMap gave an answer we could not use. Please try again."), next_url
        )
    role = current_app.config["SETTINGS"].OSM_SIGNIN_ROLE
    try:
        user = sign_in_account(identity, role)
    except osm_accounts.OsmAccountError as exc:
        db.session.rollback()
        return _back_to_login(str(exc), next_url)
    establish_session(user)
    logger.info("user %s signed in with OpenStreetMap (uid %d)", user.username, identity.uid)
    return redirect(next_url, code=303)


def sign_in_account(identity: osm_accounts.OsmIdentity, role: str) -> User:
    """`osm_accounts.sign_in`, once more after a lost race with the same account's first sign-in."""
    try:
        return osm_accounts.sign_in(identity, role)
    except IntegrityError:
        # The same account's first sign-in in another tab or worker won the insert: use its row.
        db.session.rollback()
        return osm_accounts.sign_in(identity, role)


def _back_to_login(message: str, next_url: str):
    session.pop(NEXT_KEY, None)
    flash(message, "error")
    return redirect(login_url(next_url), code=303)
