"""The streamed Overpass JSON reader: the same values and the same refusals as json.load, without
ever decoding the whole elements array at once."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from pipeline.errors import SourceError
from pipeline.sources import ParseOptions, get_source
from pipeline.sources.json_stream import NotAnObjectError, stream_object

ROOT = Path(__file__).resolve().parents[2]
DEMO_OSM = ROOT / "data/demo/osm_li.json"
osm_source = get_source("osm")
OPTIONS = ParseOptions(today=__import__("datetime").date(2025, 8, 2), boundary=None)


def streamed(text: str, chunk_chars: int) -> tuple[list[object], dict[str, object]]:
    members: dict[str, object] = {}
    items = list(stream_object(io.StringIO(text), "elements", members, chunk_chars=chunk_chars))
    return items, members


@pytest.mark.parametrize("chunk_chars", [1, 7, 64, 4096, 1 << 20])
def test_streamed_elements_equal_json_load_at_any_chunk_size(chunk_chars):
    text = DEMO_OSM.read_text(encoding="utf-8")
    whole = json.loads(text)
    items, members = streamed(text, chunk_chars)
    assert items == whole["elements"]
    assert {k: v for k, v in members.items() if k != "elements"} == {
        k: v for k, v in whole.items() if k != "elements"
    }


def test_number_cut_at_the_buffer_end_is_read_whole():
    # "12345" split as "12" + "345": raw_decode would accept 12 if the reader did not read on.
    text = '{"elements": [12345, 1.5e300, -0.000001, "x"], "remark": 67890}'
    for chunk_chars in range(1, 12):
        items, members = streamed(text, chunk_chars)
        assert items == [12345, 1.5e300, -0.000001, "x"]
        assert members["remark"] == 67890


BROKEN = [
    "",
    "   \n\n  ",
    '{"elements": [1, 2',
    '{"elements": [1, 2]',
    '{"elements": [1 2]}',
    '{"elements": [1, 2],\n\n "remark": "x" "y": 1}',
    '{"elements": [1, 2]}\n\n  trailing',
    '{"elements": [1, 2], }',
    '{"elements" [1]}',
    '{\n"elements": [{"type": "node",\n "id": 1,\n "lat": 47.1,\n "lon": 9.5, "tags": {"a": }}]}',
    '{"elements": [], "x": tru}',
    "\ufeff{}",
]


@pytest.mark.parametrize("text", BROKEN)
@pytest.mark.parametrize("chunk_chars", [3, 1 << 20])
def test_invalid_json_is_refused_with_json_loads_message_and_line(text, chunk_chars):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as caught:
        streamed(text, chunk_chars)
    assert caught.value.msg == expected.value.msg
    assert caught.value.lineno == expected.value.lineno


def test_a_document_that_is_not_an_object_is_told_apart():
    with pytest.raises(NotAnObjectError):
        streamed("[1, 2, 3]", 4)
    with pytest.raises(json.JSONDecodeError):
        streamed("[1, 2, 3", 4)  # invalid JSON is reported as invalid first


def test_truncated_overpass_file_names_the_line_json_load_names(tmp_path):
    text = DEMO_OSM.read_text(encoding="utf-8")
    broken = text[: len(text) // 2]
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    path = tmp_path / "osm.json"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        osm_source.parse([path], OPTIONS)
    assert "invalid JSON" in str(caught.value)
    assert caught.value.line == expected.value.lineno


def test_overpass_error_remark_after_the_elements_wins_over_a_bad_element(tmp_path):
    # Overpass writes its remark after the elements; the first element has no position. Decoded
    # whole, the file was refused for the remark; streamed, it must be refused for the same reason.
    payload = {
        "elements": [{"type": "node", "id": 1, "tags": {"highway": "bus_stop"}}],
        "remark": "runtime error: Query timed out in query at line 3 after 361 seconds.",
    }
    path = tmp_path / "osm.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(SourceError, match="Overpass reported an error"):
        osm_source.parse([path], OPTIONS)
    del payload["remark"]
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(SourceError, match="has no position"):
        osm_source.parse([path], OPTIONS)


def test_two_elements_lists_are_refused(tmp_path):
    path = tmp_path / "osm.json"
    path.write_text('{"elements": [], "elements": []}', encoding="utf-8")
    with pytest.raises(SourceError, match="not an Overpass response"):
        osm_source.parse([path], OPTIONS)


def test_elements_that_are_not_a_list_are_refused(tmp_path):
    path = tmp_path / "osm.json"
    for text in ('{"elements": {"type": "node"}}', '{"elements": [], "remark": null, "elements": 3}', "{}"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SourceError, match="not an Overpass response"):
            osm_source.parse([path], OPTIONS)


def test_overpass_json_is_never_decoded_whole(tmp_path):
    # 60,000 non-stop nodes (benches): decoded whole, their dicts take about 25 MB; streamed, one
    # element at a time plus a one-MiB text buffer is live.
    elements = [
        {
            "type": "node",
            "id": i,
            "lat": 47.1 + i * 1e-6,
            "lon": 9.5,
            "tags": {"amenity": "bench", "n": str(i)},
        }
        for i in range(1, 60_001)
    ]
    elements.append({"type": "node", "id": 70_000, "lat": 47.1, "lon": 9.5, "tags": {"highway": "bus_stop"}})
    path = tmp_path / "osm.json"
    path.write_text(json.dumps({"version": 0.6, "elements": elements}), encoding="utf-8")
    del elements
    tracemalloc.start()
    try:
        result = osm_source.parse([path], OPTIONS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.osm_key for r in result.records] == ["node/70000"]
    assert result.stats["elements"] == 60_001
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_equal_tag_values_of_different_objects_are_one_string(tmp_path):
    elements = [
        {
            "type": "node",
            "id": i,
            "lat": 47.1,
            "lon": 9.5,
            "tags": {"highway": "bus_stop", "operator": "PostAuto"},
        }
        for i in (1, 2)
    ]
    path = tmp_path / "osm.json"
    path.write_text(json.dumps({"elements": elements}), encoding="utf-8")
    first, second = osm_source.parse([path], OPTIONS).records
    assert first.operator == second.operator == "PostAuto"
    assert first.operator is second.operator
    assert first.osm_type is second.osm_type
