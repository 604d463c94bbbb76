"""Factories for API and page tests: users, sign-in, API tokens and snapshot rows.

Every factory commits, so the rows are visible to the test client's requests (another session).
Snapshot rows get sensible defaults; pass only what the test is about.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from flask.testing import FlaskClient
from geoalchemy2 import WKTElement
from sqlalchemy import text

from app.services import users as user_service
from database import db
from database.base import SRID_WGS84
from database.models import (
    Decision,
    DecisionEvent,
    GtfsRouteRow,
    GtfsRouteStop,
    Match,
    OsmRouteMember,
    OsmRouteRow,
    OsmStop,
    Problem,
    RegistryStopRow,
    User,
)

DEFAULT_PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


def _point(lon: float, lat: float) -> WKTElement:
    return WKTElement(f"POINT({lon} {lat})", srid=SRID_WGS84)


def search_name(name: str | None, side: str) -> None:
    """Record a stop's folded name in `search_names` as the import's derived tables would (search's
    fuzzy lookup reads it); `side` is its column, "in_registry" or "in_osm"."""
    if name is None:
        return
    db.session.execute(
        text(
            "INSERT INTO search_names (name_fold, in_registry, in_osm)"
            f" SELECT stopsync_fold(:name), {side == 'in_registry'}, {side == 'in_osm'}"
            f" ON CONFLICT (name_fold) DO UPDATE SET {side} = true"
        ),
        {"name": name},
    )
    db.session.commit()


def _hash(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# --- users -----------------------------------------------------------------------------------


def create_user(username: str | None = None, role: str = "editor", password: str = DEFAULT_PASSWORD) -> User:
    """A committed, active user."""
    user = user_service.create_user(username or f"user{next(_sequence)}", password, role)
    db.session.commit()
    return user


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's current session (starting one if needed)."""
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["csrf_token"]


def login(client: FlaskClient, username: str, password: str = DEFAULT_PASSWORD) -> str:
    """Sign the test client in through POST /login; returns the CSRF token for its writes."""
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert not response.headers["Location"].startswith("/login"), "sign-in failed"
    # Signing in starts a fresh session, so the token changes.
    return csrf_token(client)


def login_as(client: FlaskClient, role: str = "editor") -> tuple[User, str]:
    """Create a user with `role`, sign the client in; returns (user, csrf token)."""
    user = create_user(role=role)
    return user, login(client, user.username)


def api_token(user: User) -> str:
    """A fresh API token for `user` (committed)."""
    token = user_service.issue_api_token(user)
    db.session.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- snapshot rows ---------------------------------------------------------------------------


def atlas_stop(
    stop_id: str | None = None, *, lat: float = 47.1410, lon: float = 9.5209, **fields: Any
) -> RegistryStopRow:
    """A registry stop (defaults: somewhere in Vaduz)."""
    n = next(_sequence)
    values: dict[str, Any] = {
        "stop_id": stop_id or f"ch:1:sloid:{7000 + n}:0:1",
        "source": "atlas",
        "dataset": "traffic_point",
        "code": str(8500000 + n),
        "platform_code": None,
        "name": f"Stop {n}",
        "operator_code": "LIEmobil",
        "operator_name": "Verkehrsbetrieb LIECHTENSTEINmobil",
        "modes": "BUS",
        "country_code": "LI",
        "lat": lat,
        "lon": lon,
    }
    values.update(fields)
    stop = RegistryStopRow(**values, geom=_point(lon, lat), row_hash=_hash(values))
    db.session.add(stop)
    db.session.commit()
    search_name(stop.name, "in_registry")
    return stop


def osm_stop(
    osm_key: str | None = None,
    *,
    lat: float = 47.1411,
    lon: float = 9.5210,
    tags: dict | None = None,
    **fields: Any,
) -> OsmStop:
    """An OSM stop node (defaults: a bus platform next to the default registry stop)."""
    n = next(_sequence)
    key = osm_key or f"node/{1000000 + n}"
    osm_type, _, osm_id = key.partition("/")
    values: dict[str, Any] = {
        "osm_key": key,
        "osm_type": osm_type,
        "osm_id": int(osm_id),
        "version": 1,
        "name": f"Stop {n}",
        "public_transport": "platform",
        "highway": "bus_stop",
        "lat": lat,
        "lon": lon,
    }
    values.update(fields)
    stop = OsmStop(
        **values, tags=tags or {"name": values["name"]}, geom=_point(lon, lat), row_hash=_hash(values)
    )
    db.session.add(stop)
    db.session.commit()
    search_name(stop.name, "in_osm")
    return stop


def match(
    stop_id: str, osm_key: str, *, method: str = "exact_uic", distance_m: float = 5.0, **fields: Any
) -> Match:
    fields.setdefault("source", "atlas")
    row = Match(stop_id=stop_id, osm_key=osm_key, method=method, distance_m=distance_m, **fields)
    db.session.add(row)
    db.session.commit()
    return row


def problem(
    problem_type: str = "distance",
    *,
    stop_id: str | None = None,
    osm_key: str | None = None,
    priority: int = 2,
    lat: float = 47.1410,
    lon: float = 9.5209,
    identity: str | None = None,
    **fields: Any,
) -> Problem:
    """A problem row; `identity` defaults to the pipeline's `<type>:<stop_id or ->:<osm key or ->`."""
    values: dict[str, Any] = {
        "identity": identity or f"{problem_type}:{stop_id or '-'}:{osm_key or '-'}",
        "problem_type": problem_type,
        "priority": priority,
        "source": "atlas" if stop_id else None,
        "stop_id": stop_id,
        "osm_key": osm_key,
        "operator_code": "LIEmobil",
        "distance_m": None,
        "message": f"{problem_type} problem",
        "details": {},
        "lat": lat,
        "lon": lon,
    }
    values.update(fields)
    row = Problem(**values, geom=_point(lon, lat))
    db.session.add(row)
    db.session.commit()
    return row


def matched_pair(
    *,
    lat: float = 47.1410,
    lon: float = 9.5209,
    distance_m: float = 30.0,
    method: str = "exact_uic",
    **atlas: Any,
) -> tuple[RegistryStopRow, OsmStop, Match]:
    """A registry stop, an OSM stop a little north-east of it, and the match between them."""
    stop = atlas_stop(lat=lat, lon=lon, **atlas)
    node = osm_stop(lat=lat + 0.0002, lon=lon + 0.0002, name=stop.name)
    return stop, node, match(stop.stop_id, node.osm_key, method=method, distance_m=distance_m)


def decision(
    problem_identity: str, value: str = "not_a_problem", *, author: User | None = None, **fields: Any
):
    """A decision with its `created` history event, written directly (bypassing the service)."""
    row = Decision(
        problem_identity=problem_identity,
        problem_type=problem_identity.split(":", 1)[0],
        decision=value,
        note=fields.pop("note", ""),
        author_id=author.id if author else None,
        **fields,
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        DecisionEvent(decision_id=row.id, action="created", decision=value, author_id=row.author_id)
    )
    db.session.commit()
    return row


def osm_route(
    osm_id: int, members: list[str], *, route: str = "bus", roles: list[str] | None = None, **fields: Any
) -> None:
    """An OSM route relation with these member OSM keys in travel order (role `platform` unless
    `roles` says otherwise)."""
    db.session.add(OsmRouteRow(osm_id=osm_id, route=route, tags={}, **fields))
    for sequence, key in enumerate(members):
        role = roles[sequence] if roles else "platform"
        db.session.add(OsmRouteMember(route_id=osm_id, sequence=sequence, role=role, osm_key=key))
    db.session.commit()


def gtfs_route(route_id: str, directions: dict[str, list[tuple[str, str | None]]], **fields: Any) -> None:
    """A GTFS route with, per direction_id, its main itinerary as (stop name, resolved stop_id or None)."""
    values = {"route_key": route_id.lower(), "route_type": "700", **fields}
    db.session.add(GtfsRouteRow(route_id=route_id, **values))
    for direction_id, stops in directions.items():
        for sequence, (name, stop_id) in enumerate(stops):
            db.session.add(
                GtfsRouteStop(
                    route_id=route_id,
                    direction_id=direction_id,
                    sequence=sequence,
                    stop_id=f"{route_id}:{direction_id}:{sequence}",
                    stop_name=name,
                    registry_stop_id=stop_id,
                    trips=10,
                )
            )
    db.session.commit()
