"""Search across both sides: identifiers first, then names (prefix and fuzzy, accents ignored).

What a query looks like decides where we look:

- `ch:1:sloid:7000...`      → registry stops by sloid (exact, then prefix)
- `8509000` (7 digits)      → registry UIC number and OSM `uic_ref`; also OSM ids
- `node/123`, `n123`, `123` → OSM objects by id (a bare number tries node, way and relation)
- anything else             → names: prefix on the folded name (btree index, score boost); when
                              that finds too few, trigram word similarity (`<%`, GIN index).

Scores: exact identifier 3, name prefix 2 + similarity, fuzzy name = word similarity (0..1).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT

from database import db

_OSM_ID_RE = re.compile(r"^(?:(node|way|relation)\s*/\s*|([nwr]))?\s*([1-9][0-9]{0,17})$", re.IGNORECASE)
_SLOID_RE = re.compile(r"^[a-z]{2}:\d+:sloid:", re.IGNORECASE)
_OSM_LETTER = {"n": "node", "w": "way", "r": "relation"}
# Below this, trigram word similarity returns noise for short names.
WORD_SIMILARITY_THRESHOLD = 0.45


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
    digits = query.isdigit()
    if digits and len(query) <= 9:
        add(
            "atlas",
            session.execute(
                text(f"{ATLAS_SELECT} WHERE a.uic_number = :n LIMIT :limit"),
                {"n": int(query), "limit": limit},
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

    - prefix: folded names starting with q, in name order, from the btree (text_pattern_ops) index.
      A byte-wise range with the pattern operators: only that btree answers it, in index order, so
      the planner never sorts thousands of "ba..." names.
    - fuzzy: trigram word similarity `q <% fold(name)` from the GIN index, nearest first (`<<->`).
      Run only when the prefixes do not fill the list (typos, words inside names), where the
      candidates are few.
    Scores are computed for the returned rows only.
    """
    select, column = (ATLAS_SELECT, "a.designation_official") if kind == "atlas" else (OSM_SELECT, "o.name")
    folded = f"stopsync_fold({column})"
    columns, _, table = select.partition(" FROM ")
    prefix_sql = (
        f"SELECT found.*, 2 + similarity(:q, stopsync_fold(found.name)) AS score FROM ("
        f"{columns} FROM {table} WHERE {folded} ~>=~ :q AND {folded} ~<~ :upper"
        f" ORDER BY {folded} USING ~<~ LIMIT :limit) found"
    )
    fuzzy_sql = (
        f"{columns}, 1 - (:q <<-> {folded}) AS score FROM {table}"
        f" WHERE :q <% {folded} ORDER BY :q <<-> {folded} LIMIT :limit"
    )
    return prefix_sql, fuzzy_sql


def _search_names(query: str, limit: int, add: Any) -> None:
    session = db.session
    # Fold once with the database's own unaccent, then compare against the indexed expression.
    folded_query = session.scalar(text("SELECT stopsync_fold(:q)"), {"q": query}) or ""
    if not folded_query:
        return
    # The threshold is per transaction (is_local), so other queries keep pg_trgm's default.
    session.execute(
        text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
        {"t": str(WORD_SIMILARITY_THRESHOLD)},
    )
    params = {"q": folded_query, "upper": folded_query + PREFIX_UPPER_BOUND, "limit": limit}
    queries = {kind: name_queries(kind) for kind in ("atlas", "osm")}
    found = 0
    for kind, (prefix_sql, _) in queries.items():
        found += add(kind, session.execute(text(prefix_sql), params))
    # Names that start with the query are what people type towards; look further (typos, words
    # inside names) only when they do not fill the list.
    if found < limit and len(folded_query) >= FUZZY_MIN_LENGTH:
        for kind, (_, fuzzy_sql) in queries.items():
            add(kind, session.execute(text(fuzzy_sql), params))


__all__ = ["name_queries", "search"]
