"""Search across both sides: identifiers first, then names (exact, prefix, fuzzy; accents ignored).

What a query looks like decides where we look:

- `ch:1:sloid:7000...`      → registry stops by stop_id (exact, then prefix)
- `8509000` (7 digits)      → registry UIC number and OSM `uic_ref`; also OSM ids
- `node/123`, `n123`, `123` → OSM objects by id (a bare number tries node, way and relation)
- anything else             → names: prefix on the folded name (btree index, score boost); when
                              that finds too few, trigram word similarity (`<%`, GIN index) over
                              the distinct folded names (`search_names`), then those names' stops,
                              and a looser similarity only when nothing at all was found. The registry
                              writes "Municipality, Stop" and OSM mostly "Municipality Stop", so a
                              name is also looked up with the comma left out or put in.

Ranking: exact identifiers, then exact names, then name prefixes, then fuzzy names; within each,
registry stops before OSM objects, then by score (exact identifier 3, name prefix 2 + similarity,
fuzzy name = word similarity 0..1). OSM objects matched to a registry stop in the list are grouped
under it (`osm`), found by one query for the whole list, so a stop's ten platforms no longer push
the stop itself out of a short list.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

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

# How a result was found, best first: the first sort key of the list.
MATCH_IDENTIFIER = "identifier"
MATCH_EXACT = "exact"
MATCH_PREFIX = "prefix"
MATCH_FUZZY = "fuzzy"
_MATCH_RANK = {MATCH_IDENTIFIER: 0, MATCH_EXACT: 1, MATCH_PREFIX: 2, MATCH_FUZZY: 3}
# Name lookups read more rows than the list shows: OSM objects grouped under their registry stop
# leave the top level, and the list should still fill.
ROWS_PER_RESULT = 3
# A registry stop lists at most this many of its matched OSM objects (a big station has dozens).
MAX_OSM_PER_STOP = 20
# The comma may go after the first or the second word ("Buchs SG, Bahnhof", "St. Gallen, Bahnhof").
COMMA_POSITIONS = 2


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


def _without_commas(folded: str) -> str:
    """A folded name compared without its commas: "schaan, bahnhof" and "schaan bahnhof" are one name."""
    return " ".join(folded.replace(",", " ").split())


def name_variants(folded_query: str) -> list[str]:
    """The folded query as typed, without commas, and with a comma after its first or second word.

    The registry names stops "Municipality, Stop", OSM mostly "Municipality Stop": either spelling
    finds both sides by prefix (each variant is one btree range scan per side).
    """
    variants = [folded_query]
    plain = _without_commas(folded_query)
    variants.append(plain)
    words = plain.split(" ")
    for position in range(1, min(COMMA_POSITIONS, len(words) - 1) + 1):
        variants.append(" ".join(words[:position]) + ", " + " ".join(words[position:]))
    return list(dict.fromkeys(v for v in variants if v))


def municipality(platform_code: str | None) -> str | None:
    """The municipality of a registry name: the part before its comma ("Schaan, Bahnhof" -> "Schaan").

    The registry's official platform_code is "Municipality, Stop" by convention; a name without a comma
    names no municipality.
    """
    if not platform_code or "," not in platform_code:
        return None
    head = platform_code.split(",", 1)[0].strip()
    return head or None


def _result(kind: str, row: Any, score: float, match: str | None) -> dict[str, Any]:
    """One result; `kind` is "osm" or the registry's source name (a registry stop is (source, stop_id))."""
    key = row.key
    registry = kind != OSM
    item: dict[str, Any] = {
        "kind": kind,
        "key": key,
        "name": row.name,
        "operator": row.operator,
        "uic": row.uic,
        "lat": row.lat,
        "lon": row.lon,
        "score": round(float(score), 3),
        "url": f"/stops/{kind}/{key}",
        "match": match,
        # A registry stop's is filled in only if it makes the list (`_grouped`): most rows read do not.
        "municipality": None,
    }
    if registry:
        item["osm"] = []
    else:
        item["registry"] = None
    return item


OSM = "osm"
# `kind`: the registry's source for a registry stop, "osm" for an OSM object.
ATLAS_SELECT = (
    "SELECT a.source AS kind, a.stop_id AS key, a.name AS name, a.operator_code AS operator,"
    " a.code::text AS uic, a.lat, a.lon FROM registry_stops a"
)
OSM_SELECT = (
    "SELECT 'osm' AS kind, o.osm_key AS key, o.name, o.operator, o.uic_ref AS uic, o.lat, o.lon"
    " FROM osm_stops o"
)

# The matched pairs of every registry stop ((source, stop_id): two registries may use one id) and
# OSM object in the list, in one query: the OSM side's fields for the children, the registry side's
# name for an OSM object's municipality. `stop_id = ANY` first: the planner combines the stop_id and
# osm_key indexes (BitmapOr); the pair test then keeps only the right registry's matches.
GROUP_SQL = (
    "SELECT m.source, m.stop_id, a.name AS atlas_name, m.osm_key AS key, o.name, o.operator,"
    " o.uic_ref AS uic, o.lat, o.lon, m.method, m.distance_m"
    " FROM matches m JOIN osm_stops o ON o.osm_key = m.osm_key"
    " JOIN registry_stops a ON a.source = m.source AND a.stop_id = m.stop_id"
    " WHERE (m.stop_id = ANY(:sloids)"
    " AND (m.source, m.stop_id) IN (SELECT * FROM unnest(CAST(:sources AS text[]), :sloids)))"
    " OR m.osm_key = ANY(:osm_keys)"
    " ORDER BY m.stop_id, m.source, o.local_ref NULLS LAST, m.osm_key"
)


class _Found:
    """Results by (kind, key), each kept with its best way of being found."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        # Each item's sort key (how found, registry before OSM, score, name, key), computed once
        # from its row: a result is built only for a row that is new or better than the one kept.
        self.orders: dict[tuple[str, str], tuple[Any, ...]] = {}

    def add(self, rows: Any, match: str, score: float | None = None) -> int:
        """Add result rows (each with its `kind`); a row's own `exact` turns a prefix into an exact match."""
        count = 0
        items, orders = self.items, self.orders
        for row in rows:
            count += 1
            how = match
            if how == MATCH_PREFIX and getattr(row, "exact", False):
                how = MATCH_EXACT
            kind, key = row.kind, row.key
            row_score = score if score is not None else row.score
            # The sort key of the result `_result` would build (its score rounded the same way).
            order = (
                _MATCH_RANK[how],
                1 if kind == OSM else 0,
                -round(float(row_score), 3),
                row.name or "",
                key,
            )
            current = orders.get((kind, key))
            if current is None or order < current:
                items[(kind, key)] = _result(kind, row, row_score, how)
                orders[(kind, key)] = order
        return count

    def ranked(self) -> list[dict[str, Any]]:
        """The items best first (by their sort key; ties in the order they were first found)."""
        orders = self.orders
        return [self.items[k] for k in sorted(orders, key=orders.__getitem__)]


# A named parameter of the statements here (`:name`), not a cast (`::text`).
_PARAM_RE = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=256)
def _driver_sql(sql: str) -> str:
    """`sql` with psycopg's parameter style (`%(name)s`, a literal `%` doubled: the `<%` operator)."""
    return _PARAM_RE.sub(r"%(\1)s", sql.replace("%", "%%"))


def _rows(connection: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """The rows (named tuples) of one statement, run on `connection`, the request session's
    (`db.session.connection()`, taken once per search: it costs as much Python as a statement) and in
    its transaction (the replica when reads are bound to it).

    Straight on the psycopg connection: SQLAlchemy's statement and result machinery (text() parsing,
    compiled cache lookup, result metadata) cost more Python CPU per search than building the results.
    psycopg still prepares a statement it has seen five times on the connection. A driver error is
    raised as SQLAlchemy's (`DBAPIError`), as `session.execute` would, so the replica fallback
    (app/read_routing.py) and the error handlers treat it the same; a broken connection is
    invalidated so the pool does not hand it out again.
    """
    driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
    statement = _driver_sql(sql)
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            # The engine's statement listeners still see it (tests count a request's statements).
            if connection.dispatch.before_cursor_execute:
                connection.dispatch.before_cursor_execute(connection, cursor, statement, params, None, False)
            cursor.execute(statement, params)
            return cursor.fetchall()
    except psycopg.Error as error:
        broken = bool(driver.broken)
        if broken:
            connection.invalidate(error)
        raise DBAPIError.instance(sql, params, error, psycopg.Error, connection_invalidated=broken) from error


# Identifier lookups, each with the name lookup's columns; run in this order (the first to find a
# result keeps it).
_IDENTIFIER_COLUMNS = (
    "'identifier' AS found_by, i.*, NULL AS name_fold, CAST(NULL AS real) AS score, NULL AS exact"
)
_SLOID_PART = (
    f"{ATLAS_SELECT} WHERE a.stop_id LIKE :prefix ORDER BY (a.stop_id = :q) DESC, a.stop_id LIMIT :limit"
)
_CODE_PART = f"{ATLAS_SELECT} WHERE a.code = :n LIMIT :limit"
_UIC_PART = f"{OSM_SELECT} WHERE o.uic_ref = :q LIMIT :limit"
_OSM_KEYS_PART = f"{OSM_SELECT} WHERE o.osm_key = ANY(:keys)"


@functools.lru_cache(maxsize=8)
def _identifier_statement(sloid: bool, number: bool, osm_keys: bool) -> str:
    """One statement for an identifier query: the lookups that apply (a stop_id prefix; a UIC number
    in the registry's codes and OSM's uic_ref; OSM ids), in that order, and the matched pairs of
    everything found (GROUP_SQL's rows, as `_NAMED_GROUP_SQL` reads them). Eight texts at most, so
    each is prepared on a connection."""
    parts = [_SLOID_PART] * sloid + [_CODE_PART, _UIC_PART] * number + [_OSM_KEYS_PART] * osm_keys
    union = " UNION ALL ".join(f"(SELECT {_IDENTIFIER_COLUMNS} FROM ({part}) i)" for part in parts)
    return (
        f"WITH named AS MATERIALIZED ({union})"
        " SELECT n.*, NULL AS source, NULL AS stop_id, NULL AS atlas_name, NULL AS method,"
        " CAST(NULL AS double precision) AS distance_m, CAST(NULL AS bigint) AS ord FROM named n"
        f" UNION ALL {_NAMED_GROUP_SQL}"
    )


def search(query: str, limit: int) -> list[dict[str, Any]]:
    """Best matches first, at most `limit` at the top level, without duplicates.

    Registry results carry `osm`: their matched OSM objects (the ones found by this query and the
    others), which then do not appear at the top level; OSM results carry `registry`, the stop_id of
    their matched registry stop (or None).
    """
    query = " ".join(query.split())
    found = _Found()
    connection = db.session.connection()
    sloid = bool(_SLOID_RE.match(query))
    # ASCII digits only: "²" passes str.isdigit() but not int(); such a query is a name. A number
    # too long for a UIC number is still only looked up as an OSM id.
    number = ascii_int(query)
    digits = query.isascii() and query.isdigit()
    osm_keys = _osm_keys(query)
    if sloid or number is not None or osm_keys:
        params: dict[str, Any] = {"q": query, "limit": limit, "keys": osm_keys}
        params.update(prefix=_like_prefix(query), n=str(number))  # codes are text: the number as decimal
        result = _rows(connection, _identifier_statement(sloid, number is not None, bool(osm_keys)), params)
        found.add((row for row in result if row.found_by == MATCH_IDENTIFIER), MATCH_IDENTIFIER, 3.0)
        identified = sorted((row for row in result if row.found_by == "group"), key=lambda row: row.ord)
        return _grouped(connection, found.ranked(), limit, identified)
    pairs = None
    if not digits and not osm_keys and not sloid:
        pairs = _search_names(connection, query, limit, found)
    return _grouped(connection, found.ranked(), limit, pairs)


def _grouped(
    connection: Connection, ranked: list[dict[str, Any]], limit: int, rows: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The top `limit` results with each registry stop's matched OSM objects under it: `rows` are
    GROUP_SQL's rows for `ranked` when the lookup read them already, else one query reads them."""
    if not ranked:
        return []
    stops = [(r["kind"], r["key"]) for r in ranked if r["kind"] != OSM]
    osm_keys = [r["key"] for r in ranked if r["kind"] == OSM]
    if rows is None:
        rows = _rows(
            connection,
            GROUP_SQL,
            {"sources": [s for s, _ in stops], "sloids": [i for _, i in stops], "osm_keys": osm_keys},
        )
    found_osm = {r["key"]: r for r in ranked if r["kind"] == OSM}
    registry_keys = set(stops)
    children: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        own = found_osm.get(row.key)
        listed = (row.source, row.stop_id) in registry_keys
        if own is None and not listed:
            continue
        town = municipality(row.atlas_name)
        if own is not None:
            own["registry"] = own["registry"] or row.stop_id
            own["municipality"] = own["municipality"] or town
        if not listed:
            continue
        child = dict(own) if own is not None else _result(OSM, row, 0.0, MATCH_FUZZY)
        child.update(registry=row.stop_id, municipality=town, method=row.method, distance_m=row.distance_m)
        if own is None:
            # Found through its registry stop, not by the query itself.
            child.update(score=0.0, match=None)
        siblings = children.setdefault((row.source, row.stop_id), [])
        if len(siblings) < MAX_OSM_PER_STOP and all(c["key"] != row.key for c in siblings):
            siblings.append(child)
    grouped_osm = {c["key"] for group in children.values() for c in group}
    out: list[dict[str, Any]] = []
    for item in ranked:
        if item["kind"] == OSM and item["key"] in grouped_osm:
            continue
        if item["kind"] != OSM:
            item["osm"] = children.get((item["kind"], item["key"]), [])
            item["municipality"] = municipality(item["name"])
        out.append(item)
        if len(out) >= limit:
            break
    return out


# Appended to a prefix, the byte-wise upper bound of every string starting with it (U+10FFFF is the
# largest code point; its UTF-8 bytes sort after any other character's).
PREFIX_UPPER_BOUND = "\U0010ffff"
# Fuzzy matching needs at least one whole trigram of the query; shorter queries are prefix-only.
FUZZY_MIN_LENGTH = 3


def name_queries(kind: str, suffix: str = "") -> tuple[str, str]:
    """(prefix SQL, fuzzy SQL) of one side; parameters :q (folded query), :upper, :limit, :plain.

    `suffix` is appended to the prefix query's :q and :upper, so several prefixes can share one
    statement (one UNION ALL per search instead of a round trip per spelling and side).

    Both read the stored `name_fold` column, so no row is folded again at query time.
    - prefix: folded names starting with q, in name order, from the btree (text_pattern_ops) index.
      A byte-wise range with the pattern operators: only that btree answers it, in index order, so
      the planner never sorts thousands of "ba..." names. `exact` tells a whole-name match (commas
      ignored, :plain is the query without them).
    - fuzzy: trigram word similarity `q <% name_fold` from the GIN index, nearest first (`<<->`),
      above the transaction's threshold (WORD_SIMILARITY_THRESHOLDS). Run only when the prefixes do
      not fill the list (typos, words inside names).
    Scores are computed for the returned rows only.
    """
    select, folded = (ATLAS_SELECT, "a.name_fold") if kind == "atlas" else (OSM_SELECT, "o.name_fold")
    columns, _, table = select.partition(" FROM ")
    columns = f"{columns}, {folded} AS name_fold"
    q, upper = f":q{suffix}", f":upper{suffix}"
    prefix_sql = (
        f"SELECT found.*, 2 + similarity({q}, found.name_fold) AS score,"
        " regexp_replace(replace(found.name_fold, ',', ' '), '\\s+', ' ', 'g') = :plain AS exact FROM ("
        f"{columns} FROM {table} WHERE {folded} ~>=~ {q} AND {folded} ~<~ {upper}"
        f" ORDER BY {folded} USING ~<~ LIMIT :limit) found"
    )
    fuzzy_sql = (
        f"{columns}, 1 - (:q <<-> {folded}) AS score FROM {table}"
        f" WHERE :q <% {folded} ORDER BY :q <<-> {folded} LIMIT :limit"
    )
    return prefix_sql, fuzzy_sql


# Local to the transaction, like the threshold. psycopg prepares a statement run five times on a
# connection (the read transaction ends with a commit, app/api/reads.py, so they survive requests);
# PostgreSQL then re-uses the generic plan instead of planning each search again.
GENERIC_PLANS = "set_config('plan_cache_mode', 'force_generic_plan', true)"


def _set_fuzzy_threshold(threshold: float) -> str:
    """SQL fragment for the `<%` operator's threshold, local to this transaction (other queries keep
    pg_trgm's default); used as a FROM item, so it is set before the rest of the statement runs."""
    return f"set_config('pg_trgm.word_similarity_threshold', '{threshold}', true)"


# The matched pairs of what a name lookup found (`named`), as GROUP_SQL reads them for a list, in
# the lookup's own statement: rows of the lookup's shape with GROUP_SQL's columns after them.
_NAMED_GROUP_SQL = (
    "SELECT 'group' AS found_by, 'osm' AS kind, m.osm_key AS key, o.name, o.operator, o.uic_ref AS uic,"
    " o.lat, o.lon, NULL AS name_fold, CAST(NULL AS real) AS score, NULL AS exact, m.source, m.stop_id,"
    " a.name AS atlas_name, m.method, m.distance_m,"
    " row_number() OVER (ORDER BY m.stop_id, m.source, o.local_ref NULLS LAST, m.osm_key) AS ord"
    " FROM matches m JOIN osm_stops o ON o.osm_key = m.osm_key"
    " JOIN registry_stops a ON a.source = m.source AND a.stop_id = m.stop_id"
    " WHERE (m.stop_id = ANY(ARRAY(SELECT key FROM named WHERE kind <> 'osm'))"
    " AND (m.source, m.stop_id) IN (SELECT kind, key FROM named WHERE kind <> 'osm'))"
    " OR m.osm_key = ANY(ARRAY(SELECT key FROM named WHERE kind = 'osm'))"
)


# Whitespace as Python's str.split() sees it (str.isspace), for the spellings computed in SQL.
_SQL_SPACE = (
    "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+"
)
# `qry`: the query folded once by the database function that filled name_fold, with `plain` (commas
# and runs of whitespace made one space, `_without_commas`) and the comma put after its first and
# second word; setting the fuzzy threshold (local to the transaction) in the same row, before any
# `<%` reads it: every later use of the query goes through this row. `spellings`: `name_variants`
# of the folded query in its order, without empty ones and repeats. The statement's values reach
# the lookups only as this row's columns (InitPlan parameters), so a custom plan cannot estimate the
# trigram operators row by row (about 1 ms of planning) and is as cheap as the generic plan, which
# PostgreSQL then keeps for the prepared statement.
_QUERY_CTES = (
    f"qry AS MATERIALIZED (SELECT f, plain, c1, c2, char_length(f) >= {FUZZY_MIN_LENGTH} AS fuzzy,"
    " CAST(:limit AS integer) AS lim, CAST(:enough AS integer) AS enough,"
    f" set_config('pg_trgm.word_similarity_threshold', '{WORD_SIMILARITY_THRESHOLDS[0]}', true)"
    " AS threshold FROM ("
    "SELECT f, plain, regexp_replace(plain, '^([^ ]*) ', '\\1, ') AS c1,"
    " regexp_replace(plain, '^([^ ]* [^ ]*) ', '\\1, ') AS c2 FROM ("
    f"SELECT f, regexp_replace(regexp_replace(replace(f, ',', ' '), '{_SQL_SPACE}', ' ', 'g'),"
    " '^ | $', '', 'g')"
    " AS plain FROM (SELECT stopsync_fold(:q) AS f) s1) s2) s3),"
    " spellings AS MATERIALIZED (SELECT v.v, v.v || chr(1114111) AS upper FROM qry, LATERAL (VALUES"
    " (0, nullif(f, '')),"
    " (1, CASE WHEN plain NOT IN ('', f) THEN plain END),"
    " (2, CASE WHEN c1 NOT IN ('', f, plain) THEN c1 END),"
    " (3, CASE WHEN c2 NOT IN ('', f, plain, c1) THEN c2 END)) v(i, v)"
    " WHERE v.v IS NOT NULL ORDER BY v.i)"
)


def _prefix_part(kind: str) -> str:
    """One side's prefix lookup of spelling `s` (LATERAL): `name_queries(kind)[0]` over `spellings`."""
    select, folded = (ATLAS_SELECT, "a.name_fold") if kind == "atlas" else (OSM_SELECT, "o.name_fold")
    columns, _, table = select.partition(" FROM ")
    return (
        "SELECT found.*, 2 + similarity(s.v, found.name_fold) AS score,"
        " regexp_replace(replace(found.name_fold, ',', ' '), '\\s+', ' ', 'g') = (SELECT plain FROM qry)"
        f" AS exact FROM ({columns}, {folded} AS name_fold FROM {table}"
        f" WHERE {folded} ~>=~ s.v AND {folded} ~<~ s.upper"
        f" ORDER BY {folded} USING ~<~ LIMIT (SELECT lim FROM qry)) found"
    )


def _names_statement() -> str:
    """The one statement of a name search (see `_search_names`); its text never changes, so psycopg
    prepares it on every connection."""
    enough = (
        "(SELECT fuzzy FROM qry)"
        " AND (SELECT count(*) FROM (SELECT DISTINCT kind, key FROM prefixed) d) < (SELECT enough FROM qry)"
    )
    q, limit = "(SELECT f FROM qry)", "(SELECT lim FROM qry)"
    named = f"SELECT '{MATCH_PREFIX}' AS found_by, p.* FROM prefixed p" + "".join(
        f" UNION ALL ({_fuzzy_part(side, limit)})" for side in ("atlas", "osm")
    )
    return (
        f"WITH {_QUERY_CTES},"
        " prefixed AS MATERIALIZED (SELECT p.* FROM spellings s CROSS JOIN LATERAL ("
        f"({_prefix_part('atlas')}) UNION ALL ({_prefix_part('osm')})) p),"
        f" {_fuzzy_names_cte(enough, q)},"
        f" named AS MATERIALIZED ({named})"
        " SELECT n.*, NULL AS source, NULL AS stop_id, NULL AS atlas_name, NULL AS method,"
        " CAST(NULL AS double precision) AS distance_m, CAST(NULL AS bigint) AS ord FROM named n"
        f" UNION ALL {_NAMED_GROUP_SQL}"
        # The folded query itself, for the looser pass when nothing was found.
        " UNION ALL SELECT 'query', NULL, NULL, NULL, NULL, NULL, NULL, NULL, f, NULL, NULL, NULL, NULL,"
        " NULL, NULL, NULL, NULL FROM qry"
    )


def _search_names(connection: Connection, query: str, limit: int, found: _Found) -> list[Any] | None:
    """Names, in one statement: the query folded (`qry`), the prefixes of every spelling on both
    sides and the fuzzy lookup, which PostgreSQL runs only when the prefixes found fewer than `limit`
    stops (a one-time filter over the prefix rows) and the folded query is long enough, and the
    matched pairs of everything found (GROUP_SQL's rows, which this returns; None when `_grouped`
    must read them). Two more statements, with the looser threshold, only when nothing at all was
    found."""
    _, loose = WORD_SIMILARITY_THRESHOLDS
    rows = limit * ROWS_PER_RESULT
    result = _rows(connection, _NAMES_SQL, {"q": query, "limit": rows, "enough": limit})
    folded_query = next(row.name_fold for row in result if row.found_by == "query")
    if not folded_query:
        return None
    found.add((row for row in result if row.found_by == MATCH_PREFIX), MATCH_PREFIX)
    found.add((row for row in result if row.found_by == MATCH_FUZZY), MATCH_FUZZY)
    if len(folded_query) >= FUZZY_MIN_LENGTH and not found.items:
        # Generic plans, as for the strict pass: a custom plan would estimate the trigram operators.
        _rows(connection, f"SELECT 1 AS done FROM {_set_fuzzy_threshold(loose)} t, {GENERIC_PLANS} g", {})
        loose_sql = f"WITH {_fuzzy_names_cte('true')} " + " UNION ALL ".join(
            f"({_fuzzy_part(side)})" for side in ("atlas", "osm")
        )
        found.add(_rows(connection, loose_sql, {"q": folded_query, "limit": rows}), MATCH_FUZZY)
        return None
    return sorted((row for row in result if row.found_by == "group"), key=lambda row: row.ord)


def _fuzzy_names_cte(condition: str, q: str = ":q") -> str:
    """`fuzzy_names`: the distinct folded names (`search_names`, one row per name however many stops
    share it) within the transaction's threshold of :q (`<%`, GIN index), with their trigram distance
    and sides, looked up only if `condition` (a one-time filter: the GIN scan does not run otherwise).
    """
    return (
        "fuzzy_names AS MATERIALIZED (SELECT s.name_fold, s.in_registry, s.in_osm,"
        f" {q} <<-> s.name_fold AS distance FROM search_names s WHERE {q} <% s.name_fold AND {condition})"
    )


def _fuzzy_part(side: str, limit: str = ":limit") -> str:
    """The fuzzy lookup of one side with the prefix rows' columns (`exact` false), from `fuzzy_names`.

    The same rows as `name_queries(side)[1]` (the side's stops within the threshold, nearest first,
    at most :limit): every name of the side has at least one stop, so the side's :limit nearest names
    hold its :limit nearest stops, which are then read by name through the btree index. One
    difference: when more stops than :limit are at the cut's distance, `name_queries` kept whichever
    the sort met first (the table's physical order, so it could change with an import); here the
    folded name and the stop's key decide, the same stops every time.
    """
    if side == "atlas":
        select, folded, flag, keys = ATLAS_SELECT, "a.name_fold", "in_registry", "a.stop_id, a.source"
    else:
        select, folded, flag, keys = OSM_SELECT, "o.name_fold", "in_osm", "o.osm_key"
    columns, _, table = select.partition(" FROM ")
    return (
        f"SELECT '{MATCH_FUZZY}' AS found_by, f.*, false AS exact FROM ("
        f"{columns}, {folded} AS name_fold, 1 - n.distance AS score FROM (SELECT name_fold, distance"
        f" FROM fuzzy_names WHERE {flag} ORDER BY distance, name_fold LIMIT {limit}) n"
        f" JOIN {table} ON {folded} = n.name_fold ORDER BY n.distance, n.name_fold, {keys} LIMIT {limit}) f"
    )


# After the helpers it is built from.
_NAMES_SQL = _names_statement()

__all__ = ["municipality", "name_queries", "name_variants", "search"]
