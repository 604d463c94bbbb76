"""NaPTAN stops in the matcher: AtcoCode ↔ `naptan:AtcoCode` through the declaration, and an object
still tagged with a closed stop's AtcoCode never taken for its same-named neighbour."""

from __future__ import annotations

from dataclasses import replace

from app.services.new_stop_tags import tags_for_new_stop
from pipeline.declarations import declaration_for
from pipeline.matching import match_stops
from pipeline.matching.context import is_platform_level
from pipeline.records import OsmObject, RegistryStop

LAT, LON = 50.8350, -0.1100
M_PER_DEG = 111_195.0


def _stop(stop_id: str, name: str, north_m: float = 0.0) -> RegistryStop:
    return RegistryStop(
        source="naptan", stop_id=stop_id, dataset="xml", code=None, platform_code=None, name=name,
        operator_code=None, operator_name=None, modes="BUS", country_code="GB", region="008", parent_id=None,
        valid_from=None, valid_to=None, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=stop_id,
        attributes={"stop_type": "BCT", "status": "active"},
    )  # fmt: skip


def _object(osm_id: int, tags: dict[str, str], north_m: float = 0.0) -> OsmObject:
    tags = {"highway": "bus_stop", "public_transport": "platform", **tags}
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name=tags.get("name"),
        uic_ref=None, uic_name=None, ifopt=None, local_ref=tags.get("local_ref"), operator=None, network=None,
        public_transport="platform", railway=None, highway="bus_stop", amenity=None, aerialway=None,
        tags=tags, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=str(osm_id),
    )  # fmt: skip


def test_naptan_atco_code_matches_its_stop_by_identifier():
    stop = _stop("149000007353", "Bear Road")
    far = _object(1, {"naptan:AtcoCode": "149000007353", "name": "Somewhere Else"}, north_m=60)
    result = match_stops([stop], [far])
    assert [(m.stop_id, m.osm_key) for m in result.matches] == [("149000007353", "node/1")]
    assert result.matches[0].method.startswith("exact")


def test_an_object_tagged_with_a_closed_stops_atco_code_is_never_paired_with_its_namesake():
    # 149000006353 is inactive in the real export (left out of the registry); its successor 149000007353
    # of the same name is active. The object still carries the closed stop's code: it is that stop.
    stop = _stop("149000007353", "Bear Road")
    stale = _object(1, {"naptan:AtcoCode": "149000006353", "name": "Bear Road"}, north_m=8)
    untagged = _object(2, {"name": "Bear Road"}, north_m=8)
    assert match_stops([stop], [stale]).matches == []
    assert [m.osm_key for m in match_stops([stop], [untagged]).matches] == ["node/2"]


def test_only_naptan_declares_its_stop_ids_exclusive():
    assert declaration_for("naptan").stop_id.exclusive is True
    assert declaration_for("atlas").stop_id.exclusive is False  # the Swiss rules stay as they were


def test_naptan_stop_points_are_platforms_and_access_areas_whole_stations():
    bus_stop = _stop("149000007353", "Bear Road")
    station = replace(bus_stop, stop_id="9100BRGHTN", attributes={"stop_type": "RLY", "status": "active"})
    assert is_platform_level(bus_stop)
    assert not is_platform_level(station)


def test_a_repeated_common_name_does_not_widen_the_name_radius():
    # NaPTAN names repeat ("Friar Road" on both sides of the road and in the next street): an object
    # carrying the full name is not taken from 120 m away, as an ATLAS name (unique) would be.
    stop = _stop("149000006276", "Friar Road")
    assert match_stops([stop], [_object(1, {"name": "Friar Road"}, north_m=120)]).matches == []
    assert [
        m.osm_key for m in match_stops([stop], [_object(2, {"name": "Friar Road"}, north_m=40)]).matches
    ] == ["node/2"]
    assert declaration_for("atlas").unique_names is True


def test_a_missing_naptan_rail_platform_is_proposed_as_a_platform_and_an_access_area_as_a_station():
    platform = replace(
        _stop("9100BRGHTN1", "Brighton Rail Station"),
        modes="TRAIN",
        platform_code="1",
        attributes={"stop_type": "RPL", "status": "active"},
    )
    station = replace(platform, stop_id="9100BRGHTN", platform_code=None, attributes={"stop_type": "RLY"})
    platform_tags = tags_for_new_stop(platform)
    assert platform_tags["public_transport"] == "platform"
    assert platform_tags["railway"] == "platform"
    assert platform_tags["local_ref"] == "1"
    assert platform_tags["naptan:AtcoCode"] == "9100BRGHTN1"
    station_tags = tags_for_new_stop(station)
    assert (station_tags["public_transport"], station_tags["railway"]) == ("station", "station")
    assert not set(platform_tags) & declaration_for("naptan").foreign_tags
