"""Search's fuzzy lookup over the distinct folded names (`search_names`): the same stops as the
per-stop trigram lookup it replaced, a table every import rebuilds, and driver errors raised as
SQLAlchemy's."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.services import search as search_service
from app.services.search import _driver_sql, _fuzzy_names_cte, _fuzzy_part, name_queries
from database import db
from tests import factories as f
from tests.integration.test_snapshot_import import conninfo, run_import, scalar, snapshot

# Names repeating within and across sides (platforms, both sides alike), accents, commas, words
# shared by many names: every query below has many names at one trigram distance.
NAMES = [
    *["Vaduz, Post"] * 4,
    "Vaduz Post",
    "Vaduz, Rathaus",
    "Vaduz, Mühleholz",
    "Schaan, Bahnhof",
    "Schaan Bahnhof",
    "Schaan-Vaduz Bahnhof",
    "Buchs SG, Bahnhof",
    "Zürich HB",
    "Zurich Hauptbahnhof",
    "Genève, Gare Cornavin",
    *(f"Dorf {i}, Village" for i in range(12)),
    *(f"Village {i}" for i in range(6)),
    "Triesen, Post",
    "Triesenberg, Post",
]
QUERIES = [
    "vaduz post",
    "vaduz psot",
    "bahnhof schaan",
    "village",
    "villag",
    "zuerich hb",
    "cornavn",
    "post",
    "triesen post",
    "dorf village",
    "schaan",
]


def _old_rows(side: str, query: str, limit: int) -> list[tuple]:
    """The per-stop lookup (`name_queries(side)[1]`) of every stop within the threshold: (key, score)."""
    sql = name_queries(side)[1]
    return [
        (row.key, row.score, row.name_fold)
        for row in db.session.execute(text(sql), {"q": query, "limit": limit})
    ]


def _new_rows(side: str, query: str, limit: int) -> list[tuple]:
    sql = f"WITH {_fuzzy_names_cte('true')} {_fuzzy_part(side)}"
    connection = db.session.connection()
    return [
        (row.key, row.score, row.name_fold)
        for row in search_service._rows(connection, sql, {"q": query, "limit": limit})
    ]


@pytest.fixture
def named_stops(app):
    for i, name in enumerate(NAMES):
        f.atlas_stop(f"ch:1:sloid:{9000 + i}", name=name)
        if i % 2 == 0:  # half of the names on the OSM side too, some of them twice
            f.osm_stop(f"node/{5000 + i}", name=name)
        if i % 6 == 0:
            f.osm_stop(f"node/{6000 + i}", name=name)


@pytest.mark.parametrize("limit", [1, 3, 5, 60])
def test_the_distinct_name_lookup_finds_the_stops_the_per_stop_lookup_found(named_stops, limit):
    """The same stops and scores; where more stops than `limit` tie at the cut's distance, the old
    lookup kept any of them (physical order) and the new one the first by name and key: the rows
    before the cut are the same, and the tied ones are among the old lookup's tied candidates."""
    compared_ties = 0
    for threshold in search_service.WORD_SIMILARITY_THRESHOLDS:
        db.session.execute(text(f"SELECT {search_service._set_fuzzy_threshold(threshold)}"))
        for query in QUERIES:
            for side in ("atlas", "osm"):
                every = _old_rows(side, query, 10_000)
                old = _old_rows(side, query, limit)
                new = _new_rows(side, query, limit)
                assert len(new) == len(old), (query, side)
                if not old:
                    continue
                cut = min(score for _, score, _ in old)
                assert {r for r in new if r[1] > cut} == {r for r in old if r[1] > cut}, (query, side)
                tied = sorted(r for r in every if r[1] == cut)
                assert {r for r in new if r[1] == cut} <= set(tied), (query, side)
                # The new lookup's tie-break: the first tied stops by folded name, then key.
                expected = sorted(tied, key=lambda r: (r[2], r[0]))[: sum(1 for r in new if r[1] == cut)]
                assert sorted(r for r in new if r[1] == cut) == sorted(expected), (query, side)
                if len(tied) > sum(1 for r in old if r[1] == cut):
                    compared_ties += 1
                if len(every) <= limit:
                    assert sorted(new) == sorted(every), (query, side)
    if limit < 60:
        assert compared_ties > 0, "the set must include ties at the limit"
    db.session.rollback()


def test_search_answers_fuzzy_queries_through_the_distinct_names(client, named_stops):
    body = client.get("/api/v1/search?q=Vaduz+Psot&limit=20").get_json()
    keys = [r["key"] for r in body["results"]]
    assert {"ch:1:sloid:9000", "ch:1:sloid:9001", "ch:1:sloid:9002", "ch:1:sloid:9003"} <= set(keys)
    assert all(r["match"] == "fuzzy" for r in body["results"])


def test_an_import_builds_search_names_with_the_sides_of_each_name(app, stack):
    connection = psycopg.connect(conninfo(stack))
    try:
        data = snapshot("a", 6)
        run_import(connection, data)
        registry = {stop.name for stop in data["registry"]}
        osm = {obj.name for obj in data["osm"] if obj.name}
        rows = {
            tuple(row)
            for row in connection.execute(
                "SELECT name_fold, in_registry, in_osm FROM search_names"
            ).fetchall()
        }
        fold = {name: scalar(connection, "SELECT stopsync_fold(%s)", (name,)) for name in registry | osm}
        expected = {
            (folded, any(fold[n] == folded for n in registry), any(fold[n] == folded for n in osm))
            for folded in set(fold.values())
        }
        assert rows == expected
        assert (
            scalar(
                connection,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_search_names_name_fold_trgm'",
            )
            == 1
        )
    finally:
        connection.close()


def test_a_driver_error_during_search_is_raised_as_sqlalchemys_and_drops_the_connection(app):
    """The replica fallback and the error handlers look for SQLAlchemy's DBAPIError; a connection the
    server closed must not go back to the pool."""
    with app.test_request_context():
        connection = db.session.connection()
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(conninfo_of(app)) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DBAPIError) as raised:
            search_service.search("Vaduz", 20)
        assert raised.value.connection_invalidated
        assert isinstance(raised.value.orig, psycopg.OperationalError)
        db.session.rollback()


def conninfo_of(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")


def test_statements_are_written_in_psycopgs_parameter_style():
    assert _driver_sql("SELECT a.code::text FROM t WHERE :q <% n AND x LIKE :p") == (
        "SELECT a.code::text FROM t WHERE %(q)s <%% n AND x LIKE %(p)s"
    )


# Spellings the statement must derive exactly as the Python helpers do: commas in odd places, runs
# of spaces unaccent produces ("½" folds to " 1/2"), Unicode spaces, one to four words.
SPELLED_QUERIES = [
    "Vaduz",
    "Vaduz Post",
    "Buchs SG Bahnhof",
    "St. Gallen, Bahnhof Nord",
    "Schaan,  Bahnhof",
    "a,b,c d e",
    "x,",
    ",x",
    ",",
    "Zürich ½ HB",
    "Genève\u00a0Cornavin Gare",
    "a\u2003b c",
    "Œuvre , x",
]


@pytest.mark.parametrize("query", SPELLED_QUERIES)
def test_the_name_statement_folds_and_spells_the_query_as_name_variants_does(app, query):
    """The folded query, its comma-free form and its spellings, computed inside the name lookup
    statement (`qry`, `spellings`), are exactly `_without_commas` and `name_variants` of the fold."""
    sql = (
        f"WITH {search_service._QUERY_CTES} SELECT (SELECT f FROM qry) AS f,"
        " (SELECT plain FROM qry) AS plain, ARRAY(SELECT v FROM spellings) AS spellings"
    )
    row = db.session.execute(text(sql), {"q": " ".join(query.split()), "limit": 1, "enough": 1}).one()
    folded = db.session.execute(text("SELECT stopsync_fold(:q)"), {"q": " ".join(query.split())}).scalar()
    assert row.f == folded
    assert row.plain == search_service._without_commas(folded)
    assert row.spellings == search_service.name_variants(folded)
