"""Which OSM stop nodes belong to a way (`OsmObject.way_member`), from every input format, and the
demo extract's versions. Pure: files in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.sources import ParseOptions, get_source

DEMO = Path(__file__).resolve().parents[2] / "data/demo/osm_li.json"
osm_source = get_source("osm")
PLATFORM = {"public_transport": "platform", "highway": "bus_stop", "name": "A"}
STOP_POSITION = {"public_transport": "stop_position", "bus": "yes", "name": "A"}


def overpass(tmp_path: Path, elements: list[dict]) -> Path:
    path = tmp_path / "osm.json"
    path.write_text(json.dumps({"version": 0.6, "elements": elements}), encoding="utf-8")
    return path


def members(path: Path) -> dict[str, bool | None]:
    return {r.osm_key: r.way_member for r in osm_source.parse([path], ParseOptions()).records}


def test_overpass_json_with_the_ways_around_the_stops_marks_the_stop_positions_as_way_members(tmp_path):
    path = overpass(
        tmp_path,
        [
            {"type": "node", "id": 1, "lat": 47.1, "lon": 9.5, "version": 3, "tags": PLATFORM},
            {"type": "node", "id": 2, "lat": 47.1, "lon": 9.5001, "version": 5, "tags": STOP_POSITION},
            {"type": "way", "id": 10, "nodes": [7, 2, 8]},  # the road, `way(bn); out skel;`
        ],
    )
    assert members(path) == {"node/1": False, "node/2": True}


def test_a_stop_way_output_again_as_a_skeleton_stays_one_stop_and_marks_its_nodes(tmp_path):
    # The live query prints stop ways with `out meta center` and, as ways around stop nodes, once
    # more with `out skel`: the second copy has no tags and must neither replace nor drop the stop.
    platform_way = {
        "type": "way",
        "id": 20,
        "version": 4,
        "center": {"lat": 47.1, "lon": 9.5},
        "tags": PLATFORM,
    }
    path = overpass(
        tmp_path,
        [
            {"type": "node", "id": 2, "lat": 47.1, "lon": 9.5001, "version": 5, "tags": PLATFORM},
            platform_way,
            {"type": "way", "id": 20, "nodes": [2, 3, 4, 2]},
        ],
    )
    records = {r.osm_key: r for r in osm_source.parse([path], ParseOptions()).records}
    assert set(records) == {"node/2", "way/20"}
    assert records["way/20"].version == 4
    assert records["node/2"].way_member is True


def test_overpass_json_without_any_way_leaves_membership_unknown(tmp_path):
    path = overpass(
        tmp_path,
        [
            {"type": "node", "id": 1, "lat": 47.1, "lon": 9.5, "tags": PLATFORM},
            {"type": "node", "id": 2, "lat": 47.1, "lon": 9.5001, "tags": STOP_POSITION},
        ],
    )
    assert members(path) == {"node/1": None, "node/2": None}


def test_osm_xml_marks_nodes_of_any_way_as_members(tmp_path):
    path = tmp_path / "osm.osm"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="47.1" lon="9.5" version="2"><tag k="public_transport" v="platform"/></node>
  <node id="2" lat="47.1" lon="9.5001" version="2"><tag k="public_transport" v="stop_position"/></node>
  <node id="3" lat="47.1" lon="9.5002"/>
  <way id="10" version="1"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>
""",
        encoding="utf-8",
    )
    assert members(path) == {"node/1": False, "node/2": True}


def test_the_demo_extract_carries_versions_and_way_membership():
    records = osm_source.parse([DEMO], ParseOptions()).records
    assert all(r.version and r.version >= 1 for r in records)
    nodes = [r for r in records if r.osm_type == "node"]
    stop_positions = [r for r in nodes if r.public_transport == "stop_position"]
    assert all(r.way_member is True for r in stop_positions)
    platforms = [r for r in nodes if r.public_transport == "platform"]
    assert sum(1 for r in platforms if r.way_member is False) >= 300
    assert all(r.way_member is None for r in records if r.osm_type == "way")
