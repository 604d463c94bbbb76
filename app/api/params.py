"""Validation of query parameters and JSON bodies, answering in the one error shape.

Rule of the API: a query parameter that cannot be used is a 400 `invalid_parameter`; a JSON body
that is well-formed but breaks a field's rules is a 422 `validation_failed`. Both name the offending
field in `details`, so a client (or a person) can fix the request without reading our code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import request

from app.errors import ApiError
from pipeline.text import ascii_int

# Postgres text cannot hold NUL; a filter value longer than this is never a real value.
MAX_TEXT_PARAM = 200
OSM_TYPES = ("node", "way", "relation")
_BBOX_HELP = "{name} must be four numbers: minLon,minLat,maxLon,maxLat"
_OSM_KEY_RE = re.compile(r"^(node|way|relation)/([1-9][0-9]{0,17})$")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class BBox:
    """A WGS84 bounding box: west, south, east, north."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def as_list(self) -> list[float]:
        return [self.min_lon, self.min_lat, self.max_lon, self.max_lat]


def invalid(name: str, message: str, **details: Any) -> ApiError:
    """A 400 `invalid_parameter` naming the query parameter `name`."""
    return ApiError(400, "invalid_parameter", message, {"parameter": name, **details})


def reject_unknown(allowed: Iterable[str], args: Mapping[str, str] | None = None) -> None:
    """A misspelt filter must not silently return everything: unknown parameters are a 400."""
    args = request.args if args is None else args
    known = set(allowed)
    unknown = sorted(set(args) - known)
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unknown query parameter(s): {', '.join(unknown)}",
            {"parameter": unknown[0], "unknown": unknown, "allowed": sorted(known)},
        )


def text(name: str, *, max_length: int = MAX_TEXT_PARAM) -> str | None:
    """An optional free-text parameter (stripped; empty = absent)."""
    raw = request.args.get(name)
    if raw is None:
        return None
    value = raw.strip()
    if "\x00" in value:
        raise invalid(name, f"{name} must not contain NUL characters")
    if len(value) > max_length:
        raise invalid(name, f"{name} must have at most {max_length} characters", max_length=max_length)
    return value or None


def _ascii_integer(raw: str) -> int | None:
    """An optionally signed integer of ASCII digits, or None (int() also takes U+0661 for 1 and
    "1_000" for 1000)."""
    text = raw.strip()
    sign = -1 if text.startswith("-") else 1
    number = ascii_int(text[1:] if text[:1] in "+-" and len(text) > 1 else text, max_digits=18)
    return None if number is None else sign * number


def integer(name: str, default: int | None, *, minimum: int, maximum: int) -> int | None:
    """An optional integer within [minimum, maximum]."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = _ascii_integer(raw)
    if value is None:
        raise invalid(name, f"{name} must be an integer", value=raw[:MAX_TEXT_PARAM])
    if not minimum <= value <= maximum:
        raise invalid(
            name,
            f"{name} must be between {minimum} and {maximum}",
            value=value,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def limit(default: int, maximum: int) -> int:
    """The `limit` parameter within 1..maximum."""
    value = integer("limit", default, minimum=1, maximum=maximum)
    assert value is not None
    return value


def boolean(name: str) -> bool | None:
    """An optional true/false parameter (`true`/`false`, `1`/`0`, `yes`/`no`)."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise invalid(name, f"{name} must be true or false", value=raw[:MAX_TEXT_PARAM])


def choice(name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    """An optional parameter that must be one of `allowed`."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    options = list(allowed)
    value = raw.strip()
    if value not in options:
        message = f"{name} must be one of {', '.join(options)}"
        raise invalid(name, message, value=value[:MAX_TEXT_PARAM], allowed=options)
    return value


def choices(name: str, allowed: Iterable[str] | None = None) -> list[str]:
    """A comma-separated list; with `allowed`, every item must be one of them. Empty = no filter."""
    raw = request.args.get(name)
    if raw is None:
        return []
    if len(raw) > 20 * MAX_TEXT_PARAM:
        raise invalid(name, f"{name} is too long")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        if "\x00" in item or len(item) > MAX_TEXT_PARAM:
            raise invalid(name, f"{name} holds an invalid value")
    if allowed is not None:
        options = list(allowed)
        unknown = [item for item in items if item not in options]
        if unknown:
            raise invalid(
                name,
                f"{name} must be a comma-separated list of {', '.join(options)}",
                unknown=unknown[:10],
                allowed=options,
            )
    return list(dict.fromkeys(items))


def integers(name: str, *, minimum: int, maximum: int) -> list[int]:
    """A comma-separated list of integers within [minimum, maximum]."""
    values: list[int] = []
    for item in choices(name):
        value = _ascii_integer(item)
        if value is None:
            raise invalid(name, f"{name} must be a comma-separated list of integers", value=item)
        if not minimum <= value <= maximum:
            raise invalid(name, f"{name} values must be between {minimum} and {maximum}", value=value)
        values.append(value)
    return values


def bbox(name: str = "bbox", *, required: bool = False, max_area_deg2: float | None = None) -> BBox | None:
    """`minLon,minLat,maxLon,maxLat` in WGS84 degrees."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise invalid(name, f"{name} is required: minLon,minLat,maxLon,maxLat")
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise invalid(name, _BBOX_HELP.format(name=name), value=raw[:MAX_TEXT_PARAM])
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise invalid(name, _BBOX_HELP.format(name=name), value=raw[:MAX_TEXT_PARAM]) from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise invalid(name, f"{name} values must be finite numbers")
    lons_ok = -180 <= min_lon <= 180 and -180 <= max_lon <= 180
    if not (lons_ok and -90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise invalid(name, f"{name} must lie within longitude -180..180 and latitude -90..90")
    if min_lon > max_lon or min_lat > max_lat:
        raise invalid(name, f"{name} minimum must not exceed maximum (minLon,minLat,maxLon,maxLat)")
    box = BBox(min_lon, min_lat, max_lon, max_lat)
    if max_area_deg2 is not None and (max_lon - min_lon) * (max_lat - min_lat) > max_area_deg2:
        raise invalid(name, f"{name} is too large; zoom in", max_area_deg2=max_area_deg2)
    return box


def osm_key(value: str, name: str = "osm_key") -> str:
    """`node/123`, `way/45` or `relation/6`."""
    if not _OSM_KEY_RE.match(value):
        message = f"{name} must look like node/123, way/45 or relation/6"
        raise invalid(name, message, value=value[:MAX_TEXT_PARAM])
    return value


def is_osm_key(value: str) -> bool:
    """Whether `value` looks like `node/123`, `way/45` or `relation/6`."""
    return bool(_OSM_KEY_RE.match(value))


def json_body(*, required: Iterable[str] = (), allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON object body; missing or extra fields are a 422 naming them."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_body", "The request body must be a JSON object (Content-Type: application/json)."
        )
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise body_error(missing[0], f"{', '.join(missing)} is required", missing=missing)
    if allowed is not None:
        extra = sorted(set(body) - set(allowed))
        if extra:
            raise body_error(extra[0], f"Unknown field(s): {', '.join(extra)}", unknown=extra)
    return body


def body_error(field: str, message: str, **details: Any) -> ApiError:
    """A 422 `validation_failed` naming the body field."""
    return ApiError(422, "validation_failed", message, {"field": field, **details})


def body_str(body: Mapping[str, Any], name: str, *, max_length: int, required: bool = False) -> str | None:
    """An optional (or required) string field of the body, with a length limit."""
    value = body.get(name)
    if value is None:
        if required:
            raise body_error(name, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise body_error(name, f"{name} must be a string")
    if "\x00" in value:
        raise body_error(name, f"{name} must not contain NUL characters")
    if not value.isascii() and _LONE_SURROGATE.search(value):
        # JSON lets a string escape half a UTF-16 pair ("\ud800"); no database or page can hold it.
        raise body_error(name, f"{name} must be valid Unicode text (it holds a lone surrogate)")
    if len(value) > max_length:
        raise body_error(name, f"{name} must have at most {max_length} characters", max_length=max_length)
    return value
