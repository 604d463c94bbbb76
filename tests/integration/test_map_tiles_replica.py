"""Stored (pre-rendered) tiles are read outside the session, on a driver connection of their own:
they still follow the request's read routing (app/read_routing.py), from the replica when it is
bound and from the primary when the replica fails under the request."""

from __future__ import annotations

from sqlalchemy import text

from app.read_routing import READ_FALLBACK_HEADER, READ_SOURCE_HEADER
from database import db
from tests.integration.test_map_tiles import import_demo, tile_url, tilejson
from tests.integration.test_read_replica import (  # noqa: F401 - replica and standby: fixtures
    _pause,
    _replica_app,
    _wait_caught_up,
    replica,
    standby,
)


def test_a_stored_tile_is_read_from_the_replica_and_from_the_primary_when_the_replica_fails(
    make_app,
    standby,  # noqa: F811 - the fixture imported above
    stack,
):
    # The replica check is trusted for a minute: it dies between two checks, under a request.
    # No tile kept in Redis (TILE_CACHE_MAX_BYTES=0): every request reads the table through the routing.
    app = _replica_app(
        make_app,
        standby,
        DATABASE_READ_MAX_LAG_S=3600,
        DATABASE_READ_CHECK_INTERVAL_S=60,
        TILE_CACHE_MAX_BYTES=0,
    )
    with app.app_context():
        import_demo()
        z, x, y, mvt = db.session.execute(
            text("SELECT z, x, y, mvt FROM map_tiles WHERE z = 15 ORDER BY x, y LIMIT 1")
        ).one()
        db.session.remove()
    _wait_caught_up(stack, standby)
    client = app.test_client()
    url = tile_url(tilejson(client), z, x, y)
    response = client.get(url)
    assert (response.status_code, response.data, response.headers[READ_SOURCE_HEADER]) == (
        200,
        bytes(mvt),
        "replica",
    )

    # The primary's tile changes while the replica does not replay: the replica's bytes are served.
    _pause(standby)
    marker = b"\x1a\x00"
    with app.app_context():
        db.session.execute(
            text("UPDATE map_tiles SET mvt = :m WHERE z = :z AND x = :x AND y = :y"),
            {"m": marker, "z": z, "x": x, "y": y},
        )
        db.session.commit()
        db.session.remove()
    response = client.get(url)
    assert (response.data, response.headers[READ_SOURCE_HEADER]) == (bytes(mvt), "replica")

    # The replica dies: the lookup's failure is the one the fallback retries on the primary.
    standby.stop(mode="immediate")
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == marker
    assert (response.headers[READ_SOURCE_HEADER], response.headers[READ_FALLBACK_HEADER]) == (
        "primary",
        "error",
    )
