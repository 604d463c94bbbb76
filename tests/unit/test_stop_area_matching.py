"""Stage stop_area: the members of an OSM stop area join the registry stop their stop area stands for."""

from __future__ import annotations

import dataclasses

from pipeline.matching import match_stops
from pipeline.matching.params import STOP_AREA_MAX_DISTANCE_M
from pipeline.records import ManualLink, OsmMember, OsmStopArea, OsmStructure
from tests.pipeline_records import osm, stop


def pairs(result) -> set[tuple[str, str, str]]:
    return {(m.stop_id, m.osm_key, m.method) for m in result.matches}


def area(rel_id: int, *keys: str, name=None, uic_ref=None, uic_name=None) -> OsmStopArea:
    members = tuple(OsmMember("platform", key, i) for i, key in enumerate(keys))
    tags = {"public_transport": "stop_area", "type": "public_transport"}
    # As the OSM source reads a relation: `tags` holds every tag, the columns copy some of them.
    tags |= {k: v for k, v in (("name", name), ("uic_ref", uic_ref), ("uic_name", uic_name)) if v is not None}
    return OsmStopArea(rel_id, 1, name, uic_ref, uic_name, tags, members)


def structure(*areas: OsmStopArea) -> OsmStructure:
    return OsmStructure(stop_areas=areas)


def whole_stop(stop_id="ch:1:sloid:1", east_m=0.0, north_m=0.0, **kwargs):
    kwargs.setdefault("number", 8500001)
    kwargs.setdefault("name", "Dorf, Post")
    return stop(stop_id, east_m, north_m, level="service_point", **kwargs)


def platform(stop_id, parent, platform_code, east_m=0.0, **kwargs):
    kwargs.setdefault("number", 8500001)
    kwargs.setdefault("name", "Dorf, Post")
    record = stop(stop_id, east_m, platform_code=platform_code, level="traffic_point", **kwargs)
    return dataclasses.replace(record, parent_id=parent)


def test_platform_named_only_perron_joins_the_stop_its_partner_names_by_uic_ref():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001, name="Dorf"), osm(2, 60, name="Perron 2")]
    without = match_stops(registry, objects)
    assert pairs(without) == {("ch:1:sloid:1", "node/1", "exact_uic")}

    result = match_stops(registry, objects, osm_structure=structure(area(77, "node/1", "node/2")))
    assert pairs(result) == {
        ("ch:1:sloid:1", "node/1", "exact_uic"),
        ("ch:1:sloid:1", "node/2", "stop_area"),
    }
    (joined,) = [m for m in result.matches if m.method == "stop_area"]
    assert joined.evidence["stop_area"] == 77
    assert joined.evidence["anchor_osm_key"] == "node/1"
    assert joined.evidence["anchor_method"] == "exact_uic"
    assert result.unmatched_osm == []


def test_member_with_a_platform_code_joins_the_registry_platform_with_that_designation():
    parent = "ch:1:sloid:5"
    registry = [platform(f"{parent}:0:1", parent, "1"), platform(f"{parent}:0:2", parent, "2", 20)]
    objects = [
        osm(1, 2, uic_ref=8500001, local_ref="1"),  # exact_uic_local_ref: the anchor
        osm(2, 22, public_transport="stop_position", local_ref="2"),
        osm(3, 24, name="Quai 2"),  # the code only in the name
        osm(4, 10, name="Perron 7"),  # no platform 7, and no whole stop to fall back on
    ]
    sa = structure(area(5, "node/1", "node/2", "node/3", "node/4"))
    result = match_stops(registry, objects, osm_structure=sa)
    by_key = {m.osm_key: (m.stop_id, m.method) for m in result.matches}
    assert by_key["node/1"] == (f"{parent}:0:1", "exact_uic_local_ref")
    assert by_key["node/2"] == (f"{parent}:0:2", "stop_area")
    assert by_key["node/3"] == (f"{parent}:0:2", "stop_area")
    assert result.stop_areas.refused["node/4"] == (5, "stop_area_platform_unknown")
    assert by_key.get("node/4", (None, None))[1] != "stop_area"


def test_member_with_a_platform_code_joins_the_whole_stop_when_no_registry_platform_has_it():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 30, local_ref="3")]
    result = match_stops(registry, objects, osm_structure=structure(area(1, "node/1", "node/2")))
    assert ("ch:1:sloid:1", "node/2", "stop_area") in pairs(result)


def test_stop_area_uic_ref_anchors_members_without_identifiers():
    registry = [whole_stop(), whole_stop("ch:1:sloid:2", 400, number=8500002, name="Feld")]
    objects = [osm(1, 40, name="Kante A"), osm(2, 45, public_transport="stop_position")]
    sa = structure(area(9, "node/1", "node/2", uic_ref="8500001"))
    result = match_stops(registry, objects, osm_structure=sa)
    assert {(s, k) for s, k, m in pairs(result) if m == "stop_area"} == {
        ("ch:1:sloid:1", "node/1"),
        ("ch:1:sloid:1", "node/2"),
    }
    assert {m.evidence["uic"] for m in result.matches if m.method == "stop_area"} == {8500001}


def test_stop_area_uic_ref_that_is_not_ascii_digits_anchors_nothing():
    registry = [whole_stop()]
    objects = [osm(1, 40, name="Kante A")]
    sa = structure(area(9, "node/1", uic_ref="８５００００１"))  # fullwidth digits
    result = match_stops(registry, objects, osm_structure=sa)
    assert result.stop_areas.unanchored == {9: "no_anchor"}


def test_stop_area_uic_name_anchors_when_neither_members_nor_number_do():
    registry = [whole_stop(name="Dorf, Post"), whole_stop("ch:1:sloid:2", 150, number=8500002, name="Feld")]
    objects = [osm(1, 120, name="Kante A"), osm(2, 125)]
    sa = structure(area(3, "node/1", "node/2", uic_name="Dorf, Post", name="Dorf"))
    result = match_stops(registry, objects, osm_structure=sa)
    joined = [m for m in result.matches if m.method == "stop_area"]
    assert {(m.stop_id, m.osm_key) for m in joined} == {
        ("ch:1:sloid:1", "node/1"),
        ("ch:1:sloid:1", "node/2"),
    }
    assert joined[0].evidence["uic_name"] == "Dorf, Post"


def test_stop_area_name_shared_by_two_registry_stops_nearby_anchors_nothing():
    registry = [
        whole_stop(name="Dorf, Post"),
        whole_stop("ch:1:sloid:2", 100, number=8500002, name="Dorf, Post"),
    ]
    objects = [osm(1, 250, name="Kante A")]
    result = match_stops(registry, objects, osm_structure=structure(area(3, "node/1", name="Dorf, Post")))
    assert result.stop_areas.unanchored == {3: "no_anchor"}
    assert all(m.method != "stop_area" for m in result.matches)


def test_member_with_a_contradicting_uic_ref_stays_out():
    registry = [
        whole_stop(),
        platform("ch:1:sloid:2:0:1", "ch:1:sloid:2", "1", 500, number=8500002, name="Feld"),
        platform("ch:1:sloid:2:0:2", "ch:1:sloid:2", "2", 510, number=8500002, name="Feld"),
    ]
    # node/2 names stop 8500002 but no platform of it: the identifier stage leaves it, and so must we
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 20, uic_ref=8500002)]
    result = match_stops(registry, objects, osm_structure=structure(area(4, "node/1", "node/2")))
    assert "node/2" in result.unmatched_osm
    assert result.stop_areas.refused["node/2"] == (4, "uic_ref_names_another_registry_stop")


def test_member_with_an_identifier_of_a_stop_the_registry_does_not_hold_stays_out():
    # The demo's Schaan-Vaduz: the railway halt (Austrian uic_ref 8100482) in the stop area of the bus
    # stop "Schaan, Bahnhof" in front of it.
    registry = [whole_stop()]
    objects = [
        osm(1, 5, uic_ref=8500001),
        osm(2, 50, uic_ref=8100482, name="Schaan-Vaduz"),
        osm(3, 60, ref__IFOPT="at:42:1234"),
        osm(4, 70, ref__IFOPT="ch:1:sloid:1:0:4"),  # a platform of this very stop: welcome
    ]
    sa = structure(area(4, "node/1", "node/2", "node/3", "node/4"))
    result = match_stops(registry, objects, osm_structure=sa)
    assert result.stop_areas.refused["node/2"] == (4, "uic_ref_names_another_stop")
    assert result.stop_areas.refused["node/3"] == (4, "ifopt_names_another_stop")
    assert ("ch:1:sloid:1", "node/4", "stop_area") in pairs(result)


def test_railway_member_stays_out_of_a_stop_served_only_by_bus():
    bus_stop = dataclasses.replace(whole_stop(), modes="BUS")
    objects = [
        osm(1, 5, uic_ref=8500001, highway="bus_stop"),
        osm(2, 50, public_transport="stop_position", railway="halt", train="yes"),
        osm(3, 30, highway="bus_stop"),
    ]
    sa = structure(area(4, "node/1", "node/2", "node/3"))
    result = match_stops([bus_stop], objects, osm_structure=sa)
    assert result.stop_areas.refused["node/2"] == (4, "mode_differs")
    assert ("ch:1:sloid:1", "node/3", "stop_area") in pairs(result)
    # and the other way round: a bus pole does not join a railway station
    station = dataclasses.replace(whole_stop(), modes="TRAIN")
    objects = [osm(1, 5, uic_ref=8500001, railway="platform"), osm(3, 30, highway="bus_stop")]
    result = match_stops([station], objects, osm_structure=structure(area(4, "node/1", "node/3")))
    assert result.stop_areas.refused["node/3"] == (4, "mode_differs")
    # a stop served by both takes both
    both = dataclasses.replace(whole_stop(), modes="TRAIN|BUS")
    result = match_stops([both], objects, osm_structure=structure(area(4, "node/1", "node/3")))
    assert ("ch:1:sloid:1", "node/3", "stop_area") in pairs(result)


def test_member_beyond_the_stop_area_radius_stays_out():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, STOP_AREA_MAX_DISTANCE_M + 50, name="Perron 2")]
    result = match_stops(registry, objects, osm_structure=structure(area(4, "node/1", "node/2")))
    assert result.unmatched_osm == ["node/2"]
    assert result.stop_areas.refused["node/2"] == (4, "beyond_stop_area_radius")


def test_member_whose_own_name_names_another_stop_nearby_stays_out():
    registry = [
        whole_stop(name="Dorf, Post"),
        whole_stop("ch:1:sloid:2", 200, number=8500002, name="Dorf, Schule"),
    ]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 190, name="Dorf, Schule")]
    result = match_stops(registry, objects, osm_structure=structure(area(4, "node/1", "node/2")))
    assert result.stop_areas.refused["node/2"] == (4, "name_names_another_registry_stop")
    assert ("ch:1:sloid:2", "node/2", "name") in pairs(result)


def test_stop_area_whose_members_name_two_registry_stops_anchors_nothing():
    registry = [whole_stop(), whole_stop("ch:1:sloid:2", 80, number=8500002, name="Feld")]
    objects = [osm(1, 0, uic_ref=8500001), osm(2, 80, uic_ref=8500002), osm(3, 40, name="Perron 1")]
    result = match_stops(registry, objects, osm_structure=structure(area(6, "node/1", "node/2", "node/3")))
    assert result.stop_areas.unanchored == {6: "members_match_several_registry_stops"}
    assert all(m.method != "stop_area" for m in result.matches)


def test_stop_area_uic_ref_contradicting_its_members_anchors_nothing():
    registry = [whole_stop(), whole_stop("ch:1:sloid:2", 80, number=8500002, name="Feld")]
    objects = [osm(1, 0, uic_ref=8500001), osm(3, 40, name="Perron 1")]
    sa = structure(area(6, "node/1", "node/3", uic_ref="8500002"))
    result = match_stops(registry, objects, osm_structure=sa)
    assert result.stop_areas.unanchored == {6: "stop_area_uic_ref_contradicts_members"}


def test_manual_unlink_is_respected_by_the_stop_area_stage():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 60, name="Perron 2")]
    result = match_stops(
        registry,
        objects,
        manual=[ManualLink("ch:1:sloid:1", "node/2", "unlink")],
        osm_structure=structure(area(1, "node/1", "node/2")),
    )
    assert result.stop_areas.refused["node/2"] == (1, "manual_unlink")
    assert ("ch:1:sloid:1", "node/2", "stop_area") not in pairs(result)


def test_manual_link_anchors_a_stop_area():
    registry = [whole_stop(number=None)]
    objects = [osm(1, 5), osm(2, 60, name="Perron 2")]
    result = match_stops(
        registry,
        objects,
        manual=[ManualLink("ch:1:sloid:1", "node/1", "link")],
        osm_structure=structure(area(1, "node/1", "node/2")),
    )
    assert ("ch:1:sloid:1", "node/2", "stop_area") in pairs(result)


def test_station_member_joins_a_whole_stop_but_not_a_platform():
    whole = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 50, public_transport="station", name="Bahnhof")]
    result = match_stops(whole, objects, osm_structure=structure(area(1, "node/1", "node/2")))
    assert ("ch:1:sloid:1", "node/2", "stop_area") in pairs(result)

    only_platform = [platform("ch:1:sloid:1:0:1", "ch:1:sloid:1", "1")]
    objects = [osm(1, 5, uic_ref=8500001, local_ref="1"), osm(2, 50, public_transport="station")]
    result = match_stops(only_platform, objects, osm_structure=structure(area(1, "node/1", "node/2")))
    assert result.stop_areas.refused["node/2"] == (1, "osm_is_station")


def test_members_outside_the_snapshot_and_unknown_objects_are_ignored():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001)]
    sa = structure(area(1, "node/1", "way/99", "relation/5"), area(2, "node/404"))
    result = match_stops(registry, objects, osm_structure=sa)
    assert pairs(result) == {("ch:1:sloid:1", "node/1", "exact_uic")}
    assert result.stop_areas.anchored == {1: "ch:1:sloid:1"}


def test_without_stop_areas_the_stage_does_nothing():
    registry = [whole_stop()]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 60, name="Perron 2")]
    assert match_stops(registry, objects).stage_counts["stop_area"] == 0
    assert (
        match_stops(registry, objects, osm_structure=OsmStructure()).matches
        == match_stops(registry, objects).matches
    )


def test_stop_area_result_does_not_depend_on_member_or_area_order():
    registry = [whole_stop(), whole_stop("ch:1:sloid:2", 120, number=8500002, name="Feld")]
    objects = [osm(1, 0, uic_ref=8500001), osm(2, 30), osm(3, 120, uic_ref=8500002), osm(4, 90)]
    forward = structure(area(1, "node/1", "node/2"), area(2, "node/3", "node/4", "node/2"))
    backward = structure(area(2, "node/2", "node/4", "node/3"), area(1, "node/2", "node/1"))
    assert pairs(match_stops(registry, objects, osm_structure=forward)) == pairs(
        match_stops(registry, objects[::-1], osm_structure=backward)
    )
