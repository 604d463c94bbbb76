"""Lines of both sides: OSM route relations and GTFS timetable routes, paired, stop by stop."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, params
from app.errors import ApiError
from app.services import routes as route_service

ROUTE_PARAMS = ("side", "matched", "operator", "mode", "q", "cursor", "limit")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@bp.get("/routes")
def list_routes():
    """Lines on each side, matched or not, filtered, one page at a time (`next_cursor`)."""
    params.reject_unknown(ROUTE_PARAMS)
    filters = route_service.RouteFilters(
        side=params.choice("side", ("osm", "gtfs", "both"), default="both") or "both",
        matched=params.boolean("matched"),
        operator=params.text("operator", max_length=100),
        mode=params.choice("mode", route_service.MODES),
        q=params.text("q", max_length=100),
    )
    cursor = params.text("cursor", max_length=500)
    limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)
    try:
        return jsonify(route_service.list_routes(filters, cursor=cursor, limit=limit))
    except route_service.InvalidCursorError as exc:
        raise params.invalid("cursor", str(exc)) from None


@bp.get("/routes/<side>/<path:route_id>")
def route(side: str, route_id: str):
    """One line: its stops on each side in order, its partners', and where they agree."""
    if side not in route_service.SIDES:
        raise params.invalid(
            "side", "side must be osm or gtfs", value=side[:100], allowed=list(route_service.SIDES)
        )
    if not route_service.valid_route_id(side, route_id):
        message = "id must be an OSM relation id" if side == "osm" else "id must be a GTFS route_id"
        raise params.invalid("route_id", message, value=route_id[:100])
    detail = route_service.route_detail(side, route_id)
    if detail is None:
        raise ApiError(404, "not_found", f"No {side} route {route_id} in the current data.")
    return jsonify(detail)
