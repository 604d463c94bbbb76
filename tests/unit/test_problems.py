"""Each problem type and priority on hand-built cases, and the stability of identities."""

from __future__ import annotations

import dataclasses

from pipeline.matching import match_stops
from pipeline.problems import attribute_mismatches, detect_problems, distance_priority
from pipeline.records import MatchRecord, problem_identity
from tests.pipeline_records import osm, stop
from tests.second_registry import zhv_stop


def problems_for(registry, objects):
    result = match_stops(registry, objects)
    return detect_problems(registry, objects, result.matches, result.unmatched_registry, result.unmatched_osm)


def by_type(problems, problem_type):
    return [p for p in problems if p.problem_type == problem_type]


def test_identity_is_type_sloid_and_osm_key():
    assert problem_identity("distance", "ch:1:sloid:1", "node/2") == "distance:ch:1:sloid:1:node/2"
    assert problem_identity("unmatched", None, "way/3") == "unmatched:-:way/3"


def test_distance_priorities_follow_the_reference_thresholds():
    pag, sbb = stop("s1", operator="PAG"), stop("s2", operator="SBB")
    assert distance_priority(10, pag) is None
    assert distance_priority(20, pag) == 3
    assert distance_priority(30, pag) == 2
    assert distance_priority(81, pag) == 1
    assert distance_priority(20, sbb) == 3
    assert distance_priority(200, sbb) == 3
    assert distance_priority(15, sbb) is None


def test_the_sbb_distance_rule_is_an_atlas_policy_not_applied_to_another_registry():
    # A stop of another registry whose operator happens to be "SBB" gets the default thresholds.
    other = zhv_stop("de:08311:6542:1:1", operator="SBB")
    assert distance_priority(200, other) == 1
    assert distance_priority(30, other) == 2


def test_distance_problem_for_a_far_identifier_match():
    registry = [stop("s1", number=8500001)]
    objects = [osm(1, 120, uic_ref=8500001, uic_name="Musterdorf, Post", operator="PAG")]
    [problem] = by_type(problems_for(registry, objects), "distance")
    assert problem.identity == "distance:s1:node/1"
    assert problem.priority == 1
    assert 119 < problem.distance_m < 121
    assert "120 m" in problem.message


def test_whole_stop_gets_one_distance_problem_measured_to_its_nearest_object():
    registry = [stop("sp", number=8500001, level="service_point")]
    objects = [osm(1, 30, uic_ref=8500001), osm(2, 90, uic_ref=8500001)]
    [problem] = by_type(problems_for(registry, objects), "distance")
    assert problem.identity == "distance:sp:-"
    assert problem.details["osm_key"] == "node/1"
    assert problem.priority == 2


def test_unmatched_registry_stop_priorities():
    registry = [
        stop("lonely", number=8500001, name=None),  # nothing anywhere → P1
        stop("crowded", 5000, name=None),  # two objects, ambiguous → P3
    ]
    objects = [osm(1, 5008), osm(2, 4992)]
    problems = {p.identity: p for p in by_type(problems_for(registry, objects), "unmatched")}
    assert problems["unmatched:lonely:-"].priority == 1
    assert problems["unmatched:crowded:-"].priority == 3
    assert problems["unmatched:crowded:-"].details["nearest_osm_m"] < 10


def test_unmatched_osm_object_priorities():
    registry = [
        stop("s1", number=8500001, platform_code="1"),
        stop("s2", 10, number=8500001, platform_code="2"),
    ]
    objects = [
        osm(1, 3000, uic_ref=8599999),  # uic_ref unknown to the registry → P1
        osm(2, 9000),  # nothing within 50 m → P2
        osm(3, 5, local_ref="7", uic_ref=8500001),  # next to s1/s2 but contradicting → P2 (count mismatch)
    ]
    problems = {p.identity: p for p in by_type(problems_for(registry, objects), "unmatched")}
    assert problems["unmatched:-:node/1"].priority == 1
    assert problems["unmatched:-:node/2"].priority == 2
    assert problems["unmatched:-:node/3"].priority == 2
    assert problems["unmatched:-:node/3"].details["side"] == "osm"


def test_attribute_mismatches_name_each_field_with_its_priority():
    s = stop("s1", number=8500001, platform_code="A", name="Bern, Bahnhof", operator="BERNMOBIL")
    o = osm(1, uic_ref="8500002", uic_name="Bern Bahnhof", local_ref="B", operator="PostAuto")
    found = {m["attribute"]: m["priority"] for m in attribute_mismatches(s, o)}
    assert found == {"uic_ref": 1, "uic_name": 1, "local_ref": 2, "operator": 3}


def test_attribute_checks_tolerate_spelling_variants():
    s = stop("s1", number=8500001, platform_code="01", name="Vaduz, Post", operator="SBB")
    o = osm(1, uic_ref="8500001", uic_name="vaduz,  post", local_ref="1", operator="SBB CFF FFS")
    assert attribute_mismatches(s, o) == []
    # without uic_name, `name` is compared loosely
    assert attribute_mismatches(s, osm(2, name="Post")) == []
    assert [m["attribute"] for m in attribute_mismatches(s, osm(3, name="Rheinpark Stadion"))] == ["name"]


def test_one_attributes_problem_per_match_at_its_highest_severity():
    registry = [stop("s1", number=8500001, name="Dorf", operator="PAG")]
    objects = [osm(1, 2, uic_ref=8500001, uic_name="Anderswo", operator="VBZ")]
    [problem] = by_type(problems_for(registry, objects), "attributes")
    assert problem.priority == 1
    assert {m["attribute"] for m in problem.details["mismatches"]} == {"uic_name", "operator"}


def test_osm_duplicates_same_uic_ref_and_local_ref_on_two_platforms():
    registry = [stop("s1", number=8500001, platform_code="1")]
    objects = [
        osm(1, 2, uic_ref=8500001, local_ref="1"),
        osm(2, 4, uic_ref=8500001, local_ref="1"),
        osm(
            3, 3, uic_ref=8500001, local_ref="1", public_transport="stop_position"
        ),  # its stop position: fine
    ]
    dups = {p.osm_key: p for p in by_type(problems_for(registry, objects), "duplicates")}
    assert set(dups) == {"node/1", "node/2"}
    assert dups["node/1"].priority == 3
    assert dups["node/1"].details["reasons"][0]["members"] == ["node/1", "node/2"]


def test_osm_duplicates_same_ifopt():
    objects = [osm(1, ref__IFOPT="ch:1:sloid:9"), osm(2, 500, ref__IFOPT="ch:1:sloid:9")]
    dups = by_type(detect_problems([], objects, [], [], ["node/1", "node/2"]), "duplicates")
    assert {p.identity for p in dups} == {"duplicates:-:node/1", "duplicates:-:node/2"}


def test_registry_duplicates_same_number_and_designation_and_same_place():
    registry = [
        stop("a", 0, number=8500001, platform_code="1"),
        stop("b", 30, number=8500001, platform_code="1"),
        stop("c", 500, number=8500002),
        stop("d", 500.3, number=8500003),
    ]
    dups = {
        p.stop_id: p
        for p in by_type(detect_problems(registry, [], [], [s.stop_id for s in registry], []), "duplicates")
    }
    assert dups["a"].priority == 2
    assert dups["b"].priority == 2
    assert dups["c"].priority == 3
    assert dups["c"].details["reasons"][0]["members"] == ["d"]


def test_problems_are_sorted_and_unique_by_identity():
    registry = [stop("s1", number=8500001)]
    objects = [osm(1, 200, uic_ref=8500001, uic_name="X")]
    problems = problems_for(registry, objects)
    identities = [p.identity for p in problems]
    assert identities == sorted(set(identities))


def test_problem_detection_is_pure_and_repeatable():
    registry = [stop("s1", number=8500001)]
    objects = [osm(1, 60, uic_ref=8500001)]
    match = MatchRecord("s1", "node/1", "exact_uic", 60.0, None, {})
    first = detect_problems(registry, objects, [match], [], [])
    second = detect_problems(registry, objects, [match], [], [])
    assert first == second


def test_attribute_checks_read_the_stops_registry_declaration_not_atlas_tags():
    # ATLAS: a different uic_ref is a P1 mismatch (unchanged).
    atlas = stop("ch:1:sloid:1", number=8500001)
    assert [m["attribute"] for m in attribute_mismatches(atlas, osm(1, uic_ref=8500002))] == ["uic_ref"]
    # zHV declares its own code and ids: its stop's code is compared with its own declared tag, and
    # the ATLAS-only uic_name is not read.
    from pipeline.declarations import Identifier, RegistryDeclaration, declarations, register_declaration

    if "coded_test" not in declarations():
        register_declaration(
            RegistryDeclaration(
                "coded_test",
                "Coded",
                Identifier("stop_id", ("ref:coded",)),
                code=Identifier("code", ("coded:code",)),
            )
        )
    other = dataclasses.replace(zhv_stop("de:1"), source="coded_test", code="abc", name="Musterdorf, Post")
    obj = osm(2, uic_ref=8500002, uic_name="Elsewhere", name="Musterdorf, Post", coded__code="abd")
    assert attribute_mismatches(other, obj) == [
        {"attribute": "coded:code", "registry": "abc", "osm": "abd", "priority": 1}
    ]
