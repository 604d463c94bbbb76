"""OpenAPI paths of the map's vector tiles (app/api/tiles.py). Merged into the document by
`app.api.openapi`."""

from __future__ import annotations

from typing import Any

from app.api.openapi import (
    ANY_OBJECT,
    INT,
    STOP_FILTERS,
    STR,
    array,
    errors,
    json_response,
    obj,
    operation,
    path_param,
)
from app.services import tiles as tile_service

# The map's filters, without the bounding box (a tile is its own box).
TILE_FILTERS = [param for param in STOP_FILTERS if param["name"] != "bbox"]

_CACHE_HEADERS = {
    "ETag": {"description": "`<snapshot>.<filter hash>`", "schema": STR},
    "Cache-Control": {"description": "public, max-age, and `immutable` on a tile", "schema": STR},
}


def paths() -> dict[str, Any]:
    """GET /tiles.json and GET /tiles/{snapshot}/{z}/{x}/{y}.mvt."""
    return {
        "/tiles.json": {
            "get": operation(
                "TileJSON of the map's vector tiles for the published snapshot",
                "stops",
                {
                    "200": json_response(
                        "TileJSON 3.0.0; `tiles` is the URL template of the published snapshot's tiles with "
                        "the filters in canonical order.",
                        obj(
                            {
                                "tilejson": STR,
                                "tiles": array(STR, minItems=1, maxItems=1),
                                "minzoom": INT,
                                "maxzoom": INT,
                                "bounds": array({"type": "number"}, minItems=4, maxItems=4),
                                "vector_layers": array(ANY_OBJECT),
                                "snapshot": STR,
                                "stops_min_zoom": INT,
                                "filters": STR,
                            },
                            required=["tilejson", "tiles", "snapshot", "stops_min_zoom", "vector_layers"],
                        ),
                        **_CACHE_HEADERS,
                    ),
                    "304": {"description": "Not modified (If-None-Match held the current ETag)."},
                    **errors(400),
                },
                parameters=TILE_FILTERS,
                description="What the map loads first. Short-lived (`TILEJSON_MAX_AGE_S`): after an import "
                "it names the new snapshot. Unknown parameters are a 400.",
                operation_id="getTileJson",
            )
        },
        "/tiles/{snapshot}/{z}/{x}/{y}.mvt": {
            "get": operation(
                "One vector tile (MVT) of a snapshot",
                "stops",
                {
                    "200": {
                        "description": f"Mapbox vector tile, extent {tile_service.EXTENT}. Below zoom "
                        f"{tile_service.STOPS_MIN_ZOOM} layer `cells`: the stops counted on a "
                        f"{tile_service.CELLS_PER_SIDE}x{tile_service.CELLS_PER_SIDE} grid per tile "
                        "(count, atlas, osm, matched, unmatched, with_problems, p1, p2, p3; every stop in "
                        f"exactly one cell); from zoom {tile_service.STOPS_MIN_ZOOM} on layer `stops`: one "
                        "point per stop with the properties of GET /stops (lists as JSON text). Empty "
                        "body: no stops.",
                        "content": {"application/vnd.mapbox-vector-tile": {"schema": {"type": "string"}}},
                        "headers": _CACHE_HEADERS,
                    },
                    "302": {
                        "description": "The snapshot is no longer published: `Location` is the same tile of "
                        "the published one (not cacheable; the body is an error object with code "
                        "`snapshot_not_published`). Fetch the TileJSON again."
                    },
                    "304": {"description": "Not modified (If-None-Match held the ETag)."},
                    "308": {
                        "description": "The filters were not in canonical order: `Location` is the one URL."
                    },
                    **errors(400),
                },
                parameters=[
                    path_param("snapshot", STR, "Snapshot id, from the TileJSON's `tiles` template."),
                    path_param(
                        "z", {"type": "integer", "minimum": 0, "maximum": tile_service.MAX_ZOOM}, "Zoom."
                    ),
                    path_param("x", {"type": "integer", "minimum": 0}, "Column."),
                    path_param("y", {"type": "integer", "minimum": 0}, "Row (XYZ, north first)."),
                    *TILE_FILTERS,
                ],
                description="Immutable under its URL (`Cache-Control: public, max-age=TILE_MAX_AGE_S, "
                "immutable`), so browsers and any proxy or CDN reuse it; kept in Redis per snapshot under "
                "TILE_CACHE_MAX_BYTES and dropped when a new snapshot is published.",
                operation_id="getTile",
            )
        },
    }
