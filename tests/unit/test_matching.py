"""Each matching stage on hand-built cases: what it links, what it refuses, and how it breaks ties."""

from __future__ import annotations

import random

import pytest

from pipeline.matching import match_stops
from pipeline.matching.context import MatchContext
from pipeline.matching.distance import ratio_accepts
from pipeline.matching.explain import explain_candidates
from pipeline.matching.normalize import name_score, normalise, normalise_ref
from pipeline.matching.route import RouteEvidence, match_by_routes
from pipeline.records import ManualLink
from tests.pipeline_records import osm, stop


def pairs(result) -> set[tuple[str, str, str]]:
    return {(m.stop_id, m.osm_key, m.method) for m in result.matches}


# -- normalisation ----------------------------------------------------------------------------


def test_normalise_folds_case_diacritics_and_abbreviations():
    assert normalise("Zürich HB, Bhf") == "zurich hauptbahnhof bahnhof"
    assert normalise("Bahnhofstr.") == "bahnhofstrasse"
    assert normalise("Pl. de la Gare") == "platz de la bahnhof"
    assert normalise("Genève-Aéroport") == "geneve aeroport"


def test_name_score_ignores_municipality_and_operator_prefixes():
    assert name_score("Bex, Vasselin", "Vasselin") == 100.0
    assert name_score("Bern, Bahnhof", "PostAuto Bahnhof") == 100.0
    assert name_score("Schaan, Bhf", "Schaan, Bahnhof") == 100.0
    assert name_score("Vaduz, Post", "Triesen, Meierhof") < 60


def test_platform_codes_compare_without_leading_zeros_and_case():
    assert normalise_ref("01") == normalise_ref("1") == "1"
    assert normalise_ref("a") == normalise_ref("A")
    assert normalise_ref("  ") is None


# -- stage 0: manual ------------------------------------------------------------------------------


def test_manual_link_wins_over_every_automatic_stage():
    registry = [stop("s1", number=8500001)]
    objects = [osm(1, 5, uic_ref=8500001), osm(2, 30)]
    result = match_stops(registry, objects, manual=[ManualLink("s1", "node/2", "link")])
    assert ("s1", "node/2", "manual") in pairs(result)
    # the stop is taken: the identifier stage does not add node/1 to it
    assert ("s1", "node/1", "exact_uic") not in pairs(result)


def test_manual_unlink_forbids_the_pair_in_all_stages():
    registry = [stop("s1", number=8500001, name="Dorf")]
    objects = [osm(1, 3, uic_ref=8500001, name="Dorf")]
    result = match_stops(registry, objects, manual=[ManualLink("s1", "node/1", "unlink")])
    assert result.matches == []
    assert [k.stop_id for k in result.unmatched_registry] == ["s1"]


def test_manual_link_to_a_vanished_object_is_reported_orphaned():
    result = match_stops([stop("s1")], [osm(1)], manual=[ManualLink("s1", "node/999", "link")])
    assert result.orphaned_manual == [ManualLink("s1", "node/999", "link")]


# -- stage 1: exact identifiers ----------------------------------------------------------------------


def test_ifopt_and_ref_sloid_link_to_the_stop_they_name_even_when_far():
    registry = [stop("ch:1:sloid:1:0:1"), stop("ch:1:sloid:1:0:2", 10)]
    objects = [osm(1, 500, ref__IFOPT="ch:1:sloid:1:0:1"), osm(2, 10, ref__sloid="ch:1:sloid:1:0:2")]
    result = match_stops(registry, objects)
    assert pairs(result) == {
        ("ch:1:sloid:1:0:1", "node/1", "exact_sloid"),
        ("ch:1:sloid:1:0:2", "node/2", "exact_sloid"),
    }
    far = next(m for m in result.matches if m.osm_key == "node/1")
    assert 499 < far.distance_m < 501
    assert far.evidence["rule"] == "stop_id == ref:IFOPT"


def test_uic_number_naming_one_stop_links_every_object_with_that_uic_ref():
    registry = [stop("s1", number=8500001)]
    objects = [osm(1, 5, uic_ref="8500001"), osm(2, 8, uic_ref="8500001", public_transport="stop_position")]
    result = match_stops(registry, objects)
    assert pairs(result) == {("s1", "node/1", "exact_uic"), ("s1", "node/2", "exact_uic")}


def test_uic_number_with_several_platforms_is_refined_by_local_ref():
    registry = [
        stop("p1", number=8500001, platform_code="1"),
        stop("p2", 20, number=8500001, platform_code="2"),
    ]
    # positions swapped on purpose: identifiers beat proximity
    objects = [osm(1, 20, uic_ref=8500001, local_ref="01"), osm(2, 0, uic_ref=8500001, local_ref="2")]
    result = match_stops(registry, objects)
    assert pairs(result) == {("p1", "node/1", "exact_uic_local_ref"), ("p2", "node/2", "exact_uic_local_ref")}


def test_uic_ref_without_local_ref_on_a_multi_platform_stop_is_left_to_later_stages():
    registry = [
        stop("p1", number=8500001, platform_code="1"),
        stop("p2", 200, number=8500001, platform_code="2"),
    ]
    objects = [osm(1, 3, uic_ref=8500001, name="Musterdorf, Post")]
    result = match_stops(registry, objects)
    assert pairs(result) == {("p1", "node/1", "name")}


# -- stage 2: name + distance --------------------------------------------------------------------------


def test_name_stage_matches_normalised_names_within_the_cap():
    registry = [stop("s1", name="Bex, Vasselin")]
    objects = [osm(1, 60, name="Vasselin"), osm(2, 20, name="Chemin des Vignes")]
    result = match_stops(registry, objects)
    assert pairs(result) == {("s1", "node/1", "name")}
    assert result.matches[0].name_score == 100.0


def test_name_stage_refuses_beyond_its_distance_cap():
    # "Vasselin" alone is the stop part of "Bex, Vasselin": a bus object counts within 80 m only
    result = match_stops([stop("s1", name="Bex, Vasselin")], [osm(1, 90, name="Vasselin")])
    assert result.matches == []
    # the full official name counts up to twice that, and no farther
    result = match_stops([stop("s1", name="Bex, Vasselin")], [osm(1, 170, name="Bex Vasselin")])
    assert result.matches == []


def test_name_stage_refuses_a_contradicting_platform_code():
    registry = [stop("s1", name="Dorf", platform_code="A")]
    objects = [osm(1, 5, name="Dorf", local_ref="B")]
    assert match_stops(registry, objects).matches == []


def test_name_conflicts_go_to_the_better_score_then_the_nearer_pair():
    registry = [stop("s1", 0, name="Dorfplatz"), stop("s2", 10, name="Dorfplatz Süd")]
    objects = [osm(1, 5, name="Dorfplatz")]
    result = match_stops(registry, objects)
    assert ("s1", "node/1", "name") in pairs(result)
    assert [k.stop_id for k in result.unmatched_registry] == ["s2"]


def test_whole_stop_takes_every_object_that_names_it():
    registry = [stop("sp", number=8500001, name="Vaduz, Post", level="service_point")]
    objects = [
        osm(1, 5, uic_ref=8500001),
        osm(2, 12, name="Vaduz, Post", public_transport="stop_position"),
        osm(3, 15, name="Post"),
    ]
    result = match_stops(registry, objects)
    assert pairs(result) == {
        ("sp", "node/1", "exact_uic"),
        ("sp", "node/2", "name"),
        ("sp", "node/3", "name"),
    }
    assert result.unmatched_osm == []


# -- stage 3: distance only --------------------------------------------------------------------------


def test_distance_stage_takes_the_only_candidate_within_50_m():
    result = match_stops([stop("s1", name=None)], [osm(1, 40), osm(2, 70)])
    assert pairs(result) == {("s1", "node/1", "distance_unique")}


def test_distance_ratio_test_accepts_a_clearly_nearest_candidate():
    result = match_stops([stop("s1", name=None)], [osm(1, 3), osm(2, 30)])
    assert pairs(result) == {("s1", "node/1", "distance_ratio")}
    assert result.matches[0].evidence["d2_m"] == pytest.approx(30.0, abs=0.5)


def test_distance_ratio_test_refuses_ambiguous_candidates():
    result = match_stops([stop("s1", name=None)], [osm(1, 10), osm(2, -15)])
    assert result.matches == []


def test_ratio_test_guards_identical_positions():
    assert ratio_accepts(0.0, 12.0) is True
    assert ratio_accepts(0.0, 0.0) is False
    assert ratio_accepts(2.0, 8.0) is False  # d2 below 10 m
    assert ratio_accepts(3.0, 12.0) is True


def test_second_unique_pass_uses_objects_left_after_the_ratio_pass():
    # s1 has two candidates (ratio test passes: node/1); s2 then has node/2 only.
    registry = [stop("s1", 0, name=None), stop("s2", 30, name=None)]
    objects = [osm(1, 1), osm(2, 27)]
    result = match_stops(registry, objects)
    assert {(m.stop_id, m.osm_key) for m in result.matches} == {("s1", "node/1"), ("s2", "node/2")}


def test_distance_stage_skips_stations_for_platforms():
    result = match_stops([stop("s1", name=None)], [osm(1, 5, public_transport="station")])
    assert result.matches == []


def test_uic_ref_of_another_registry_stop_forbids_proximity_matches():
    # node/1 names platform 9 of stop 8500002 (far away, no such platform): it must not go to s1 nearby
    registry = [
        stop("s1", 0, number=8500001, name=None),
        stop("s2", 5000, number=8500002, platform_code="1", name=None),
        stop("s3", 5100, number=8500002, platform_code="2", name=None),
    ]
    result = match_stops(registry, [osm(1, 3, uic_ref=8500002, local_ref="9")])
    assert result.matches == []


# -- stage 4: routes ------------------------------------------------------------------------------------


def test_route_stage_does_nothing_without_route_evidence():
    ctx = MatchContext([stop("s1")], [osm(1, 5)])
    assert match_by_routes(ctx, None) == 0
    assert match_by_routes(ctx, RouteEvidence()) == 0
    assert ctx.matches == []


# -- determinism and explanations ---------------------------------------------------------------------


def test_result_does_not_depend_on_input_order():
    registry = [stop(f"s{i}", i * 37 % 300, i * 53 % 300, name=f"Halt {i % 7}") for i in range(40)]
    objects = [osm(i, i * 41 % 300, i * 29 % 300, name=f"Halt {i % 5}") for i in range(60)]
    first = match_stops(registry, objects)
    rng = random.Random(7)
    shuffled_reg, shuffled_osm = registry[:], objects[:]
    rng.shuffle(shuffled_reg)
    rng.shuffle(shuffled_osm)
    second = match_stops(shuffled_reg, shuffled_osm)
    assert pairs(first) == pairs(second)


def test_explain_lists_candidates_with_the_rule_that_rejected_each():
    registry = [stop("s1", name="Dorf", platform_code="A"), stop("s2", 200, name="Weit")]
    objects = [osm(1, 5, name="Dorf", local_ref="B"), osm(2, 80, name="Anders"), osm(3, 10, name="Dorf")]
    ctx = MatchContext(registry, objects)
    result = match_stops(registry, objects)
    ctx.replay(result.matches)
    explained = {c.osm_key: c for c in explain_candidates(ctx, "s1")}
    assert explained["node/3"].rejected_by is None
    assert explained["node/3"].matched_to == "name"
    assert explained["node/1"].rejected_by == "local_ref_contradicts_designation"
    assert explained["node/1"].same_platform_code is False
    # the stop is matched, yet it could take "Anders" by name: the reason is the name, not "matched"
    assert explained["node/2"].rejected_by == "name_below_score"
    assert explain_candidates(ctx, "unknown") == []


def test_platform_linked_by_sloid_also_takes_its_stop_position_by_uic_and_local_ref():
    registry = [stop("ch:1:sloid:9:0:4", number=8500009, platform_code="D")]
    objects = [
        osm(1, 2, ref__sloid="ch:1:sloid:9:0:4", uic_ref=8500009, local_ref="D"),
        osm(2, 4, uic_ref=8500009, local_ref="D", public_transport="stop_position"),
        osm(3, 30, uic_ref=8500009, local_ref="E", public_transport="stop_position"),  # another platform
    ]
    result = match_stops(registry, objects)
    assert pairs(result) == {
        ("ch:1:sloid:9:0:4", "node/1", "exact_sloid"),
        ("ch:1:sloid:9:0:4", "node/2", "exact_uic"),
    }


# -- two registries in one instance -----------------------------------------------------------


def test_two_registries_sharing_uic_numbers_keep_their_exact_matches():
    # A border station in ATLAS and in Germany's zHV, both with UIC number 8503424: each registry's
    # identifier index holds only its own stops, so the number names one ATLAS stop, not two stops.
    from tests.second_registry import zhv_stop

    atlas = stop("ch:1:sloid:3424", number=8503424, name="Schaffhausen")
    zhv = zhv_stop("de:08335:3424", 0, 60, number=8503424, name="Schaffhausen")
    objects = [
        osm(1, uic_ref=8503424, name="Schaffhausen"),
        osm(2, 0, 60, ref__IFOPT="de:08335:3424", uic_ref=8503424, name="Schaffhausen"),
        osm(3, 5, 0, uic_ref=8503424, public_transport="stop_position"),
    ]
    result = match_stops([atlas, zhv], objects)
    assert pairs(result) == {
        ("ch:1:sloid:3424", "node/1", "exact_uic"),
        ("ch:1:sloid:3424", "node/3", "exact_uic"),
        ("de:08335:3424", "node/2", "exact_sloid"),
    }
    assert {m.source for m in result.matches if m.stop_id == "de:08335:3424"} == {"zhv"}


def test_an_osm_id_tag_of_one_registry_never_matches_a_stop_of_another():
    # `naptan:AtcoCode`-style tags are per registry: zHV declares only `ref:IFOPT`, ATLAS `ref:IFOPT`
    # and `ref:sloid`; an ATLAS sloid in `ref:IFOPT` is looked up among ATLAS stops only.
    from tests.second_registry import zhv_stop

    atlas = stop("ch:1:sloid:3424", number=8503424)
    zhv = zhv_stop("ch:1:sloid:3424", 0, 300, number=8000001)  # the same id text in the other registry
    result = match_stops([atlas, zhv], [osm(1, ref__sloid="ch:1:sloid:3424")])
    assert {(m.source, m.osm_key, m.method) for m in result.matches} == {("atlas", "node/1", "exact_sloid")}
