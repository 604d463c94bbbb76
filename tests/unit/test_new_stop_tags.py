"""The tag table for registry stops missing in OSM (app/services/new_stop_tags.py). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.new_stop_tags import new_stop_kind, tags_for_new_stop, why_no_tags


@dataclass(frozen=True)
class Stop:
    source: str = "atlas"
    stop_id: str = "ch:1:sloid:10305"
    dataset: str = "service_point"
    code: str | None = "8510305"
    platform_code: str | None = None
    name: str | None = "Balzers, Ramschwagweg"
    operator_code: str | None = "VLM"
    operator_name: str | None = "Verkehrsbetrieb LIECHTENSTEINmobil"
    modes: str | None = "BUS"


def test_a_bus_stop_is_a_platform_node_with_highway_bus_stop_and_its_identity():
    assert tags_for_new_stop(Stop()) == {
        "bus": "yes",
        "highway": "bus_stop",
        "name": "Balzers, Ramschwagweg",
        "operator": "Verkehrsbetrieb LIECHTENSTEINmobil",
        "public_transport": "platform",
        "ref:IFOPT": "ch:1:sloid:10305",
        "uic_name": "Balzers, Ramschwagweg",
        "uic_ref": "8510305",
    }


def test_a_train_service_point_is_a_station_and_a_train_traffic_point_a_platform_with_local_ref():
    station = tags_for_new_stop(Stop(modes="TRAIN"))
    assert station["public_transport"] == "station"
    assert station["railway"] == "station"
    assert station["train"] == "yes"
    assert "local_ref" not in station
    platform = tags_for_new_stop(
        Stop(dataset="traffic_point", platform_code="2", modes=None), modes=["TRAIN"]
    )
    assert platform["public_transport"] == "platform"
    assert platform["railway"] == "platform"
    assert platform["local_ref"] == "2"


def test_a_chairlift_is_an_aerialway_station():
    tags = tags_for_new_stop(Stop(modes="CHAIRLIFT"))
    assert (tags["public_transport"], tags["aerialway"]) == ("station", "station")


def test_a_shared_bus_and_tram_stop_is_one_bus_stop_with_tram_yes():
    tags = tags_for_new_stop(Stop(modes="TRAM|BUS"))
    assert tags["highway"] == "bus_stop"
    assert (tags["bus"], tags["tram"]) == ("yes", "yes")
    assert "railway" not in tags
    assert new_stop_kind(Stop(modes="TRAM|BUS")) == "platform"


def test_unknown_or_untaggable_means_propose_nothing_and_say_why():
    for means in ("", None, "ELEVATOR", "UNKNOWN"):
        stop = Stop(modes=means)
        assert tags_for_new_stop(stop) == {}
        assert why_no_tags(stop)
    assert why_no_tags(Stop()) is None


def test_values_over_the_osm_limit_and_empty_values_are_left_out():
    tags = tags_for_new_stop(Stop(operator_name="x" * 300, operator_code=None, code=None))
    assert "operator" not in tags
    assert "uic_ref" not in tags


def test_ref_ifopt_is_left_out_where_the_community_does_not_use_it():
    tags = tags_for_new_stop(Stop(), ifopt=False)
    assert "ref:IFOPT" not in tags
    assert tags["uic_ref"] == "8510305"  # the other identity tags stay


def test_a_new_stop_of_another_registry_gets_that_registrys_tags_and_no_swiss_ones():
    from tests.second_registry import register_zhv

    register_zhv()
    tags = tags_for_new_stop(Stop(source="zhv", stop_id="de:08335:3424:1:1", code="8503424"))
    assert tags["ref:IFOPT"] == "de:08335:3424:1:1"
    assert tags["uic_ref"] == "8503424"  # zHV declares its code in uic_ref too
    assert "uic_name" not in tags  # zHV names a stop only in `name`
    assert tags["name"] == "Balzers, Ramschwagweg"
