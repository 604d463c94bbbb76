"""Stops of both sides for the map, the exports and the stop pages.

One SQL query per side. The bounding box uses the GiST index on `geom` (`&&` with
`ST_MakeEnvelope(..., 4326)`); each stop's matches and problems come from LATERAL subqueries over
the indexed `stop_id` / `osm_key` columns, so the cost grows with the stops in view, not the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER, TEXT
from sqlalchemy.types import TypeEngine

from app.services import decisions as decision_service
from app.services import editor_links
from app.services import manual_matches as manual_service
from app.services import routes as route_service
from app.services.ifopt_usage import ifopt_is_used_near
from database import db
from database.snapshot import map_features
from pipeline.records import LEGACY_IDENTITY_SOURCE

# The map's SQL (per-side SELECTs, transports, the feature JSON) lives with the map read model it
# must reproduce (database/snapshot/map_features.py); the live query adds its filters to it.
ATLAS_TRANSPORTS_SQL = map_features.REGISTRY_TRANSPORTS_SQL
OSM_TRANSPORTS_SQL = map_features.OSM_TRANSPORTS_SQL
FEATURE_JSON_SQL = map_features.FEATURE_JSON_SQL


@dataclass(frozen=True)
class StopFilters:
    """Filters of the map, the stop exports and (partly) the match export. Empty = no filter."""

    bbox: Sequence[float] | None = None  # min lon, min lat, max lon, max lat
    statuses: Sequence[str] = ()
    sides: Sequence[str] = ()
    methods: Sequence[str] = ()
    problem_types: Sequence[str] = ()
    priorities: Sequence[int] = ()
    operators: Sequence[str] = ()
    transports: Sequence[str] = ()
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    def wants(self, side: str) -> bool:
        return not self.sides or side in self.sides


def _bbox_condition(alias: str, box: Sequence[float] | None, params: dict[str, Any]) -> list[str]:
    if box is None:
        return []
    params.update(w=box[0], s=box[1], e=box[2], n=box[3])
    return [f"{alias}.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"]


def _status_conditions(filters: StopFilters, partner_column: str) -> list[str]:
    statuses = set(filters.statuses)
    if statuses == {"matched"}:
        return [f"{partner_column} IS NOT NULL"]
    if statuses == {"unmatched"}:
        return [f"{partner_column} IS NULL"]
    return []


def _problem_condition(filters: StopFilters, key_sql: str, params: dict[str, Any]) -> list[str]:
    if not filters.problem_types and not filters.priorities:
        return []
    parts = [key_sql]
    if filters.problem_types:
        params["problem_types"] = list(filters.problem_types)
        parts.append("pf.problem_type = ANY(:problem_types)")
    if filters.priorities:
        params["priorities"] = list(filters.priorities)
        parts.append("pf.priority = ANY(:priorities)")
    return [f"EXISTS (SELECT 1 FROM problems pf WHERE {' AND '.join(parts)})"]


def atlas_sql(filters: StopFilters, limit: int | None) -> tuple[str, dict[str, Any]]:
    """The registry side of the map: one row per stop with its partners and problems."""
    params: dict[str, Any] = {}
    where = _bbox_condition("a", filters.bbox, params)
    where += _status_conditions(filters, "m.partner_keys")
    if filters.methods:
        params["methods"] = list(filters.methods)
        where.append("m.methods && CAST(:methods AS text[])")
    where += _problem_condition(filters, "pf.source = a.source AND pf.stop_id = a.stop_id", params)
    if filters.operators:
        params["operators"] = list(filters.operators)
        where.append("a.operator_code = ANY(:operators)")
    if filters.transports:
        params["transports"] = list(filters.transports)
        where.append(f"{ATLAS_TRANSPORTS_SQL} && CAST(:transports AS text[])")
    sql = map_features.registry_side_sql(
        where,
        "ORDER BY p.priority NULLS LAST, a.stop_id" + (" LIMIT :limit" if limit is not None else ""),
    )
    if limit is not None:
        params["limit"] = limit
    return sql, params


def osm_sql(filters: StopFilters, limit: int | None) -> tuple[str, dict[str, Any]]:
    """The OSM side of the map: one row per object with its registry partners and problems."""
    params: dict[str, Any] = {}
    where = _bbox_condition("o", filters.bbox, params)
    where += _status_conditions(filters, "m.partner_keys")
    if filters.methods:
        params["methods"] = list(filters.methods)
        where.append("m.methods && CAST(:methods AS text[])")
    where += _problem_condition(filters, "pf.osm_key = o.osm_key", params)
    partner = map_features.OSM_PARTNERS_SQL
    if filters.operators:
        # OSM writes operators in full; the registry abbreviation of a partner counts too.
        params["operators"] = list(filters.operators)
        where.append(
            f"(o.operator = ANY(:operators) OR EXISTS ({partner} AND a.operator_code = ANY(:operators)))"
        )
    if filters.transports:
        params["transports"] = list(filters.transports)
        where.append(
            f"({OSM_TRANSPORTS_SQL} && CAST(:transports AS text[])"
            f" OR EXISTS ({partner} AND {ATLAS_TRANSPORTS_SQL} && CAST(:transports AS text[])))"
        )
    sql = map_features.osm_side_sql(
        where,
        "ORDER BY p.priority NULLS LAST, o.osm_key" + (" LIMIT :limit" if limit is not None else ""),
    )
    if limit is not None:
        params["limit"] = limit
    return sql, params


def _bind(sql: str, params: dict[str, Any]):
    statement = text(sql)
    types: dict[str, TypeEngine[Any]] = {
        "problem_types": ARRAY(TEXT),
        "operators": ARRAY(TEXT),
        "methods": ARRAY(TEXT),
        "transports": ARRAY(TEXT),
        "priorities": ARRAY(INTEGER),
        "sides": ARRAY(TEXT),
    }
    return statement.bindparams(*(bindparam(name, type_=types[name]) for name in params if name in types))


def feature(kind: str, row: Any) -> dict[str, Any]:
    """One stop as a GeoJSON feature (coordinates rounded to ~1 cm)."""
    partners = list(row.partner_keys or [])
    methods = list(row.methods or [])
    return {
        "type": "Feature",
        "id": f"{kind}:{row.key}",
        "geometry": {"type": "Point", "coordinates": [round(row.lon, 7), round(row.lat, 7)]},
        "properties": {
            "kind": kind,
            "key": row.key,
            "name": row.name,
            "operator": row.operator,
            "status": "matched" if partners else "unmatched",
            "method": methods[0] if methods else None,
            "methods": methods,
            "partner_keys": partners,
            "distance_m": None if row.distance_m is None else round(row.distance_m, 1),
            "problem_types": sorted(row.problem_types or []),
            "priority": row.priority,
            "local_ref": row.local_ref,
            "uic": row.uic,
            "transports": list(row.transports or []),
        },
    }


def iter_features(filters: StopFilters, limit: int | None = None, yield_per: int = 1000) -> Iterator[dict]:
    """Features of the wanted sides, registry first; streamed from a server-side cursor."""
    for kind, build in (("atlas", atlas_sql), ("osm", osm_sql)):
        if not filters.wants(kind):
            continue
        sql, params = build(filters, limit)
        result = db.session.execute(_bind(sql, params).execution_options(yield_per=yield_per), params)
        for row in result:
            yield feature(kind, row)


def _live_feature_collection_json(filters: StopFilters, limit: int) -> str:
    """`feature_collection_json` from the live tables (before the first import fills map_features)."""
    rows: list[tuple[int, str, str]] = []
    for kind, build in (("atlas", atlas_sql), ("osm", osm_sql)):
        if filters.wants(kind):
            sql, params = build(filters, limit + 1)
            feature_sql = FEATURE_JSON_SQL.format(kind=kind)
            wrapped = (
                f"SELECT s.priority, s.key, {feature_sql} AS feature FROM ({sql}) s"
                " ORDER BY s.priority NULLS LAST, s.key"
            )
            rows.extend(
                (row.priority or 99, f"{kind}:{row.key}", row.feature)
                for row in db.session.execute(_bind(wrapped, params), params)
            )
    truncated = len(rows) > limit
    if truncated:
        # Keep the most urgent stops of both sides rather than all of one side.
        rows.sort(key=lambda row: (row[0], row[1]))
        rows = rows[:limit]
    features = ",".join(row[2] for row in rows)
    return (
        f'{{"type":"FeatureCollection","features":[{features}],'
        f'"count":{len(rows)},"truncated":{"true" if truncated else "false"}}}'
    )


# --- precomputed map features (map_features, built by the snapshot import) --------------------


def _map_features_where(filters: StopFilters, params: dict[str, Any]) -> list[str]:
    where = _bbox_condition("f", filters.bbox, params)
    if filters.sides:
        params["sides"] = list(filters.sides)
        where.append("f.kind = ANY(:sides)")
    statuses = set(filters.statuses)
    if statuses == {"matched"}:
        where.append("f.matched")
    elif statuses == {"unmatched"}:
        where.append("NOT f.matched")
    if filters.methods:
        params["methods"] = list(filters.methods)
        where.append("f.methods && CAST(:methods AS text[])")
    if filters.problem_types or filters.priorities:
        parts = ["true"]
        if filters.problem_types:
            params["problem_types"] = list(filters.problem_types)
            parts.append("split_part(pp, ':', 1) = ANY(:problem_types)")
        if filters.priorities:
            params["priorities"] = list(filters.priorities)
            parts.append("split_part(pp, ':', 2)::int = ANY(:priorities)")
        where.append(f"EXISTS (SELECT 1 FROM unnest(f.problem_pairs) pp WHERE {' AND '.join(parts)})")
    if filters.operators:
        params["operators"] = list(filters.operators)
        where.append("f.operators && CAST(:operators AS text[])")
    if filters.transports:
        params["transports"] = list(filters.transports)
        where.append("f.transports && CAST(:transports AS text[])")
    return where


def feature_collection_json(filters: StopFilters, limit: int) -> str:
    """Stops in view as GeoJSON text, at most `limit`; problem stops (by priority) first when cut.

    One GiST index scan over map_features; PostgreSQL concatenates the stored feature texts, so the
    web process neither parses nor writes JSON. Uncut, registry stops come first, each side by
    priority then key; cut, the most urgent stops of both sides (priority, then "kind:key").
    """
    params: dict[str, Any] = {"limit": limit, "limit_plus_one": limit + 1}
    where = _map_features_where(filters, params)
    rank = "coalesce(f.priority, 99), (f.kind || ':' || f.key) COLLATE \"C\""
    sql = f"""
        WITH hit AS (
            SELECT f.kind, f.key, f.priority, f.feature, row_number() OVER (ORDER BY {rank}) AS rn
            FROM map_features f
            {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY {rank}
            LIMIT :limit_plus_one
        )
        SELECT count(*) AS n,
               CASE WHEN count(*) > :limit
                    THEN string_agg(feature, ',' ORDER BY rn) FILTER (WHERE rn <= :limit)
                    ELSE string_agg(feature, ',' ORDER BY kind, priority NULLS LAST, key) END AS features
        FROM hit
    """
    row = db.session.execute(_bind(sql, params), params).one()
    if row.n == 0 and db.session.scalar(text("SELECT NOT EXISTS (SELECT 1 FROM map_features)")):
        # No import has filled the table yet (fresh upgrade, or stops written by other means).
        return _live_feature_collection_json(filters, limit)
    truncated = row.n > limit
    return (
        f'{{"type":"FeatureCollection","features":[{row.features or ""}],'
        f'"count":{min(row.n, limit)},"truncated":{"true" if truncated else "false"}}}'
    )


def feature_collection(filters: StopFilters, limit: int) -> dict[str, Any]:
    """`feature_collection_json` as a dict (tests, scripts)."""
    return json.loads(feature_collection_json(filters, limit))


# --- stop pages ------------------------------------------------------------------------------

ATLAS_COLUMNS = (
    "source, stop_id, dataset, code, platform_code, name, operator_code, operator_name, "
    "modes, country_code, region, parent_id, valid_from, valid_to, lat, lon"
)
OSM_COLUMNS = (
    "osm_key, osm_type, osm_id, version, name, uic_ref, uic_name, ifopt, local_ref, operator, network, "
    "public_transport, railway, highway, amenity, aerialway, tags, lat, lon"
)


class _Row(dict):
    """A row decoded from the stop detail's JSON, read by attribute like a result row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _rows(value: list[dict[str, Any]] | None) -> list[_Row]:
    return [_Row(item) for item in value or ()]


def _atlas_dict(row: _Row) -> dict[str, Any]:
    # PostgreSQL writes dates in JSON as ISO 8601 (YYYY-MM-DD), as date.isoformat() did.
    return dict(row)


def _osm_dict(row: _Row) -> dict[str, Any]:
    out = dict(row)
    out["links"] = editor_links.links_for_osm_objects([out["osm_key"]])
    # A key that is not node|way|relation/<id> gets no links rather than a broken page.
    out["url"] = out["links"][0]["url"] if out["links"] else ""
    return out


def _stop_links(kind: str, osm: list[dict[str, Any]], atlas_row: Any) -> list[editor_links.EditorLink]:
    """Editor links for the stop as a whole: its OSM objects, else how to add the registry stop.

    An OSM object's page opens that object first; a registry stop's page all its matched objects.
    """
    if osm:
        return editor_links.links_for_osm_objects([obj["osm_key"] for obj in osm])
    if kind != "atlas" or atlas_row is None:
        return []
    parent_means = None
    if not (atlas_row.modes or "").strip() and atlas_row.parent_id:
        # A platform (traffic point) carries no means of transport: its stop (service point) does.
        parent_means = db.session.scalar(
            text("SELECT modes FROM registry_stops WHERE source = :source AND stop_id = :stop_id"),
            {"source": atlas_row.source, "stop_id": atlas_row.parent_id},
        )
    return editor_links.links_for_unmatched_registry_stop(
        atlas_row, parent_means, ifopt=ifopt_is_used_near(atlas_row.source, atlas_row.stop_id)
    )


def _match_dict(row: Any) -> dict[str, Any]:
    return {
        "source": row.source,
        "stop_id": row.stop_id,
        "osm_key": row.osm_key,
        "method": row.method,
        "distance_m": round(row.distance_m, 2),
        "name_score": row.name_score,
        "evidence": row.evidence,
    }


def registry_of(stop_id: str) -> str | None:
    """The registry holding `stop_id` in the snapshot (None: none, or several)."""
    rows = db.session.execute(
        text("SELECT source FROM registry_stops WHERE stop_id = :stop_id LIMIT 2"), {"stop_id": stop_id}
    ).all()
    return rows[0].source if len(rows) == 1 else None


# The stop detail in one statement: the stop's matches decide its counterparts (`k`: the registry
# stops as parallel source / stop_id arrays, the OSM keys), and every part of the page is one JSON
# aggregate over an index lookup by those keys. Decisions and manual links are rare: the statement
# only says whether there are any, and only then are they read (with their history) by their owners.
_DETAIL_MATCHES = {
    "registry": (
        "m.source = :source AND m.stop_id = :stop_id",
        "m.distance_m, m.osm_key",
        "SELECT ARRAY[CAST(:source AS text)] AS sources, ARRAY[CAST(:stop_id AS text)] AS sloids,"
        " coalesce((SELECT array_agg(CAST(osm_key AS text) ORDER BY distance_m, osm_key) FROM mt),"
        " '{}') AS osm_keys",
    ),
    "osm": (
        "m.osm_key = :osm_key",
        "m.distance_m, m.stop_id",
        "SELECT coalesce(array_agg(CAST(source AS text) ORDER BY distance_m, stop_id), '{}') AS sources,"
        " coalesce(array_agg(CAST(stop_id AS text) ORDER BY distance_m, stop_id), '{}') AS sloids,"
        " ARRAY[CAST(:osm_key AS text)] AS osm_keys FROM mt",
    ),
}
# k's arrays as scalar subqueries (InitPlans: computed once, then index conditions); the CAST keeps
# `= ANY(...)` from reading the subquery as a set of rows.
_K_SLOIDS = "CAST((SELECT sloids FROM k) AS text[])"
_K_PAIRS = f"(SELECT * FROM unnest(CAST((SELECT sources FROM k) AS text[]), {_K_SLOIDS}))"
_K_OSM_KEYS = "CAST((SELECT osm_keys FROM k) AS text[])"


def _k_stop_or_osm(alias: str) -> str:
    """`alias` row belongs to one of k's registry stops or OSM objects, in the index-friendly form of
    app.services.decisions._stop_pair_match (stop_id = ANY first: a BitmapOr of two indexes)."""
    return (
        f"(({alias}.stop_id = ANY({_K_SLOIDS})"
        f" AND ({alias}.source, {alias}.stop_id) IN {_K_PAIRS}) OR {alias}.osm_key = ANY({_K_OSM_KEYS}))"
    )


def _detail_sql(side: str) -> str:
    """The stop detail's one statement for a registry stop (`side` "registry") or an OSM object."""
    where, order, keys = _DETAIL_MATCHES[side]
    timetable_sloids = f"ARRAY(SELECT p.id FROM {_K_PAIRS} p(src, id) WHERE p.src = :registry)"
    return f"""
        WITH mt AS MATERIALIZED (
            SELECT m.source, m.stop_id, m.osm_key, m.method, m.distance_m, m.name_score, m.evidence
            FROM matches m WHERE {where}
        ),
        k AS MATERIALIZED ({keys}),
        pr AS MATERIALIZED (
            SELECT {decision_service.PROBLEM_COLUMNS} FROM problems p WHERE {_k_stop_or_osm("p")}
        )
        SELECT
            (SELECT json_agg(m ORDER BY {order}) FROM mt m) AS matches,
            (SELECT json_agg(a) FROM (
                SELECT {ATLAS_COLUMNS} FROM registry_stops WHERE (source, stop_id) IN {_K_PAIRS}
            ) a) AS registry,
            (SELECT json_agg(o) FROM (
                SELECT {OSM_COLUMNS} FROM osm_stops WHERE osm_key = ANY({_K_OSM_KEYS})
            ) o) AS osm,
            (SELECT json_agg(p ORDER BY p.priority, p.problem_type, p.identity) FROM pr p) AS problems,
            EXISTS (
                SELECT 1 FROM decisions d WHERE {_k_stop_or_osm("d")}
                OR d.problem_identity = ANY(ARRAY(SELECT identity FROM pr))
            ) AS decided,
            EXISTS (
                SELECT 1 FROM manual_matches mm
                WHERE (mm.source, mm.stop_id) IN {_K_PAIRS} OR mm.osm_key = ANY({_K_OSM_KEYS})
            ) AS manual,
            (SELECT json_agg(l) FROM ({
        route_service.LINES_AT_OSM_SQL.format(keys=_K_OSM_KEYS, limit=":limit")
    }) l) AS osm_lines,
            (SELECT json_agg(l) FROM ({
        route_service.LINES_AT_GTFS_SQL.format(keys=timetable_sloids, limit=":limit")
    }) l) AS gtfs_lines
    """


_DETAIL_SQL = {side: text(_detail_sql(side)) for side in _DETAIL_MATCHES}


def stop_detail(
    *, stop_id: str | None = None, osm_key: str | None = None, source: str | None = None
) -> dict[str, Any] | None:
    """Everything about one stop and its counterparts: one statement (`_detail_sql`), two or three
    more only for a stop with decisions or manual links, one or two for the editor links of an
    unmatched registry stop.

    `source` (with `stop_id`): the registry the stop belongs to; a stop of another registry with the
    same id is not this one. Returns None when neither side knows the stop and nothing (problem or
    decision) refers to it.
    """
    session = db.session
    params: dict[str, Any] = {
        "registry": route_service.timetable_registry(),
        "limit": route_service.MAX_LINES_AT_STOP,
    }
    registry_keys: list[tuple[str, str]]
    if stop_id is not None:
        # Registry stops are (source, stop_id): without a source, the one registry holding the id
        # (ATLAS when none does any more, e.g. a page of a removed stop its problems still name).
        source = source or registry_of(stop_id) or LEGACY_IDENTITY_SOURCE
        row = session.execute(_DETAIL_SQL["registry"], {**params, "source": source, "stop_id": stop_id}).one()
    else:
        row = session.execute(_DETAIL_SQL["osm"], {**params, "osm_key": osm_key}).one()
    match_rows = _rows(row.matches)
    if stop_id is not None and source is not None:
        registry_keys = [(source, stop_id)]
        osm_keys = [m.osm_key for m in match_rows]
    else:
        registry_keys = [(m.source, m.stop_id) for m in match_rows]
        osm_keys = [osm_key]
    atlas_rows = {(r.source, r.stop_id): r for r in _rows(row.registry)}
    osm_rows = {r.osm_key: r for r in _rows(row.osm)}
    if row.decided:
        # Problems with their decisions, and the decisions with their history: their owner's queries.
        problems = decision_service.problems_for(stops=registry_keys, osm_keys=osm_keys)
        decisions = decision_service.decisions_for(
            stops=registry_keys, osm_keys=osm_keys, identities=[p["identity"] for p in problems]
        )
    else:
        problems = [decision_service.problem_as_dict(_Undecided(p)) for p in _rows(row.problems)]
        decisions = []
    primary_atlas = atlas_rows.get(registry_keys[0]) if registry_keys else None
    if stop_id is not None and primary_atlas is None and not match_rows and not problems and not decisions:
        return None
    if osm_key is not None and osm_key not in osm_rows and not match_rows and not problems and not decisions:
        return None
    osm = [_osm_dict(osm_rows[k]) for k in osm_keys if k in osm_rows]
    return {
        "atlas": _atlas_dict(primary_atlas) if primary_atlas is not None else None,
        "atlas_partners": [_atlas_dict(atlas_rows[k]) for k in registry_keys[1:] if k in atlas_rows]
        if osm_key is not None
        else [],
        "osm": osm,
        "links": _stop_links("atlas" if stop_id is not None else "osm", osm, primary_atlas),
        "matches": [_match_dict(m) for m in match_rows],
        "problems": problems,
        "decisions": decisions,
        # Manual links with their state: pending until the next run reads them (review workflow).
        "manual_matches": manual_service.manual_matches_for(stops=registry_keys, osm_keys=osm_keys)
        if row.manual
        else [],
        # Lines serving the stop on each side (OSM relations of its objects, GTFS routes of its stops).
        "lines": route_service.lines_from_rows(_rows(row.osm_lines), _rows(row.gtfs_lines)),
    }


class _Undecided(_Row):
    """A problem row without a decision, as decisions.problem_as_dict reads it."""

    d_id = None
    d_author = None
