"""Users, passwords and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are random strings shown once; only
their SHA-256 is stored (`users.api_token_hash`), so a leaked database does not leak usable tokens.
A fast hash is right for tokens (unlike passwords): they carry 256 bits of entropy, nothing to guess.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from database import db
from database.models import User

ROLES = ("editor", "admin")
# Higher rank includes the rights of every lower one.
ROLE_RANK = {"editor": 1, "admin": 2}
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 80
TOKEN_PREFIX = "ssk_"  # noqa: S105 - a public prefix that makes leaked tokens easy to spot, not a secret
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both failures cost the same Argon2 work."""
    return _hasher.hash(secrets.token_hex(16))


class UserError(ValueError):
    """A user cannot be created or changed as asked."""


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")


def create_user(username: str, password: str, role: str = "editor") -> User:
    """Create a user; raises `UserError` for an empty or taken name, unknown role or weak password."""
    username = username.strip()
    if not username:
        raise UserError("username must not be empty")
    if len(username) > MAX_USERNAME_LENGTH:
        raise UserError(f"username must have at most {MAX_USERNAME_LENGTH} characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if get_by_username(username) is not None:
        raise UserError(f"user {username!r} already exists")
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
    if user is None:
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
    """Change role, active flag or password. Deactivating also revokes the API token."""
    if role is not None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        user.role = role
    if password is not None:
        _check_password(password)
        user.password_hash = _hasher.hash(password)
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            user.api_token_hash = None
    db.session.flush()
    return user


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
        "has_api_token": user.api_token_hash is not None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }
