"""Who am I, and user management for admins."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api import bp
from app.api.schemas.endpoint import endpoint, validation_failed
from app.api.schemas.lines import Me, UserIdPath, UserInput, UserList, UserOne, UserPatch, UserToken
from app.api.schemas.stops import NoQuery
from app.auth import current_user, me_payload, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import users as user_service
from database.models import User

USER_PATH = {"user_id": UserIdPath}
USER_DOCS = {"user_id": "User id."}
MAX_ID = 2**31 - 1  # users.id is an int4


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


@bp.get("/me")
@endpoint("getMe", "users", ok=Me, errors=(401,))
def me(query: NoQuery) -> tuple[dict[str, Any], dict[str, str]]:
    """Who is signed in, and the CSRF token

    The signed-in user (or null) and the CSRF token that cookie-authenticated writes must send.
    """
    # Carries the CSRF token: never from a shared cache.
    return me_payload(), {"Cache-Control": "no-store"}


@bp.get("/users")
@require_role("admin")
@endpoint("listUsers", "users", ok=UserList, errors=(401, 403), role="admin")
def list_users(query: NoQuery) -> dict[str, Any]:
    """All users, by name"""
    return {"users": [user_service.user_as_dict(user) for user in user_service.list_users()]}


@bp.post("/users")
@require_role("admin")
@limiter.limit(_write_limit)
@endpoint("createUser", "users", ok=UserOne, status=201, errors=(401, 403, 409), role="admin")
def create_user(json: UserInput) -> tuple[dict[str, Any], int]:
    """Create a user"""
    username = json.username.strip()
    if user_service.get_by_username(username) is not None:
        raise ApiError(409, "conflict", f"User {username!r} already exists.", {"field": "username"})
    try:
        user = user_service.create_user(json.username, json.password, json.role)
    except user_service.UserError as exc:
        raise validation_failed(exc.field, str(exc), **exc.details) from None
    db.session.commit()
    return {"user": user_service.user_as_dict(user)}, 201


def _user_or_404(user_id: int) -> User:
    user = user_service.get_by_id(user_id) if user_id <= MAX_ID else None
    if user is None:
        raise ApiError(404, "not_found", f"No user with id {user_id}.")
    return user


@bp.patch("/users/<int:user_id>")
@require_role("admin")
@limiter.limit(_write_limit)
@endpoint(
    "updateUser",
    "users",
    ok=UserOne,
    errors=(401, 403, 404, 409),
    role="admin",
    path=USER_PATH,
    path_docs=USER_DOCS,
)
def update_user(user_id: int, json: UserPatch) -> dict[str, Any]:
    """Change a user's role, active flag or password

    Deactivating a user also revokes their API token; changing a password ends their sessions.
    Admins cannot demote or deactivate themselves (409).
    """
    user = _user_or_404(user_id)
    me_user = current_user()
    if me_user is not None and me_user.id == user.id and (json.is_active is False or json.role == "editor"):
        # The last door out of an admin-less system would be a database shell.
        raise ApiError(409, "conflict", "Admins cannot demote or deactivate themselves.")
    try:
        user_service.update_user(user, role=json.role, is_active=json.is_active, password=json.password)
    except user_service.UserError as exc:
        raise validation_failed(exc.field, str(exc), **exc.details) from None
    db.session.commit()
    return {"user": user_service.user_as_dict(user)}


@bp.post("/users/<int:user_id>/token")
@require_role("editor")
@limiter.limit(_write_limit)
@endpoint(
    "issueToken",
    "users",
    ok=UserToken,
    status=201,
    errors=(401, 403, 404, 409),
    role="editor",
    path=USER_PATH,
    path_docs=USER_DOCS,
)
def issue_token(user_id: int) -> tuple[dict[str, Any], int]:
    """Issue a new API token (shown once; replaces the previous one)

    Admins may issue tokens for anyone, other users only for themselves. Send it as
    `Authorization: Bearer <token>`.
    """
    me_user = current_user()
    assert me_user is not None  # require_role let only signed-in users through
    if me_user.id != user_id and not user_service.has_role(me_user, "admin"):
        raise ApiError(
            403, "forbidden", "Only admins can issue tokens for other users.", {"required_role": "admin"}
        )
    user = _user_or_404(user_id)
    if not user.is_active:
        raise ApiError(409, "conflict", "This user is deactivated.")
    token = user_service.issue_api_token(user)
    db.session.commit()
    return {"user": user_service.user_as_dict(user), "token": token}, 201
