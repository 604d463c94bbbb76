"""Fix exports: proposed tag additions, the osmChange document (validated and parsed back by pyosmium),
the MapRoulette cooperative task format, and the registry error report. Pure, no database."""

from __future__ import annotations

import csv
import io
import json

import osmium
import pytest

from app.services.fix_exports import (
    FixObject,
    FixStop,
    TaskProblem,
    build_osmchange,
    classify_registry_suspicion,
    maproulette_lines,
    maproulette_task,
    merge_fixes,
    propose_fix,
    report_csv,
    report_json,
)
from tests.osmchange_check import check_osmchange

STOP = FixStop(
    sloid="ch:1:sloid:7000:1:2",
    uic_number=8507000,
    designation="2",
    designation_official="Bern, Bahnhof",
    operator_abbr="BERNMOBIL",
    lat=46.9490,
    lon=7.4390,
)


def node(osm_id: int = 11, version: int | None = 4, **tags: str) -> FixObject:
    base = {"highway": "bus_stop", "public_transport": "platform", "name": "Bern Bahnhof & Co <x>"}
    base.update(tags)
    return FixObject(f"node/{osm_id}", "node", osm_id, version, base, 46.9492, 7.4392)


def test_missing_identifiers_are_proposed_from_the_registry():
    fix = propose_fix(STOP, node(), "attributes", "attributes:s:node/11")
    assert fix is not None
    assert fix.set_tags == {
        "uic_ref": "8507000",
        "local_ref": "2",
        "ref:IFOPT": "ch:1:sloid:7000:1:2",
        "uic_name": "Bern, Bahnhof",
    }
    assert fix.move_to is None


def test_a_conflicting_value_is_reported_not_overwritten():
    fix = propose_fix(STOP, node(local_ref="3"), "attributes", "i")
    assert fix is not None
    assert "local_ref" not in fix.set_tags
    assert fix.conflicts == [{"key": "local_ref", "osm": "3", "registry": "2", "sloid": STOP.sloid}]


def test_a_reviewer_who_says_the_registry_is_right_lets_the_fix_overwrite():
    fix = propose_fix(STOP, node(local_ref="3"), "attributes", "i", decision="osm_wrong_registry_right")
    assert fix is not None
    assert fix.set_tags["local_ref"] == "2"


def test_rejected_or_already_fixed_problems_propose_nothing():
    for decision in ("atlas_wrong", "not_a_problem", "fixed_in_osm"):
        assert propose_fix(STOP, node(), "distance", "i", decision=decision) is None
    assert propose_fix(STOP, node(), "unmatched", "i") is None


def test_an_existing_ref_sloid_means_no_ref_ifopt_is_added():
    fix = propose_fix(STOP, node(**{"ref:sloid": STOP.sloid}), "attributes", "i")
    assert fix is not None
    assert "ref:IFOPT" not in fix.set_tags


def test_nodes_move_only_on_request_and_only_for_distance_problems():
    assert propose_fix(STOP, node(), "distance", "i").move_to is None
    assert propose_fix(STOP, node(), "distance", "i", move=True).move_to == (46.949, 7.439)
    assert propose_fix(STOP, node(), "attributes", "i", move=True).move_to is None


def test_two_stops_disagreeing_on_a_tag_cancel_it():
    other = FixStop("ch:1:sloid:7000:1:3", 8507000, "3", "Bern, Bahnhof", None, 46.95, 7.44)
    merged = merge_fixes(
        [propose_fix(STOP, node(), "attributes", "a"), propose_fix(other, node(), "attributes", "b")]
    )
    (fix,) = merged
    assert "local_ref" not in fix.set_tags
    assert fix.set_tags["uic_ref"] == "8507000"
    assert fix.problems == ["a", "b"]


def test_the_osmchange_file_follows_the_api_06_format_and_round_trips_through_pyosmium(tmp_path):
    fixes = merge_fixes(
        [
            propose_fix(STOP, node(11), "distance", "d", move=True),
            propose_fix(STOP, node(12, version=2, local_ref="2"), "attributes", "a"),
            propose_fix(
                STOP,
                FixObject("way/5", "way", 5, 3, {"public_transport": "platform"}, 46.9, 7.4),
                "attributes",
                "w",
            ),
            propose_fix(STOP, node(13, version=None), "attributes", "v"),
        ]
    )
    change = build_osmchange(fixes)
    assert change.skipped_ways == ["way/5"]
    assert change.skipped_no_version == ["node/13"]
    assert check_osmchange(change.xml) == [("modify", "node", 11), ("modify", "node", 12)]
    assert change.xml.startswith(
        b"<?xml version='1.0' encoding='utf-8'?>\n<osmChange version=\"0.6\" generator=\"StopSync\">"
    )

    path = tmp_path / "fix.osc"
    path.write_bytes(change.xml)
    parsed = {
        o.id: (o.version, o.location.lat, o.location.lon, dict(o.tags))
        for o in osmium.FileProcessor(str(path))
    }
    version, lat, lon, tags = parsed[11]
    assert version == 4
    assert (lat, lon) == pytest.approx((46.949, 7.439))  # moved to the registry position
    assert tags["name"] == "Bern Bahnhof & Co <x>"  # every current tag is kept, escaped correctly
    assert tags["ref:IFOPT"] == STOP.sloid
    assert parsed[12][3]["local_ref"] == "2"
    assert parsed[12][1:3] == pytest.approx((46.9492, 7.4392))  # not a distance problem: not moved


def test_an_empty_problem_set_gives_an_empty_but_valid_osmchange():
    change = build_osmchange([])
    assert check_osmchange(change.xml) == []


def test_the_structural_check_rejects_a_way_without_nodes():
    bad = (
        b'<osmChange version="0.6"><modify><way id="5" version="1">'
        b'<tag k="a" v="b"/></way></modify></osmChange>'
    )
    with pytest.raises(AssertionError, match="lose its geometry"):
        check_osmchange(bad)


def test_a_maproulette_task_carries_a_cooperative_tag_fix():
    problem = TaskProblem("attributes:s:node/11", "attributes", 1, "m", STOP.sloid, "node/11", "X", 46.9, 7.4)
    fix = propose_fix(STOP, node(), "attributes", problem.identity)
    (line,) = list(maproulette_lines([maproulette_task(problem, fix, "http://x/stops/atlas/s")]))
    task = json.loads(line)
    assert line.endswith("\n")
    assert task["type"] == "FeatureCollection"
    assert task["features"][0]["geometry"] == {"type": "Point", "coordinates": [7.4, 46.9]}
    work = task["cooperativeWork"]
    assert work["meta"] == {"version": 2, "type": 1}
    (operation,) = work["operations"]
    assert operation["operationType"] == "modifyElement"
    assert operation["data"]["id"] == "node/11"
    assert operation["data"]["operations"][0]["operation"] == "setTags"
    assert operation["data"]["operations"][0]["data"]["uic_ref"] == "8507000"


def test_registry_suspicions_come_from_reviewers_and_registry_side_problems():
    assert classify_registry_suspicion("distance", 2, {}, "atlas_wrong", "name")[1] == "confirmed"
    dup = {"side": "registry", "reasons": [{"rule": "same number and designation"}]}
    assert classify_registry_suspicion("duplicates", 2, dup, None, None)[1] == "strong"
    assert classify_registry_suspicion("duplicates", 3, {"side": "osm"}, None, None) is None
    assert classify_registry_suspicion("distance", 1, {}, None, "exact_uic")[1] == "possible"
    assert classify_registry_suspicion("distance", 1, {}, "not_a_problem", "exact_uic") is None


def test_the_report_is_csv_with_a_header_and_json_grouped_by_operator():
    rows = [
        {"operator_abbr": "A", "sloid": "s1", "confidence": "strong", "evidence": {"d": 1}},
        {"operator_abbr": "B", "sloid": "s2", "confidence": "possible", "evidence": {}},
        {"operator_abbr": "B", "sloid": "s3", "confidence": "confirmed", "evidence": {}},
    ]
    parsed = list(csv.DictReader(io.StringIO("".join(report_csv(rows)))))
    assert [r["sloid"] for r in parsed] == ["s1", "s2", "s3"]
    assert json.loads(parsed[0]["evidence"]) == {"d": 1}
    report = report_json(rows, None)
    assert [g["operator_abbr"] for g in report["operators"]] == ["B", "A"]
    assert report["operators"][0]["by_confidence"] == {"confirmed": 1, "strong": 0, "possible": 1}
