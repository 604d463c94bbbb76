"""The browsable API reference at /api/docs, rendered on the server from the OpenAPI document.

No JavaScript and no CDN: the page is plain HTML built from the same dict `/api/v1/openapi.json`
serves, so it cannot drift from the description the tests check.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template
from markupsafe import Markup, escape

from app.api.openapi import openapi_document

bp = Blueprint("api_docs", __name__)

METHOD_ORDER = ("get", "post", "put", "patch", "delete")
_CODE_SPAN = re.compile(r"`([^`]+)`")


@bp.app_template_filter("inline_code")
def inline_code(value: str) -> Markup:
    """Escape text, then show its `backticked` spans as <code> (descriptions use Markdown's spans)."""
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(value))))  # noqa: S704 - escaped first


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def schema_label(schema: dict[str, Any] | None) -> str:
    """A short human description of a schema: `string`, `integer 1..500`, `array of Problem`..."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(schema_label(option) for option in schema[combinator])
    if "allOf" in schema:
        return " + ".join(schema_label(part) for part in schema["allOf"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(str(k) for k in kind)
    if kind == "array":
        label = f"list of {schema_label(schema.get('items'))}"
        return label + (" (comma-separated)" if schema.get("items", {}).get("enum") else "")
    if "enum" in schema:
        return f"{kind}: " + " | ".join(str(value) for value in schema["enum"] if value is not None)
    if "const" in schema:
        return f'"{schema["const"]}"'
    bounds = []
    if "minimum" in schema or "maximum" in schema:
        bounds.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "maxLength" in schema:
        bounds.append(f"≤ {schema['maxLength']} chars")
    if "format" in schema:
        bounds.append(schema["format"])
    return f"{kind} ({', '.join(bounds)})" if bounds else str(kind)


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    tags = [tag["name"] for tag in document.get("tags", [])]
    sections: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    for path, item in document["paths"].items():
        for method in METHOD_ORDER:
            op = item.get(method)
            if op is None:
                continue
            parameters = [_resolve(document, p) for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            body_fields = []
            if body:
                resolved = _resolve(document, body)
                required = set(resolved.get("required", []))
                body_fields = [
                    {"name": name, "type": schema_label(field), "required": name in required}
                    for name, field in resolved.get("properties", {}).items()
                ]
            responses = []
            for status, response in op["responses"].items():
                response = _resolve(document, response)
                content = response.get("content", {})
                media = next(iter(content), None)
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "media": media,
                        "schema": schema_label(content[media].get("schema")) if media else "",
                    }
                )
            sections.setdefault(op["tags"][0], []).append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": document["servers"][0]["url"] + path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "role": op.get("x-required-role"),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "type": schema_label(p.get("schema")),
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                        }
                        for p in parameters
                    ],
                    "body": body_fields,
                    "body_schema": schema_label(body) if body else None,
                    "responses": responses,
                }
            )
    descriptions = {tag["name"]: tag.get("description", "") for tag in document.get("tags", [])}
    return [
        {"name": name, "description": descriptions.get(name, ""), "operations": ops}
        for name, ops in sections.items()
        if ops
    ]


def _schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in document["components"]["schemas"].items():
        parts = schema.get("allOf", [schema])
        fields = []
        for part in parts:
            part = _resolve(document, part)
            required = set(part.get("required", []))
            fields += [
                {
                    "name": field,
                    "type": schema_label(definition),
                    "required": field in required,
                    "description": definition.get("description", ""),
                }
                for field, definition in part.get("properties", {}).items()
            ]
        out.append({"name": name, "description": schema.get("description", ""), "fields": fields})
    return out


@bp.get("/api/docs")
def docs():
    """The API reference page."""
    document = openapi_document()
    return render_template(
        "api_docs.html",
        info=document["info"],
        sections=_operations(document),
        schemas=_schemas(document),
        error_codes=[
            (name.removeprefix("Error"), response["description"])
            for name, response in document["components"]["responses"].items()
        ],
    )
