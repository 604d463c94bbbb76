"""Stops: GeoJSON of a bounding box, and the stop pages' detail.

GET /stops (at most `limit` stops, most urgent first when cut) is for API clients and scripts; the
map page does not use it any more: it draws the vector tiles of app/api/tiles.py, which count the
stops below zoom 14 instead of cutting them.
"""

from __future__ import annotations

import re

from flask import Response, jsonify

from app.api import bp, params
from app.api.filters import STOP_FILTER_PARAMS, stop_filters
from app.errors import ApiError
from app.services import stops as stop_service
from pipeline.sources import registry_sources
from pipeline.text import SLOID_PATTERN

DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000
# sloids look like ch:1:sloid:7000:1:2; other registries use similar colon-separated ids. The grammar
# is the parser's (a registry row whose stop_id breaks it is never imported); \Z, unlike $, refuses a
# trailing newline.
SLOID_RE = re.compile(rf"{SLOID_PATTERN}\Z")


@bp.get("/stops")
def list_stops():
    """Registry and OSM stops in a bounding box as GeoJSON, with their match status and problems."""
    params.reject_unknown((*STOP_FILTER_PARAMS, "limit"))
    filters = stop_filters()
    limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)
    return Response(stop_service.feature_collection_json(filters, limit), mimetype="application/json")


def require_registry(source: str) -> None:
    """404 unless `source` names a registry plug-in (`atlas`, `naptan`, ...)."""
    if source not in registry_sources():
        raise ApiError(404, "not_found", f"No registry named {source[:40]!r}.")


@bp.get("/stops/<source>/<path:stop_id>")
def registry_stop(source: str, stop_id: str):
    """One registry stop with its OSM counterparts, matches, problems and decisions.

    `/stops/atlas/<sloid>` (the URL before registries were plug-ins) is this route with source `atlas`.
    """
    require_registry(source)
    if not SLOID_RE.match(stop_id):
        raise ApiError(
            400, "invalid_parameter", "Not a valid stop_id.", {"parameter": "stop_id", "value": stop_id[:100]}
        )
    detail = stop_service.stop_detail(stop_id=stop_id, source=source)
    if detail is None:
        raise ApiError(404, "not_found", f"No registry stop {stop_id}.")
    return jsonify(detail)


@bp.get("/stops/osm/<osm_type>/<osm_id>")
def osm_stop(osm_type: str, osm_id: str):
    """One OSM object with its registry counterparts, matches, problems and decisions."""
    key = params.osm_key(f"{osm_type}/{osm_id}", name="osm_id")
    detail = stop_service.stop_detail(osm_key=key)
    if detail is None:
        raise ApiError(404, "not_found", f"No OSM object {key}.")
    return jsonify(detail)
