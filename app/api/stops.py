"""Stops: GeoJSON of a bounding box, and the stop pages' detail.

GET /stops (at most `limit` stops, most urgent first when cut) is for API clients and scripts; the
map page does not use it any more: it draws the vector tiles of app/api/tiles.py, which count the
stops below zoom 14 instead of cutting them.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import bp
from app.api.reads import finish_read
from app.api.schemas.endpoint import endpoint, validated_in_tests
from app.api.schemas.stops import (
    PATH_DOCS,
    NoQuery,
    OsmIdPath,
    OsmTypePath,
    SourcePath,
    StopCollection,
    StopDetail,
    StopIdPath,
    StopListQuery,
)
from app.errors import ApiError
from app.services import stops as stop_service
from pipeline.sources import registry_sources


@bp.get("/stops")
@endpoint("listStops", "stops", ok=StopCollection)
def list_stops(query: StopListQuery) -> Response:
    """Stops in a bounding box (GeoJSON)

    Registry and OSM stops with their match status and problems, at most `limit`.
    """
    body = stop_service.feature_collection_json(query.filters(), query.limit)
    return validated_in_tests(Response(body, mimetype="application/json"))


def require_registry(source: str) -> None:
    """404 unless `source` names a registry plug-in (`atlas`, `naptan`, ...)."""
    if source not in registry_sources():
        raise ApiError(404, "not_found", f"No registry named {source[:40]!r}.")


@bp.get("/stops/<source>/<path:stop_id>")
@endpoint(
    "getRegistryStop",
    "stops",
    ok=StopDetail,
    errors=(404,),
    path={"source": SourcePath, "stop_id": StopIdPath},
    path_docs=PATH_DOCS,
)
def registry_stop(source: str, stop_id: str, query: NoQuery) -> dict[str, Any]:
    """A registry stop with its OSM counterparts, matches, problems and decisions

    `/stops/atlas/<sloid>` (the URL before registries were plug-ins) is this route with source `atlas`.
    """
    require_registry(source)
    detail = stop_service.stop_detail(stop_id=stop_id, source=source)
    finish_read()
    if detail is None:
        raise ApiError(404, "not_found", f"No registry stop {stop_id}.")
    return detail


@bp.get("/stops/osm/<osm_type>/<osm_id>")
@endpoint(
    "getOsmStop",
    "stops",
    ok=StopDetail,
    errors=(404,),
    path={"osm_type": OsmTypePath, "osm_id": OsmIdPath},
    path_docs=PATH_DOCS,
)
def osm_stop(osm_type: str, osm_id: int, query: NoQuery) -> dict[str, Any]:
    """An OSM object with its registry counterparts, matches, problems and decisions"""
    key = f"{osm_type}/{osm_id}"
    detail = stop_service.stop_detail(osm_key=key)
    finish_read()
    if detail is None:
        raise ApiError(404, "not_found", f"No OSM object {key}.")
    return detail
