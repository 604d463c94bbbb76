"""Lines of both sides: OSM route relations and GTFS timetable routes, paired, stop by stop."""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.schemas.endpoint import endpoint, invalid_parameter
from app.api.schemas.lines import RouteDetail, RouteIdPath, RouteListQuery, RoutePage, RouteSidePath
from app.api.schemas.stops import NoQuery
from app.errors import ApiError
from app.services import routes as route_service


@bp.get("/routes")
@endpoint("listRoutes", "routes", ok=RoutePage)
def list_routes(query: RouteListQuery) -> dict[str, Any]:
    """Lines of both sides (OSM route relations, GTFS routes), matched or not

    An OSM relation and a GTFS route direction are one line when the route stage would call them
    the same line (normalised `gtfs:route_id`, or line ref with agreeing operators) and their
    destinations do not contradict; the best by (destination agrees, registry stops shared) is
    kept, ties all shown. Computed from the current snapshot.
    """
    filters = route_service.RouteFilters(
        side=query.side, matched=query.matched, operator=query.operator, mode=query.mode, q=query.q
    )
    try:
        return route_service.list_routes(filters, cursor=query.cursor, limit=query.limit)
    except route_service.InvalidCursorError as exc:
        raise invalid_parameter("cursor", str(exc)) from None


@bp.get("/routes/<side>/<path:route_id>")
@endpoint(
    "getRoute",
    "routes",
    ok=RouteDetail,
    errors=(404,),
    path={"side": RouteSidePath, "route_id": RouteIdPath},
    path_docs={"side": "`osm` (relation id) or `gtfs` (route_id).", "route_id": "The id."},
)
def route(side: str, route_id: str, query: NoQuery) -> dict[str, Any]:
    """One line: its stops on each side in order, and where the two sides agree

    Stop status: `agree` (the GTFS stop's registry stop is matched to a member of the partner
    relation, or the member's registry stop is on the partner itinerary), `only_here` (known on
    both sides, but the partner does not serve it), `unknown` (GTFS stop_id not resolved, or OSM
    member matched to no registry stop), `no_partner`.
    """
    if not route_service.valid_route_id(side, route_id):
        message = "id must be an OSM relation id" if side == "osm" else "id must be a GTFS route_id"
        raise invalid_parameter("route_id", message, value=route_id[:100])
    detail = route_service.route_detail(side, route_id)
    if detail is None:
        raise ApiError(404, "not_found", f"No {side} route {route_id} in the current data.")
    return detail
