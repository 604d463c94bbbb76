"""The OpenAPI 3.1 description of /api/v1, written by hand next to the code it describes.

Kept true by tests: every API route in `app.url_map` is described here and every described path
is a route (tests/integration/test_openapi.py), the document validates against the OpenAPI 3.1
schema, and a schemathesis fuzz checks live responses against these schemas.

Paths of other resource owners live in their own fragment modules (`openapi_review.py`) and are
merged here, so each owner edits only their file.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import jsonify

from app.api import bp
from app.services import vocabulary
from app.services.users import ROLES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"

JSON = "application/json"


# --- small builders --------------------------------------------------------------------------


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    kind = out.get("type")
    out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; every property is required unless `required` says otherwise."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema.update(extra)
    return schema


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An array schema."""
    return {"type": "array", "items": items, **extra}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
ANY_OBJECT = {"type": "object"}
DATETIME = {"type": "string", "format": "date-time"}


def query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    """A query parameter; arrays are comma-separated (`style: form, explode: false`)."""
    param = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    if schema.get("type") == "array":
        # Comma-separated: ?status=matched,unmatched
        param.update(style="form", explode=False)
    param.update(extra)
    return param


def path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A path parameter."""
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def csv_of(values: tuple[Any, ...] | list[Any], kind: str = "string") -> dict[str, Any]:
    """A comma-separated list of values from a closed set."""
    return {"type": "array", "items": {"type": kind, "enum": list(values)}, "uniqueItems": True}


def json_response(description: str, schema: dict[str, Any], **headers: Any) -> dict[str, Any]:
    """A JSON response with `schema`."""
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


ERROR_TEXT = {
    400: "Invalid query parameter, malformed body or CSRF failure (`details` names the parameter).",
    401: "Not signed in, or the API token is unknown or revoked.",
    403: "Signed in, but the role is too low (`details.required_role`).",
    404: "No such resource.",
    405: "Method not allowed (the `Allow` header lists the allowed ones).",
    409: "Conflict with the current state.",
    413: "The request body is larger than the server accepts (`details.max_bytes`).",
    422: "The JSON body is well-formed but a field breaks its rules (`details.field`).",
    429: "Rate limit exceeded (`Retry-After` says when to retry).",
    500: "Unexpected error (`details.request_id` identifies it in the logs).",
    503: "A dependency (database, Redis) is unavailable.",
}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses, all in the one error shape. 400 (an out-of-range number, a CSRF failure), 413
    (a body over MAX_CONTENT_LENGTH_BYTES), 429 and 500 can happen anywhere."""
    return {
        str(status): {"$ref": f"#/components/responses/Error{status}"}
        for status in sorted({*statuses, 400, 413, 429, 500})
    }


def operation(
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    role: str | None = None,
    description: str | None = None,
    operation_id: str,
) -> dict[str, Any]:
    """One operation; `role` marks it as a write that needs that role (token or cookie + CSRF)."""
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "operationId": operation_id,
        "responses": responses,
    }
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {JSON: {"schema": body}}}
    if role is not None:
        op["security"] = [{"bearerAuth": []}, {"cookieAuth": [], "csrfHeader": []}]
        op["x-required-role"] = role
        op["description"] = (op.get("description", "") + f"\n\nRequires the `{role}` role.").strip()
    else:
        op["security"] = [{}, {"bearerAuth": []}, {"cookieAuth": []}]
    return op


# --- shared parameters -----------------------------------------------------------------------

BBOX = query(
    "bbox",
    {"type": "string", "pattern": r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$"},
    "WGS84 bounding box `minLon,minLat,maxLon,maxLat` (e.g. `9.47,47.04,9.64,47.27`).",
    example="9.47,47.04,9.64,47.27",
)
PRIORITY = query(
    "priority", csv_of(vocabulary.PRIORITIES, "integer"), "Problem priorities (1 = most urgent)."
)
OPERATOR = query(
    "operator",
    array({"type": "string", "minLength": 1, "maxLength": 200}, maxItems=50),
    "Operator abbreviations (registry), e.g. `SBB,PAG`. OSM objects match through their own "
    "`operator` tag or their registry partner's.",
)
TRANSPORT = query(
    "transport",
    csv_of(vocabulary.TRANSPORTS),
    "Means of transport (ATLAS vocabulary, case-insensitive). OSM objects: from their tags or partner.",
)

CSV_BOM = query(
    "bom",
    {"type": "boolean", "default": True},
    "CSV only. By default a CSV is Excel-friendly: UTF-8 with a byte-order mark and CRLF line ends "
    '(without the mark Excel shows "TrÃ¶xlegass" for "Tröxlegass"). `false` leaves the mark out; '
    "with a GeoJSON or JSON format the parameter is a 400.",
)

STOP_FILTERS = [
    BBOX,
    query("status", csv_of(vocabulary.MATCH_STATUSES), "Match status."),
    query("side", csv_of(vocabulary.SIDES), "Which side: registry (`atlas`) and/or `osm`."),
    query(
        "method",
        csv_of(vocabulary.MATCH_METHODS),
        "Match methods (a stop matches if any of its matches does).",
    ),
    query("problem_type", csv_of(vocabulary.PROBLEM_TYPES), "Stops with a problem of these types."),
    PRIORITY,
    OPERATOR,
    TRANSPORT,
]

PROBLEM_FILTERS = [
    query("type", csv_of(vocabulary.PROBLEM_TYPES), "Problem types."),
    PRIORITY,
    query(
        "decided",
        {"type": "boolean"},
        "`true`: problems with a standing decision; `false`: without one, or whose decision the "
        "pipeline flagged for review.",
    ),
    query(
        "needs_review",
        {"type": "boolean"},
        "`true`: only problems whose decision a re-import sent back to review (its evidence changed); "
        "`false`: none of those.",
    ),
    OPERATOR,
    BBOX,
    query("stop_id", {"type": "string", "maxLength": 100}, "Problems of this registry stop."),
    query(
        "osm_key",
        {"type": "string", "pattern": r"^(node|way|relation)/[1-9][0-9]{0,17}$"},
        "Problems of this OSM object.",
    ),
    query("sort", {"type": "string", "enum": ["priority", "distance"], "default": "priority"}, "Sort order."),
]


def limit_param(default: int, maximum: int) -> dict[str, Any]:
    """The `limit` query parameter."""
    return query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
        f"At most this many items (default {default}, at most {maximum}).",
    )


# --- schemas ---------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "code": {"type": "string", "description": "Machine-readable, e.g. `invalid_parameter`."},
                    "message": {"type": "string", "description": "For people."},
                    "details": {"type": "object", "description": "What exactly was wrong."},
                }
            )
        }
    ),
    "StopProperties": obj(
        {
            "kind": {"type": "string", "enum": ["atlas", "osm"]},
            "key": {"type": "string", "description": "stop_id or OSM key (`node/123`)."},
            "name": nullable(STR),
            "operator": nullable(STR),
            "status": {"type": "string", "enum": list(vocabulary.MATCH_STATUSES)},
            "method": nullable(STR),
            "methods": array(STR),
            "partner_keys": array(STR, description="Keys of the matched objects on the other side."),
            "distance_m": nullable(NUM),
            "problem_types": array(STR),
            "priority": nullable({"type": "integer", "minimum": 1}),
            "local_ref": nullable(STR),
            "uic": nullable(STR),
            "transports": array(STR),
        }
    ),
    "PointGeometry": obj(
        {
            "type": {"type": "string", "const": "Point"},
            "coordinates": array(NUM, minItems=2, maxItems=2, description="[lon, lat]"),
        }
    ),
    "StopFeature": obj(
        {
            "type": {"type": "string", "const": "Feature"},
            "id": {"type": "string", "description": "`atlas:<stop_id>` or `osm:<osm key>`"},
            "geometry": ref("PointGeometry"),
            "properties": ref("StopProperties"),
        }
    ),
    "StopCollection": obj(
        {
            "type": {"type": "string", "const": "FeatureCollection"},
            "features": array(ref("StopFeature")),
            "count": INT,
            "truncated": {"type": "boolean", "description": "More stops matched than `limit`."},
        }
    ),
    "RegistryStopRow": obj(
        {
            "stop_id": STR,
            "source": STR,
            "code": nullable(INT),
            "platform_code": nullable(STR),
            "name": nullable(STR),
            "operator_code": nullable(STR),
            "operator_name": nullable(STR),
            "modes": nullable(STR),
            "country_code": nullable(STR),
            "region": nullable(STR),
            "parent_id": nullable(STR),
            "valid_from": nullable({"type": "string", "format": "date"}),
            "valid_to": nullable({"type": "string", "format": "date"}),
            "lat": NUM,
            "lon": NUM,
        }
    ),
    "OsmStop": obj(
        {
            "osm_key": STR,
            "osm_type": STR,
            "osm_id": INT,
            "version": nullable(INT),
            "name": nullable(STR),
            "uic_ref": nullable(STR),
            "uic_name": nullable(STR),
            "ifopt": nullable(STR),
            "local_ref": nullable(STR),
            "operator": nullable(STR),
            "network": nullable(STR),
            "public_transport": nullable(STR),
            "railway": nullable(STR),
            "highway": nullable(STR),
            "amenity": nullable(STR),
            "aerialway": nullable(STR),
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "lat": NUM,
            "lon": NUM,
            "url": {"type": "string", "description": "The object on openstreetmap.org."},
            "links": array(ref("EditorLink"), description="View and edit this object (website, iD, JOSM)."),
        }
    ),
    "EditorLink": obj(
        {
            "editor": {"type": "string", "enum": ["osm", "id", "josm"]},
            "action": {
                "type": "string",
                "enum": ["view", "edit", "area", "add"],
                "description": "`area` downloads the place into JOSM, `add` creates the missing stop there.",
            },
            "label": STR,
            "title": STR,
            "url": {
                "type": "string",
                "description": "Percent-encoded; JOSM links go to its remote control on http://127.0.0.1:8111.",
            },
        }
    ),
    "Match": obj(
        {
            "stop_id": STR,
            "osm_key": STR,
            "method": STR,
            "distance_m": NUM,
            "name_score": nullable(NUM),
            "evidence": ANY_OBJECT,
        }
    ),
    "Decision": obj(
        {
            "id": INT,
            "problem_identity": STR,
            "problem_type": STR,
            "stop_id": nullable(STR),
            "osm_key": nullable(STR),
            "decision": {"type": "string", "enum": list(vocabulary.DECISIONS)},
            "note": STR,
            "status": {"type": "string", "enum": list(vocabulary.DECISION_STATUSES)},
            "author": nullable(STR),
            "created_at": nullable(DATETIME),
            "updated_at": nullable(DATETIME),
        }
    ),
    "DecisionEvent": obj(
        {
            "id": INT,
            "action": {"type": "string", "description": "created | updated | flagged | ..."},
            "decision": nullable(STR),
            "note": nullable(STR),
            "author": nullable(STR),
            "run_id": nullable(INT),
            "payload": ANY_OBJECT,
            "created_at": nullable(DATETIME),
        }
    ),
    "DecisionWithHistory": {
        "allOf": [
            ref("Decision"),
            obj(
                {
                    "history": array(ref("DecisionEvent")),
                    "manual_match": {
                        "type": ["object", "null"],
                        "description": "`wrong_match` only: the manual unlink it saved, with its `state`.",
                    },
                }
            ),
        ],
    },
    "Problem": obj(
        {
            "identity": {
                "type": "string",
                "description": "Stable across runs: `<type>:<stop_id|->:<osm key|->`.",
            },
            "problem_type": STR,
            "priority": {"type": "integer", "minimum": 1},
            "stop_id": nullable(STR),
            "osm_key": nullable(STR),
            "operator": nullable(STR),
            "distance_m": nullable(NUM),
            "message": STR,
            "details": ANY_OBJECT,
            "lat": NUM,
            "lon": NUM,
            "decision": nullable(ref("Decision")),
        }
    ),
    "StopDetail": obj(
        {
            "atlas": nullable(ref("RegistryStopRow")),
            "atlas_partners": array(
                ref("RegistryStopRow"), description="Further registry partners of an OSM object."
            ),
            "osm": array(ref("OsmStop")),
            "links": array(
                ref("EditorLink"),
                description="Editor links for the stop: its OSM objects, or (a registry stop without any)"
                " the place and a JOSM `add_node` with the proposed tags.",
            ),
            "matches": array(ref("Match")),
            "problems": array(ref("Problem")),
            "decisions": array(ref("DecisionWithHistory")),
            "manual_matches": array(
                {"type": "object"},
                description="Manual links and unlinks of the stop and its counterparts (deleted ones too), "
                "each with its `state` (pending, active, not_applied, orphaned, deleted) and history.",
            ),
            "lines": ref("LinesAtStop"),
        }
    ),
    "SearchResult": obj(
        {
            "kind": {"type": "string", "enum": ["atlas", "osm"]},
            "key": STR,
            "name": nullable(STR),
            "operator": nullable(STR),
            "uic": nullable(STR),
            "lat": NUM,
            "lon": NUM,
            "score": {
                "type": "number",
                "description": "Identifier hit 3, name prefix 2 + similarity, fuzzy 0..1.",
            },
            "url": {"type": "string", "description": "The stop page."},
            "match": nullable(
                {
                    "type": "string",
                    "enum": ["identifier", "exact", "prefix", "fuzzy"],
                    "description": "How the query found it, the first sort key (null: an OSM object"
                    " listed under its registry stop only).",
                }
            ),
            "municipality": nullable(
                {
                    "type": "string",
                    "description": 'From the registry name ("Schaan, Bahnhof"); an OSM object has its'
                    " registry stop's.",
                }
            ),
            "osm": array(
                ref("SearchResult"),
                description="Registry results: their matched OSM objects (at most 20), which then do not"
                " appear at the top level.",
            ),
            "registry": nullable({"type": "string", "description": "OSM results: the matched stop_id."}),
            "method": {"type": "string", "description": "OSM objects under a registry stop: match method."},
            "distance_m": {"type": "number", "description": "OSM objects under a registry stop: distance."},
        },
        required=[
            *("kind", "key", "name", "operator", "uic", "lat", "lon", "score", "url"),
            *("match", "municipality"),
        ],
    ),
    "ProblemPage": obj(
        {
            "problems": array(ref("Problem")),
            "next_cursor": nullable({"type": "string", "description": "Pass as `cursor` for the next page."}),
        }
    ),
    "DecisionPage": obj(
        {
            "decisions": array(ref("DecisionWithHistory")),
            "next_cursor": nullable(STR),
        }
    ),
    "DecisionInput": obj(
        {
            "problem_identity": {"type": "string", "minLength": 1, "maxLength": 300},
            "decision": {"type": "string", "enum": list(vocabulary.DECISIONS)},
            "note": {"type": "string", "maxLength": 5000},
        },
        required=["problem_identity", "decision"],
        additionalProperties=False,
    ),
    "DecisionResult": obj(
        {
            "decision": ref("Decision"),
            "created": BOOL,
            "manual_match": {
                "type": ["object", "null"],
                "description": "`wrong_match` only: the manual unlink it saved, with its `state` "
                "(`pending` until the next run reads it).",
            },
        }
    ),
    "Run": obj(
        {
            "id": INT,
            "run_uuid": STR,
            "trigger": STR,
            "status": STR,
            "started_at": nullable(STR),
            "finished_at": nullable(STR),
            "stage_seconds": ANY_OBJECT,
            "counts": ANY_OBJECT,
            "source_versions": ANY_OBJECT,
            "error": nullable(
                {
                    "type": "string",
                    "description": "A short message with an error id; the traceback is in the server log.",
                }
            ),
        },
        description="A pipeline run. Anyone sees it without account names (`requested_by` is null), with "
        "URLs cut to their host and no file paths; admins see who asked and full source locations "
        "(credentials always redacted). Webhook deliveries are listed by target position and host.",
    ),
    "Stats": obj(
        {
            "totals": obj(
                {
                    name: INT
                    for name in (
                        "registry_stops",
                        "osm_stops",
                        "matches",
                        "matched_atlas",
                        "unmatched_atlas",
                        "matched_osm",
                        "unmatched_osm",
                        "problems",
                        "decided",
                        "undecided",
                    )
                }
            ),
            "match_methods": array(
                obj(
                    {
                        "method": STR,
                        "count": INT,
                        "mean_distance_m": nullable(NUM),
                        "median_distance_m": nullable(NUM),
                    }
                )
            ),
            "distance_buckets": array(obj({"min_m": NUM, "max_m": nullable(NUM), "count": INT})),
            "problem_types": array(
                obj(
                    {
                        "problem_type": STR,
                        "count": INT,
                        "decided": INT,
                        "undecided": INT,
                        "by_priority": {"type": "object", "additionalProperties": INT},
                    }
                )
            ),
            "operators": array(obj({"operator": STR, "registry_stops": INT, "matched": INT, "problems": INT})),
            "modes": array(obj({"transport": STR, "registry_stops": INT, "matched": INT})),
            "decisions": array(obj({"decision": STR, "status": STR, "count": INT})),
            "last_run": nullable(ref("Run")),
            "last_successful_run": nullable(ref("Run")),
        }
    ),
    "User": obj(
        {
            "id": INT,
            "username": STR,
            "role": {"type": "string", "enum": list(ROLES)},
            "is_active": BOOL,
            "auth_provider": {"type": "string", "enum": ["local", "osm"]},
            "osm_uid": nullable(INT),
            "has_api_token": BOOL,
            "created_at": nullable(DATETIME),
        }
    ),
    "Me": obj(
        {
            "user": nullable(
                obj(
                    {
                        "id": INT,
                        "username": STR,
                        "role": {"type": "string", "enum": list(ROLES)},
                        "auth": {"type": "string", "enum": ["session", "token"]},
                    }
                )
            ),
            "csrf_token": {
                "type": "string",
                "description": "Send as `X-CSRF-Token` with cookie-authenticated writes.",
            },
        }
    ),
    "UserInput": obj(
        {
            "username": {"type": "string", "minLength": 1, "maxLength": 80},
            "password": {"type": "string", "minLength": 10, "maxLength": 1024},
            "role": {"type": "string", "enum": list(ROLES), "default": "editor"},
        },
        required=["username", "password"],
        additionalProperties=False,
    ),
    "UserPatch": obj(
        {
            "role": {"type": "string", "enum": list(ROLES)},
            "is_active": BOOL,
            "password": {"type": "string", "minLength": 10, "maxLength": 1024},
        },
        required=[],
        additionalProperties=False,
    ),
    "PipelineStatus": obj(
        {
            "state": {
                "type": "string",
                "enum": ["idle", "queued", "running", "succeeded", "failed", "stale", "unknown"],
            },
            "queued": nullable(ANY_OBJECT),
            "lock": obj({"held": BOOL, "expires_in_s": nullable(NUM)}),
            "scheduler": obj({"alive": BOOL, "last_seen_at": nullable(STR)}),
            "error": nullable(STR),
            "next_scheduled_at": nullable(STR),
        },
        description="Live run status from Redis; while a run is active it also carries its run id, "
        "stage, progress and heartbeat. `requested_by` and `owner` (host:pid) are null except for "
        "admins; `last_error` is a short message with an error id (the traceback is in the server log).",
    ),
    "RunRequestAccepted": obj(
        {
            "request_id": nullable(STR),
            "state": {"type": "string", "const": "queued"},
            "requested_by": nullable(STR),
            "scheduler_alive": BOOL,
            "status_url": STR,
            "stream_url": STR,
        },
        required=["state", "status_url", "stream_url"],
    ),
}


def _error_responses() -> dict[str, Any]:
    out = {}
    for status, text_ in ERROR_TEXT.items():
        response: dict[str, Any] = {"description": text_, "content": {JSON: {"schema": ref("Error")}}}
        if status == 405:
            response["headers"] = {"Allow": {"schema": STR}}
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": STR}}
        out[f"Error{status}"] = response
    return out


# --- paths -----------------------------------------------------------------------------------

STREAMED_EXPORT = {
    "description": "The export, streamed (no Content-Length); served as an attachment.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/geo+json": {"schema": {"type": "object"}},
    },
    "headers": {"Content-Disposition": {"schema": STR}},
}

ROLE_USER_ID = path_param("user_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "User id.")


def core_paths() -> dict[str, Any]:
    """The API engineer's resources: stops, search, problems, decisions, stats, exports, users."""
    return {
        "/stops": {
            "get": operation(
                "Stops in a bounding box (GeoJSON)",
                "stops",
                {"200": json_response("Stops of both sides.", ref("StopCollection")), **errors(400)},
                parameters=[*STOP_FILTERS, limit_param(2000, 10000)],
                description="Registry and OSM stops as Point features with match status, partners and "
                "problems. Uses the spatial index. When more than `limit` stops match, the most urgent "
                "problem stops are kept and `truncated` is true.",
                operation_id="listStops",
            )
        },
        "/stops/atlas/{stop_id}": {
            "get": operation(
                "A registry stop with its OSM counterparts, matches, problems and decisions",
                "stops",
                {"200": json_response("The stop.", ref("StopDetail")), **errors(400, 404)},
                parameters=[
                    path_param(
                        "stop_id",
                        {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$"},
                        "Registry id, e.g. `ch:1:sloid:7000:1:2`.",
                    )
                ],
                operation_id="getAtlasStop",
            )
        },
        "/stops/osm/{osm_type}/{osm_id}": {
            "get": operation(
                "An OSM object with its registry counterparts, matches, problems and decisions",
                "stops",
                {"200": json_response("The object.", ref("StopDetail")), **errors(400, 404)},
                parameters=[
                    path_param(
                        "osm_type", {"type": "string", "enum": ["node", "way", "relation"]}, "OSM type."
                    ),
                    path_param("osm_id", {"type": "integer", "minimum": 1}, "OSM id."),
                ],
                operation_id="getOsmStop",
            )
        },
        "/search": {
            "get": operation(
                "Search by name, stop_id, UIC number or OSM id",
                "stops",
                {
                    "200": json_response(
                        "Best matches first.", obj({"query": STR, "results": array(ref("SearchResult"))})
                    ),
                    **errors(400),
                },
                parameters=[
                    query(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": 100},
                        "A name (prefix or fuzzy, accents ignored), a stop_id, a UIC number, or an OSM id "
                        "(`node/123`, `n123`, `123`).",
                        required=True,
                    ),
                    limit_param(20, 100),
                ],
                operation_id="search",
            )
        },
        "/problems": {
            "get": operation(
                "The problem queue",
                "problems",
                {"200": json_response("One page.", ref("ProblemPage")), **errors(400)},
                parameters=[
                    *PROBLEM_FILTERS,
                    query(
                        "cursor", {"type": "string", "maxLength": 500}, "`next_cursor` of the previous page."
                    ),
                    limit_param(50, 500),
                ],
                description="Filtered problems with their decisions, by priority (then id) or by "
                "distance (farthest first). Keyset pagination: pass `next_cursor` back as `cursor`.",
                operation_id="listProblems",
            )
        },
        "/decisions": {
            "get": operation(
                "Decisions with their history",
                "decisions",
                {"200": json_response("Decisions, newest first.", ref("DecisionPage")), **errors(400)},
                parameters=[
                    query(
                        "problem_identity",
                        {"type": "string", "maxLength": 300},
                        "The decision on this problem (a list of zero or one).",
                    ),
                    query("decision", csv_of(vocabulary.DECISIONS), "Only these decisions."),
                    query(
                        "status",
                        csv_of(vocabulary.DECISION_STATUSES),
                        "Only decisions in these states.",
                    ),
                    query("author", {"type": "string", "maxLength": 80}, "Only decisions by this user."),
                    query(
                        "cursor", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "`next_cursor`."
                    ),
                    limit_param(50, 500),
                ],
                operation_id="listDecisions",
            ),
            "post": operation(
                "Record or change the decision on a problem",
                "decisions",
                {
                    "201": json_response("Created.", ref("DecisionResult")),
                    "200": json_response("Changed (or unchanged when identical).", ref("DecisionResult")),
                    **errors(400, 401, 403, 404, 422),
                },
                body=ref("DecisionInput"),
                role="editor",
                operation_id="recordDecision",
            ),
        },
        "/stats": {
            "get": operation(
                "Counts per match method, problem type and priority, operator, means of transport; last run",
                "stats",
                {"200": json_response("Counts.", ref("Stats")), **errors(400)},
                operation_id="getStats",
            )
        },
        "/exports/{dataset}.{fmt}": {
            "get": operation(
                "Streamed export of stops, matches or problems",
                "exports",
                {"200": STREAMED_EXPORT, **errors(400, 404)},
                parameters=[
                    path_param(
                        "dataset", {"type": "string", "enum": ["stops", "matches", "problems"]}, "What."
                    ),
                    path_param("fmt", {"type": "string", "enum": ["csv", "geojson"]}, "Format."),
                    *STOP_FILTERS,
                    *[p for p in PROBLEM_FILTERS if p["name"] not in {s["name"] for s in STOP_FILTERS}],
                    CSV_BOM,
                ],
                description="Filters: stops and matches take the filters of `GET /stops`; problems take "
                "those of `GET /problems` (without paging). A filter of the other kind is a 400. "
                "Matches as GeoJSON are lines from the registry position to the OSM position.",
                operation_id="export",
            )
        },
        "/me": {
            "get": operation(
                "Who is signed in, and the CSRF token",
                "users",
                {"200": json_response("The caller.", ref("Me")), **errors(401)},
                operation_id="getMe",
            )
        },
        "/users": {
            "get": operation(
                "All users",
                "users",
                {
                    "200": json_response("Users by name.", obj({"users": array(ref("User"))})),
                    **errors(401, 403),
                },
                role="admin",
                operation_id="listUsers",
            ),
            "post": operation(
                "Create a user",
                "users",
                {
                    "201": json_response("Created.", obj({"user": ref("User")})),
                    **errors(400, 401, 403, 409, 422),
                },
                body=ref("UserInput"),
                role="admin",
                operation_id="createUser",
            ),
        },
        "/users/{user_id}": {
            "patch": operation(
                "Change a user's role, active flag or password",
                "users",
                {
                    "200": json_response("Changed.", obj({"user": ref("User")})),
                    **errors(400, 401, 403, 404, 409, 422),
                },
                parameters=[ROLE_USER_ID],
                body=ref("UserPatch"),
                role="admin",
                description="Deactivating a user also revokes their API token; changing a password ends "
                "their sessions. Admins cannot demote or deactivate themselves (409).",
                operation_id="updateUser",
            )
        },
        "/users/{user_id}/token": {
            "post": operation(
                "Issue a new API token (shown once; replaces the previous one)",
                "users",
                {
                    "201": json_response("The token.", obj({"user": ref("User"), "token": STR})),
                    **errors(401, 403, 404, 409),
                },
                parameters=[ROLE_USER_ID],
                role="editor",
                description="Admins may issue tokens for anyone, other users only for themselves. "
                "Send it as `Authorization: Bearer <token>`.",
                operation_id="issueToken",
            )
        },
        "/openapi.json": {
            "get": operation(
                "This document",
                "meta",
                {"200": json_response("OpenAPI 3.1 description.", ANY_OBJECT)},
                operation_id="getOpenapi",
            )
        },
    }


def pipeline_paths() -> dict[str, Any]:
    """The coordination engineer's pipeline endpoints (app/api/pipeline.py)."""
    return {
        "/pipeline/status": {
            "get": operation(
                "Live pipeline status",
                "pipeline",
                {
                    "200": json_response(
                        "Status (`unknown` when Redis is unreachable).", ref("PipelineStatus")
                    ),
                    **errors(400),
                },
                operation_id="getPipelineStatus",
            )
        },
        "/pipeline/runs": {
            "get": operation(
                "Pipeline run history, newest first",
                "pipeline",
                {
                    "200": json_response(
                        "One page of runs.", obj({"runs": array(ref("Run")), "next_cursor": nullable(STR)})
                    ),
                    **errors(400),
                },
                parameters=[
                    limit_param(20, 100),
                    query(
                        "cursor", {"type": "string", "maxLength": 200}, "`next_cursor` of the previous page."
                    ),
                ],
                operation_id="listRuns",
            ),
            "post": operation(
                "Request a pipeline run now",
                "pipeline",
                {
                    "202": json_response(
                        "Queued; a scheduler starts it within seconds.", ref("RunRequestAccepted")
                    ),
                    **errors(400, 401, 403, 409, 422, 503),
                },
                body=obj({"only_if_changed": BOOL}, required=[], additionalProperties=False),
                body_required=False,
                role="admin",
                description="409 while a run is active or one is already queued; 503 when Redis is "
                "unreachable. Rate limited (RATELIMIT_RUN_TRIGGER).",
                operation_id="requestRun",
            ),
        },
        "/pipeline/stream": {
            "get": operation(
                "Live run events (Server-Sent Events)",
                "pipeline",
                {
                    "200": {
                        "description": "`status`, `state`, `stage`, `progress` and `log` events; reconnect "
                        "with `Last-Event-ID` to resume.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **errors(400),
                },
                description="Each connection ends after PIPELINE_STREAM_MAX_S. Open connections are "
                "limited per client address (STREAM_MAX_PER_CLIENT) and in total (STREAM_MAX_TOTAL): "
                "one more gets 429, `details.limit` naming the setting, `Retry-After` when the oldest "
                "open stream ends.",
                parameters=[
                    query(
                        "last_event_id", {"type": "string", "maxLength": 64}, "Resume after this event id."
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 64},
                        "description": "Sent by EventSource on reconnect.",
                    },
                ],
                operation_id="streamPipeline",
            )
        },
    }


def _fragments() -> list[dict[str, Any]]:
    from app.api import openapi_operators, openapi_review, openapi_routes, openapi_tiles

    return [
        core_paths(),
        pipeline_paths(),
        openapi_review.paths(),
        openapi_operators.paths(),
        openapi_routes.paths(),
        openapi_tiles.paths(),
    ]


def _schemas() -> dict[str, Any]:
    from app.api import openapi_routes

    return {**SCHEMAS, **openapi_routes.SCHEMAS}


@functools.cache
def _spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for fragment in _fragments():
        for path, item in fragment.items():
            paths.setdefault(path, {}).update(item)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "StopSync API",
            "version": API_VERSION,
            "summary": "Public-transport stops of the official registry (ATLAS) and OpenStreetMap, matched.",
            "description": (
                "Read endpoints are open to everyone. Writes need a role: send `Authorization: Bearer "
                "<token>` (API token, no CSRF needed) or use the session cookie of `POST /login` and send "
                "the token of `GET /api/v1/me` as `X-CSRF-Token`.\n\n"
                'Every error has one shape: `{"error": {"status", "code", "message", "details"}}`. '
                "An unusable query parameter is a 400 naming it in `details.parameter`; a JSON body "
                "that breaks a field's rules is a 422 naming it in `details.field`.\n\n"
                "Data: opentransportdata.swiss / ATLAS; © OpenStreetMap contributors, ODbL."
            ),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [
            {"name": "stops", "description": "Stops of both sides, search"},
            {"name": "problems", "description": "Detected disagreements"},
            {"name": "decisions", "description": "What people decided about problems"},
            {"name": "stats", "description": "Counts"},
            {"name": "exports", "description": "Streamed CSV and GeoJSON"},
            {"name": "pipeline", "description": "Import runs"},
            {"name": "review", "description": "Manual matches, candidates, fix exports, changes"},
            {"name": "routes", "description": "Lines of both sides (OSM route relations, GTFS routes)"},
            {"name": "users", "description": "Sign-in state and user management"},
            {"name": "meta", "description": "This description"},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _schemas(),
            "responses": _error_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API token (`flask users token`).",
                },
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "After POST /login.",
                },
                "csrfHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "With the session cookie, every write sends the token of GET /api/v1/me.",
                },
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document (a deep copy: callers may change it)."""
    return copy.deepcopy(_spec())


@bp.get("/openapi.json")
def openapi_json():
    """This API's OpenAPI 3.1 description."""
    return jsonify(_spec())
