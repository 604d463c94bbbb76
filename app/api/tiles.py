"""The map's vector tiles: TileJSON naming the published snapshot, and the tiles of a snapshot.

Everything here is cacheable by URL. A tile URL names the snapshot and carries the filters in one
canonical order, so every client and every HTTP cache asks for, and keeps, the same URL:
`Cache-Control: public, max-age=TILE_MAX_AGE_S, immutable`, `ETag: "<snapshot>.<filter hash>"`.
A request for a snapshot that is no longer published is redirected (302, not cacheable) to the same
tile of the published snapshot, so an open map keeps drawing current data; it fetches the TileJSON
again on its next filter change.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import Response, current_app, jsonify, redirect, request
from pydantic import Field
from werkzeug.wrappers import Response as BaseResponse

from app.api import bp
from app.api.schemas.base import QueryInt
from app.api.schemas.endpoint import endpoint, invalid_parameter
from app.api.schemas.lines import TileJson
from app.api.schemas.stops import MapFilterQuery
from app.services import map_view
from app.services import tiles as tile_service

MVT_MIMETYPE = "application/vnd.mapbox-vector-tile"
_STRING = {"schema": {"type": "string"}}
CACHE_HEADERS = {
    "ETag": {"description": "`<snapshot>.<filter hash>`", **_STRING},
    "Cache-Control": {"description": "public, max-age, and `immutable` on a tile", **_STRING},
}
NOT_MODIFIED = {"description": "Not modified (If-None-Match held the current ETag)."}
TILE_PATH = {
    "snapshot": Annotated[str, Field(pattern=rf"^{tile_service.SNAPSHOT_RE.pattern}$")],
    "z": Annotated[int, QueryInt(0, tile_service.MAX_ZOOM)],
    "x": Annotated[int, QueryInt(0, 2**tile_service.MAX_ZOOM - 1)],
    "y": Annotated[int, QueryInt(0, 2**tile_service.MAX_ZOOM - 1)],
}
TILE_PATH_DOCS = {
    "snapshot": "Snapshot id, from the TileJSON's `tiles` template.",
    "z": "Zoom.",
    "x": "Column.",
    "y": "Row (XYZ, north first).",
}


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
@endpoint("getTileJson", "map", ok=TileJson, headers={200: CACHE_HEADERS}, responses={304: NOT_MODIFIED})
def tilejson(query: MapFilterQuery) -> Response:
    """TileJSON of the map's vector tiles for the published snapshot

    What the map loads first. Short-lived (`TILEJSON_MAX_AGE_S`): after an import it names the new
    snapshot. Unknown parameters are a 400.
    """
    tile_query = tile_service.canonical(query.filters())
    settings = current_app.config["SETTINGS"]
    snapshot = tile_service.published_snapshot(fresh=True)
    tag = tile_service.etag(snapshot, tile_query)
    # Short-lived: after an import the next fetch names the new snapshot.
    if _not_modified(tag):
        return _cacheable(Response(status=304), tag, settings.TILEJSON_MAX_AGE_S, immutable=False)
    document = tile_service.tilejson(snapshot, tile_query, settings.PUBLIC_BASE_URL, map_view.data_bounds())
    return _cacheable(jsonify(document), tag, settings.TILEJSON_MAX_AGE_S, immutable=False)


TILE_RESPONSES: dict[int, dict[str, Any]] = {
    200: {
        "description": f"Mapbox vector tile, extent {tile_service.EXTENT}. Below zoom "
        f"{tile_service.STOPS_MIN_ZOOM} layer `cells`: the stops counted on a "
        f"{tile_service.CELLS_PER_SIDE}x{tile_service.CELLS_PER_SIDE} grid per tile (count, atlas, osm, "
        "matched, unmatched, with_problems, p1, p2, p3; every stop in exactly one cell); from zoom "
        f"{tile_service.STOPS_MIN_ZOOM} on layer `stops`: one point per stop with the properties of "
        "GET /stops (lists as JSON text). Empty body: no stops.",
        "content": {MVT_MIMETYPE: {"schema": {"type": "string"}}},
        "headers": CACHE_HEADERS,
    },
    302: {
        "description": "The snapshot is no longer published: `Location` is the same tile of the "
        "published one (not cacheable; the body is an error object with code "
        "`snapshot_not_published`). Fetch the TileJSON again.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    304: {"description": "Not modified (If-None-Match held the ETag)."},
    308: {"description": "The filters were not in canonical order: `Location` is the one URL."},
}


@bp.get("/tiles/<snapshot>/<int:z>/<int:x>/<int:y>.mvt")
@endpoint("getTile", "map", errors=(404,), responses=TILE_RESPONSES, path=TILE_PATH, path_docs=TILE_PATH_DOCS)
def tile(snapshot: str, z: int, x: int, y: int, query: MapFilterQuery) -> BaseResponse:
    """One vector tile (MVT) of a snapshot

    `cells` with counts below zoom 14, `stops` from 14 on. Immutable under its URL
    (`Cache-Control: public, max-age=TILE_MAX_AGE_S, immutable`), so browsers and any proxy or CDN
    reuse it. Unfiltered tiles are read from the ones the import pre-rendered with the snapshot;
    filtered ones are rendered on demand and kept in Redis per snapshot under TILE_CACHE_MAX_BYTES,
    dropped when a new snapshot is published.
    """
    if x >= 2**z or y >= 2**z:
        raise invalid_parameter("x", f"x and y must be below 2^z = {2**z} at zoom {z}", value=[x, y])
    tile_query = tile_service.canonical(query.filters())
    # One URL per tile and filter set: anything else is sent to it (and cached there).
    canonical_path = tile_service.tile_path(snapshot, tile_query, z, x, y)
    if request.query_string.decode("latin-1") != tile_query.query:
        return redirect(canonical_path, code=308)

    current = tile_service.published_snapshot()
    if snapshot != current:
        current = tile_service.published_snapshot(fresh=True)
    if snapshot != current:
        return _moved(snapshot, current, tile_query, z, x, y)

    settings = current_app.config["SETTINGS"]
    tag = tile_service.etag(snapshot, tile_query)
    if _not_modified(tag):
        return _cacheable(Response(status=304), tag, settings.TILE_MAX_AGE_S, immutable=True)
    try:
        data = tile_service.cached_tile(snapshot, z, x, y, tile_query)
    except tile_service.SnapshotChangedError as changed:
        # An import published between the check above and the rendering: never cache newer data
        # under the older snapshot's URL.
        return _moved(snapshot, changed.published, tile_query, z, x, y)
    return _cacheable(Response(data, mimetype=MVT_MIMETYPE), tag, settings.TILE_MAX_AGE_S, immutable=True)


def _moved(
    snapshot: str, current: str, tile_query: tile_service.TileQuery, z: int, x: int, y: int
) -> Response:
    """302 to the same tile of the published snapshot (not cacheable), explained in the error shape."""
    response = jsonify(
        {
            "error": {
                "status": 302,
                "code": "snapshot_not_published",
                "message": f"Snapshot {snapshot} is no longer published; this is the same tile of "
                f"{current}. Fetch GET /api/v1/tiles.json again for the current tiles template.",
                "details": {"requested": snapshot, "published": current, "tilejson": "/api/v1/tiles.json"},
            }
        }
    )
    response.status_code = 302
    response.headers["Location"] = tile_service.tile_path(current, tile_query, z, x, y)
    response.cache_control.no_cache = True
    return response
