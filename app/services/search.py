"""Search across both sides: identifiers first, then names (prefix and fuzzy, accents ignored).

What a query looks like decides where we look:

- `ch:1:sloid:7000...`      → registry stops by sloid (exact, then prefix)
- `8509000` (7 digits)      → registry UIC number and OSM `uic_ref`; also OSM ids
- `node/123`, `n123`, `123` → OSM objects by id (a bare number tries node, way and relation)
- anything else             → names: prefix on the folded name (btree index, score boost); when
                              that finds too few, trigram word similarity (`<%`, GIN index), and
                              a looser similarity only when nothing at all was found.

Scores: exact identifier 3, name prefix 2 + similarity, fuzzy name = word similarity (0..1).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT

from database import db
from pipeline.text import ascii_int

_OSM_ID_RE = re.compile(r"^(?:(node|way|relation)\s*/\s*|([nwr]))?\s*([1-9][0-9]{0,17})$", re.IGNORECASE)
_SLOID_RE = re.compile(r"^[a-z]{2}:\d+:sloid:", re.IGNORECASE)
_OSM_LETTER = {"n": "node", "w": "way", "r": "relation"}
# Fuzzy name matching (trigram word similarity, 0..1) runs in two passes. A typo or two in a longer
# name keeps it at 0.6 or more; the looser pass reaches short or badly misspelled names, and runs only
# when nothing at all was found: sharing one common word ("bahnhof", "dorf") already gives 0.5-0.57,
# so at 0.45 a query like "Asperg, Bahnhof" scores some 3,000 names per side. Below 0.45: noise.
WORD_SIMILARITY_THRESHOLDS = (0.6, 0.45)


def _osm_keys(query: str) -> list[str]:
    found = _OSM_ID_RE.match(query.strip())
    if not found:
        return []
    kind = (found.group(1) or _OSM_LETTER.get((found.group(2) or "").lower(), "")).lower()
    number = found.group(3)
    kinds = [kind] if kind else ["node", "way", "relation"]
    return [f"{k}/{number}" for k in kinds]


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _result(kind: str, row: Any, score: float) -> dict[str, Any]:
    key = row.key
    return {
        "kind": kind,
        "key": key,
        "name": row.name,
        "operator": row.operator,
        "uic": row.uic,
        "lat": row.lat,
        "lon": row.lon,
        "score": round(float(score), 3),
        "url": f"/stops/atlas/{key}" if kind == "atlas" else f"/stops/osm/{key}",
    }


ATLAS_SELECT = (
    "SELECT a.sloid AS key, a.designation_official AS name, a.operator_abbr AS operator,"
    " a.uic_number::text AS uic, a.lat, a.lon FROM atlas_stops a"
)
OSM_SELECT = "SELECT o.osm_key AS key, o.name, o.operator, o.uic_ref AS uic, o.lat, o.lon FROM osm_stops o"


def search(query: str, limit: int) -> list[dict[str, Any]]:
    """Best matches first, at most `limit`, without duplicates."""
    query = " ".join(query.split())
    results: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, rows: Any, score: float | None = None) -> int:
        count = 0
        for row in rows:
            count += 1
            item = _result(kind, row, score if score is not None else row.score)
            current = results.get((kind, item["key"]))
            if current is None or current["score"] < item["score"]:
                results[(kind, item["key"])] = item
        return count

    session = db.session
    if _SLOID_RE.match(query):
        add(
            "atlas",
            session.execute(
                text(
                    f"{ATLAS_SELECT} WHERE a.sloid LIKE :prefix"
                    " ORDER BY (a.sloid = :q) DESC, a.sloid LIMIT :limit"
                ),
                {"prefix": _like_prefix(query), "q": query, "limit": limit},
            ),
            3.0,
        )
    # ASCII digits only: "²" passes str.isdigit() but not int(); such a query is a name. A number
    # too long for a UIC number is still only looked up as an OSM id.
    number = ascii_int(query)
    digits = query.isascii() and query.isdigit()
    if number is not None:
        add(
            "atlas",
            session.execute(
                text(f"{ATLAS_SELECT} WHERE a.uic_number = :n LIMIT :limit"),
                {"n": number, "limit": limit},
            ),
            3.0,
        )
        add(
            "osm",
            session.execute(
                text(f"{OSM_SELECT} WHERE o.uic_ref = :q LIMIT :limit"), {"q": query, "limit": limit}
            ),
            3.0,
        )
    osm_keys = _osm_keys(query)
    if osm_keys:
        add(
            "osm",
            session.execute(
                text(f"{OSM_SELECT} WHERE o.osm_key = ANY(:keys)").bindparams(
                    bindparam("keys", type_=ARRAY(TEXT))
                ),
                {"keys": osm_keys},
            ),
            3.0,
        )
    if not digits and not osm_keys and not _SLOID_RE.match(query):
        _search_names(query, limit, add)
    ranked = sorted(results.values(), key=lambda r: (-r["score"], r["name"] or "", r["kind"], r["key"]))
    return ranked[:limit]


# Appended to a prefix, the byte-wise upper bound of every string starting with it (U+10FFFF is the
# largest code point; its UTF-8 bytes sort after any other character's).
PREFIX_UPPER_BOUND = "\U0010ffff"
# Fuzzy matching needs at least one whole trigram of the query; shorter queries are prefix-only.
FUZZY_MIN_LENGTH = 3


def name_queries(kind: str) -> tuple[str, str]:
    """(prefix SQL, fuzzy SQL) of one side; parameters :q (folded query), :upper, :limit.

    Both read the stored `name_fold` column, so no row is folded again at query time.
    - prefix: folded names starting with q, in name order, from the btree (text_pattern_ops) index.
      A byte-wise range with the pattern operators: only that btree answers it, in index order, so
      the planner never sorts thousands of "ba..." names.
    - fuzzy: trigram word similarity `q <% name_fold` from the GIN index, nearest first (`<<->`),
      above the transaction's threshold (WORD_SIMILARITY_THRESHOLDS). Run only when the prefixes do
      not fill the list (typos, words inside names).
    Scores are computed for the returned rows only.
    """
    select, folded = (ATLAS_SELECT, "a.name_fold") if kind == "atlas" else (OSM_SELECT, "o.name_fold")
    columns, _, table = select.partition(" FROM ")
    columns = f"{columns}, {folded} AS name_fold"
    prefix_sql = (
        f"SELECT found.*, 2 + similarity(:q, found.name_fold) AS score FROM ("
        f"{columns} FROM {table} WHERE {folded} ~>=~ :q AND {folded} ~<~ :upper"
        f" ORDER BY {folded} USING ~<~ LIMIT :limit) found"
    )
    fuzzy_sql = (
        f"{columns}, 1 - (:q <<-> {folded}) AS score FROM {table}"
        f" WHERE :q <% {folded} ORDER BY :q <<-> {folded} LIMIT :limit"
    )
    return prefix_sql, fuzzy_sql


def _set_fuzzy_threshold(threshold: float) -> str:
    """SQL fragment for the `<%` operator's threshold, local to this transaction (other queries keep
    pg_trgm's default); used as a FROM item, so it is set before the rest of the statement runs."""
    return f"set_config('pg_trgm.word_similarity_threshold', '{threshold}', true)"


def _search_names(query: str, limit: int, add: Any) -> None:
    session = db.session
    strict, loose = WORD_SIMILARITY_THRESHOLDS
    # Fold the query with the same database function that filled name_fold.
    folded_query = session.scalar(
        text(f"SELECT stopsync_fold(:q) FROM {_set_fuzzy_threshold(strict)}"), {"q": query}
    )
    if not folded_query:
        return
    params = {"q": folded_query, "upper": folded_query + PREFIX_UPPER_BOUND, "limit": limit}
    queries = {kind: name_queries(kind) for kind in ("atlas", "osm")}
    found = 0
    for kind, (prefix_sql, _) in queries.items():
        found += add(kind, session.execute(text(prefix_sql), params))
    # Names that start with the query are what people type towards; look further (typos, words
    # inside names) only when they do not fill the list.
    if found >= limit or len(folded_query) < FUZZY_MIN_LENGTH:
        return
    for kind, (_, fuzzy_sql) in queries.items():
        found += add(kind, session.execute(text(fuzzy_sql), params))
    if found == 0:
        session.execute(text(f"SELECT 1 FROM {_set_fuzzy_threshold(loose)}"))
        for kind, (_, fuzzy_sql) in queries.items():
            add(kind, session.execute(text(fuzzy_sql), params))


__all__ = ["name_queries", "search"]
