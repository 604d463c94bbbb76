"""Pre-rendered tiles (counted cells of zooms 0-13, stops of zooms 14-16) and the stored Web-Mercator
position: built by the import in staging, swapped with the snapshot, byte for byte the on-demand
rendering, served by the tile endpoint for unfiltered requests (filtered ones are rendered)."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import event, text

from app.extensions import redis_client
from app.services import tiles as tile_service
from database import db
from database.snapshot import map_tiles
from tests.integration.test_map_tiles import import_demo, publish_another_snapshot, tile_url, tilejson
from tests.mvt import decode


@pytest.fixture
def imported(app):
    import_demo()
    return app


def forget_cached_tiles() -> None:
    """Drop every tile kept in Redis (the import's copies too), so the next request reads map_tiles."""
    client = redis_client.client
    keys = list(client.scan_iter(match="stopsync:tiles:*:*"))
    if keys:
        client.delete(*keys)


def stored_tiles() -> list[tuple[int, int, int, bytes]]:
    rows = db.session.execute(text("SELECT z, x, y, mvt FROM map_tiles ORDER BY z, x, y")).all()
    return [(z, x, y, bytes(mvt)) for z, x, y, mvt in rows]


def test_the_import_prerenders_every_tile_holding_stops_of_every_zoom(imported):
    settings = imported.config["SETTINGS"]
    assert settings.TILE_PRERENDER_MAX_ZOOM == tile_service.MAX_ZOOM == 16
    stored = stored_tiles()
    zooms = {z for z, _x, _y, _mvt in stored}
    assert zooms == set(range(settings.TILE_PRERENDER_MAX_ZOOM + 1))
    published = db.session.scalar(text("SELECT max(run_id) FROM snapshot_publications"))
    assert set(db.session.scalars(text("SELECT DISTINCT run_id FROM map_tiles"))) == {published}
    # The run record reports each zoom's tiles and seconds.
    counts = db.session.scalar(text("SELECT counts FROM pipeline_runs WHERE id = :id"), {"id": published})
    per_zoom = counts["import"]["tiles_per_zoom"]
    assert {int(z): n for z, (n, _seconds) in per_zoom.items()} == {
        z: sum(1 for tile in stored if tile[0] == z) for z in zooms
    }
    stops = db.session.scalar(text("SELECT count(*) FROM map_features"))
    every_stop = sorted(db.session.scalars(text("SELECT kind || ':' || key FROM map_features")))
    for z in zooms:
        layers = [decode(mvt) for zz, _x, _y, mvt in stored if zz == z]
        if z < tile_service.STOPS_MIN_ZOOM:
            # Every stop is counted in exactly one stored tile of each zoom: none was left out.
            assert sum(c.properties["count"] for tile in layers for c in tile["cells"]["features"]) == stops
        else:
            # Every stop is one point in exactly one stored tile of each zoom.
            points = [
                f"{f.properties['kind']}:{f.properties['key']}"
                for t in layers
                for f in t["stops"]["features"]
            ]
            assert sorted(points) == every_stop, z
            assert all("cells" not in tile for tile in layers)


def test_a_prerendered_tile_is_byte_identical_to_the_on_demand_rendering(imported):
    stored = stored_tiles()
    # Both layers: the counted cells (one statement per tile) and the stops (one per zoom).
    assert {z for z, _x, _y, _mvt in stored} >= {0, 13, 14, 15, 16}
    unfiltered = tile_service.canonical(tile_service.StopFilters())
    for z, x, y, mvt in stored:
        assert tile_service.render_tile(z, x, y, unfiltered, prerendered=False) == mvt, (z, x, y)


def test_an_unfiltered_low_zoom_tile_is_served_from_the_prerendered_table(imported, client):
    z, x, y, _mvt = next(tile for tile in reversed(stored_tiles()) if tile[0] == 13)
    # Marked stored tile: the endpoint answers it without rendering (and a filtered view does not).
    marker = b"\x1a\x00"
    db.session.execute(
        text("UPDATE map_tiles SET mvt = :m WHERE z = :z AND x = :x AND y = :y"),
        {"m": marker, "z": z, "x": x, "y": y},
    )
    db.session.commit()
    forget_cached_tiles()  # the import's copies in Redis hold the unmarked bytes
    response = client.get(tile_url(tilejson(client), z, x, y))
    assert response.status_code == 200
    assert response.data == marker
    assert response.headers["ETag"] == f'"{tilejson(client)["snapshot"]}.all"'
    assert "immutable" in response.headers["Cache-Control"]
    filtered = client.get(tile_url(tilejson(client, "status=matched"), z, x, y))
    assert filtered.status_code == 200
    assert filtered.data != marker


def test_prerendered_tiles_of_an_older_snapshot_are_not_served(imported, client):
    """A table an importer left unswapped (one that does not know it) must not answer for newer data."""
    z, x, y, mvt = stored_tiles()[0]
    db.session.execute(text("UPDATE map_tiles SET run_id = run_id - 1"))
    db.session.execute(text("DELETE FROM map_features WHERE kind = 'osm'"))
    db.session.commit()
    unfiltered = tile_service.canonical(tile_service.StopFilters())
    served = tile_service.render_tile(z, x, y, unfiltered)
    assert served == tile_service.render_tile(z, x, y, unfiltered, prerendered=False)
    assert served != mvt


def test_the_stored_web_mercator_position_is_the_projected_position(imported):
    off = db.session.scalar(
        text(
            "SELECT count(*) FROM map_features"
            " WHERE NOT ST_Equals(geom_3857, ST_Transform(geom, 3857)) OR ST_SRID(geom_3857) <> 3857"
        )
    )
    assert off == 0
    assert db.session.scalar(text("SELECT count(*) FROM map_features")) > 0


def test_no_tiles_are_prerendered_with_the_setting_below_zero(app):
    from database.snapshot import derived

    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE map_tiles (LIKE public.map_tiles)")
            assert map_tiles.prerender(cur, -1, 1) == {}
            cur.execute("SELECT count(*) FROM map_tiles")
            assert cur.fetchone()[0] == 0
        raw.driver_connection.rollback()
    finally:
        raw.close()
    # The (then empty) table is still swapped with the snapshot: no older snapshot's tiles remain.
    assert "map_tiles" in derived.DERIVED_TABLES


def test_prerender_zoom_setting_is_validated():
    from app.config import ConfigError, load_settings

    development = {"STOPSYNC_ENV": "development"}
    with pytest.raises(ConfigError, match="TILE_PRERENDER_MAX_ZOOM"):
        load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "17"})
    with pytest.raises(ConfigError, match="TILE_PRERENDER_MAX_ZOOM"):
        load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "-2"})
    assert load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "-1"}).TILE_PRERENDER_MAX_ZOOM == -1
    assert load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "14"}).TILE_PRERENDER_MAX_ZOOM == 14
    assert load_settings(development).TILE_PRERENDER_MAX_ZOOM == 16


def test_a_failing_prerender_leaves_the_tiles_to_the_on_demand_path_and_the_import_succeeds(
    app, client, monkeypatch
):
    def failing(cur, max_zoom, run_id):
        # A real database error in the middle of the staging transaction (after a first tile).
        cur.execute("INSERT INTO map_tiles (z, x, y, mvt, run_id) VALUES (0, 0, 0, '\\x00', %s)", (run_id,))
        cur.execute("SELECT 1 / 0")

    monkeypatch.setattr(map_tiles, "prerender", failing)
    import_demo()
    assert stored_tiles() == []
    published = db.session.scalar(text("SELECT max(run_id) FROM snapshot_publications"))
    assert db.session.scalar(text("SELECT status FROM pipeline_runs WHERE id = :id"), {"id": published}) == (
        "succeeded"
    )
    unfiltered = tile_service.canonical(tile_service.StopFilters())
    response = client.get(tile_url(tilejson(client), 0, 0, 0))
    assert response.status_code == 200
    assert response.data == tile_service.render_tile(0, 0, 0, unfiltered, prerendered=False)
    assert decode(response.data)["cells"]["features"]


def test_an_unfiltered_stops_tile_is_served_from_the_prerendered_table_and_a_filtered_one_rendered(
    imported, client
):
    stored = {(z, x, y): mvt for z, x, y, mvt in stored_tiles() if z >= tile_service.STOPS_MIN_ZOOM}
    picks = [next((z, x, y) for (z, x, y) in stored if z == zoom) for zoom in (14, 15, 16)]
    # Nothing left to render from: an unfiltered tile can only come from map_tiles.
    db.session.execute(text("DELETE FROM map_features"))
    db.session.commit()
    unfiltered, filtered = tilejson(client), tilejson(client, "side=atlas")
    for z, x, y in picks:
        response = client.get(tile_url(unfiltered, z, x, y))
        assert response.status_code == 200
        assert response.data == stored[(z, x, y)]
        assert decode(response.data)["stops"]["features"]
        # A filtered view of the same tile is rendered now, from the (emptied) read model.
        rendered = client.get(tile_url(filtered, z, x, y))
        assert rendered.status_code == 200
        assert rendered.data == b""


def test_a_tile_without_stops_is_not_stored_and_is_answered_empty(imported, client):
    assert db.session.scalar(text("SELECT count(*) FROM map_tiles WHERE octet_length(mvt) = 0")) == 0
    # Zoom 14, the tile at the top left of the world: no stop of the demo data is there.
    assert not [tile for tile in stored_tiles() if tile[:3] == (14, 0, 0)]
    response = client.get(tile_url(tilejson(client), 14, 0, 0))
    assert response.status_code == 200
    assert response.data == b""


def _nudged(value: float, steps: int) -> float:
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


def test_a_stop_on_a_tile_edge_is_prerendered_in_the_tile_the_on_demand_path_shows_it_in(app):
    """Stops on and within a few ulps of a corner shared by four tiles (of zooms 14, 15 and 16 at once),
    and one beyond the Web-Mercator world: each is stored in exactly the tile that STOPS_SQL shows it
    in (the pre-render's own tile arithmetic rounds differently from ST_TileEnvelope there)."""
    radius = 6378137.0
    size = 2 * map_tiles.MERCATOR_HALF / 2**16
    x_edge = -map_tiles.MERCATOR_HALF + size * 34016  # a multiple of 4: an edge of zooms 14-16
    y_edge = map_tiles.MERCATOR_HALF - size * 23064
    lon = math.degrees(x_edge / radius)
    lat = math.degrees(2 * math.atan(math.exp(y_edge / radius)) - math.pi / 2)
    points = [(f"edge_{i}_{j}", _nudged(lon, i), _nudged(lat, j)) for i in range(-3, 4) for j in range(-3, 4)]
    points.append(("beyond_the_world", lon, 89.5))
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE map_features (LIKE public.map_features INCLUDING ALL)")
            cur.execute("CREATE TEMP TABLE map_tiles (LIKE public.map_tiles INCLUDING ALL)")
            for key, x, y in points:
                cur.execute(
                    "INSERT INTO map_features (kind, key, geom, matched, methods, problem_types,"
                    " problem_pairs, operators, transports, feature)"
                    " VALUES ('osm', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), false, '{}', '{}', '{}',"
                    " '{}', '{}', %s)",
                    (key, x, y, f'{{"type": "Feature", "properties": {{"name": "{key}"}}}}'),
                )
            # Both sides of the edge are represented after the projection (else the test proves nothing).
            cur.execute(
                "SELECT count(*) FILTER (WHERE ST_X(geom_3857) < %s),"
                " count(*) FILTER (WHERE ST_Y(geom_3857) > %s)"
                " FROM map_features WHERE key LIKE 'edge%%'",
                (x_edge, y_edge),
            )
            west, north = cur.fetchone()
            assert 0 < west < len(points) - 1
            assert 0 < north < len(points) - 1
            done = map_tiles.prerender(cur, 16, 1)
            assert {z: count for z, (count, _s) in done.items() if z >= 14} == {14: 4, 15: 4, 16: 4}
            cur.execute("SELECT z, x, y, mvt FROM map_tiles WHERE z >= 14 ORDER BY z, x, y")
            stored = cur.fetchall()
            on_demand = map_tiles.tile_sql(map_tiles.STOPS_SQL, tile="%(z)s, %(x)s, %(y)s")
            for zoom in (14, 15, 16):
                keys: list[str] = []
                for z, x, y, mvt in (tile for tile in stored if tile[0] == zoom):
                    cur.execute(on_demand, {"z": z, "x": x, "y": y})
                    assert bytes(cur.fetchone()[0]) == bytes(mvt), (z, x, y)
                    keys += [f.properties["key"] for f in decode(bytes(mvt))["stops"]["features"]]
                assert sorted(keys) == sorted(key for key, _x, _y in points if key != "beyond_the_world")
        raw.driver_connection.rollback()
    finally:
        raw.close()


def test_a_stored_tile_asked_for_after_a_newer_publication_is_redirected_not_cached_under_the_old_url(
    imported, client, redis_client
):
    z, x, y, _mvt = next(tile for tile in stored_tiles() if tile[0] == 16)
    old = tilejson(client)
    new_snapshot = publish_another_snapshot()
    # This process still believes the old snapshot is published (as within SNAPSHOT_CHECK_S after a
    # swap elsewhere): the stored-tile lookup reads the publication itself.
    tile_service._snapshot_memo[str(db.engine.url)] = (time.monotonic(), old["snapshot"])
    response = client.get(tile_url(old, z, x, y))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/api/v1/tiles/{new_snapshot}/{z}/{x}/{y}.mvt"
    assert redis_client.keys(f"stopsync:tiles:{old['snapshot']}:*") == []


def test_two_registries_holding_one_stop_id_are_in_the_same_order_in_stored_and_on_demand_tiles(app):
    """map_features is keyed (kind, source, key): a tile's feature order, which sets its bytes, must
    use the whole key, or two registries' stops with one id tie and the two paths may differ."""
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE map_features (LIKE public.map_features INCLUDING ALL)")
            cur.execute("CREATE TEMP TABLE map_tiles (LIKE public.map_tiles INCLUDING ALL)")
            # Inserted in the opposite order of the key, so a heap-order tie would show.
            for source, name in (("zhv", "Zweite"), ("atlas", "Erste")):
                cur.execute(
                    "INSERT INTO map_features (kind, source, key, geom, matched, methods, problem_types,"
                    " problem_pairs, operators, transports, feature)"
                    " VALUES ('atlas', %s, 'ch:1:sloid:7000', ST_SetSRID(ST_MakePoint(8.54, 47.37), 4326),"
                    " false, '{}', '{}', '{}', '{}', '{}', %s)",
                    (
                        source,
                        f'{{"type": "Feature", "properties": {{"name": "{name}", "source": "{source}"}}}}',
                    ),
                )
            map_tiles.prerender(cur, 16, 1)
            cur.execute("SELECT z, x, y, mvt FROM map_tiles WHERE z >= 14 ORDER BY z")
            stored = cur.fetchall()
            assert [z for z, *_ in stored] == [14, 15, 16]
            on_demand = map_tiles.tile_sql(map_tiles.STOPS_SQL, tile="%(z)s, %(x)s, %(y)s")
            for z, x, y, mvt in stored:
                cur.execute(on_demand, {"z": z, "x": x, "y": y})
                assert bytes(cur.fetchone()[0]) == bytes(mvt), (z, x, y)
                names = [f.properties["name"] for f in decode(bytes(mvt))["stops"]["features"]]
                assert names == ["Erste", "Zweite"]
        raw.driver_connection.rollback()
    finally:
        raw.close()


def test_a_prerendered_tile_missing_from_redis_is_read_from_the_table_without_a_transaction_and_kept(
    imported, client, redis_client
):
    z, x, y, mvt = next(tile for tile in stored_tiles() if tile[0] == 15)
    document = tilejson(client)
    forget_cached_tiles()  # as when the import's copies did not fit under the cap
    # The process's index of the zoom's tiles holding a stop, read once per zoom and snapshot.
    assert not tile_service.holds_no_stop(document["snapshot"], z, x, y)
    db.session.remove()
    # The first request after an import: one autocommit statement, no BEGIN/ROLLBACK round trips
    # (the session's transaction also made psycopg drop the prepared statement on every request).
    begun: list[object] = []

    def began(connection: object) -> None:
        begun.append(connection)

    event.listen(db.engine, "begin", began)
    try:
        for _ in range(3):
            response = client.get(tile_url(document, z, x, y))
            assert (response.status_code, response.data) == (200, mvt)
            db.session.remove()  # the request's end, as outside the test's app context
    finally:
        event.remove(db.engine, "begin", began)
    assert begun == []
    # Kept in Redis after the first read: the next requests were Redis hits.
    assert redis_client.keys(f"stopsync:tiles:{document['snapshot']}:{z}/{x}/{y}:all")
    assert tile_service.cached_bytes(document["snapshot"]) == len(mvt)


def test_a_prerendered_tile_is_served_with_redis_down(stack, make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with app.app_context():
        import_demo()
        z, x, y, mvt = next(tile for tile in stored_tiles() if tile[0] == 14)
        client = app.test_client()
        response = client.get(tile_url(tilejson(client), z, x, y))
        assert (response.status_code, response.data) == (200, mvt)
        db.session.remove()


def test_a_stored_tile_is_served_after_the_database_dropped_the_connection_it_was_read_on(imported, client):
    z, x, y, mvt = next(tile for tile in stored_tiles() if tile[0] == 16)
    document = tilejson(client)
    assert client.get(tile_url(document, z, x, y)).data == mvt
    db.session.commit()
    # A restart or an idle timeout ends every other connection of the app (the kept lookup
    # connections and the pool's): the next lookup notices and reads on a fresh one.
    ended = db.session.scalars(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name LIKE 'stopsync%'"
        )
    ).all()
    db.session.commit()
    assert ended
    assert all(ended)
    for _ in range(3):
        response = client.get(tile_url(document, z, x, y))
        assert (response.status_code, response.data) == (200, mvt)


def test_a_tile_without_stops_of_a_prerendered_zoom_is_answered_empty_without_rendering(
    imported, client, redis_client
):
    document = tilejson(client)
    # Zoom 16 and zoom 3, far from every demo stop: not stored, so empty (as rendering it gives).
    for z, x, y in ((16, 0, 0), (3, 0, 0)):
        assert not [tile for tile in stored_tiles() if tile[:3] == (z, x, y)]
        response = client.get(tile_url(document, z, x, y))
        assert (response.status_code, response.data) == (200, b"")
        assert tile_service.render_tile(z, x, y, tile_service.canonical(tile_service.StopFilters())) == b""
    # Known empty from the process's index of the tiles holding a stop: nothing looked up or stored.
    for z, x, y in ((16, 0, 0), (3, 0, 0)):
        assert tile_service.holds_no_stop(document["snapshot"], z, x, y)
        assert not redis_client.exists(f"stopsync:tiles:{document['snapshot']}:{z}/{x}/{y}:all")


def test_a_tile_of_a_zoom_not_prerendered_is_rendered_and_kept_in_redis(stack, make_app, redis_client):
    app = make_app(TILE_PRERENDER_MAX_ZOOM=12)
    with app.app_context():
        import_demo()
        assert {z for z, _x, _y, _mvt in stored_tiles()} == set(range(13))
        client = app.test_client()
        document = tilejson(client)
        # A zoom-13 tile holding stops: the zoom-12 tile's quarter with most of them.
        x, y = next(
            (x, y)
            for z, x12, y12, _mvt in stored_tiles()
            if z == 12
            for x, y in (
                (2 * x12, 2 * y12),
                (2 * x12 + 1, 2 * y12),
                (2 * x12, 2 * y12 + 1),
                (2 * x12 + 1, 2 * y12 + 1),
            )
            if tile_service.render_tile(13, x, y, tile_service.canonical(tile_service.StopFilters()))
        )
        response = client.get(tile_url(document, 13, x, y))
        assert response.status_code == 200
        assert decode(response.data)["cells"]["features"]
        assert redis_client.keys(f"stopsync:tiles:{document['snapshot']}:13/{x}/{y}:all")
        db.session.remove()


def test_the_import_copies_its_prerendered_tiles_into_redis_lowest_zooms_first(imported, redis_client):
    stored = stored_tiles()
    snapshot = tile_service.published_snapshot(fresh=True)
    for z, x, y, _mvt in stored:
        assert redis_client.exists(f"stopsync:tiles:{snapshot}:{z}/{x}/{y}:all"), (z, x, y)
    assert tile_service.cached_bytes(snapshot) == sum(len(mvt) for *_, mvt in stored)


def test_the_tiles_copied_after_an_import_stop_at_the_cap_and_can_be_switched_off(stack, make_app):
    sizes = []
    for settings in ({"TILE_CACHE_MAX_BYTES": 4000}, {"TILE_CACHE_WARM": False}):
        app = make_app(**settings)
        with app.app_context():
            import_demo()
            snapshot = tile_service.published_snapshot(fresh=True)
            pattern = f"stopsync:tiles:{snapshot}:*:all"
            kept = [key.rsplit(":", 2)[1] for key in redis_client.client.scan_iter(match=pattern)]
            zooms = {int(tile.split("/")[0]) for tile in kept}
            sizes.append((len(kept), tile_service.cached_bytes(snapshot), zooms))
            db.session.remove()
    (capped, capped_bytes, zooms), (off, off_bytes, _) = sizes
    assert capped > 0
    assert capped_bytes <= 4000
    # Lowest zooms first: the zooms copied are 0..k with no gap, and not all of them fit.
    assert zooms == set(range(max(zooms) + 1))
    assert max(zooms) < 16
    assert (off, off_bytes) == (0, 0)


def test_the_index_of_tiles_holding_a_stop_is_unknown_for_zooms_not_prerendered(stack, make_app):
    app = make_app(TILE_PRERENDER_MAX_ZOOM=12)
    with app.app_context():
        import_demo()
        snapshot = tile_service.published_snapshot(fresh=True)
        z, x, y = db.session.execute(text("SELECT z, x, y FROM map_tiles WHERE z = 12 LIMIT 1")).one()
        assert not tile_service.holds_no_stop(snapshot, z, x, y)
        assert tile_service.holds_no_stop(snapshot, 12, 0, 0)
        # Zoom 15 was not pre-rendered: nothing is known, so a tile of it is rendered (never "empty").
        assert not tile_service.holds_no_stop(snapshot, 15, 0, 0)
        # Nor for a snapshot that is not the published one.
        assert not tile_service.holds_no_stop("999-deadbeef", 12, 0, 0)
        db.session.remove()
