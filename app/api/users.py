"""Who am I, and user management for admins."""

from __future__ import annotations

from flask import current_app, jsonify

from app.api import bp, params
from app.auth import current_user, me_payload, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import users as user_service


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


@bp.get("/me")
def me():
    """The signed-in user (or null) and the CSRF token that cookie-authenticated writes must send."""
    response = jsonify(me_payload())
    # Carries the CSRF token: never from a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/users")
@require_role("admin")
def list_users():
    """Every user, by name (admins only)."""
    return jsonify({"users": [user_service.user_as_dict(user) for user in user_service.list_users()]})


@bp.post("/users")
@require_role("admin")
@limiter.limit(_write_limit)
def create_user():
    """Create a user from `{username, password, role}` (admins only)."""
    body = params.json_body(required=("username", "password"), allowed=("username", "password", "role"))
    username = params.body_str(body, "username", max_length=user_service.MAX_USERNAME_LENGTH, required=True)
    password = params.body_str(body, "password", max_length=user_service.MAX_PASSWORD_LENGTH, required=True)
    role = params.body_str(body, "role", max_length=20) or "editor"
    assert username is not None
    assert password is not None
    if role not in user_service.ROLES:
        raise params.body_error("role", f"role must be one of {', '.join(user_service.ROLES)}")
    if user_service.get_by_username(username.strip()) is not None:
        raise ApiError(409, "conflict", f"User {username.strip()!r} already exists.", {"field": "username"})
    try:
        user = user_service.create_user(username, password, role)
    except user_service.UserError as exc:
        raise params.body_error(exc.field, str(exc), **exc.details) from None
    db.session.commit()
    return jsonify({"user": user_service.user_as_dict(user)}), 201


MAX_ID = 2**31 - 1  # users.id is an int4


def _user_or_404(user_id: int):
    user = user_service.get_by_id(user_id) if user_id <= MAX_ID else None
    if user is None:
        raise ApiError(404, "not_found", f"No user with id {user_id}.")
    return user


@bp.patch("/users/<int:user_id>")
@require_role("admin")
@limiter.limit(_write_limit)
def update_user(user_id: int):
    """Change `role`, `is_active` or `password` of a user (admins only)."""
    body = params.json_body(allowed=("role", "is_active", "password"))
    user = _user_or_404(user_id)
    role = params.body_str(body, "role", max_length=20)
    password = params.body_str(body, "password", max_length=user_service.MAX_PASSWORD_LENGTH)
    is_active = body.get("is_active")
    if is_active is not None and not isinstance(is_active, bool):
        raise params.body_error("is_active", "is_active must be true or false")
    me_user = current_user()
    if me_user is not None and me_user.id == user.id and (is_active is False or role == "editor"):
        # The last door out of an admin-less system would be a database shell.
        raise ApiError(409, "conflict", "Admins cannot demote or deactivate themselves.")
    try:
        user_service.update_user(user, role=role, is_active=is_active, password=password)
    except user_service.UserError as exc:
        raise params.body_error(exc.field, str(exc), **exc.details) from None
    db.session.commit()
    return jsonify({"user": user_service.user_as_dict(user)})


@bp.post("/users/<int:user_id>/token")
@require_role("editor")
@limiter.limit(_write_limit)
def issue_token(user_id: int):
    """A new API token for a user (admins: anyone; others: themselves). Shown once; replaces the old one."""
    me_user = current_user()
    assert me_user is not None
    if me_user.id != user_id and not user_service.has_role(me_user, "admin"):
        raise ApiError(
            403, "forbidden", "Only admins can issue tokens for other users.", {"required_role": "admin"}
        )
    user = _user_or_404(user_id)
    if not user.is_active:
        raise ApiError(409, "conflict", "This user is deactivated.")
    token = user_service.issue_api_token(user)
    db.session.commit()
    return jsonify({"user": user_service.user_as_dict(user), "token": token}), 201
