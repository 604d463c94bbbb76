"""Pre-rendered low-zoom tiles and the stored Web-Mercator position: built by the import in staging,
swapped with the snapshot, byte for byte the on-demand rendering, served by the tile endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.services import tiles as tile_service
from database import db
from database.snapshot import map_tiles
from tests.integration.test_map_tiles import import_demo, tile_url, tilejson
from tests.mvt import decode


@pytest.fixture
def imported(app):
    import_demo()
    return app


def stored_tiles() -> list[tuple[int, int, int, bytes]]:
    rows = db.session.execute(text("SELECT z, x, y, mvt FROM map_tiles ORDER BY z, x, y")).all()
    return [(z, x, y, bytes(mvt)) for z, x, y, mvt in rows]


def test_the_import_prerenders_every_low_zoom_tile_holding_stops(imported):
    settings = imported.config["SETTINGS"]
    stored = stored_tiles()
    zooms = {z for z, _x, _y, _mvt in stored}
    assert zooms == set(range(settings.TILE_PRERENDER_MAX_ZOOM + 1))
    published = db.session.scalar(text("SELECT max(run_id) FROM snapshot_publications"))
    assert set(db.session.scalars(text("SELECT DISTINCT run_id FROM map_tiles"))) == {published}
    stops = db.session.scalar(text("SELECT count(*) FROM map_features"))
    for z in zooms:
        # Every stop is counted in exactly one stored tile of each zoom: none was left out.
        counted = sum(
            cell.properties["count"]
            for zz, _x, _y, mvt in stored
            if zz == z
            for cell in decode(mvt)["cells"]["features"]
        )
        assert counted == stops, z


def test_a_prerendered_tile_is_byte_identical_to_the_on_demand_rendering(imported):
    stored = stored_tiles()
    assert stored
    unfiltered = tile_service.canonical(tile_service.StopFilters())
    for z, x, y, mvt in stored:
        assert tile_service.render_tile(z, x, y, unfiltered, prerendered=False) == mvt, (z, x, y)


def test_an_unfiltered_low_zoom_tile_is_served_from_the_prerendered_table(imported, client):
    z, x, y, _mvt = stored_tiles()[-1]
    # Marked stored tile: the endpoint answers it without rendering (and a filtered view does not).
    marker = b"\x1a\x00"
    db.session.execute(
        text("UPDATE map_tiles SET mvt = :m WHERE z = :z AND x = :x AND y = :y"),
        {"m": marker, "z": z, "x": x, "y": y},
    )
    db.session.commit()
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
    assert derived.DERIVED_TABLES == ("map_features", "map_tiles")


def test_prerender_zoom_setting_is_validated():
    from app.config import ConfigError, load_settings

    development = {"STOPSYNC_ENV": "development"}
    with pytest.raises(ConfigError, match="TILE_PRERENDER_MAX_ZOOM"):
        load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "14"})
    assert load_settings({**development, "TILE_PRERENDER_MAX_ZOOM": "-1"}).TILE_PRERENDER_MAX_ZOOM == -1


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
