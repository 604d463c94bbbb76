"""The OpenAPI 3.1 document of /api/v1, generated from the views' models.

spectree describes every decorated view: its path and path parameters, its query parameters and
JSON body from their models, and its JSON answers from the response models. This module adds what
the models do not carry (`endpoint.OPERATIONS`): the error responses in the one error shape, roles
and security, non-JSON answers (CSV, osmChange, SSE) by content type, response headers, and the
types of path parameters. The document is built once per process, from the blueprint alone (no
application, database or request needed), so the fuzz test can load it at import.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import Flask

from app.api.schemas.common import ErrorBody
from app.api.schemas.endpoint import OPERATIONS, OperationDoc, spec

API_PREFIX = "/api/v1"
JSON = "application/json"

ERROR_TEXT = {
    400: "Invalid query or path parameter (`details.parameter`), a body that is not a JSON object, "
    "a number out of range, or a CSRF failure.",
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

TAGS = (
    ("stops", "Stops of both sides, search"),
    ("problems", "Detected disagreements"),
    ("decisions", "What people decided about problems"),
    ("stats", "Counts and the registry steward's figures"),
    ("exports", "Streamed CSV and GeoJSON"),
    ("map", "Vector tiles of the map"),
    ("pipeline", "Import runs"),
    ("review", "Manual matches, candidates, fix exports, changes"),
    ("routes", "Lines of both sides (OSM route relations, GTFS routes)"),
    ("users", "Sign-in state and user management"),
    ("meta", "This description"),
)

INFO = {
    "title": "StopSync API",
    "version": "1.0.0",
    "summary": "Public-transport stops of an official registry (ATLAS, NaPTAN) and OpenStreetMap, matched.",
    "description": (
        "Read endpoints are open to everyone. Writes need a role: send `Authorization: Bearer "
        "<token>` (API token, no CSRF needed) or use the session cookie of `POST /login` and send "
        "the token of `GET /api/v1/me` as `X-CSRF-Token`.\n\n"
        'Every error has one shape: `{"error": {"status", "code", "message", "details"}}`. '
        "An unusable query or path parameter is a 400 naming it in `details.parameter`; a JSON body "
        "that breaks a field's rules is a 422 naming it in `details.field`.\n\n"
        "Data: opentransportdata.swiss / ATLAS; NaPTAN (Department for Transport); "
        "© OpenStreetMap contributors, ODbL."
    ),
    "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
}

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token (`flask users token`)."},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session", "description": "After POST /login."},
    "csrfHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "With the session cookie, every write sends the token of GET /api/v1/me.",
    },
}


def _strip_titles(node: Any) -> Any:
    """pydantic titles every schema after its field name; the document reads better without them.
    (A property *named* `title` is a dict value, not a string, and stays.)"""
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, (list, tuple)):  # spectree writes a route's `any(...)` values as a tuple
        return [_strip_titles(item) for item in node]
    return node


def _parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value, never JSON null: `X | None` is described as X."""
    out = dict(schema)
    options = out.get("anyOf")
    if options:
        values = [option for option in options if option != {"type": "null"}]
        if len(values) == 1:
            out = {**values[0], **{k: v for k, v in out.items() if k != "anyOf"}}
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def _error_responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, text in ERROR_TEXT.items():
        response: dict[str, Any] = {
            "description": text,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == 405:
            response["headers"] = {"Allow": {"schema": {"type": "string"}}}
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[f"Error{status}"] = response
    return out


def _finish_operation(op: dict[str, Any], doc: OperationDoc) -> None:
    parameters = []
    for param in op.get("parameters", []):
        param = dict(param)
        if param["in"] == "path" and param["name"] in doc.path:
            schema, description = doc.path[param["name"]]
            param["schema"] = schema
            param["description"] = description or param.get("description", "")
        elif param["in"] == "query":
            param["schema"] = _parameter_schema(param["schema"])
            param["description"] = param["schema"].pop("description", param.get("description", ""))
            param.pop("example", None)
        if not param.get("description"):
            param.pop("description", None)
        parameters.append(param)
    parameters += doc.parameters
    if parameters:
        op["parameters"] = parameters
    else:
        op.pop("parameters", None)

    responses = op.setdefault("responses", {})
    for error in doc.errors:
        responses[str(error)] = {"$ref": f"#/components/responses/Error{error}"}
    for code, response in doc.responses.items():
        responses[code] = response
    for code, headers in doc.headers.items():
        responses[code].setdefault("headers", {}).update(headers)
    for code, media in doc.media.items():
        responses[code].setdefault("content", {}).update(media)
    op["responses"] = dict(sorted(responses.items()))

    if "requestBody" in op:
        op["requestBody"]["required"] = doc.body_required
    if not op.get("description"):
        op.pop("description", None)
    if doc.role is not None:
        op["security"] = [{"bearerAuth": []}, {"cookieAuth": [], "csrfHeader": []}]
        op["x-required-role"] = doc.role
        op["description"] = (op.get("description", "") + f"\n\nRequires the `{doc.role}` role.").strip()
    else:
        op["security"] = [{}, {"bearerAuth": []}, {"cookieAuth": []}]


def _spectree_document() -> dict[str, Any]:
    """spectree's description of the blueprint's decorated views, on an application of its own."""
    from app.api import bp

    app = Flask("stopsync-openapi")
    app.register_blueprint(bp)
    with app.app_context():
        return copy.deepcopy(spec._generate_spec())


@functools.cache
def _document() -> dict[str, Any]:
    generated = _strip_titles(_spectree_document())
    paths: dict[str, Any] = {}
    for path, item in generated["paths"].items():
        short = path.removeprefix(API_PREFIX)
        for method, op in item.items():
            doc = OPERATIONS[op["operationId"]]
            _finish_operation(op, doc)
            paths.setdefault(short, {})[method] = op
    inlined = {doc.query_model for doc in OPERATIONS.values()}
    schemas = {
        name: schema
        for name, schema in generated["components"]["schemas"].items()
        if not name.startswith("ValidationError") and name not in inlined
    }
    schemas["Error"] = _strip_titles(ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
    schemas.update(schemas["Error"].pop("$defs", {}))
    used_tags = {tag for item in paths.values() for op in item.values() for tag in op["tags"]}
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": API_PREFIX}],
        "tags": [{"name": name, "description": text} for name, text in TAGS if name in used_tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": _error_responses(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (a deep copy: callers may change it)."""
    return copy.deepcopy(_document())
