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
        "zurich": f.atlas_stop("ch:1:sloid:3000", name="Zürich HB", code=8503000),
        "genf": f.atlas_stop("ch:1:sloid:1008", name="Genève, Gare Cornavin", code=8501008),
        "vaduz": f.atlas_stop("ch:1:sloid:10305", name="Vaduz, Post", code=8510305),
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
    params = {"q": "zur", "upper": "zur" + PREFIX_UPPER_BOUND, "limit": 20, "plain": "zur"}
    # A test table holds a handful of rows, where a bitmap scan plus a sort is as cheap as anything
    # (and chosen once ANALYZE has seen them); at national scale LIMIT makes the ordered scan win.
    # Without the cheap alternatives the plan shows whether the btree can give the order at all.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
    plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + prefix_sql), params))
    table = "registry_stops" if kind == "atlas" else "osm_stops"
    assert f"Index Scan using ix_{table}_name_fold_prefix" in plan, plan
    assert "Sort" not in plan, plan
    db.session.execute(text("SET LOCAL enable_bitmapscan = on"))  # a GIN index is read by bitmap
    plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + fuzzy_sql), params))
    assert f"ix_{table}_name_fold_trgm" in plan, plan
    db.session.rollback()


def test_fuzzy_lookup_fills_the_list_when_prefixes_find_too_few(client, stops):
    # "hauptbahnhof" starts no name, but is a word inside "Zürich Hauptbahnhof".
    assert "node/123456" in found_keys(search(client, "hauptbahnhof"))


def test_badly_misspelled_short_name_is_found_by_the_looser_pass(client, stops):
    f.atlas_stop("ch:1:sloid:2001", name="Zug, Gutsch")
    # Word similarity 0.47: below the first fuzzy pass, found because nothing closer exists.
    assert found_keys(search(client, "Zug, Gtusch")) == ["ch:1:sloid:2001"]


def test_sharing_one_common_word_is_not_a_match_when_closer_names_exist(client, stops):
    f.atlas_stop("ch:1:sloid:2002", name="Asperg, Bahnhof")
    f.atlas_stop("ch:1:sloid:2003", name="Bietigheim, Bahnhof")
    f.osm_stop("node/2004", name="Asperg, Banhof")
    results = found_keys(search(client, "Asperg, Bahnhof"))
    assert results[0] == "ch:1:sloid:2002"
    assert "node/2004" in results  # a typo of the same name (similarity 0.71)
    assert "ch:1:sloid:2003" not in results  # only "bahnhof" in common (similarity 0.53)


@pytest.fixture
def station(app):
    """A registry stop written "Municipality, Stop" and twelve OSM objects of the same name, ten matched."""
    f.atlas_stop(
        "ch:1:sloid:9991",
        name="Schaan, Bahnhof",
        code=8509991,
        operator_code="LIEmobil",
    )
    for i in range(12):
        f.osm_stop(f"node/{700 + i}", name="Schaan Bahnhof", operator="LIEmobil", local_ref=str(i))
    for i in range(10):
        f.match("ch:1:sloid:9991", f"node/{700 + i}", method="name", distance_m=10.0 + i)
    f.atlas_stop("ch:1:sloid:9992", name="Schaan, Bahnhofstrasse")


def test_registry_stop_comes_first_with_its_osm_objects_grouped_under_it(client, station):
    results = search(client, "Schaan Bahnhof", limit=10)
    first = results[0]
    assert (first["kind"], first["key"]) == ("atlas", "ch:1:sloid:9991")
    assert first["match"] == "exact"
    assert first["municipality"] == "Schaan"
    assert first["operator"] == "LIEmobil"
    children = first["osm"]
    assert [c["key"] for c in children] == [f"node/{700 + i}" for i in range(10)]
    assert all(c["kind"] == "osm" and c["registry"] == "ch:1:sloid:9991" for c in children)
    assert children[0]["municipality"] == "Schaan"
    assert children[0]["method"] == "name"
    # The grouped objects are not listed again at the top level; the two unmatched ones are.
    top = found_keys(results)
    assert not set(top) & {c["key"] for c in children}
    assert {"node/710", "node/711"} <= set(top)
    unmatched = next(r for r in results if r["key"] == "node/710")
    assert unmatched["registry"] is None
    assert unmatched["match"] == "exact"


def test_exact_names_rank_before_prefixes_and_registry_before_osm(client, station):
    results = search(client, "schaan, bahnhof", limit=10)
    ranks = [(r["match"], r["kind"], r["key"]) for r in results]
    assert ranks[0] == ("exact", "atlas", "ch:1:sloid:9991")
    assert ranks[1][:2] == ("exact", "osm")  # the unmatched OSM objects of exactly that name
    # "Schaan, Bahnhofstrasse" only starts with the query: after every exact name.
    position = found_keys(results).index("ch:1:sloid:9992")
    assert all(r["match"] == "exact" for r in results[:position])
    assert results[position]["match"] == "prefix"


def test_prefix_matches_rank_before_fuzzy_ones(client, stops):
    f.atlas_stop("ch:1:sloid:4001", name="Postplatz, Kirche")
    results = search(client, "post")
    keys = found_keys(results)
    assert keys[0] == "ch:1:sloid:4001"  # starts with "post"
    assert "ch:1:sloid:10305" in keys  # "Vaduz, Post": only a word inside
    assert results[0]["match"] == "prefix"
    assert results[keys.index("ch:1:sloid:10305")]["match"] == "fuzzy"


def test_a_registry_stop_lists_its_matched_osm_objects_even_when_their_names_differ(client, stops):
    f.osm_stop("node/99", name="Quai 7")
    f.match("ch:1:sloid:10305", "node/99", method="exact_uic")
    results = search(client, "vaduz post")
    assert found_keys(results)[0] == "ch:1:sloid:10305"
    (child,) = results[0]["osm"]
    assert child["key"] == "node/99"
    assert child["name"] == "Quai 7"
    assert child["match"] is None  # listed through its registry stop, not found by the query


def test_search_limit_counts_top_level_results_only(client, station):
    results = search(client, "Schaan", limit=2)
    assert len(results) == 2
    assert results[0]["key"] == "ch:1:sloid:9991"
    assert len(results[0]["osm"]) == 10


def test_search_asks_one_grouping_query_whatever_the_number_of_results(app, client, station):
    """No query per result: the OSM objects of every registry stop in the list come in one query."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        search(client, "Schaan", limit=20)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sum("FROM matches m" in s for s in statements) == 1
