"""OpenAPI paths and schemas of the lines (app/api/routes.py). Merged into the document by
`app.api.openapi`; `LINES_AT_STOP` is the stop detail's `lines`."""

from __future__ import annotations

from typing import Any

from app.api.openapi import (
    BOOL,
    INT,
    STR,
    array,
    errors,
    json_response,
    limit_param,
    nullable,
    obj,
    operation,
    path_param,
    query,
)
from app.api.routes import DEFAULT_LIMIT, MAX_LIMIT
from app.services import routes as route_service

SIDE = {"type": "string", "enum": list(route_service.SIDES)}
MODE = nullable({"type": "string", "description": "OSM `route` value; GTFS route_type read as one."})

PARTNER = obj(
    {
        "side": SIDE,
        "id": STR,
        "direction_id": nullable(STR),
        "ref": nullable(STR),
        "name": nullable(STR),
        "url": {"type": "string", "description": "Its route page."},
    },
    description="A line of the other side paired with this one (several: variants, or a tie).",
)

DIRECTION = obj(
    {
        "direction_id": nullable(STR),
        "from": nullable(STR),
        "to": nullable(STR),
        "stops": INT,
        "partners": array(PARTNER),
    },
    description="GTFS: one direction's main itinerary; OSM: the relation itself (`direction_id` null).",
)

ROUTE = obj(
    {
        "side": SIDE,
        "id": {"type": "string", "description": "OSM relation id or GTFS route_id."},
        "ref": nullable(STR),
        "name": nullable(STR),
        "operator": nullable(STR),
        "network": nullable(STR),
        "mode": MODE,
        "gtfs_route_id": nullable(STR),
        "route_master_id": nullable(INT),
        "stops": {
            "type": "integer",
            "description": "Stops (GTFS: of every direction) or stop and platform members.",
        },
        "matched": {"type": "boolean", "description": "Has at least one partner on the other side."},
        "directions": array(DIRECTION),
        "url": STR,
        "osm_url": nullable(STR),
    }
)

_STATUS = {"type": "string", "enum": list(route_service.STOP_STATUSES)}

OSM_STOP = obj(
    {
        "sequence": INT,
        "role": STR,
        "osm_key": STR,
        "name": nullable(STR),
        "known": {"type": "boolean", "description": "A stop object of the snapshot."},
        "sloids": array(STR, description="Registry stops it is matched to."),
        "url": nullable(STR),
        "status": _STATUS,
    }
)
GTFS_STOP = obj(
    {
        "sequence": INT,
        "stop_id": STR,
        "name": nullable(STR),
        "registry_stop_id": nullable(
            {"type": "string", "description": "The registry stop the stop_id resolved to."}
        ),
        "registry_name": nullable(STR),
        "osm_keys": array(STR, description="OSM objects matched to that registry stop."),
        "trips": INT,
        "url": nullable(STR),
        "status": _STATUS,
    }
)

ITINERARY = obj(
    {
        "side": SIDE,
        "id": STR,
        "direction_id": nullable(STR),
        "ref": nullable(STR),
        "name": nullable(STR),
        "from": nullable(STR),
        "to": nullable(STR),
        "url": STR,
        "osm_url": nullable(STR),
        "partners": array(PARTNER),
        "stops": array({"anyOf": [OSM_STOP, GTFS_STOP]}, description="In travel order."),
        "counts": {"type": "object", "additionalProperties": INT},
    }
)

LINE_AT_STOP = obj(
    {
        "id": STR,
        "direction_id": nullable(STR),
        "mode": MODE,
        "ref": nullable(STR),
        "name": nullable(STR),
        "operator": nullable(STR),
        "to": nullable(STR),
        "url": STR,
    }
)
LINES_AT_STOP = obj(
    {"osm": array(LINE_AT_STOP), "gtfs": array(LINE_AT_STOP)},
    description="Lines serving the stop: OSM relations with one of its OSM objects as a member, GTFS route "
    "directions whose main itinerary resolves to one of its registry stops.",
)

_SIDE_COUNTS = obj({"routes": INT, "matched": INT})


def paths() -> dict[str, Any]:
    """GET /routes and GET /routes/{side}/{route_id}."""
    return {
        "/routes": {
            "get": operation(
                "Lines of both sides (OSM route relations, GTFS routes), matched or not",
                "routes",
                {
                    "200": json_response(
                        "One page of lines by side, then line ref.",
                        obj(
                            {
                                "routes": array(ROUTE),
                                "count": {"type": "integer", "description": "Lines passing the filters."},
                                "next_cursor": nullable(STR),
                                "sides": obj({"osm": _SIDE_COUNTS, "gtfs": _SIDE_COUNTS}),
                            }
                        ),
                    ),
                    **errors(400),
                },
                parameters=[
                    query(
                        "side",
                        {"type": "string", "enum": ["osm", "gtfs", "both"], "default": "both"},
                        "Which side.",
                    ),
                    query(
                        "matched", BOOL, "`true`: lines with a partner on the other side; `false`: without."
                    ),
                    query(
                        "operator",
                        {"type": "string", "maxLength": 100},
                        "Part of the operator (GTFS agency) name, case and accents ignored.",
                    ),
                    query(
                        "mode", {"type": "string", "enum": list(route_service.MODES)}, "Mode of transport."
                    ),
                    query(
                        "q",
                        {"type": "string", "maxLength": 100},
                        "Part of the line ref, name or id (accents ignored).",
                    ),
                    query(
                        "cursor", {"type": "string", "maxLength": 500}, "`next_cursor` of the previous page."
                    ),
                    limit_param(DEFAULT_LIMIT, MAX_LIMIT),
                ],
                description="An OSM relation and a GTFS route direction are one line when the route stage "
                "would call them the same line (normalised `gtfs:route_id`, or line ref with agreeing "
                "operators) and their destinations do not contradict; the best by (destination agrees, "
                "registry stops shared) is kept, ties all shown. Computed from the current snapshot.",
                operation_id="listRoutes",
            )
        },
        "/routes/{side}/{route_id}": {
            "get": operation(
                "One line: its stops on each side in order, and where the two sides agree",
                "routes",
                {
                    "200": json_response(
                        "The line and its itineraries, then its partners'.",
                        obj({"route": ROUTE, "itineraries": array(ITINERARY)}),
                    ),
                    **errors(400, 404),
                },
                parameters=[
                    path_param("side", SIDE, "`osm` (relation id) or `gtfs` (route_id)."),
                    path_param("route_id", {"type": "string", "minLength": 1, "maxLength": 255}, "The id."),
                ],
                description="Stop status: `agree` (the GTFS stop's registry stop is matched to a member of "
                "the partner relation, or the member's registry stop is on the partner itinerary), "
                "`only_here` (known on both sides, but the partner does not serve it), `unknown` (GTFS "
                "stop_id not resolved, or OSM member matched to no registry stop), `no_partner`.",
                operation_id="getRoute",
            )
        },
    }


# Component schemas this fragment adds (the stop detail's `lines` refers to it).
SCHEMAS: dict[str, Any] = {"LinesAtStop": LINES_AT_STOP}
