"""Building blocks of the API's models: base classes and the query-string value types.

A query string carries text only, so every query type here is an `Annotated` type whose before
validator turns the text into the value (or raises with a message that names the parameter) and
whose constraints make the JSON schema of the OpenAPI document. The rules are the ones the API
always had: blank is absent, numbers are ASCII digits only (U+0661 or "1_000" is not 1 or 1000), a
list is comma-separated, NUL never reaches the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticUseDefault

from pipeline.text import SLOID_PATTERN, ascii_int

# Postgres text cannot hold NUL; a filter value longer than this is never a real value.
MAX_TEXT_PARAM = 200
INT4_MAX = 2**31 - 1
OSM_TYPES = ("node", "way", "relation")
OSM_KEY_PATTERN = r"^(node|way|relation)/[1-9][0-9]{0,17}$"
_OSM_KEY_RE = re.compile(r"^(node|way|relation)/([1-9][0-9]{0,17})\Z")
# A registry id: ATLAS sloids (ch:1:sloid:7000:1:2), NaPTAN AtcoCodes. \Z refuses a trailing newline.
STOP_ID_RE = re.compile(rf"{SLOID_PATTERN}\Z")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BBOX_HELP = "{name} must be four numbers: minLon,minLat,maxLon,maxLat"


class ResponseModel(BaseModel):
    """A response body. Keys a service adds later are kept (the handler returns the service's dict,
    which this model validates); the document lists the ones every client may rely on."""

    model_config = ConfigDict(extra="allow")


class QueryModel(BaseModel):
    """The query string of one operation. An unknown parameter is a 400: a misspelt filter must
    not silently return everything."""

    model_config = ConfigDict(extra="forbid")


class BodyModel(BaseModel):
    """A JSON request body: unknown fields are refused and values are not coerced ("true" is not
    a boolean, 1 is not a string)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _name(info: ValidationInfo) -> str:
    return info.field_name or (info.context or {}).get("name") or "value"


def _first(value: Any) -> Any:
    """A repeated parameter (`?q=a&q=b`) counts with its first value, as Flask's `args.get` does."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def ascii_integer(raw: str) -> int | None:
    """An optionally signed integer of ASCII digits, or None (int() also takes U+0661 for 1 and
    "1_000" for 1000)."""
    text = raw.strip()
    sign = -1 if text.startswith("-") else 1
    number = ascii_int(text[1:] if text[:1] in "+-" and len(text) > 1 else text, max_digits=18)
    return None if number is None else sign * number


# --- query value types -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryText(annotated_types.GroupedMetadata):
    """Free text, stripped; blank is absent; no NUL; at most `max_length` characters."""

    max_length: int = MAX_TEXT_PARAM

    def __iter__(self) -> Iterator[Any]:
        max_length = self.max_length

        def parse(value: Any, info: ValidationInfo) -> Any:
            value = _first(value)
            if not isinstance(value, str):
                return value
            name = _name(info)
            text = value.strip()
            if "\x00" in text:
                raise ValueError(f"{name} must not contain NUL characters")
            if len(text) > max_length:
                raise ValueError(f"{name} must have at most {max_length} characters")
            if not text:
                raise PydanticUseDefault()
            return text

        # Constraints first: pydantic applies them to the type (and documents them); the before
        # validator then wraps the constrained type.
        yield annotated_types.MaxLen(max_length)
        yield BeforeValidator(parse)


@dataclass(frozen=True)
class QueryInt(annotated_types.GroupedMetadata):
    """An integer of ASCII digits within [minimum, maximum]; blank is the default."""

    minimum: int
    maximum: int

    def __iter__(self) -> Iterator[Any]:
        minimum, maximum = self.minimum, self.maximum

        def parse(value: Any, info: ValidationInfo) -> Any:
            value = _first(value)
            if _blank(value):
                raise PydanticUseDefault()
            if isinstance(value, str):
                name = _name(info)
                number = ascii_integer(value)
                if number is None:
                    raise ValueError(f"{name} must be an integer")
                if not minimum <= number <= maximum:
                    raise ValueError(f"{name} must be between {minimum} and {maximum}")
                return number
            return value

        yield annotated_types.Ge(minimum)
        yield annotated_types.Le(maximum)
        yield BeforeValidator(parse)


def _parse_bool(value: Any, info: ValidationInfo) -> Any:
    value = _first(value)
    if _blank(value):
        raise PydanticUseDefault()
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise ValueError(f"{_name(info)} must be true or false")
    return value


# `true`/`false`, `1`/`0`, `yes`/`no`; blank is the default.
QueryBool = BeforeValidator(_parse_bool)


@dataclass(frozen=True)
class QueryChoice(annotated_types.GroupedMetadata):
    """One value of a closed set; blank is the default."""

    allowed: Sequence[str]

    def __iter__(self) -> Iterator[Any]:
        options = list(self.allowed)

        def parse(value: Any, info: ValidationInfo) -> Any:
            value = _first(value)
            if _blank(value):
                raise PydanticUseDefault()
            if isinstance(value, str):
                text = value.strip()
                if text not in options:
                    raise ValueError(f"{_name(info)} must be one of {', '.join(options)}")
                return text
            return value

        def document(schema: dict[str, Any]) -> None:
            # `str | None` is anyOf [string, null]: the values belong to the string.
            target = next((o for o in schema.get("anyOf", []) if o.get("type") == "string"), schema)
            target["enum"] = options

        yield BeforeValidator(parse)
        yield Field(json_schema_extra=document)


def _split(value: Any, name: str) -> list[str]:
    raws = value if isinstance(value, list) else [value]
    items: list[str] = []
    for raw in raws:
        if not isinstance(raw, str):
            raise ValueError(f"{name} must be a comma-separated list")
        if len(raw) > 20 * MAX_TEXT_PARAM:
            raise ValueError(f"{name} is too long")
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if "\x00" in item or len(item) > MAX_TEXT_PARAM:
                raise ValueError(f"{name} holds an invalid value")
            items.append(item)
    return list(dict.fromkeys(items))


# A comma-separated list in the query string: `?status=matched,unmatched` (OpenAPI form, explode false).
_CSV_STYLE: dict[str, Any] = {"style": "form", "explode": False}


@dataclass(frozen=True)
class QueryList(annotated_types.GroupedMetadata):
    """A comma-separated list; with `allowed`, every item is one of them (`upper` compares in upper
    case). Empty is no filter. `max_items` bounds the list."""

    allowed: Sequence[str] | None = None
    upper: bool = False
    max_items: int | None = None
    item_max_length: int = MAX_TEXT_PARAM

    def __iter__(self) -> Iterator[Any]:
        options = None if self.allowed is None else list(self.allowed)
        upper, max_items = self.upper, self.max_items

        def parse(value: Any, info: ValidationInfo) -> Any:
            if value is None:
                return []
            name = _name(info)
            items = _split(value, name)
            if upper:
                items = [item.upper() for item in items]
            if options is not None:
                unknown = [item for item in items if item not in options]
                if unknown:
                    raise ValueError(f"{name} must be a comma-separated list of {', '.join(options)}")
            if max_items is not None and len(items) > max_items:
                raise ValueError(f"at most {max_items} {name} values at once")
            return items

        items: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": self.item_max_length}
        if options is not None:
            items = {"type": "string", "enum": options}
        extra: dict[str, Any] = {"items": items, **_CSV_STYLE}
        if options is not None:
            extra["uniqueItems"] = True
        if max_items is not None:
            extra["maxItems"] = max_items
        yield BeforeValidator(parse)
        yield Field(json_schema_extra=extra)


@dataclass(frozen=True)
class QueryIntList(annotated_types.GroupedMetadata):
    """A comma-separated list of integers within [minimum, maximum]."""

    minimum: int
    maximum: int

    def __iter__(self) -> Iterator[Any]:
        minimum, maximum = self.minimum, self.maximum

        def parse(value: Any, info: ValidationInfo) -> Any:
            if value is None:
                return []
            name = _name(info)
            numbers: list[int] = []
            for item in _split(value, name):
                number = ascii_integer(item)
                if number is None:
                    raise ValueError(f"{name} must be a comma-separated list of integers")
                if not minimum <= number <= maximum:
                    raise ValueError(f"{name} values must be between {minimum} and {maximum}")
                numbers.append(number)
            return numbers

        yield BeforeValidator(parse)
        yield Field(
            json_schema_extra={
                "items": {"type": "integer", "minimum": minimum, "maximum": maximum},
                "uniqueItems": True,
                **_CSV_STYLE,
            }
        )


def _pattern_check(regex: re.Pattern[str], help_text: str) -> Callable[[Any, ValidationInfo], Any]:
    def parse(value: Any, info: ValidationInfo) -> Any:
        value = _first(value)
        if _blank(value):
            raise PydanticUseDefault()
        if isinstance(value, str):
            text = value.strip()
            if not regex.match(text):
                raise ValueError(f"{_name(info)} {help_text}")
            return text
        return value

    return parse


# `node/123`, `way/45` or `relation/6`.
OsmKeyParam = BeforeValidator(_pattern_check(_OSM_KEY_RE, "must look like node/123, way/45 or relation/6"))
OSM_KEY_FIELD = Field(pattern=OSM_KEY_PATTERN, max_length=40)
# A registry stop id (ATLAS sloid, NaPTAN AtcoCode): ASCII letters, digits and `:._-`, at most 100.
StopIdParam = BeforeValidator(_pattern_check(STOP_ID_RE, "is not a valid registry stop id"))
STOP_ID_PATTERN = rf"^{SLOID_PATTERN}$"
STOP_ID_FIELD = Field(pattern=STOP_ID_PATTERN, max_length=100)


@dataclass(frozen=True)
class BBox:
    """A WGS84 bounding box: west, south, east, north."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def as_list(self) -> list[float]:
        """[minLon, minLat, maxLon, maxLat]."""
        return [self.min_lon, self.min_lat, self.max_lon, self.max_lat]


def parse_bbox(raw: str, name: str = "bbox", max_area_deg2: float | None = None) -> BBox:
    """`minLon,minLat,maxLon,maxLat` in WGS84 degrees, or ValueError naming `name`."""
    parts = raw.split(",")
    if len(parts) != 4:
        raise ValueError(_BBOX_HELP.format(name=name))
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise ValueError(_BBOX_HELP.format(name=name)) from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise ValueError(f"{name} values must be finite numbers")
    lons_ok = -180 <= min_lon <= 180 and -180 <= max_lon <= 180
    if not (lons_ok and -90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise ValueError(f"{name} must lie within longitude -180..180 and latitude -90..90")
    if min_lon > max_lon or min_lat > max_lat:
        raise ValueError(f"{name} minimum must not exceed maximum (minLon,minLat,maxLon,maxLat)")
    if max_area_deg2 is not None and (max_lon - min_lon) * (max_lat - min_lat) > max_area_deg2:
        raise ValueError(f"{name} is too large; zoom in")
    return BBox(min_lon, min_lat, max_lon, max_lat)


def _bbox(value: Any, info: ValidationInfo) -> Any:
    value = _first(value)
    if _blank(value):
        raise PydanticUseDefault()
    if isinstance(value, str):
        return parse_bbox(value, _name(info)).as_list()
    return value


# The value is [minLon, minLat, maxLon, maxLat]; the query string spells it `9.47,47.04,9.64,47.27`.
BBoxParam = BeforeValidator(_bbox)
BBOX_FIELD = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$",
        "description": "WGS84 bounding box `minLon,minLat,maxLon,maxLat` (e.g. `9.47,47.04,9.64,47.27`).",
        "example": "9.47,47.04,9.64,47.27",
    }
)


# --- body value types ------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyText(annotated_types.GroupedMetadata):
    """A string field of a JSON body: no NUL, no lone surrogate, at most `max_length` characters."""

    max_length: int
    min_length: int = 0

    def __iter__(self) -> Iterator[Any]:
        def check(value: Any, info: ValidationInfo) -> Any:
            if isinstance(value, str):
                name = _name(info)
                if "\x00" in value:
                    raise ValueError(f"{name} must not contain NUL characters")
                if not value.isascii() and _LONE_SURROGATE.search(value):
                    # JSON lets a string escape half a UTF-16 pair ("\ud800"); no database or page
                    # can hold it.
                    raise ValueError(f"{name} must be valid Unicode text (it holds a lone surrogate)")
            return value

        yield annotated_types.MaxLen(self.max_length)
        if self.min_length:
            yield annotated_types.MinLen(self.min_length)
        yield BeforeValidator(check)


@dataclass(frozen=True)
class BodyMatch(annotated_types.GroupedMetadata):
    """A string field of a JSON body that must match `pattern` (documented as the schema's pattern)."""

    pattern: str
    help_text: str

    def __iter__(self) -> Iterator[Any]:
        regex = re.compile(self.pattern.removesuffix("$") + r"\Z")
        help_text = self.help_text

        def check(value: str, info: ValidationInfo) -> str:
            if not regex.match(value):
                raise ValueError(f"{_name(info)} {help_text}")
            return value

        yield AfterValidator(check)
        yield Field(json_schema_extra={"pattern": self.pattern})


def is_osm_key(value: str) -> bool:
    """Whether `value` looks like `node/123`, `way/45` or `relation/6`."""
    return bool(_OSM_KEY_RE.match(value))
