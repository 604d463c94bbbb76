"""The unmatched-stop priority rules and reasons speak of the registry's own declared identifiers
(ATLAS: UIC number ↔ `uic_ref`, word for word as before; NaPTAN: NaptanCode ↔ `naptan:NaptanCode`),
and count a registry's codes only among its own stops."""

from __future__ import annotations

from dataclasses import replace

from pipeline.problems.detect import detect_problems
from pipeline.records import OsmObject, RegistryStop
from tests import pipeline_records as pr

LAT, LON = 50.8350, -0.1100
M_PER_DEG = 111_195.0


def _naptan(stop_id: str, code: str | None, north_m: float = 0.0) -> RegistryStop:
    return RegistryStop(
        source="naptan", stop_id=stop_id, dataset="xml", code=code, platform_code=None, name="Bear Road",
        operator_code=None, operator_name=None, modes="BUS", country_code="GB", region="149", parent_id=None,
        valid_from=None, valid_to=None, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=stop_id,
    )  # fmt: skip


def _object(osm_id: int, tags: dict[str, str], north_m: float = 0.0) -> OsmObject:
    tags = {"highway": "bus_stop", **tags}
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name=tags.get("name"),
        uic_ref=tags.get("uic_ref"), uic_name=None, ifopt=None, local_ref=None, operator=None, network=None,
        public_transport="platform", railway=None, highway="bus_stop", amenity=None, aerialway=None,
        tags=tags, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=str(osm_id),
    )  # fmt: skip


def _reason(problems, side: str) -> tuple[int, str]:
    (problem,) = [p for p in problems if p.details["side"] == side]
    return problem.priority, problem.details["reason"]


def test_an_isolated_naptan_stop_is_p1_for_want_of_its_naptan_code_not_a_uic_number():
    stop = _naptan("149000007353", "brialwdm")
    problems = detect_problems([stop], [], [], [stop.stop_id], [])
    assert _reason(problems, "registry") == (1, "no OSM object with this NaptanCode and none within 80 m")


def test_a_naptan_stop_whose_code_is_mapped_far_away_is_not_p1():
    stop = _naptan("149000007353", "brialwdm")
    far = _object(1, {"naptan:NaptanCode": "brialwdm"}, north_m=500)
    problems = detect_problems([stop], [far], [], [stop.stop_id], [far.osm_key])
    assert _reason(problems, "registry") == (2, "no OSM object within 50 m")


def test_an_osm_object_naming_an_unknown_naptan_code_is_p1_naming_its_tag():
    stop = _naptan("149000007353", "brialwdm", north_m=400)
    stale = _object(1, {"naptan:NaptanCode": "briXXXXX", "name": "Bear Road"})
    problems = detect_problems([stop], [stale], [], [stop.stop_id], [stale.osm_key])
    assert _reason(problems, "osm") == (1, "naptan:NaptanCode briXXXXX is not in the registry")


def test_a_uic_ref_is_no_naptan_code():
    # A British station's uic_ref (70xxxxx) names no NaPTAN stop: no claim on NaPTAN's code.
    stop = _naptan("9100BRGHTN", "7056220", north_m=400)
    station = _object(1, {"uic_ref": "7056220", "name": "Brighton"})
    problems = detect_problems([stop], [station], [], [stop.stop_id], [station.osm_key])
    assert _reason(problems, "osm") == (2, "no registry stop within 50 m")
    assert _reason(problems, "registry")[1] == "no OSM object with this NaptanCode and none within 80 m"


def test_atlas_unmatched_reasons_keep_their_uic_words():
    stop = pr.stop("ch:1:sloid:1", number=8500001)
    obj = replace(pr.osm(1, 5000, 5000, uic_ref="8599999"), tags={"uic_ref": "8599999"})
    problems = detect_problems([stop], [obj], [], [stop.stop_id], [obj.osm_key])
    assert _reason(problems, "registry") == (1, "no OSM object with this UIC number and none within 80 m")
    assert _reason(problems, "osm") == (1, "uic_ref 8599999 is not in the registry")
