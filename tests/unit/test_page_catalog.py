"""The pages label every code the API accepts, and only those, so no filter or badge shows a raw code."""

from __future__ import annotations

from pathlib import Path

from app.pages import catalog
from app.services import vocabulary


def _codes(table: tuple[catalog.Label, ...]) -> list[str]:
    return [entry.code for entry in table]


def test_every_match_method_of_the_matcher_has_a_label_and_a_marker_colour():
    assert set(_codes(catalog.MATCH_METHODS)) == set(vocabulary.MATCH_METHODS)
    css = (Path(catalog.__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text()
    for code in vocabulary.MATCH_METHODS:
        assert f".method-{code} {{" in css, code


def test_every_problem_type_has_a_label():
    assert set(_codes(catalog.PROBLEM_TYPES)) == set(vocabulary.PROBLEM_TYPES)


def test_review_keys_one_to_five_are_the_api_decisions_in_order():
    assert _codes(catalog.DECISIONS) == list(vocabulary.DECISIONS)


def test_priorities_are_the_api_priorities():
    assert _codes(catalog.PRIORITIES) == [str(p) for p in vocabulary.PRIORITIES]


def test_every_means_of_transport_has_a_label():
    assert _codes(catalog.TRANSPORTS) == list(vocabulary.TRANSPORTS)


def test_unknown_code_is_shown_as_itself():
    assert catalog.label_for(catalog.MATCH_METHODS, "new_method") == "new_method"
    assert catalog.label_for(catalog.MATCH_METHODS, "exact_uic") == "Stop code"
    assert catalog.label_for(catalog.MATCH_METHODS, None) == ""


def test_identifier_match_methods_are_labelled_for_any_registry():
    # The stored codes keep their ATLAS-era names; the words are the registry's stop id and stop code
    # (ATLAS sloid / UIC number, NaPTAN AtcoCode / NaptanCode), never one registry's.
    exact = [m for m in catalog.MATCH_METHODS if m.code.startswith("exact_")]
    assert [m.code for m in exact] == ["exact_sloid", "exact_uic", "exact_uic_local_ref"]
    for method in exact:
        words = f"{method.label} {method.hint}".lower()
        assert "uic" not in words, method
        assert "sloid" not in words, method
        assert "registry's stop" in method.hint, method
