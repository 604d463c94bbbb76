"""The OSM source's structure: stop areas, transit routes and route masters, from JSON, XML and PBF."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.geo import load_boundary
from pipeline.records import OsmMember, route_role
from pipeline.sources import ParseOptions, get_source
from tests.live_formats import SUBSET_PBF
from tests.osm_xml import overpass_json_to_osm_xml

ROOT = Path(__file__).resolve().parents[2]
DEMO_JSON = ROOT / "data/demo/osm_li.json"
OPTIONS = ParseOptions(today=dt.date(2025, 8, 2), boundary=load_boundary())
osm_source = get_source("osm")


def overpass(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": 0.6, "elements": elements}


def write_json(tmp_path: Path, elements: list[dict[str, Any]], name: str = "osm.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(overpass(elements)), encoding="utf-8")
    return path


def node(node_id: int, lat: float = 47.1, lon: float = 9.52, **tags: str) -> dict[str, Any]:
    return {"type": "node", "id": node_id, "lat": lat, "lon": lon, "tags": tags}


def member(kind: str, ref: int, role: str = "") -> dict[str, Any]:
    return {"type": kind, "ref": ref, "role": role}


def relation(rel_id: int, members: list[dict[str, Any]], **tags: str) -> dict[str, Any]:
    return {"type": "relation", "id": rel_id, "version": 3, "members": members, "tags": tags}


PLATFORM = {"public_transport": "platform", "highway": "bus_stop"}
STOP = {"public_transport": "stop_position", "bus": "yes"}


def small_network() -> list[dict[str, Any]]:
    """Two stops, a stop area, a bus route in each direction, their master, and a hiking route."""
    return [
        node(1, 47.10, 9.52, name="Dorf", uic_ref="8500001", **PLATFORM),
        node(2, 47.10, 9.5201, **STOP),
        node(3, 47.11, 9.52, name="Feld", **PLATFORM),
        node(4, 47.11, 9.5201, **STOP),
        relation(
            100,
            [member("node", 2, "stop"), member("node", 1, "platform"), member("way", 9, "building")],
            type="public_transport",
            public_transport="stop_area",
            name="Dorf",
            uic_ref="8500001",
            uic_name="Dorf, Post",
        ),
        relation(
            200,
            [
                member("node", 2, "stop_entry_only"),
                member("node", 1, "platform_entry_only"),
                member("way", 50),
                member("way", 51),
                member("node", 4, "stop_exit_only"),
                member("node", 3, "platform_exit_only"),
            ],
            type="route",
            route="bus",
            ref="11",
            name="Bus 11: Dorf => Feld",
            **{"from": "Dorf", "to": "Feld", "via": "Mitte", "gtfs:route_id": "91-11-j24-1"},
            operator="LIEmobil",
            network="Liechtenstein Bus",
            ref_trips="1101;1103",
            **{"public_transport:version": "2"},
        ),
        relation(
            201,
            [member("node", 4, "stop"), member("node", 2, "stop")],
            type="route",
            route="bus",
            ref="11",
            **{"public_transport:version": "2"},
        ),
        relation(
            300,
            [member("relation", 201), member("relation", 200), member("relation", 999)],
            type="route_master",
            route_master="bus",
            ref="11",
            name="Bus 11",
        ),
        relation(400, [member("node", 1), member("way", 50)], type="route", route="hiking", name="Weg"),
        relation(401, [member("relation", 400)], type="route_master", route_master="hiking"),
    ]


# -- what is read ------------------------------------------------------------------------------------


def test_stop_area_keeps_its_tags_and_every_member_with_role_in_order(tmp_path):
    result = osm_source.parse([write_json(tmp_path, small_network())], OPTIONS)
    (area,) = result.structure.stop_areas
    assert (area.osm_id, area.version, area.name, area.uic_ref, area.uic_name) == (
        100,
        3,
        "Dorf",
        "8500001",
        "Dorf, Post",
    )
    assert area.osm_key == "relation/100"
    assert area.members == (
        OsmMember("stop", "node/2", 0),
        OsmMember("platform", "node/1", 1),
        OsmMember("building", "way/9", 2),
    )


def test_route_keeps_its_tags_and_its_stops_and_platforms_in_travel_order_without_ways(tmp_path):
    result = osm_source.parse([write_json(tmp_path, small_network())], OPTIONS)
    routes = {r.osm_id: r for r in result.structure.routes}
    route = routes[200]
    assert (route.route, route.ref, route.name, route.from_, route.to, route.via) == (
        "bus",
        "11",
        "Bus 11: Dorf => Feld",
        "Dorf",
        "Feld",
        "Mitte",
    )
    assert (route.operator, route.network, route.gtfs_route_id, route.ref_trips, route.pt_version) == (
        "LIEmobil",
        "Liechtenstein Bus",
        "91-11-j24-1",
        "1101;1103",
        "2",
    )
    assert [m.osm_key for m in route.members] == ["node/2", "node/1", "node/4", "node/3"]
    assert [m.sequence for m in route.members] == [0, 1, 2, 3]
    assert [m.osm_key for m in route.stop_members] == ["node/2", "node/4"]
    assert [m.osm_key for m in route.platform_members] == ["node/1", "node/3"]


def test_route_master_lists_its_transit_routes_and_each_route_names_its_master(tmp_path):
    result = osm_source.parse([write_json(tmp_path, small_network())], OPTIONS)
    (master,) = result.structure.route_masters
    assert (master.osm_id, master.route, master.ref, master.name) == (300, "bus", "11", "Bus 11")
    assert master.route_ids == (201, 200)  # its order; relation 999 is not in the input
    assert {r.osm_id: r.master_id for r in result.structure.routes} == {200: 300, 201: 300}


def test_hiking_routes_and_their_masters_are_ignored(tmp_path):
    result = osm_source.parse([write_json(tmp_path, small_network())], OPTIONS)
    assert {r.osm_id for r in result.structure.routes} == {200, 201}
    assert {m.osm_id for m in result.structure.route_masters} == {300}
    assert result.stats["routes"] == 2
    assert result.stats["route_masters"] == 1
    assert result.stats["stop_areas"] == 1


def test_ptv1_direction_roles_count_as_stops():
    assert route_role("forward:stop") == "stop"
    assert route_role("backward:platform") == "platform"
    assert route_role("stop_exit_only") == "stop_exit_only"


def test_malformed_relations_and_members_are_skipped_and_counted(tmp_path):
    elements = [
        *small_network(),
        relation(-5, [member("node", 1, "stop")], type="public_transport", public_transport="stop_area"),
        {"type": "relation", "id": "7", "members": [], "tags": {"public_transport": "stop_area"}},
        relation(
            101,
            [
                member("node", 1, "platform"),
                {"type": "node", "ref": "x", "role": "stop"},
                {"type": "area", "ref": 5},
                "not a member",
                {"type": "node", "ref": 2, "role": 7},
            ],
            type="public_transport",
            public_transport="stop_area",
            name="Dorf\x00",
        ),
    ]
    result = osm_source.parse([write_json(tmp_path, elements)], OPTIONS)
    areas = {a.osm_id: a for a in result.structure.stop_areas}
    assert set(areas) == {100, 101}
    assert result.stats["invalid_id"] == 2
    assert result.stats["invalid_relation_members"] == 3
    assert areas[101].name == "Dorf"  # NUL removed: storable text
    assert areas[101].members == (OsmMember("platform", "node/1", 0), OsmMember("", "node/2", 1))


def test_ids_too_large_for_bigint_are_skipped_and_counted_not_fatal_at_import(tmp_path):
    huge = 2**63
    elements = [
        *small_network(),
        node(huge, name="Gross", **PLATFORM),
        relation(huge, [member("node", 1)], type="public_transport", public_transport="stop_area"),
        relation(
            102,
            [member("node", huge, "stop"), member("node", 1)],
            type="public_transport",
            public_transport="stop_area",
        ),
    ]
    result = osm_source.parse([write_json(tmp_path, elements)], OPTIONS)
    assert result.stats["invalid_id"] == 2
    assert result.stats["invalid_relation_members"] == 1
    assert max(r.osm_id for r in result.records) < huge
    areas = {a.osm_id: a for a in result.structure.stop_areas}
    assert areas[102].members == (OsmMember("", "node/1", 0),)


def test_relations_whose_stops_all_lie_outside_the_boundary_are_dropped(tmp_path):
    elements = [
        node(1, 47.10, 9.52, **PLATFORM),
        node(2, 48.80, 2.35, **PLATFORM),  # Paris
        relation(10, [member("node", 2, "platform")], type="public_transport", public_transport="stop_area"),
        relation(11, [member("node", 1, "platform")], type="public_transport", public_transport="stop_area"),
        # members all missing from the input: a route passing through a clipped extract, kept
        relation(12, [member("node", 77, "stop")], type="route", route="train"),
    ]
    result = osm_source.parse([write_json(tmp_path, elements)], OPTIONS)
    assert [a.osm_id for a in result.structure.stop_areas] == [11]
    assert [r.osm_id for r in result.structure.routes] == [12]
    assert result.stats["relations_outside_boundary"] == 1
    unbounded = osm_source.parse([write_json(tmp_path, elements)], ParseOptions(boundary=None))
    assert [a.osm_id for a in unbounded.structure.stop_areas] == [10, 11]


def test_registry_sources_carry_no_structure():
    result = get_source("atlas").parse([ROOT / "data/demo/atlas_service_points_li.csv"], OPTIONS)
    assert result.structure is None


# -- the three formats agree, on real data --------------------------------------------------------


def test_the_real_extract_has_155_stop_areas_93_bus_and_9_train_routes_and_34_masters():
    structure = osm_source.parse([SUBSET_PBF], OPTIONS).structure
    assert len(structure.stop_areas) == 155
    assert Counter(r.route for r in structure.routes) == {"bus": 93, "train": 9}
    assert sum(1 for r in structure.routes if r.route == "bus" and r.gtfs_route_id) == 87
    assert len(structure.route_masters) == 34
    assert all(r.master_id is not None for r in structure.routes if r.route == "bus")
    sizes = Counter(len(a.members) for a in structure.stop_areas)
    assert sum(n for size, n in sizes.items() if 4 <= size <= 6) > 100  # most: platforms, stops, station


def test_overpass_json_osm_xml_and_pbf_give_the_same_structure(tmp_path):
    import osmium

    from tests.live_formats import overpass_json

    from_pbf = osm_source.parse([SUBSET_PBF], OPTIONS).structure
    json_path = write_json(tmp_path, overpass_json()["elements"], "osm_live.json")
    from_json = osm_source.parse([json_path], OPTIONS).structure
    xml_path = tmp_path / "osm_live.osm"
    writer = osmium.SimpleWriter(str(xml_path))  # the same extract as OSM XML, written by libosmium
    try:
        for obj in osmium.FileProcessor(str(SUBSET_PBF)):
            writer.add(obj)
    finally:
        writer.close()
    from_xml = osm_source.parse([xml_path], OPTIONS).structure
    assert from_json == from_pbf
    assert from_xml == from_pbf


def test_the_demo_json_carries_the_extracts_structure_and_unchanged_stops(tmp_path):
    demo = osm_source.parse([DEMO_JSON], OPTIONS)
    live = osm_source.parse([SUBSET_PBF], OPTIONS)
    assert demo.structure == live.structure
    assert len(demo.records) == 773
    xml_path = tmp_path / "demo.osm"
    overpass_json_to_osm_xml(DEMO_JSON, xml_path)
    assert osm_source.parse([xml_path], OPTIONS).structure == demo.structure
