"""The map's vector tiles: TileJSON naming the published snapshot, and the tiles of a snapshot.

Everything here is cacheable by URL. A tile URL names the snapshot and carries the filters in one
canonical order, so every client and every HTTP cache asks for, and keeps, the same URL:
`Cache-Control: public, max-age=TILE_MAX_AGE_S, immutable`, `ETag: "<snapshot>.<filter hash>"`.
A request for a snapshot that is no longer published is redirected (302, not cacheable) to the same
tile of the published snapshot, so an open map keeps drawing current data; it fetches the TileJSON
again on its next filter change.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, redirect, request

from app.api import bp, params
from app.api.filters import stop_filters
from app.services import map_view
from app.services import tiles as tile_service

MVT_MIMETYPE = "application/vnd.mapbox-vector-tile"


def _tile_query() -> tile_service.TileQuery:
    """The request's filters, validated (unknown parameters and values are a 400)."""
    params.reject_unknown(tile_service.FILTER_PARAMS)
    return tile_service.canonical(stop_filters())


def _not_modified(tag: str) -> bool:
    return request.if_none_match.contains(tag)


def _cacheable(response: Response, tag: str, max_age: int, *, immutable: bool) -> Response:
    response.set_etag(tag)
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    if immutable:
        response.cache_control.immutable = True
    return response


@bp.get("/tiles.json")
def tilejson():
    """TileJSON 3.0 for the map's filters: its `tiles` template names the published snapshot."""
    tile_query = _tile_query()
    settings = current_app.config["SETTINGS"]
    snapshot = tile_service.published_snapshot(fresh=True)
    tag = tile_service.etag(snapshot, tile_query)
    # Short-lived: after an import the next fetch names the new snapshot.
    if _not_modified(tag):
        return _cacheable(Response(status=304), tag, settings.TILEJSON_MAX_AGE_S, immutable=False)
    document = tile_service.tilejson(snapshot, tile_query, settings.PUBLIC_BASE_URL, map_view.data_bounds())
    return _cacheable(jsonify(document), tag, settings.TILEJSON_MAX_AGE_S, immutable=False)


@bp.get("/tiles/<snapshot>/<int:z>/<int:x>/<int:y>.mvt")
def tile(snapshot: str, z: int, x: int, y: int):
    """One vector tile (MVT) of a snapshot: `cells` with counts below zoom 14, `stops` from 14 on."""
    if not tile_service.SNAPSHOT_RE.fullmatch(snapshot):
        raise params.invalid(
            "snapshot", "Not a snapshot id: take the tiles template from GET /api/v1/tiles.json."
        )
    if z > tile_service.MAX_ZOOM:
        raise params.invalid("z", f"z must be between 0 and {tile_service.MAX_ZOOM}", value=z)
    if x >= 2**z or y >= 2**z:
        raise params.invalid("x", f"x and y must be below 2^z = {2**z} at zoom {z}", value=[x, y])
    tile_query = _tile_query()
    # One URL per tile and filter set: anything else is sent to it (and cached there).
    canonical_path = tile_service.tile_path(snapshot, tile_query, z, x, y)
    if request.query_string.decode("latin-1") != tile_query.query:
        return redirect(canonical_path, code=308)

    current = tile_service.published_snapshot()
    if snapshot != current:
        current = tile_service.published_snapshot(fresh=True)
    if snapshot != current:
        response = jsonify(
            {
                "error": {
                    "status": 302,
                    "code": "snapshot_not_published",
                    "message": f"Snapshot {snapshot} is no longer published; this is the same tile of "
                    f"{current}. Fetch GET /api/v1/tiles.json again for the current tiles template.",
                    "details": {
                        "requested": snapshot,
                        "published": current,
                        "tilejson": "/api/v1/tiles.json",
                    },
                }
            }
        )
        response.status_code = 302
        response.headers["Location"] = tile_service.tile_path(current, tile_query, z, x, y)
        response.cache_control.no_cache = True
        return response

    settings = current_app.config["SETTINGS"]
    tag = tile_service.etag(snapshot, tile_query)
    if _not_modified(tag):
        return _cacheable(Response(status=304), tag, settings.TILE_MAX_AGE_S, immutable=True)
    data = tile_service.cached_tile(snapshot, z, x, y, tile_query)
    return _cacheable(Response(data, mimetype=MVT_MIMETYPE), tag, settings.TILE_MAX_AGE_S, immutable=True)
