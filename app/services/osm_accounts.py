"""Accounts of mappers who sign in with OpenStreetMap: one `users` row per OSM user id.

The row is found by `osm_uid`, which never changes, and named "osm:" + the mapper's OSM display
name, refreshed at every sign-in: decisions refer to the row, so they show the current OSM name.
OSM display names are unique at any one time but can be changed and then taken by someone else;
a row still holding a name that another OSM account now signs in with is parked under
"osm:#<its uid>" ('#' never occurs in an OSM display name) until its owner signs in again.

These accounts have no password (`users.NO_PASSWORD_HASH`) and are never admins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.services import users as user_service
from database import db
from database.models import User

# openstreetmap.org allows display names of 3 to 255 characters; we accept 1 to 255.
MAX_DISPLAY_NAME_LENGTH = 255
# The largest value of the BIGINT column (OSM user ids are far below it).
MAX_OSM_UID = 2**63 - 1
# Never stored: control characters (NUL is refused by PostgreSQL and would be a 500), lone
# surrogates (not encodable as UTF-8) and the two non-characters openstreetmap.org itself refuses.
_UNUSABLE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class OsmAccountError(ValueError):
    """An OpenStreetMap sign-in cannot be completed; the message is shown to the person signing in."""


@dataclass(frozen=True)
class OsmIdentity:
    """Who openstreetmap.org says signed in."""

    uid: int
    display_name: str


def identity_from_user_details(payload: Any) -> OsmIdentity:
    """The identity in a body of GET /api/0.6/user/details.json (`{"user": {"id", "display_name"}}`).

    Raises `OsmAccountError` for anything else: the answer comes from outside and is checked like
    any input before it becomes a username.
    """
    user = payload.get("user") if isinstance(payload, dict) else None
    if not isinstance(user, dict):
        raise OsmAccountError("OpenStreetMap did not say who signed in.")
    uid = user.get("id")
    if isinstance(uid, bool) or not isinstance(uid, int) or not 0 < uid <= MAX_OSM_UID:
        raise OsmAccountError("OpenStreetMap answered with an account id we cannot use.")
    name = user.get("display_name")
    name = name.strip() if isinstance(name, str) else ""
    # A leading '#' would look like a parked name ("osm:#<uid>"); openstreetmap.org never allows '#'.
    if (
        not name
        or len(name) > MAX_DISPLAY_NAME_LENGTH
        or _UNUSABLE_IN_NAME.search(name)
        or name.startswith("#")
    ):
        raise OsmAccountError("OpenStreetMap answered with an account name we cannot use.")
    return OsmIdentity(uid=uid, display_name=name)


def username_for(display_name: str) -> str:
    """The StopSync username of the OSM account called `display_name`."""
    return user_service.OSM_USERNAME_PREFIX + display_name


def parked_username(osm_uid: int) -> str:
    """The username of an OSM account whose last known display name now belongs to someone else."""
    return f"{user_service.OSM_USERNAME_PREFIX}#{osm_uid}"


def get_by_osm_uid(osm_uid: int) -> User | None:
    """The user row of this OSM account, or None."""
    return db.session.scalar(select(User).where(User.osm_uid == osm_uid))


def sign_in(identity: OsmIdentity, role: str) -> User:
    """The active user row of this OSM account: created on the first sign-in with `role`, renamed
    to the current display name on later ones (the role an admin gave it since is kept).

    Raises `OsmAccountError` when the account was deactivated, or when a local account holds the
    name (possible only for local accounts created before "osm:" names were reserved). Flushes,
    never commits; on a concurrent first sign-in of the same account the flush raises
    IntegrityError, and the caller rolls back and calls again.
    """
    if role not in user_service.ROLES or role == "admin":
        raise ValueError(f"an OpenStreetMap sign-in cannot get the role {role!r}")
    username = username_for(identity.display_name)
    # Locked, so two sign-ins of one account at once do not both rename it.
    user = db.session.scalar(select(User).where(User.osm_uid == identity.uid).with_for_update())
    holder = user_service.get_by_username(username)
    if holder is not None and (user is None or holder.id != user.id):
        if holder.osm_uid is None:
            raise OsmAccountError(
                f"The name {username!r} belongs to a local account here. Ask an admin to rename it."
            )
        holder.username = parked_username(holder.osm_uid)
        db.session.flush()
    if user is None:
        user = User(
            username=username,
            password_hash=user_service.NO_PASSWORD_HASH,
            role=role,
            is_active=True,
            osm_uid=identity.uid,
            osm_display_name=identity.display_name,
        )
        db.session.add(user)
    else:
        user.username = username
        user.osm_display_name = identity.display_name
    db.session.flush()
    if not user.is_active:
        raise OsmAccountError("This account has been deactivated here. Ask an admin.")
    return user
