""" "Why not matched" names the rule that actually kept a pair apart, stage by stage."""

from __future__ import annotations

import dataclasses

from app.services.candidates import REJECTION_TEXT
from pipeline.matching import match_stops
from pipeline.matching.context import MatchContext
from pipeline.matching.explain import REJECTION_RULES, explain_candidates
from pipeline.matching.name import match_strict
from pipeline.records import OsmMember, OsmStopArea, OsmStructure
from tests.pipeline_records import osm, stop
from tests.second_registry import zhv_stop


def explained(registry, objects, stop_id, structure=None):
    result = match_stops(registry, objects, osm_structure=structure)
    ctx = MatchContext(registry, objects)
    ctx.replay(result.matches)
    ctx.name_ties = []
    return {c.osm_key: c for c in explain_candidates(ctx, stop_id, structure=structure)}


def test_every_rule_the_matcher_reports_has_words_for_the_reviewer():
    assert set(REJECTION_TEXT) == set(REJECTION_RULES)


def test_a_whole_stop_already_matched_gets_the_name_rule_not_already_matched():
    # Before: "registry_already_matched", though the name stage lets a whole stop take more objects.
    registry = [stop("s1", number=8500001, name="Dorf, Post", level="service_point")]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 30, name="Anders")]
    found = explained(registry, objects, "s1")
    assert found["node/1"].rejected_by is None
    assert found["node/2"].rejected_by == "name_below_score"


def test_a_similar_name_beyond_the_radius_of_its_kind_says_so():
    registry = [stop("s1", number=8500001, name="Musterdorf, Post")]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 120, name="Post", highway="bus_stop")]
    found = explained(registry, objects, "s1")
    assert found["node/2"].rejected_by == "beyond_name_radius_for_kind"


def test_an_object_without_a_name_near_a_matched_stop_says_it_has_no_name():
    registry = [stop("s1", number=8500001, level="service_point")]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 20)]
    assert explained(registry, objects, "s1")["node/2"].rejected_by == "osm_has_no_name"


def test_two_stops_of_one_name_equally_near_is_a_tie():
    registry = [stop("s1", 0, name="Dorf"), stop("s2", 40, name="Dorf")]
    objects = [osm(1, 20, name="Dorf")]
    result = match_stops(registry, objects)
    assert result.matches == []
    ctx = MatchContext(registry, objects)
    ctx.replay(result.matches)
    (candidate,) = explain_candidates(ctx, "s1")
    assert candidate.rejected_by == "ambiguous_name_tie"


def test_unmatched_stop_and_a_far_unnamed_object_is_too_far_for_the_distance_stage():
    registry = [stop("s1", name="Dorf")]
    objects = [osm(1, 90, name="Anders")]
    assert explained(registry, objects, "s1")["node/1"].rejected_by == "too_far_for_distance_match"


def test_several_unnamed_objects_near_an_unmatched_stop_are_ambiguous():
    registry = [stop("s1", name=None)]
    objects = [osm(1, 10), osm(2, 12)]
    found = explained(registry, objects, "s1")
    assert {c.rejected_by for c in found.values()} == {"ambiguous_several_candidates_within_radius"}


def test_a_stop_area_member_kept_out_names_the_stop_area_rule_and_the_relation():
    registry = [dataclasses.replace(stop("s1", number=8500001, level="service_point"), modes="BUS")]
    objects = [
        osm(1, 5, uic_ref=8500001, highway="bus_stop"),
        osm(2, 50, uic_ref=8100482, name="Schaan-Vaduz", railway="halt"),
        osm(3, 60, name="Perron 2"),
    ]
    members = tuple(OsmMember("platform", f"node/{i}", i) for i in (1, 2, 3))
    structure = OsmStructure(stop_areas=(OsmStopArea(42, 1, "Schaan", None, None, {}, members),))
    found = explained(registry, objects, "s1", structure)
    assert found["node/2"].rejected_by == "uic_ref_names_another_stop"
    assert found["node/2"].stop_area == 42
    assert found["node/3"].rejected_by is None
    assert found["node/3"].matched_to == "stop_area"


def test_an_object_whose_uic_ref_and_uic_name_both_name_another_stop_is_never_taken_by_distance():
    # The demo's node/984721502 ("Schaan, Realschule", uic_ref 8582936) lies 44 m from the registry's
    # "Schaan, Im Duxer" (8511725) and was its only candidate: two identity tags said otherwise.
    registry = [stop("s1", number=8511725, name="Schaan, Im Duxer", level="service_point")]
    objects = [osm(1, 44, uic_ref=8582936, uic_name="Schaan, Realschule", name="Schaan, Realschule")]
    result = match_stops(registry, objects)
    assert result.matches == []
    found = explained(registry, objects, "s1")
    assert found["node/1"].rejected_by == "uic_ref_and_uic_name_name_another_stop"


def test_a_mistyped_uic_ref_beside_the_right_uic_name_can_still_be_matched():
    registry = [stop("s1", number=8511725, name="Schaan, Im Duxer", level="service_point")]
    objects = [osm(1, 10, uic_ref=8511752, uic_name="Schaan, Im Duxer", name="Schaan, Im Duxer")]
    assert [m.osm_key for m in match_stops(registry, objects).matches] == ["node/1"]


def test_a_name_tie_of_another_registrys_stop_with_the_same_id_is_not_this_stops_tie():
    # zHV's s1 and s2 tie for the object; ATLAS's s1 (same id, on purpose) is farther (beyond the
    # distance stage's reach) and took no part.
    registry = [
        zhv_stop("s1", 0, name="Dorf"),
        zhv_stop("s2", 40, name="Dorf"),
        stop("s1", 80, name="Dorf"),
    ]
    objects = [osm(1, 20, name="Dorf")]
    ctx = MatchContext(registry, objects)
    match_strict(ctx)
    assert ctx.name_ties  # the stage refused the object as a tie of the two zHV stops
    (atlas,) = explain_candidates(ctx, "s1", source="atlas")
    assert atlas.rejected_by == "lost_conflict_to_better_pair"
    (zhv,) = explain_candidates(ctx, "s1", source="zhv")
    assert zhv.rejected_by == "ambiguous_name_tie"
