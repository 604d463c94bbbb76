"""The map's vector tiles: keyed by snapshot, cacheable, filtered, aggregated below zoom 14 with correct
totals, kept in Redis under a size cap and dropped when a new snapshot is published."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from app.services import tiles as tile_service
from database import db
from runs.stages import RunOptions, run_pipeline
from tests.factories import login_as
from tests.mvt import decode

DEMO = Path(__file__).resolve().parents[2] / "data/demo"


@pytest.fixture
def imported(app):
    import_demo()
    return app


def tile_range(z: int) -> tuple[range, range]:
    """x and y of every tile at zoom z covering the stops in map_features."""
    west, south, east, north = db.session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
            " FROM (SELECT ST_Extent(geom) e FROM map_features) s"
        )
    ).one()

    def tx(lon: float) -> int:
        return int((lon + 180) / 360 * 2**z)

    def ty(lat: float) -> int:
        r = math.radians(lat)
        return int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * 2**z)

    return range(tx(west), tx(east) + 1), range(ty(north), ty(south) + 1)


def tilejson(client, query: str = "") -> dict:
    response = client.get("/api/v1/tiles.json" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def tile_url(document: dict, z: int, x: int, y: int) -> str:
    template = document["tiles"][0].removeprefix("http://localhost:5001")
    return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))


def fetch_tile(client, document: dict, z: int, x: int, y: int) -> dict:
    response = client.get(tile_url(document, z, x, y))
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return decode(response.data)


def stop_count(where: str = "true") -> int:
    return db.session.scalar(text(f"SELECT count(*) FROM map_features f WHERE {where}"))


def publish_another_snapshot() -> str:
    """A later publication (what a swap writes), without the cost of a second import."""
    db.session.execute(
        text(
            "INSERT INTO snapshot_publications (run_id, run_uuid)"
            " SELECT coalesce(max(run_id), 0) + 1, :uuid FROM snapshot_publications"
        ),
        {"uuid": str(uuid.uuid4())},
    )
    db.session.commit()
    return tile_service.published_snapshot(fresh=True)


def import_demo() -> None:
    summary = run_pipeline(
        RunOptions(trigger="cli", source_dir=DEMO, offline=True, today=dt.date(2025, 8, 2)),
        progress=lambda *args: None,
    )
    assert summary.status == "succeeded", summary.error
    db.session.rollback()


def test_tilejson_names_the_published_snapshot_in_its_tiles_template(imported, client):
    run_id = db.session.scalar(text("SELECT max(id) FROM pipeline_runs WHERE status = 'succeeded'"))
    run_uuid = db.session.scalar(text("SELECT run_uuid FROM pipeline_runs WHERE id = :id"), {"id": run_id})
    document = tilejson(client)
    assert document["tilejson"] == "3.0.0"
    assert document["snapshot"] == f"{run_id}-{run_uuid.replace('-', '')[:8]}"
    assert document["tiles"] == [
        f"http://localhost:5001/api/v1/tiles/{document['snapshot']}/{{z}}/{{x}}/{{y}}.mvt"
    ]
    assert {layer["id"] for layer in document["vector_layers"]} == {"cells", "stops"}
    assert document["stops_min_zoom"] == tile_service.STOPS_MIN_ZOOM


def test_tilejson_puts_filters_in_one_canonical_order(imported, client):
    a = tilejson(client, "transport=TRAIN,BUS&status=unmatched&priority=2,1")
    b = tilejson(client, "priority=1,2&status=unmatched&transport=BUS,TRAIN")
    assert a["tiles"] == b["tiles"]
    assert a["tiles"][0].endswith(".mvt?priority=1,2&status=unmatched&transport=BUS,TRAIN")
    # Both statuses ticked is no filter at all: the same URL as none.
    assert tilejson(client, "status=matched,unmatched")["tiles"] == tilejson(client)["tiles"]


def test_tile_is_immutable_with_the_snapshot_as_etag_and_answers_304(imported, client):
    document = tilejson(client, "side=atlas")
    url = tile_url(document, 10, 539, 359)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["ETag"].strip('"').startswith(document["snapshot"] + ".")
    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control
    assert "immutable" in cache_control
    assert "max-age=604800" in cache_control
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert "immutable" in again.headers["Cache-Control"]
    # Another filter set is another ETag.
    other = client.get(tile_url(tilejson(client, "side=osm"), 10, 539, 359))
    assert other.headers["ETag"] != response.headers["ETag"]


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("", "true"),
        ("status=unmatched", "NOT f.matched"),
        ("side=osm", "f.kind = 'osm'"),
        (
            "priority=1",
            "EXISTS (SELECT 1 FROM unnest(f.problem_pairs) pp WHERE split_part(pp, ':', 2) = '1')",
        ),
        ("transport=BUS", "'BUS' = ANY(f.transports)"),
    ],
)
@pytest.mark.parametrize("z", [0, 7, 11, 13])
def test_cell_counts_of_every_tile_add_up_to_the_stop_count_for_the_same_filters(
    imported, client, query, where, z
):
    document = tilejson(client, query)
    xs, ys = tile_range(z)
    total = atlas = matched = 0
    for x in xs:
        for y in ys:
            layers = fetch_tile(client, document, z, x, y)
            assert "stops" not in layers
            for feature in layers.get("cells", {"features": []})["features"]:
                p = feature.properties
                assert p["count"] == p["atlas"] + p["osm"] == p["matched"] + p["unmatched"]
                assert p["with_problems"] == p["p1"] + p["p2"] + p["p3"]
                total += p["count"]
                atlas += p["atlas"]
                matched += p["matched"]
    assert total == stop_count(where) > 0
    assert atlas == stop_count(f"{where} AND f.kind = 'atlas'")
    assert matched == stop_count(f"{where} AND f.matched")


def test_stop_tiles_hold_every_stop_once_with_what_the_popup_shows(imported, client):
    document = tilejson(client, "status=matched")
    xs, ys = tile_range(tile_service.STOPS_MIN_ZOOM)
    seen: list[str] = []
    for x in xs:
        for y in ys:
            layers = fetch_tile(client, document, tile_service.STOPS_MIN_ZOOM, x, y)
            assert "cells" not in layers
            for feature in layers.get("stops", {"features": []})["features"]:
                p = feature.properties
                assert p["status"] == "matched"
                assert p["partner_keys"].startswith("[")
                seen.append(f"{p['kind']}:{p['key']}")
    assert len(seen) == len(set(seen))
    expected = db.session.scalars(text("SELECT kind || ':' || key FROM map_features WHERE matched")).all()
    assert sorted(seen) == sorted(expected)


def test_unknown_or_invalid_tile_parameters_are_a_400(imported, client):
    snapshot = tilejson(client)["snapshot"]
    for query in ("bbox=9,47,10,48", "colour=red", "status=lost", "priority=9", "transport=ZEPPELIN"):
        response = client.get(f"/api/v1/tiles/{snapshot}/10/539/359.mvt?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert client.get("/api/v1/tiles.json?bbox=9,47,10,48").status_code == 400
    assert client.get(f"/api/v1/tiles/{snapshot}/17/1/1.mvt").status_code == 400
    assert client.get(f"/api/v1/tiles/{snapshot}/2/4/1.mvt").status_code == 400
    assert client.get("/api/v1/tiles/not%20a%20snapshot/2/1/1.mvt").status_code == 400


def test_filters_in_another_order_are_redirected_to_the_one_cacheable_url(imported, client):
    snapshot = tilejson(client)["snapshot"]
    response = client.get(f"/api/v1/tiles/{snapshot}/10/539/359.mvt?status=unmatched&side=osm")
    assert response.status_code == 308
    assert response.headers["Location"].endswith(
        f"/api/v1/tiles/{snapshot}/10/539/359.mvt?side=osm&status=unmatched"
    )


def test_a_tile_of_a_snapshot_no_longer_published_redirects_to_the_published_one(imported, client):
    old = tilejson(client, "side=atlas")
    new_snapshot = publish_another_snapshot()
    assert new_snapshot != old["snapshot"]
    response = client.get(tile_url(old, 10, 539, 359))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/api/v1/tiles/{new_snapshot}/10/539/359.mvt?side=atlas"
    assert "no-cache" in response.headers["Cache-Control"]
    assert response.get_json()["error"]["code"] == "snapshot_not_published"
    followed = client.get(response.headers["Location"])
    assert followed.status_code == 200
    assert followed.headers["ETag"].strip('"').startswith(new_snapshot + ".")


def test_a_tile_rendered_after_a_newer_publication_is_redirected_not_cached_under_the_old_url(
    imported, client, redis_client
):
    old = tilejson(client, "side=osm")
    new_snapshot = publish_another_snapshot()
    # This process still believes the old snapshot is published (its memo, as within
    # SNAPSHOT_CHECK_S after a swap in another process): the render reads the publication itself.
    tile_service._snapshot_memo[str(db.engine.url)] = (time.monotonic(), old["snapshot"])
    response = client.get(tile_url(old, 10, 539, 359))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/api/v1/tiles/{new_snapshot}/10/539/359.mvt?side=osm"
    assert redis_client.keys(f"stopsync:tiles:{old['snapshot']}:*") == []


def test_rendered_tiles_are_kept_in_redis_and_dropped_when_a_new_snapshot_is_published(
    imported, client, redis_client
):
    # A filtered tile: rendered on demand (unfiltered ones are read from the pre-rendered table).
    document = tilejson(client, "side=atlas")
    snapshot = document["snapshot"]
    warmed = tile_service.cached_bytes(snapshot)  # the import copied the pre-rendered tiles
    first = client.get(tile_url(document, 10, 539, 359)).data
    keys = redis_client.keys(f"stopsync:tiles:{snapshot}:*")
    query = tile_service.TileQuery(tile_service.StopFilters(), document["tiles"][0].rpartition("?")[2])
    assert tile_service.tile_key(snapshot, 10, 539, 359, query) in keys
    assert tile_service.cached_bytes(snapshot) == warmed + len(first) > warmed
    # Served from Redis: the same bytes even with map_features emptied underneath.
    db.session.execute(text("DELETE FROM map_features"))
    db.session.commit()
    assert client.get(tile_url(document, 10, 539, 359)).data == first

    new_snapshot = publish_another_snapshot()
    assert redis_client.keys(f"stopsync:tiles:{snapshot}:*") == []
    assert redis_client.get("stopsync:tiles:current") == new_snapshot
    assert decode(client.get(tile_url(tilejson(client, "side=atlas"), 10, 539, 359)).data) == {}


def test_the_next_import_drops_the_older_snapshots_tiles_at_its_swap(imported, client, redis_client):
    document = tilejson(client, "side=osm")  # filtered: rendered, so kept in Redis
    client.get(tile_url(document, 10, 539, 359))
    assert redis_client.keys(f"stopsync:tiles:{document['snapshot']}:*")
    import_demo()
    # No tile request since: the post-swap hook dropped them, and names the new snapshot.
    assert redis_client.keys(f"stopsync:tiles:{document['snapshot']}:*") == []
    new_snapshot = tile_service.published_snapshot(fresh=True)
    assert new_snapshot != document["snapshot"]
    assert redis_client.get("stopsync:tiles:current") == new_snapshot


def test_tile_cache_stops_storing_at_its_size_cap(stack, make_app, redis_client):
    app = make_app(TILE_CACHE_MAX_BYTES=1000)
    with app.app_context():
        import_demo()
        client = app.test_client()
        # Filtered tiles: rendered and kept in Redis (unfiltered ones are read from map_tiles).
        document = tilejson(client, "status=matched")
        snapshot = document["snapshot"]
        sizes = []
        xs, ys = tile_range(12)
        for x in xs:
            for y in ys:
                sizes.append(len(client.get(tile_url(document, 12, x, y)).data))
        assert sum(sizes) > 1000  # more than the cap was served...
        used = tile_service.cached_bytes(snapshot)
        assert 0 < used <= 1000  # ...and only what fits was kept
        stored = [k for k in redis_client.keys(f"stopsync:tiles:{snapshot}:*") if not k.endswith(":bytes")]
        assert sum(redis_client.strlen(k) for k in stored) == used
        db.session.remove()


def test_a_signed_in_visitors_tile_is_the_shared_answer_without_vary_cookie(imported, client):
    login_as(client, "editor")
    document = tilejson(client, "")
    response = client.get(tile_url(document, 10, 539, 359))
    assert response.status_code == 200
    # Reading the session would add `Vary: Cookie`: every proxy or CDN would keep a copy per visitor.
    assert "cookie" not in response.headers.get("Vary", "").lower()
    assert "Set-Cookie" not in response.headers
    assert "public" in response.headers["Cache-Control"]
