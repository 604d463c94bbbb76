"""`registry_position_mismatch`: a registry stop whose two published positions disagree (NaPTAN's
OSGB36 grid and WGS84), found by the source, reported by problem detection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.problems import POSITION_MISMATCH_P2_FACTOR, detect_problems
from pipeline.records import MatchRecord, OsmObject
from pipeline.sources.base import ParseOptions
from pipeline.sources.naptan import DEFAULT_POSITION_MISMATCH_M, NaptanSource

DATA = Path(__file__).resolve().parents[1] / "data" / "naptan"
SOURCE = NaptanSource()
OPTIONS = ParseOptions(uic_country_codes=None)


def _stop_point(atco: str, easting: int) -> str:
    # New Steine (real values), with the grid Easting moved when `easting` differs from 531674.
    return (
        f'<StopPoint Status="active"><AtcoCode>{atco}</AtcoCode><Descriptor><CommonName>New Steine'
        "</CommonName><Indicator>opp</Indicator></Descriptor><Place><Location><Translation>"
        f"<GridType>UKOS</GridType><Easting>{easting}</Easting><Northing>103858</Northing>"
        "<Longitude>-0.132097</Longitude><Latitude>50.819298</Latitude></Translation></Location></Place>"
        "<StopClassification><StopType>BCT</StopType></StopClassification></StopPoint>"
    )


def _registry(tmp_path: Path, *points: str):
    path = tmp_path / "naptan_test.xml"
    path.write_text(
        '<NaPTAN xmlns="http://www.naptan.org.uk/"><StopPoints>' + "".join(points) + "</StopPoints></NaPTAN>",
        encoding="utf-8",
    )
    return SOURCE.parse([path], OPTIONS).records


def _osm(lat: float, lon: float) -> OsmObject:
    return OsmObject(
        osm_key="node/1", osm_type="node", osm_id=1, version=1, name="New Steine", uic_ref=None,
        uic_name=None, ifopt=None, local_ref=None, operator=None, network=None, public_transport="platform",
        railway=None, highway="bus_stop", amenity=None, aerialway=None, tags={"highway": "bus_stop"},
        lat=lat, lon=lon, row_hash="x",
    )  # fmt: skip


def _mismatches(problems):
    return [p for p in problems if p.problem_type == "registry_position_mismatch"]


@pytest.mark.parametrize(("moved_m", "priority"), [(60, 3), (150, 2)])
def test_a_stop_whose_two_positions_disagree_is_a_registry_problem(tmp_path, moved_m, priority):
    registry = _registry(
        tmp_path, _stop_point("149000000001", 531674), _stop_point("149000000002", 531674 + moved_m)
    )
    problems = _mismatches(detect_problems(registry, [], [], [r.stop_id for r in registry], []))
    assert [p.stop_id for p in problems] == ["149000000002"]
    problem = problems[0]
    assert (problem.priority, problem.source, problem.osm_key) == (priority, "naptan", None)
    assert problem.identity == "registry_position_mismatch:naptan/149000000002:-"
    assert moved_m - 3 < problem.distance_m < moved_m + 3
    assert problem.details["tolerance_m"] == DEFAULT_POSITION_MISMATCH_M
    assert problem.details["other_position"]["crs"].startswith("EPSG:27700")
    assert (problem.lat, problem.lon) == (50.819298, -0.132097)  # where the matcher put the stop
    assert priority == (2 if moved_m > POSITION_MISMATCH_P2_FACTOR * DEFAULT_POSITION_MISMATCH_M else 3)


def test_for_a_matched_stop_the_problem_says_which_position_osm_agrees_with(tmp_path):
    (stop,) = _registry(tmp_path, _stop_point("149000000002", 531674 + 150))
    other = stop.attributes["position_mismatch"]
    obj = _osm(other["other_lat"] + 0.00002, other["other_lon"])  # 2 m from the grid position
    match = MatchRecord(
        stop_id=stop.stop_id,
        osm_key=obj.osm_key,
        method="name",
        distance_m=148.0,
        name_score=100,
        source=stop.source,
    )
    (problem,) = _mismatches(detect_problems([stop], [obj], [match], [], []))
    assert problem.details["osm_agrees_with"] == "other_position"
    assert problem.details["osm_distance_m"]["other_position"] < 3
    assert problem.details["osm_key"] == "node/1"


def test_the_real_brighton_export_has_no_position_mismatch():
    registry = SOURCE.parse([DATA / "naptan149_brighton.xml.zip"], OPTIONS).records
    assert not _mismatches(detect_problems(registry, [], [], [r.stop_id for r in registry], []))


def test_a_stop_without_the_mark_never_gets_the_problem(tmp_path):
    (stop,) = _registry(tmp_path, _stop_point("149000000002", 531674 + 150))
    unmarked = replace(
        stop, attributes={k: v for k, v in stop.attributes.items() if k != "position_mismatch"}
    )
    malformed = replace(stop, stop_id="149000000003", attributes={"position_mismatch": {"distance_m": "far"}})
    assert not _mismatches(detect_problems([unmarked, malformed], [], [], [], []))
