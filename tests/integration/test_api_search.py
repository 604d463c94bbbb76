"""GET /api/v1/search: names (prefix, fuzzy, accents ignored), sloids, UIC numbers, OSM ids."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.services.search import PREFIX_UPPER_BOUND, name_queries
from database import db
from tests import factories as f


def search(client, q: str, **extra) -> list[dict]:
    response = client.get("/api/v1/search", query_string={"q": q, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def found_keys(results: list[dict]) -> list[str]:
    return [item["key"] for item in results]


@pytest.fixture
def stops(app):
    return {
        "zurich": f.atlas_stop("ch:1:sloid:3000", designation_official="Zürich HB", uic_number=8503000),
        "genf": f.atlas_stop(
            "ch:1:sloid:1008", designation_official="Genève, Gare Cornavin", uic_number=8501008
        ),
        "vaduz": f.atlas_stop("ch:1:sloid:10305", designation_official="Vaduz, Post", uic_number=8510305),
        "node": f.osm_stop("node/123456", name="Zürich Hauptbahnhof", uic_ref="8503000"),
        "way": f.osm_stop("way/789", name="Schaan-Vaduz Bahnhof"),
    }


def test_name_search_ignores_accents_and_case(client, stops):
    assert found_keys(search(client, "zurich hb"))[0] == "ch:1:sloid:3000"
    assert "ch:1:sloid:1008" in found_keys(search(client, "GENEVE"))


def test_name_prefix_ranks_before_fuzzy_matches(client, stops):
    results = search(client, "zürich")
    assert set(found_keys(results)[:2]) == {"ch:1:sloid:3000", "node/123456"}
    assert results[0]["score"] >= 2


def test_fuzzy_name_search_finds_typos_and_inner_words(client, stops):
    assert "ch:1:sloid:1008" in found_keys(search(client, "cornavn"))
    assert "way/789" in found_keys(search(client, "bahnhof schaan"))
    assert "ch:1:sloid:10305" in found_keys(search(client, "post"))


def test_search_by_sloid_exact_and_prefix(client, stops):
    assert found_keys(search(client, "ch:1:sloid:10305")) == ["ch:1:sloid:10305"]
    assert "ch:1:sloid:10305" in found_keys(search(client, "ch:1:sloid:103"))


def test_search_by_uic_number_finds_both_sides(client, stops):
    results = search(client, "8503000")
    assert {(r["kind"], r["key"]) for r in results} >= {("atlas", "ch:1:sloid:3000"), ("osm", "node/123456")}


@pytest.mark.parametrize("q", ["node/123456", "n123456", "123456", "N 123456"])
def test_search_by_osm_id_in_any_spelling(client, stops, q):
    assert "node/123456" in found_keys(search(client, q))


def test_search_by_way_id(client, stops):
    assert found_keys(search(client, "w789")) == ["way/789"]


def test_results_carry_position_and_page_url(client, stops):
    first = search(client, "vaduz post")[0]
    assert first["kind"] == "atlas"
    assert first["url"] == "/stops/atlas/ch:1:sloid:10305"
    assert isinstance(first["lat"], float)
    assert isinstance(first["lon"], float)


def test_search_respects_limit(client, stops):
    assert len(search(client, "a", limit=1)) <= 1


def test_search_needs_a_query_and_a_sane_limit(app, client):
    for query in (
        {},
        {"q": ""},
        {"q": "x" * 101},
        {"q": "zurich", "limit": 0},
        {"q": "zurich", "limit": 1000},
    ):
        response = client.get("/api/v1/search", query_string=query)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_like_wildcards_in_the_query_are_literal(client, stops):
    assert search(client, "%") == []
    assert search(client, "_") == []


@pytest.mark.parametrize("kind", ["atlas", "osm"])
def test_name_queries_use_their_indexes(client, stops, kind):
    """Prefix lookups read the btree in name order (no sort of every "ba..." name); fuzzy ones the GIN."""
    prefix_sql, fuzzy_sql = name_queries(kind)
    params = {"q": "zur", "upper": "zur" + PREFIX_UPPER_BOUND, "limit": 20}
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + prefix_sql), params))
    assert f"Index Scan using ix_{kind}_stops_name_fold_prefix" in plan, plan
    assert "Sort" not in plan, plan
    plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + fuzzy_sql), params))
    assert f"ix_{kind}_stops_name_fold_trgm" in plan, plan
    db.session.rollback()


def test_fuzzy_lookup_fills_the_list_when_prefixes_find_too_few(client, stops):
    # "hauptbahnhof" starts no name, but is a word inside "Zürich Hauptbahnhof".
    assert "node/123456" in found_keys(search(client, "hauptbahnhof"))


def test_badly_misspelled_short_name_is_found_by_the_looser_pass(client, stops):
    f.atlas_stop("ch:1:sloid:2001", designation_official="Zug, Gutsch")
    # Word similarity 0.47: below the first fuzzy pass, found because nothing closer exists.
    assert found_keys(search(client, "Zug, Gtusch")) == ["ch:1:sloid:2001"]


def test_sharing_one_common_word_is_not_a_match_when_closer_names_exist(client, stops):
    f.atlas_stop("ch:1:sloid:2002", designation_official="Asperg, Bahnhof")
    f.atlas_stop("ch:1:sloid:2003", designation_official="Bietigheim, Bahnhof")
    f.osm_stop("node/2004", name="Asperg, Banhof")
    results = found_keys(search(client, "Asperg, Bahnhof"))
    assert results[0] == "ch:1:sloid:2002"
    assert "node/2004" in results  # a typo of the same name (similarity 0.71)
    assert "ch:1:sloid:2003" not in results  # only "bahnhof" in common (similarity 0.53)
