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


def _atlas_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for name in ("valid_from", "valid_to"):
        out[name] = out[name].isoformat() if out[name] else None
    return out


def _osm_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
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
        atlas_row, parent_means, ifopt=ifopt_is_used_near(atlas_row.stop_id)
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


def stop_detail(
    *, stop_id: str | None = None, osm_key: str | None = None, source: str | None = None
) -> dict[str, Any] | None:
    """Everything about one stop and its counterparts, in a fixed number of queries (no N+1).

    `source` (with `stop_id`): the registry the stop belongs to; a stop of another registry with the
    same id is not this one. Returns None when neither side knows the stop and nothing (problem or
    decision) refers to it.
    """
    from app.services import decisions as decision_service

    session = db.session
    if stop_id is not None:
        # Registry stops are (source, stop_id): without a source, the one registry holding the id
        # (ATLAS when none does any more, e.g. a page of a removed stop its problems still name).
        source = source or registry_of(stop_id) or LEGACY_IDENTITY_SOURCE
        match_rows = list(
            session.execute(
                text(
                    "SELECT * FROM matches WHERE source = :source AND stop_id = :stop_id"
                    " ORDER BY distance_m, osm_key"
                ),
                {"source": source, "stop_id": stop_id},
            )
        )
        registry_keys = [(source, stop_id)]
        osm_keys = [row.osm_key for row in match_rows]
    else:
        match_rows = list(
            session.execute(
                text("SELECT * FROM matches WHERE osm_key = :key ORDER BY distance_m, stop_id"),
                {"key": osm_key},
            )
        )
        registry_keys = [(row.source, row.stop_id) for row in match_rows]
        osm_keys = [osm_key]
    atlas_rows = {
        (row.source, row.stop_id): row
        for row in session.execute(
            text(
                f"SELECT {ATLAS_COLUMNS} FROM registry_stops WHERE (source, stop_id) IN"
                " (SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])))"
            ),
            {"sources": [s for s, _ in registry_keys], "ids": [i for _, i in registry_keys]},
        )
    }
    osm_rows = {
        row.osm_key: row
        for row in session.execute(
            text(f"SELECT {OSM_COLUMNS} FROM osm_stops WHERE osm_key = ANY(:ids)").bindparams(
                bindparam("ids", type_=ARRAY(TEXT))
            ),
            {"ids": osm_keys},
        )
    }
    # Problems of the stop and of its counterparts (an OSM duplicate matters on the registry page too).
    problems = decision_service.problems_for(stops=registry_keys, osm_keys=osm_keys)
    decisions = decision_service.decisions_for(
        stops=registry_keys, osm_keys=osm_keys, identities=[p["identity"] for p in problems]
    )
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
        "matches": [_match_dict(row) for row in match_rows],
        "problems": problems,
        "decisions": decisions,
        # Manual links with their state: pending until the next run reads them (review workflow).
        "manual_matches": manual_service.manual_matches_for(stops=registry_keys, osm_keys=osm_keys),
        # Lines serving the stop on each side (OSM relations of its objects, GTFS routes of its stops).
        "lines": route_service.lines_at(registry_keys, osm_keys),
    }
