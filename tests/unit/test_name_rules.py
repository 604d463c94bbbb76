"""Issue 13: one test per name rule, the joint name-and-distance score, ties, and the radius per kind.

Each rule is general (a class of spellings or a geometry), checked on hand-built names and positions.
"""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.matching import match_stops
from pipeline.matching.kinds import name_radius_m, object_kind
from pipeline.matching.name import joint_score
from pipeline.matching.normalize import (
    ABBREVIATION_CLASSES,
    name_score,
    normalise,
    same_full_name,
)
from pipeline.matching.params import NAME_MIN_SCORE, NAME_RADIUS_M, STOP_LEVEL_RADIUS_M
from tests.pipeline_records import osm, stop


def pairs(result) -> set[tuple[str, str, str]]:
    return {(m.stop_id, m.osm_key, m.method) for m in result.matches}


# -- names as they are written -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canonical", "form"),
    [(canonical, form) for canonical, forms in ABBREVIATION_CLASSES for form in forms],
)
def test_every_written_form_of_an_abbreviation_class_reads_as_its_canonical_word(canonical, form):
    assert normalise(f"Musterdorf, {form}") == f"musterdorf {canonical}"
    assert name_score(f"Musterdorf, Alte {form}", f"Musterdorf Alte {canonical}") == 100.0


@pytest.mark.parametrize(
    ("registry", "osm_name"),
    [
        ("Zürich, Bahnhof", "Zürich, Bhf"),
        ("Zürich, Bahnhof", "Zürich Bf"),
        ("Lausanne, Gare", "Lausanne, Bahnhof"),
        ("Lugano, Stazione", "Lugano, Staz."),
        ("Zürich HB", "Zürich Hauptbahnhof"),
        ("Zürich HB", "Zürich Hbf"),
        ("Bern, Bahnhofstrasse", "Bern, Bahnhofstr."),
        ("Bern, Bahnhof Strasse", "Bern, Bahnhof Str."),
        ("Eschen, Haldengasse", "Eschen Haldengass"),
        ("Genève, Place de Cornavin", "Genève, Pl. de Cornavin"),
        ("Bern, Guisanplatz", "Bern, Guisanpl."),
        ("St. Gallen, Marktplatz", "Sankt Gallen, Marktplatz"),
        ("St-Imier, Gare", "Saint-Imier, Gare"),
        ("Ste-Croix, Poste", "Sainte-Croix, Post"),
        ("Sta. Maria, Posta", "Santa Maria, Post"),
        ("Lenk, Station", "Lenk, Sta."),
        ("Attalens, Village", "Attalens, Dorf"),
        ("Planken, Schulhaus", "Planken, Schulh."),
        ("Grindelwald, Abzw. Aellfluh", "Grindelwald, Abzweigung Aellfluh"),
        ("Veysonnaz, bif. Clèbes", "Veysonnaz, bifurcation Clèbes"),
        ("Eschen, KiGa Schönabüel", "Eschen Kindergarten Schönabüel"),
    ],
)
def test_abbreviations_and_language_variants_are_the_same_name(registry, osm_name):
    assert name_score(registry, osm_name) == 100.0


def test_the_municipality_prefix_may_be_present_or_absent():
    assert name_score("Vaduz, Post", "Post") == 100.0
    assert name_score("Vaduz, Post", "Vaduz Post") == 100.0
    assert name_score("Vaduz, Post", "Schaan Post") < NAME_MIN_SCORE


def test_a_canton_code_after_the_municipality_may_be_absent():
    assert name_score("Mauren FL, Binza", "Mauren Binza") == 100.0
    assert name_score("Buchs SG, Wiedenstrasse", "Buchs Wiedenstrasse") == 100.0
    # only an upper-case code after the first word is a region: "Be" in a name is not dropped
    assert normalise("Be, Dorf") == "be dorf"


def test_word_order_does_not_count():
    assert name_score("Mittelmuhen, Bahnhof", "Bahnhof Mittelmuhen") == 100.0
    assert name_score("Bahnhof Aarau", "Aarau, Bahnhof") == 100.0
    assert name_score("Sihlpost Zürich", "Zürich, Sihlpost") == 100.0


def test_an_operator_prefix_may_be_absent():
    assert name_score("Bern, Bahnhof", "PostAuto Bahnhof") == 100.0


def test_loose_readings_score_below_an_exact_name_and_only_when_loose_is_allowed():
    cases = [
        ("Bissone (lago)", "Bissone"),  # qualifier in parentheses
        ("Mittelmuhen, Bahnhof", "Mittelmuhen"),  # generic word
        ("Schaan, Duxgass", "Duxgass/Kresta"),  # one part of "A/B"
    ]
    for registry, osm_name in cases:
        loose = name_score(registry, osm_name)
        assert NAME_MIN_SCORE <= loose < 100.0, (registry, osm_name)
        assert name_score(registry, osm_name, loose=False) < NAME_MIN_SCORE, (registry, osm_name)


def test_two_loose_readings_never_meet():
    # both read "Dietfurt" without their generic word, yet they are two stops
    assert name_score("Dietfurt, Bahnhof", "Dietfurt, Dorf") < NAME_MIN_SCORE


def test_a_word_truncated_with_a_dot_stands_for_the_word_it_begins():
    assert name_score("Bellinzona, Cast. Montebello", "Castello Montebello") >= NAME_MIN_SCORE
    assert name_score("Bern, Kath. Kirche", "Bern Katholische Kirche") >= NAME_MIN_SCORE
    # without the dot it is a word of its own, and two letters are too short to stand for a word
    assert name_score("Bellinzona, Cast Montebello", "Castello Montebello") < NAME_MIN_SCORE
    assert name_score("Genève, Pt. Lancy", "Genève, Pont Lancy") < NAME_MIN_SCORE


def test_the_municipality_may_be_dropped_on_one_side_only():
    # two stations of two municipalities, both "Bahnhof" once the municipality is gone
    assert name_score("Opfikon, Bahnhof", "Glattbrugg, Bahnhof") < NAME_MIN_SCORE
    assert name_score("Staufen, Beyeler", "Lenzburg, Beyeler") < NAME_MIN_SCORE


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Baden, Bahnhof", "Baden, Bahnhof Ost"),  # a direction word more
        ("Herrliberg-Feldmeilen, Bhf West", "Herrliberg-Feldmeilen, Bhf Ost"),
        ("Fribourg, Musy 4", "Fribourg, Musy 24"),  # a number
        ("Zürich HB", "Zürich HB SZU"),
        ("Triesenberg, Samina", "Triesenberg, Almeina"),  # alike only through the municipality
        ("Burgdorf, Friedhof", "Burgdorf, Friedhofweg"),
        ("Feusisberg, Riedhof", "Feusisberg, Ried"),
    ],
)
def test_neighbouring_stops_that_differ_in_one_word_are_not_similar(a, b):
    # real pairs of distinct ATLAS stops within 260 m of each other (service points 2025-08-02)
    assert name_score(a, b) < NAME_MIN_SCORE


def test_a_spelling_variant_of_the_differing_word_is_still_similar():
    assert name_score("Vaduz, Quäderle", "Vaduz Quaederle") >= NAME_MIN_SCORE
    assert name_score("Gamprin, Abzw. Badäl-Schlatt", "Gamprin Abzw. Bädal-Schlatt") == 100.0


def test_a_full_name_includes_the_municipality():
    assert same_full_name("Ulmiz FR, Ausserdorf", "Ulmiz Ausserdorf")
    assert same_full_name("Mittelmuhen, Bahnhof", "Bahnhof Mittelmuhen")
    assert not same_full_name("Ulmiz FR, Ausserdorf", "Ausserdorf")


# -- one joint score ------------------------------------------------------------------------------


def test_joint_score_discounts_the_name_by_the_distance_relative_to_the_radius():
    assert joint_score(100.0, 0.0, 80.0) == 100.0
    assert joint_score(100.0, 80.0, 80.0) == 50.0
    assert joint_score(90.0, 40.0, 80.0) == 67.5


def test_a_nearer_stop_with_a_slightly_lower_name_score_beats_a_farther_perfect_name():
    # name-first would give the object to "Seematte" (100 at 60 m); "Seematten" (94.1) is 3 times closer
    registry = [stop("far", 60, name="Hünibach, Seematte"), stop("near", -20, name="Hünibach, Seematten")]
    result = match_stops(registry, [osm(1, 0, name="Seematte")])
    assert ("near", "node/1", "name") in pairs(result)
    assert ("far", "node/1", "name") not in pairs(result)
    evidence = next(m.evidence for m in result.matches if m.stop_id == "near")
    assert evidence["runner_up"]["stop_id"] == "far"
    assert evidence["joint_score"] > evidence["runner_up"]["joint_score"]


def test_a_perfect_name_still_wins_when_the_distances_are_alike():
    registry = [
        stop("exact", 12, name="Hünibach, Seematte"),
        stop("similar", -10, name="Hünibach, Seematten"),
    ]
    result = match_stops(registry, [osm(1, 0, name="Seematte")])
    assert ("exact", "node/1", "name") in pairs(result)


def test_a_tie_between_two_stops_is_refused_in_every_order():
    registry = [stop("a", -15, name="Musterdorf, Post"), stop("b", 15, name="Musterdorf, Post")]
    objects = [osm(1, 0, name="Post")]
    for reg in (registry, registry[::-1]):
        result = match_stops(reg, objects)
        assert result.matches == []
        assert result.unmatched_osm == ["node/1"]


def test_a_distance_only_tie_is_refused_too():
    registry = [stop("a", -20, name=None), stop("b", 20, name=None)]
    for reg in (registry, registry[::-1]):
        assert match_stops(reg, [osm(1, 0)]).matches == []


def test_a_stop_takes_every_object_that_names_it_and_each_object_goes_to_one_stop():
    registry = [stop("p", 0, name="Stans, Sportanlage Eichli"), stop("q", 300, name="Stans, Eichli Nord")]
    objects = [
        osm(1, 2, name="Sportanlage Eichli", public_transport="platform"),
        osm(2, 5, name="Sportanlage Eichli", public_transport="stop_position"),
        osm(3, -30, name="Sportanlage Eichli", public_transport="platform"),
    ]
    result = match_stops(registry, objects)
    assert pairs(result) == {("p", f"node/{i}", "name") for i in (1, 2, 3)}


def test_a_loose_reading_finds_a_stop_nothing_names_strictly_but_takes_no_other_stop_s_object():
    # "Dietfurt, Bahnhof" (bus stop) has its own objects: the railway station "Dietfurt" stays free
    registry = [stop("bus", 0, name="Dietfurt, Bahnhof")]
    objects = [
        osm(1, 5, name="Dietfurt Bahnhof", highway="bus_stop"),
        osm(2, 60, name="Dietfurt", railway="halt", public_transport="platform"),
    ]
    assert pairs(match_stops(registry, objects)) == {("bus", "node/1", "name")}
    # with nothing naming it strictly, the loose reading finds its nearest object
    registry = [stop("lake", 0, name="Bissone (lago)")]
    objects = [osm(1, 12, name="Bissone"), osm(2, 70, name="Bissone")]
    assert pairs(match_stops(registry, objects)) == {("lake", "node/1", "name")}


def test_a_railway_station_is_not_the_bus_stop_of_the_same_name():
    # ATLAS: "Zürich Binz" (the station) and "Zürich, Binz" (the bus stop) are two stops, one name
    bus = dataclasses.replace(stop("bus", 0, name="Zürich, Binz"), modes="BUS")
    station = osm(1, 10, name="Zürich Binz", railway="station", public_transport="station")
    platform = osm(2, 15, name="Zürich Binz", highway="bus_stop")
    whole = dataclasses.replace(bus, dataset="service_point")
    assert pairs(match_stops([whole], [station, platform])) == {("bus", "node/2", "name")}
    # an object whose tags name no mode, or a stop without modes, is not contradicted
    untyped = osm(3, 10, name="Zürich Binz", public_transport="platform")
    assert pairs(match_stops([whole], [untyped])) == {("bus", "node/3", "name")}


# -- radius by kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"highway": "bus_stop"}, "bus"),
        ({"railway": "tram_stop"}, "tram"),
        ({"railway": "halt"}, "rail"),
        ({"railway": "station", "public_transport": "station"}, "rail"),
        ({"train": "yes", "public_transport": "stop_position"}, "rail"),
        ({"amenity": "ferry_terminal"}, "ferry"),
        ({"aerialway": "station"}, "aerialway"),
        ({}, "bus"),
    ],
)
def test_the_kind_of_an_object_comes_from_its_tags(tags, kind):
    assert object_kind(osm(1, **tags)) == kind


def test_an_untagged_object_takes_the_kind_of_the_registry_stop():
    chairlift = dataclasses.replace(stop("s"), modes="CHAIRLIFT")
    assert object_kind(osm(1), chairlift) == "aerialway"


def test_each_kind_has_its_radius():
    platform = stop("s", name="Bex, Vasselin")
    whole = stop("w", name="Bex, Vasselin", level="service_point")
    assert name_radius_m(platform, osm(1, highway="bus_stop"), whole_stop=False, full_name=False) == 80.0
    assert name_radius_m(platform, osm(1, railway="halt"), whole_stop=False, full_name=False) == 200.0
    assert name_radius_m(whole, osm(1, highway="bus_stop"), whole_stop=True, full_name=False) == (
        STOP_LEVEL_RADIUS_M
    )
    assert name_radius_m(platform, osm(1, highway="bus_stop"), whole_stop=False, full_name=True) == 160.0
    assert NAME_RADIUS_M["bus"] < NAME_RADIUS_M["tram"] < NAME_RADIUS_M["rail"]


@pytest.mark.parametrize(
    ("tags", "distance", "matched"),
    [
        ({"highway": "bus_stop"}, 75, True),
        ({"highway": "bus_stop"}, 90, False),
        ({"railway": "tram_stop"}, 110, True),
        ({"railway": "tram_stop"}, 130, False),
        ({"railway": "halt", "public_transport": "platform"}, 190, True),
        ({"railway": "halt", "public_transport": "platform"}, 210, False),
    ],
)
def test_a_name_match_lies_within_the_radius_of_its_kind(tags, distance, matched):
    result = match_stops([stop("s", name="Bex, Vasselin")], [osm(1, distance, name="Vasselin", **tags)])
    assert bool(result.matches) is matched


def test_the_full_official_name_reaches_twice_the_radius_of_its_kind():
    bus = {"highway": "bus_stop"}
    registry = [stop("s", name="Ulmiz FR, Ausserdorf")]
    full = match_stops(registry, [osm(1, 120, name="Ulmiz Ausserdorf", **bus)])
    part = match_stops(registry, [osm(1, 120, name="Ausserdorf", **bus)])
    assert pairs(full) == {("s", "node/1", "name")}
    assert full.matches[0].evidence["full_name"] is True
    assert part.matches == []


def test_a_whole_stop_reaches_farther_than_a_platform():
    bus = {"highway": "bus_stop"}
    platform = match_stops([stop("s", name="Bex, Vasselin")], [osm(1, 120, name="Vasselin", **bus)])
    whole = match_stops(
        [stop("s", name="Bex, Vasselin", level="service_point")], [osm(1, 120, name="Vasselin", **bus)]
    )
    assert platform.matches == []
    assert pairs(whole) == {("s", "node/1", "name")}
