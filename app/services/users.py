"""Users, passwords, browser sessions and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). A new password needs `MIN_PASSWORD_LENGTH`
characters and a zxcvbn score of at least `PASSWORD_MIN_SCORE` (setting, default 3 of 4): zxcvbn
estimates how many guesses a cracker needs, knowing common passwords, names, words, keyboard
patterns, dates, l33t spellings, and the user's own name, so "Password123!" fails however long.

Accounts that sign in with OpenStreetMap (app/services/osm_accounts.py) have no password: their
hash is `NO_PASSWORD_HASH`, their name starts with `OSM_USERNAME_PREFIX`, and they are never admins.

API tokens and browser session keys are random strings; only their SHA-256 is stored
(`users.api_token_hash`, `user_sessions.key_hash`), so a leaked database does not leak usable
credentials. A fast hash is right for them (unlike passwords): 256 bits of entropy, nothing to guess.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import delete, func, select
from zxcvbn import zxcvbn

from database import db
from database.models import User, UserSession

# viewer: signed in, and may read like anyone, nothing more: what a first OpenStreetMap sign-in gets
# with OSM_SIGNIN_ROLE=viewer, until an admin grants editor (PATCH /api/v1/users/<id>).
ROLES = ("viewer", "editor", "admin")
# Higher rank includes the rights of every lower one.
ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 80
# zxcvbn scores only this many leading characters: its matching grows much faster than linearly
# (1,024 repeated letters take two minutes), and 72 is the library's own limit. A password whose
# first 72 characters are guessable is refused, however it ends.
PASSWORD_SCORED_CHARS = 72
# Words a guesser would try against this site in particular, besides the user's own name.
SITE_WORDS = ("stopsync", "stop", "sync", "atlas", "openstreetmap", "osm")
# zxcvbn keeps the user inputs of the current call in a module-level dictionary, so two calls at
# once (threads) could score a password against the other user's name.
_zxcvbn_lock = threading.Lock()
# Usernames with this prefix belong to OpenStreetMap accounts (app/services/osm_accounts.py); a local
# account cannot take one, so "osm:Anna" always is the mapper Anna on openstreetmap.org.
OSM_USERNAME_PREFIX = "osm:"
# The password hash of an account without a password (OpenStreetMap sign-in): not an Argon2 hash,
# so no password ever verifies against it (argon2 raises InvalidHashError), in this release or the last.
NO_PASSWORD_HASH = "!no-password"  # noqa: S105 - a marker, not a secret
TOKEN_PREFIX = "ssk_"  # noqa: S105 - a public prefix that makes leaked tokens easy to spot, not a secret
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both failures cost the same Argon2 work."""
    return _hasher.hash(secrets.token_hex(16))


class UserError(ValueError):
    """A user cannot be created or changed as asked; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.field = field
        self.details = details or {}


def _min_password_score() -> int:
    return int(current_app.config["SETTINGS"].PASSWORD_MIN_SCORE)


def password_strength(password: str, user_inputs: Iterable[str] = ()) -> dict[str, Any]:
    """zxcvbn's verdict on `password`: `score` (0-4), `warning` and `suggestions` (English text).

    `user_inputs` (the username, ...) count as known words, as do the site's own (`SITE_WORDS`).
    """
    words = [word for word in (*user_inputs, *SITE_WORDS) if word]
    with _zxcvbn_lock:
        result = zxcvbn(password[:PASSWORD_SCORED_CHARS], user_inputs=words)
    feedback = result.get("feedback") or {}
    return {
        "score": int(result["score"]),
        "warning": feedback.get("warning") or "",
        "suggestions": list(feedback.get("suggestions") or []),
    }


def check_password(password: str, username: str = "", min_score: int | None = None) -> None:
    """Raise `UserError` (field `password`) unless `password` is long enough and hard to guess.

    `min_score` defaults to the PASSWORD_MIN_SCORE setting. The message carries zxcvbn's advice.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password must have at most {MAX_PASSWORD_LENGTH} characters", field="password")
    needed = _min_password_score() if min_score is None else min_score
    # The whole name and its parts ("ruedi.mueller" -> "ruedi", "mueller"): guessers try both.
    name = username.strip()
    parts = [part for part in re.split(r"[\W_]+", name) if len(part) >= 3]
    verdict = password_strength(password, [name, *parts])
    if verdict["score"] >= needed:
        return
    advice = " ".join(text for text in [verdict["warning"], *verdict["suggestions"]] if text) or (
        "Use a few uncommon words together, or a password manager's random password."
    )
    raise UserError(
        f"password is too easy to guess (strength {verdict['score']} of 4, {needed} needed): {advice}",
        field="password",
        details={"min_score": needed, **verdict},
    )


def create_user(username: str, password: str, role: str = "editor") -> User:
    """Create a user; raises `UserError` for an empty or taken name, unknown role or weak password."""
    username = username.strip()
    if not username:
        raise UserError("username must not be empty", field="username")
    if len(username) > MAX_USERNAME_LENGTH:
        raise UserError(f"username must have at most {MAX_USERNAME_LENGTH} characters", field="username")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", field="role")
    if username.lower().startswith(OSM_USERNAME_PREFIX):
        raise UserError(
            f"usernames starting with {OSM_USERNAME_PREFIX!r} belong to OpenStreetMap sign-ins",
            field="username",
        )
    check_password(password, username)
    if get_by_username(username) is not None:
        raise UserError(f"user {username!r} already exists", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), role=role, is_active=True)
    db.session.add(user)
    db.session.flush()
    return user


def get_by_username(username: str) -> User | None:
    """The user with this exact name, or None."""
    return db.session.scalar(select(User).where(User.username == username))


def get_by_id(user_id: int) -> User | None:
    """The user with this id, or None."""
    return db.session.get(User, user_id)


def list_users() -> list[User]:
    """Every user, by name."""
    return list(db.session.scalars(select(User).order_by(User.username)))


def verify_password(user: User, password: str) -> bool:
    """Whether `password` is the user's password (Argon2id verification)."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(username: str, password: str) -> User | None:
    """The active user with this name and password, else None.

    Unknown users, inactive users and wrong passwords take the same Argon2 work and give the same
    answer, so neither the response nor its timing tells which usernames exist.
    """
    user = get_by_username(username.strip()) if username else None
    if user is None or user.osm_uid is not None or user.password_hash.startswith("!"):
        # Unknown, or an account without a password (OpenStreetMap sign-in): same work, same answer.
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
        return None
    if not verify_password(user, password) or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.flush()
    return user


def update_user(
    user: User, *, role: str | None = None, is_active: bool | None = None, password: str | None = None
) -> User:
    """Change role, active flag or password.

    A new password ends every browser session of the user; deactivating also revokes the API token.
    """
    if role is not None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}", field="role")
        if role == "admin" and user.osm_uid is not None:
            # An OpenStreetMap account is only as safe as openstreetmap.org's sign-in, which we do not
            # control; admins manage users and runs, so they keep local accounts with a password here.
            raise UserError(
                "OpenStreetMap accounts cannot be admins; admins are local accounts", field="role"
            )
        user.role = role
    if password is not None:
        if user.osm_uid is not None:
            raise UserError(
                "OpenStreetMap accounts sign in on openstreetmap.org and have no password", field="password"
            )
        check_password(password, user.username)
        user.password_hash = _hasher.hash(password)
        end_all_sessions(user)
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            user.api_token_hash = None
            end_all_sessions(user)
    db.session.flush()
    return user


def start_session(user: User, lifetime: dt.timedelta) -> str:
    """Record a browser sign-in lasting `lifetime`; returns its key, to keep in the signed cookie.

    Expired sessions of every user are deleted on the way, so the table holds only live ones.
    """
    db.session.execute(delete(UserSession).where(UserSession.expires_at <= func.now()))
    key = secrets.token_urlsafe(32)
    # Database time for both ends of the lifetime, so app clocks never disagree with the check.
    db.session.add(UserSession(user_id=user.id, key_hash=hash_token(key), expires_at=func.now() + lifetime))
    db.session.flush()
    return key


def user_for_session(user_id: int, key: str) -> User | None:
    """The active user of a live (not signed out, not expired) session, else None."""
    if not key or len(key) > 200:
        return None
    user = db.session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == user_id, UserSession.key_hash == hash_token(key), UserSession.expires_at > func.now()
        )
    )
    return user if user is not None and user.is_active else None


def end_session(key: str) -> None:
    """Sign-out: the session with this key stops working, whoever still holds a copy of the cookie."""
    db.session.execute(delete(UserSession).where(UserSession.key_hash == hash_token(key)))
    db.session.flush()


def end_all_sessions(user: User) -> None:
    """Every browser session of `user` stops working (password changed, account deactivated)."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    db.session.flush()


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which an API token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_api_token(user: User) -> str:
    """Give `user` a new API token (replacing any previous one) and return it: it is shown only once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    db.session.flush()
    return token


def revoke_api_token(user: User) -> None:
    """The user's API token stops working."""
    user.api_token_hash = None
    db.session.flush()


def user_for_token(token: str) -> User | None:
    """The active user owning this API token, else None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    user = db.session.scalar(select(User).where(User.api_token_hash == digest))
    # The lookup is by an indexed equality on a hash; compare again in constant time for good measure.
    if user is None or not user.api_token_hash or not hmac.compare_digest(user.api_token_hash, digest):
        return None
    return user if user.is_active else None


def has_role(user: User | None, role: str) -> bool:
    """Whether `user` holds `role` or a higher one."""
    if user is None or not user.is_active:
        return False
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK[role]


def user_as_dict(user: User) -> dict[str, Any]:
    """The public shape of a user (no hashes)."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "is_active": user.is_active,
        "auth_provider": user.auth_provider,
        "osm_uid": user.osm_uid,
        "has_api_token": user.api_token_hash is not None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }
