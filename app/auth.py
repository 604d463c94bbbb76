"""Who is asking, and may they: sessions, API tokens, CSRF, role checks, login and logout.

Three kinds of caller:

- anonymous: may read everything;
- a browser signed in with the session cookie (`POST /login`): every write it sends must carry the
  per-session CSRF token (header `X-CSRF-Token` or form field `csrf_token`), because a cookie is
  sent by the browser whatever page started the request. The cookie is signed, and it also names a
  row in `user_sessions`: sign-out (or a new password, or deactivation) deletes the row, so a copy
  of the cookie taken earlier is anonymous from then on;
- a script with `Authorization: Bearer <token>`: no cookie, so no CSRF check. A bad token is a 401,
  never a silent fall-back to anonymous.

Roles are ranked: `admin` includes `editor`. `require_role` answers 401/403 in the JSON error
shape for /api paths and sends browsers to the login page.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from app.errors import ApiError, json_error
from app.extensions import limiter
from app.services import users as user_service
from database import db
from database.models import User

logger = logging.getLogger(__name__)

csrf = CSRFProtect()
bp = Blueprint("auth", __name__)

SESSION_USER_KEY = "uid"
# The key of this sign-in's `user_sessions` row. The row, not the cookie's signature, decides whether
# the sign-in is still valid: a signed cookie cannot be revoked, a row can. Kept in the database
# rather than Redis: every signed-in request reads the user row there anyway (one joined query
# now), and Redis may be down while the app keeps serving, where a Redis revocation list would
# either let signed-out cookies back in or forget the sign-outs made meanwhile.
SESSION_KEY_KEY = "sid"
# Where Flask-WTF caches the signed token for the current request (its WTF_CSRF_FIELD_NAME).
CSRF_G_KEY = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers that are the same for everyone and meant for shared caches (the map tiles and their
# TileJSON): reading the session would make Flask add `Vary: Cookie`, and a proxy or CDN would keep
# one copy per visitor. (Assets stay out: their 404 is an HTML page, which carries a CSRF token.)
SESSIONLESS_PATH_PREFIXES = ("/api/v1/tiles",)

F = TypeVar("F", bound=Callable[..., Any])


def init_auth(app: Flask) -> None:
    """Bind CSRF protection and the per-request user resolution to `app`."""
    settings = app.config["SETTINGS"]
    app.config.update(
        # We decide per request whether the check applies (bearer-token calls are exempt).
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the session; an hour-long expiry only breaks open review tabs.
        WTF_CSRF_TIME_LIMIT=None,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.SESSION_LIFETIME_HOURS),
    )
    csrf.init_app(app)
    app.session_interface = SharedAnswerSessionInterface()
    app.before_request(_authenticate_and_check_csrf)
    app.context_processor(lambda: {"current_user": current_user()})
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_blueprint(bp)


class SharedAnswerSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, except that answers meant for shared caches get no session at all.

    Flask adds `Vary: Cookie` to any answer whose request touched the session, and a proxy or CDN
    then keeps one copy per visitor. Tiles are the same for everyone, so their requests
    get Flask's null session: nothing is read from the cookie and nothing is written back.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.method in ("GET", "HEAD") and request.path.startswith(SESSIONLESS_PATH_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _session_user() -> User | None:
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int):
        return None
    key = session.get(SESSION_KEY_KEY)
    user = user_service.user_for_session(user_id, key) if isinstance(key, str) else None
    if user is None:
        # Signed out elsewhere, expired, password changed, deactivated, or a cookie from before
        # server-side sessions: the browser's copy is forgotten as well.
        session.pop(SESSION_USER_KEY, None)
        session.pop(SESSION_KEY_KEY, None)
        return None
    return user


def _authenticate_and_check_csrf() -> Any:
    """Resolve the caller once per request, then apply CSRF to cookie-authenticated writes."""
    # `g` outlives a request when an outer app context is active (tests, CLI); never reuse
    # the previous request's caller or its cached CSRF token.
    g.pop("current_user", None)
    g.pop(CSRF_G_KEY, None)
    token = _bearer_token()
    if (
        token is None
        and request.method in ("GET", "HEAD")
        and request.path.startswith(SESSIONLESS_PATH_PREFIXES)
    ):
        g.current_user = None  # anonymous by design: the answer does not depend on who asks
        g.auth_method = None
        return None
    if token is not None:
        user = user_service.user_for_token(token)
        if user is None:
            response = json_error(401, "invalid_token", "The API token is missing, unknown or revoked.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="stopsync", error="invalid_token"'
            return response
        g.current_user = user
        g.auth_method = "token"
        return None
    g.current_user = _session_user()
    g.auth_method = "session" if g.current_user is not None else None
    if request.method not in UNSAFE_METHODS:
        return None
    # An anonymous API write carries no ambient authority, so there is nothing to forge: let the
    # view answer 401. Forms (login, logout) are always checked, which also stops login CSRF.
    if _is_api_request() and g.current_user is None:
        return None
    csrf.protect(apply_exemptions=True)
    return None


def _csrf_failed(exc: CSRFError):
    logger.info("CSRF check failed on %s %s: %s", request.method, request.path, exc.description)
    if _is_api_request():
        return json_error(
            400,
            "csrf_failed",
            "Missing or invalid CSRF token: send the X-CSRF-Token header (GET /api/v1/me gives the token).",
            {"reason": exc.description},
        )
    message = "Your form expired or was sent from another site. Reload the page and try again."
    return render_template("error.html", status=400, title="Bad Request", message=message), 400


def current_user() -> User | None:
    """The signed-in user of this request (session or API token), or None for anonymous."""
    if "current_user" not in g:
        # Outside the before_request hook (e.g. a CLI render): resolve from the session only.
        g.current_user = _session_user() if has_request_context() else None
    return cast("User | None", g.current_user)


def current_auth_method() -> str | None:
    """ "session", "token" or None (anonymous)."""
    current_user()
    return g.get("auth_method")


def require_role(role: str) -> Callable[[F], F]:
    """Allow the view only to users holding `role` (or a higher one).

    Anonymous: 401 for /api, a redirect to /login for pages. Signed in with too low a role: 403.
    """
    if role not in user_service.ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if _is_api_request():
                    raise ApiError(401, "unauthorized", "Sign in or send an API token to do this.")
                return redirect(login_url(request.full_path))
            if not user_service.has_role(user, role):
                if not _is_api_request():
                    abort(403)
                raise ApiError(403, "forbidden", f"This needs the {role} role.", {"required_role": role})
            return view(*args, **kwargs)

        return cast("F", wrapped)

    return decorator


# Browsers read a backslash as a slash (`/\evil.example` is `//evil.example`, another host) and drop
# tabs and newlines anywhere in a URL (`/\t/evil.example` too); some proxies decode %5C or %09 first.
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f\\]|%(?:5c|0[0-9a-f]|1[0-9a-f]|7f)", re.IGNORECASE)


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else "/": an open redirect would make our login page a
    phishing tool. Both the sign-in form's redirect and the login page's "Continue" link use it."""
    if not target:
        return "/"
    target = target.rstrip("?") or "/"
    if _UNSAFE_IN_NEXT.search(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def login_url(next_path: str | None = None) -> str:
    """The login page (GET /login, served by the pages blueprint), coming back to `next_path`."""
    return "/login?" + urlencode({"next": safe_next(next_path)})


def _login_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_LOGIN


@bp.post("/login")
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Sign in with the form fields `username` and `password` (plus `csrf_token`), then redirect.

    Success: 303 to `next` (a same-site path) or `/`. Failure: 303 back to the login page with one
    message that does not say whether the username exists.
    """
    username = (request.form.get("username") or "")[: user_service.MAX_USERNAME_LENGTH + 1]
    password = (request.form.get("password") or "")[: user_service.MAX_PASSWORD_LENGTH + 1]
    next_url = safe_next(request.form.get("next") or request.args.get("next"))
    user = user_service.authenticate(username, password) if username and password else None
    if user is None:
        db.session.commit()  # keep nothing pending; authenticate() may not have flushed anything
        logger.info("failed sign-in for a username of length %d", len(username))
        flash(gettext("Unknown username or wrong password."), "error")
        return redirect(login_url(next_url), code=303)
    establish_session(user)  # also commits a password rehash if Argon2 parameters changed
    logger.info("user %s signed in", user.username)
    return redirect(next_url, code=303)


def establish_session(user: User) -> None:
    """Sign `user` in on this browser and commit: a `user_sessions` row and a fresh session cookie.

    The one way to start a browser session, for the password form and for OpenStreetMap sign-in
    (app/osm_signin.py) alike, so sign-out, CSRF and roles work the same for both.
    """
    lifetime = current_app.permanent_session_lifetime
    key = user_service.start_session(user, lifetime)
    db.session.commit()  # the session row, with whatever the sign-in changed on the user
    # A fresh session on sign-in: nothing a visitor had before (including the CSRF token) carries over.
    session.clear()
    g.pop(CSRF_G_KEY, None)
    session.permanent = True
    session[SESSION_USER_KEY] = user.id
    session[SESSION_KEY_KEY] = key
    g.current_user = user


@bp.post("/logout")
def logout():
    """Sign out (form field `csrf_token` or header `X-CSRF-Token` required) and go to the map.

    The session's row is deleted, so the cookie is refused even if a copy of it is sent again.
    """
    key = session.get(SESSION_KEY_KEY)
    if isinstance(key, str):
        user_service.end_session(key)
        db.session.commit()
    session.clear()
    g.pop(CSRF_G_KEY, None)
    g.current_user = None
    return redirect("/", code=303)


def me_payload() -> dict[str, Any]:
    """Body of GET /api/v1/me: who is signed in and the CSRF token for their writes."""
    user = current_user()
    return {
        "user": None
        if user is None
        else {"id": user.id, "username": user.username, "role": user.role, "auth": current_auth_method()},
        "csrf_token": generate_csrf(),
    }
