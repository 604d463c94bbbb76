"""Fix exports: proposed tag additions, refusals of identity conflicts, moves, new stops, the osmChange
document (validated and parsed back by pyosmium), the MapRoulette cooperative task format, and the
registry error report. Pure, no database."""

from __future__ import annotations

import base64
import csv
import io
import json

import osmium
import pytest

from app.services.fix_exports import (
    RECORD_SEPARATOR,
    FixObject,
    FixStop,
    RegistryIds,
    _proposed_tags,
    build_osmchange,
    build_plan,
    classify_registry_suspicion,
    identity_conflicts,
    maproulette_create_task,
    maproulette_fix_task,
    maproulette_lines,
    merge_fixes,
    plan_report,
    propose_create,
    propose_fix,
    report_csv,
    report_json,
)
from tests.osmchange_check import check_osmchange

STOP = FixStop(
    stop_id="ch:1:sloid:7000:1:2",
    code="8507000",
    platform_code="2",
    name="Bern, Bahnhof",
    operator_code="BERNMOBIL",
    lat=46.9490,
    lon=7.4390,
)


def node(
    osm_id: int = 11, version: int | None = 4, way_member: bool | None = False, **tags: str
) -> FixObject:
    base = {"highway": "bus_stop", "public_transport": "platform", "name": "Bern Bahnhof & Co <x>"}
    base.update(tags)
    return FixObject(f"node/{osm_id}", "node", osm_id, version, base, 46.9492, 7.4392, way_member)


# Another registry stop: Bern, Hirschengraben, number 8507100.
OTHER = FixStop("ch:1:sloid:7100:1:1", "8507100", "1", "Bern, Hirschengraben", "BERNMOBIL", 46.947, 7.437)
REGISTRY = RegistryIds.of(
    [(STOP.stop_id, STOP.code, STOP.name), (OTHER.stop_id, "8507100", "Bern, Hirschengraben")]
)
MISSING = FixStop(
    "ch:1:sloid:7200",
    "8507200",
    None,
    "Bern, Neufeld",
    "BERNMOBIL",
    46.96,
    7.43,
    operator_name="Bernmobil",
    modes="BUS",
)


def unmatched(stop: FixStop = MISSING, **details: object) -> dict:
    base = {"side": "registry", "osm_objects_with_uic": 0, "nearest_osm": "node/9", "nearest_osm_m": 400.0}
    base.update(details)
    return {
        "identity": f"unmatched:{stop.stop_id}:-",
        "problem_type": "unmatched",
        "priority": 1,
        "message": "missing",
        "stop_id": stop.stop_id,
        "osm_key": None,
        "operator": stop.operator_code,
        "details": base,
        "lat": stop.lat,
        "lon": stop.lon,
    }


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
    assert fix.conflicts == [{"key": "local_ref", "osm": "3", "registry": "2", "stop_id": STOP.stop_id}]


def test_a_reviewer_who_says_the_registry_is_right_lets_the_fix_overwrite():
    fix = propose_fix(STOP, node(local_ref="3"), "attributes", "i", decision="osm_wrong_registry_right")
    assert fix is not None
    assert fix.set_tags["local_ref"] == "2"


def test_rejected_or_already_fixed_problems_propose_nothing():
    for decision in ("atlas_wrong", "not_a_problem", "fixed_in_osm"):
        assert propose_fix(STOP, node(), "distance", "i", decision=decision) is None
    assert propose_fix(STOP, node(), "unmatched", "i") is None


def test_an_existing_ref_sloid_means_no_ref_ifopt_is_added():
    fix = propose_fix(STOP, node(**{"ref:sloid": STOP.stop_id}), "attributes", "i")
    assert fix is not None
    assert "ref:IFOPT" not in fix.set_tags


def test_nodes_move_only_on_request_and_only_for_distance_problems():
    assert propose_fix(STOP, node(), "distance", "i").move_to is None
    assert propose_fix(STOP, node(), "distance", "i", move=True).move_to == (46.949, 7.439)
    assert propose_fix(STOP, node(), "attributes", "i", move=True).move_to is None


def test_two_stops_disagreeing_on_a_tag_cancel_it():
    other = FixStop("ch:1:sloid:7000:1:3", "8507000", "3", "Bern, Bahnhof", None, 46.95, 7.44)
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
    assert tags["ref:IFOPT"] == STOP.stop_id
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
    problem = {
        "identity": "attributes:s:node/11",
        "problem_type": "attributes",
        "priority": 1,
        "message": "m",
        "stop_id": STOP.stop_id,
        "operator": "X",
    }
    fix = propose_fix(STOP, node(), "attributes", problem["identity"])
    (line,) = list(maproulette_lines([maproulette_fix_task(fix, [problem], "http://x/stops/atlas/s")]))
    assert line.startswith(RECORD_SEPARATOR)  # RFC 7464, as MapRoulette's line-by-line format asks
    assert line.endswith("\n")
    task = json.loads(line[1:])
    assert task["type"] == "FeatureCollection"
    # The task geometry is the OSM object, not the registry position.
    assert task["features"][0]["geometry"] == {"type": "Point", "coordinates": [7.4392, 46.9492]}
    assert task["features"][0]["properties"]["@id"] == "node/11"
    work = task["cooperativeWork"]
    assert work["meta"] == {"version": 2, "type": 1}
    (operation,) = work["operations"]
    assert operation["operationType"] == "modifyElement"
    assert operation["data"]["id"] == "node/11"
    assert operation["data"]["operations"][0]["operation"] == "setTags"
    assert operation["data"]["operations"][0]["data"]["uic_ref"] == "8507000"


def test_registry_suspicions_come_from_reviewers_and_registry_side_problems():
    assert classify_registry_suspicion("distance", 2, {}, "atlas_wrong", "name")[1] == "confirmed"
    dup = {"side": "registry", "reasons": [{"rule": "same number and platform_code"}]}
    assert classify_registry_suspicion("duplicates", 2, dup, None, None)[1] == "strong"
    assert classify_registry_suspicion("duplicates", 3, {"side": "osm"}, None, None) is None
    assert classify_registry_suspicion("distance", 1, {}, None, "exact_uic")[1] == "possible"
    assert classify_registry_suspicion("distance", 1, {}, "not_a_problem", "exact_uic") is None


def test_the_report_is_csv_with_a_header_and_json_grouped_by_operator():
    rows = [
        {"operator_code": "A", "stop_id": "s1", "confidence": "strong", "evidence": {"d": 1}},
        {"operator_code": "B", "stop_id": "s2", "confidence": "possible", "evidence": {}},
        {"operator_code": "B", "stop_id": "s3", "confidence": "confirmed", "evidence": {}},
    ]
    parsed = list(csv.DictReader(io.StringIO("".join(report_csv(rows)))))
    assert [r["stop_id"] for r in parsed] == ["s1", "s2", "s3"]
    assert json.loads(parsed[0]["evidence"]) == {"d": 1}
    report = report_json(rows, None)
    assert [g["operator_code"] for g in report["operators"]] == ["B", "A"]
    assert report["operators"][0]["by_confidence"] == {"confirmed": 1, "strong": 0, "possible": 1}


def test_an_object_whose_uic_ref_and_uic_name_name_another_stop_gets_no_identity_tag_even_with_overwrite():
    # The case: a node paired with STOP carries OTHER's number and official name. Adding
    # ref:IFOPT=STOP's stop_id would write a contradicting identity.
    other_node = node(uic_ref="8507100", uic_name="Bern, Hirschengraben")
    for overwrite in (False, True):
        fix = propose_fix(
            STOP, other_node, "attributes", "a", registry=REGISTRY, overwrite=overwrite, move=True
        )
        assert fix is not None
        assert fix.set_tags == {}
        assert fix.move_to is None
        (refusal,) = fix.refused
        assert refusal["reason"] == "identifier_names_another_registry_stop"
        assert {c["key"] for c in refusal["conflicts"]} == {"uic_ref", "uic_name"}
        assert all(c["names"] == [OTHER.stop_id] for c in refusal["conflicts"])


def test_an_ifopt_naming_another_registry_stop_is_refused():
    fix = propose_fix(STOP, node(**{"ref:IFOPT": OTHER.stop_id}), "distance", "d", registry=REGISTRY)
    assert fix.set_tags == {}
    assert fix.refused[0]["reason"] == "identifier_names_another_registry_stop"


def test_a_contradicting_number_naming_no_stop_is_refused_unless_overwrite_replaces_it():
    stray = node(uic_ref="8599999")
    refused = propose_fix(STOP, stray, "attributes", "a", registry=REGISTRY)
    assert refused.set_tags == {}
    assert refused.refused[0]["reason"] == "identifier_contradicts_registry"
    replaced = propose_fix(STOP, stray, "attributes", "a", registry=REGISTRY, overwrite=True)
    assert replaced.refused == []
    assert replaced.set_tags["uic_ref"] == "8507000"
    assert replaced.set_tags["ref:IFOPT"] == STOP.stop_id
    decided = propose_fix(
        STOP, stray, "attributes", "a", registry=REGISTRY, decision="osm_wrong_registry_right"
    )
    assert decided.set_tags["uic_ref"] == "8507000"


def test_a_differently_spelt_uic_name_is_an_ordinary_conflict_not_a_refusal():
    fix = propose_fix(STOP, node(uic_name="Bern Bhf"), "attributes", "a", registry=REGISTRY)
    assert fix.refused == []
    assert fix.set_tags["ref:IFOPT"] == STOP.stop_id
    assert [c["key"] for c in fix.conflicts] == ["uic_name"]


def test_stop_positions_nodes_of_ways_and_nodes_of_unknown_membership_are_never_moved():
    cases = {
        "stop_position": node(public_transport="stop_position"),
        "way_member": node(way_member=True),
        "way_membership_unknown": node(way_member=None),
        "not_a_node": FixObject("way/5", "way", 5, 3, {"public_transport": "platform"}, 46.9, 7.4),
    }
    for reason, obj in cases.items():
        fix = propose_fix(STOP, obj, "distance", "d", move=True)
        assert fix.move_to is None, reason
        assert [r["reason"] for r in fix.moves_refused] == [reason]
        assert fix.set_tags, "the tag fix still stands"
    tram = node(public_transport=None, highway=None, railway="tram_stop")
    assert propose_fix(STOP, tram, "distance", "d", move=True).moves_refused[0]["reason"] == "stop_position"
    station = node(public_transport="station", highway=None)
    assert propose_fix(STOP, station, "distance", "d", move=True).move_to == (46.949, 7.439)


def test_a_missing_stop_becomes_a_create_with_a_negative_id_tagged_by_the_table(tmp_path):
    new, refusal = propose_create(MISSING, unmatched())
    assert refusal is None
    change = build_osmchange([], [new])
    assert change.created == [(-1, MISSING.stop_id)]
    assert check_osmchange(change.xml) == [("create", "node", -1)]
    assert b"<delete" not in change.xml
    path = tmp_path / "new.osc"
    path.write_bytes(change.xml)
    ((osm_id, lat, lon, tags),) = [
        (o.id, o.location.lat, o.location.lon, dict(o.tags)) for o in osmium.FileProcessor(str(path))
    ]
    assert osm_id == -1
    assert (lat, lon) == pytest.approx((46.96, 7.43))
    assert tags == {
        "public_transport": "platform",
        "highway": "bus_stop",
        "bus": "yes",
        "name": "Bern, Neufeld",
        "uic_name": "Bern, Neufeld",
        "uic_ref": "8507200",
        "ref:IFOPT": MISSING.stop_id,
        "operator": "Bernmobil",
    }


def test_no_stop_is_created_where_osm_has_its_number_a_stop_is_near_or_a_person_decided():
    reasons = {
        "osm_has_this_number": propose_create(MISSING, unmatched(osm_objects_with_uic=1)),
        "osm_stop_nearby": propose_create(MISSING, unmatched(nearest_osm_m=30.0)),
        "decided": propose_create(MISSING, unmatched(), decision="needs_survey"),
        "no_tagging": propose_create(
            FixStop("ch:1:sloid:7300", "8507300", None, "Lift", None, 46.9, 7.4, modes="ELEVATOR"),
            unmatched(FixStop("ch:1:sloid:7300", "8507300", None, "Lift", None, 46.9, 7.4)),
        ),
    }
    for reason, (new, refusal) in reasons.items():
        assert new is None
        assert refusal["reason"] == reason
    assert propose_create(MISSING, {**unmatched(), "problem_type": "distance"}) == (None, None)


def test_the_plan_writes_fixes_and_creates_and_reports_every_refusal():
    problems = [
        {
            **unmatched(STOP),
            "problem_type": "attributes",
            "identity": "attributes:s:node/11",
            "osm_key": "node/11",
        },
        {
            **unmatched(STOP),
            "problem_type": "distance",
            "identity": "distance:s:node/12",
            "osm_key": "node/12",
        },
        unmatched(),
    ]
    objects = {"node/11": node(11), "node/12": node(12, uic_ref="8507100", uic_name="Bern, Hirschengraben")}
    plan = build_plan(
        problems, {STOP.key: STOP, MISSING.key: MISSING}, objects, REGISTRY, move=True, create=True
    )
    change = build_osmchange(plan.fixes, plan.creates, refused=plan.refused)
    assert check_osmchange(change.xml) == [("create", "node", -1), ("modify", "node", 11)]
    assert b"refused" in change.xml  # the XML comment names the refused object
    report = plan_report(plan, change)
    assert report["counts"]["modified"] == 1
    assert report["counts"]["created"] == 1
    assert report["counts"]["refused"] == 1
    assert report["refused"][0]["osm_key"] == "node/12"
    assert report["created"][0]["stop_id"] == MISSING.stop_id


def test_a_maproulette_creation_task_carries_the_osmchange_base64_encoded():
    new, _ = propose_create(MISSING, unmatched())
    (line,) = list(maproulette_lines([maproulette_create_task(new, unmatched(), "http://x/s")]))
    task = json.loads(line.lstrip(RECORD_SEPARATOR))
    work = task["cooperativeWork"]
    assert work["meta"] == {"version": 2, "type": 2}
    assert (work["file"]["type"], work["file"]["format"], work["file"]["encoding"]) == (
        "xml",
        "osc",
        "base64",
    )
    osc = base64.b64decode(work["file"]["content"])
    assert check_osmchange(osc) == [("create", "node", -1)]
    assert task["features"][0]["geometry"]["coordinates"] == [7.43, 46.96]  # the registry position
    assert task["features"][0]["properties"]["id"] == f"new/{MISSING.stop_id}"


def test_overwrite_never_replaces_a_number_when_the_uic_name_points_elsewhere_too():
    # The demo's node/984721502: uic_ref 8582936 and uic_name "Schaan, Realschule", paired with
    # "Schaan, Im Duxer" (8511725). Number and name both say it is another stop.
    stray = node(uic_ref="8599999", uic_name="Bern, Somewhere Else")
    fix = propose_fix(STOP, stray, "attributes", "a", registry=REGISTRY, overwrite=True)
    assert fix.set_tags == {}
    (refusal,) = fix.refused
    assert refusal["reason"] == "identifier_contradicts_registry"
    assert {c["key"] for c in refusal["conflicts"]} == {"uic_ref", "uic_name"}


def test_a_fix_proposes_the_tags_its_registry_declares_never_ref_ifopt_or_swiss_tags_elsewhere():
    # A NaPTAN-like registry: AtcoCode in naptan:AtcoCode, NaptanCode in naptan:NaptanCode.
    from pipeline.declarations import Identifier, RegistryDeclaration, declarations, register_declaration

    if "uk_test" not in declarations():
        register_declaration(
            RegistryDeclaration(
                name="uk_test",
                display_name="UK test",
                stop_id=Identifier("stop_id", ("naptan:AtcoCode",)),
                code=Identifier("code", ("naptan:NaptanCode",)),
                foreign_tags=frozenset({"ref:IFOPT", "uic_ref", "uic_name", "ref:sloid"}),
            )
        )
    uk = FixStop("1400A000101", "brgapdt", "A", "Brighton, Old Steine", None, 50.82, -0.137, source="uk_test")
    obj = FixObject("node/9", "node", 9, 1, {"highway": "bus_stop", "name": "Old Steine"}, 50.8201, -0.137)
    proposed = _proposed_tags(uk, obj)
    assert proposed == {
        "naptan:AtcoCode": "1400A000101",
        "naptan:NaptanCode": "brgapdt",
        "local_ref": "A",
    }
    # The object's `naptan:AtcoCode` naming another UK stop is a conflict; its ref:IFOPT is not this
    # registry's business.
    other = FixObject(
        "node/10", "node", 10, 1, {"naptan:AtcoCode": "1400A000999", "ref:IFOPT": "x"}, 50.82, -0.137
    )
    registry = RegistryIds.of(
        [("1400A000101", "brgapdt", "Old Steine", "uk_test"), ("1400A000999", None, "X", "uk_test")]
    )
    [conflict] = identity_conflicts(uk, other, registry)
    assert (conflict["key"], conflict["names"]) == ("naptan:AtcoCode", ["1400A000999"])
