"""Pure helpers of the API: cursors, OSM id spellings, safe redirects, CSV/GeoJSON writers, doc labels."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.api.docs import schema_label
from app.auth import safe_next
from app.services.exports import csv_stream, geojson_stream
from app.services.problems import InvalidCursorError, decode_cursor, encode_cursor
from app.services.search import _like_prefix, _osm_keys


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("node/123", ["node/123"]),
        ("n123", ["node/123"]),
        ("W 45", ["way/45"]),
        ("relation / 6", ["relation/6"]),
        ("123", ["node/123", "way/123", "relation/123"]),
        ("0", []),
        ("node/", []),
        ("x123", []),
        ("Zürich", []),
    ],
)
def test_osm_id_spellings(query, keys):
    assert _osm_keys(query) == keys


def test_like_prefix_escapes_wildcards():
    assert _like_prefix("50%_a\\b") == "50\\%\\_a\\\\b%"


@pytest.mark.parametrize("key", [[1, 7], [42.5, 3], [-1, 99]])
def test_cursor_round_trip(key):
    for sort in ("priority", "distance"):
        assert decode_cursor(encode_cursor(sort, key), sort) == key


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bm90IGpzb24", encode_cursor("distance", [1, 2]), encode_cursor("priority", ["a", 2])],
)
def test_foreign_or_mismatched_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor, "priority")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/review?type=distance", "/review?type=distance"),
        ("", "/"),
        (None, "/"),
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("review", "/"),
    ],
)
def test_login_redirects_stay_on_site(target, expected):
    assert safe_next(target) == expected


def test_csv_stream_writes_lists_and_defuses_formulas():
    rows = [{"a": "=1+1", "b": ["x", "y"], "c": 3}, {"a": "-2", "b": [], "c": None}, {"a": "-2+3+cmd"}]
    text = "".join(csv_stream(("a", "b", "c"), rows))
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with its byte-order mark
    parsed = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert parsed[0] == {"a": "'=1+1", "b": "x;y", "c": "3"}
    assert parsed[1]["a"] == "-2"  # a number stays a number
    assert parsed[2]["a"] == "'-2+3+cmd"


def test_geojson_stream_is_one_valid_document_in_chunks():
    features = ({"type": "Feature", "id": i, "geometry": None, "properties": {}} for i in range(1234))
    chunks = list(geojson_stream(features))
    assert len(chunks) > 3
    document = json.loads("".join(chunks))
    assert [f["id"] for f in document["features"]] == list(range(1234))
    assert json.loads("".join(geojson_stream([]))) == {"type": "FeatureCollection", "features": []}


def test_schema_labels_read_like_types():
    assert schema_label({"type": "integer", "minimum": 1, "maximum": 500}) == "integer (1..500)"
    assert schema_label({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}) == (
        "list of string: a | b (comma-separated)"
    )
    assert schema_label({"$ref": "#/components/schemas/Problem"}) == "Problem"
    assert schema_label({"type": ["string", "null"]}) == "string or null"
