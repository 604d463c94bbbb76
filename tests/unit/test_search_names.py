"""The pure parts of name search: the spellings a name is looked up under, the municipality of a name."""

from __future__ import annotations

from app.services.search import municipality, name_variants


def test_a_name_without_comma_is_also_looked_up_with_the_registrys_comma():
    assert name_variants("schaan bahnhof") == ["schaan bahnhof", "schaan, bahnhof"]


def test_a_two_word_municipality_gets_the_comma_after_its_second_word_too():
    assert name_variants("buchs sg bahnhof") == ["buchs sg bahnhof", "buchs, sg bahnhof", "buchs sg, bahnhof"]


def test_a_name_with_comma_is_also_looked_up_without_it():
    assert name_variants("schaan,  bahnhof")[:2] == ["schaan,  bahnhof", "schaan bahnhof"]
    assert "schaan, bahnhof" in name_variants("schaan,  bahnhof")


def test_a_single_word_has_one_spelling():
    assert name_variants("vaduz") == ["vaduz"]


def test_municipality_is_the_part_before_the_registry_names_comma():
    assert municipality("Schaan, Bahnhof") == "Schaan"
    assert municipality("Buchs SG, Bahnhof, Perron 2") == "Buchs SG"
    assert municipality("Schaan Bahnhof") is None
    assert municipality(", Bahnhof") is None
    assert municipality(None) is None
