"""Two registries in one instance may use the same id string for different stops: matching, problem
detection and manual links keep them apart by (source, stop_id)."""

from __future__ import annotations

from pipeline.matching import match_stops
from pipeline.problems import detect_problems
from pipeline.records import ManualLink, RegistryKey, problem_identity
from tests.pipeline_records import osm, stop
from tests.second_registry import zhv_stop

SAME_ID = "ch:1:sloid:7000"  # an ATLAS sloid that the fake zHV export also uses, on purpose
ATLAS = RegistryKey("atlas", SAME_ID)
ZHV = RegistryKey("zhv", SAME_ID)


def two_registries():
    """An ATLAS stop matched by name, and a zHV stop with the same id 3 km away with nothing near."""
    registry = [
        stop(SAME_ID, name="Musterdorf, Post"),
        zhv_stop(SAME_ID, 3000.0, 0.0, name="Konstanz, Hafen", platform_code=None),
    ]
    objects = [osm(1, 5.0, 0.0, name="Musterdorf, Post", highway="bus_stop")]
    return registry, objects


def test_an_id_shared_by_two_registries_matches_only_its_own_registrys_stop():
    registry, objects = two_registries()
    result = match_stops(registry, objects)
    assert [(m.source, m.stop_id, m.osm_key) for m in result.matches] == [("atlas", SAME_ID, "node/1")]
    assert result.unmatched_registry == [ZHV]


def test_problems_of_two_registries_with_one_id_are_two_problems_on_the_right_stops():
    registry, objects = two_registries()
    result = match_stops(registry, objects)
    problems = detect_problems(registry, objects, result.matches, result.unmatched_registry, [])
    unmatched = [p for p in problems if p.problem_type == "unmatched" and p.stop_id]
    assert [(p.source, p.stop_id, p.identity) for p in unmatched] == [
        ("zhv", SAME_ID, f"unmatched:zhv/{SAME_ID}:-")
    ]
    assert unmatched[0].message.startswith("Konstanz, Hafen has no OSM counterpart")
    # Not one registry's duplicate of the other: each registry has its id once.
    assert not [p for p in problems if p.problem_type == "duplicates"]


def test_atlas_problem_identities_carry_no_source_and_another_registrys_do():
    assert problem_identity("distance", SAME_ID, "node/1", "atlas") == f"distance:{SAME_ID}:node/1"
    assert problem_identity("distance", SAME_ID, "node/1") == f"distance:{SAME_ID}:node/1"
    assert problem_identity("distance", SAME_ID, "node/1", "zhv") == f"distance:zhv/{SAME_ID}:node/1"


def test_a_manual_unlink_of_one_registrys_stop_leaves_the_other_registrys_stop_with_that_id_alone():
    registry, objects = two_registries()
    near_zhv = osm(2, 3003.0, 0.0, name="Konstanz, Hafen", highway="bus_stop")
    unlink = ManualLink(stop_id=SAME_ID, osm_key="node/2", action="unlink", source="atlas")
    result = match_stops(registry, [*objects, near_zhv], manual=[unlink])
    pairs = {(m.source, m.stop_id, m.osm_key) for m in result.matches}
    assert ("zhv", SAME_ID, "node/2") in pairs
    assert ("atlas", SAME_ID, "node/1") in pairs


def test_a_manual_link_names_the_stop_of_its_own_registry():
    registry, objects = two_registries()
    link = ManualLink(stop_id=SAME_ID, osm_key="node/1", action="link", source="zhv")
    result = match_stops(registry, objects, manual=[link])
    manual = [(m.source, m.stop_id) for m in result.matches if m.method == "manual"]
    assert manual == [("zhv", SAME_ID)]
    assert ATLAS in result.unmatched_registry
