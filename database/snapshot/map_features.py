"""The map read model: `map_features`, one row per stop of either side, derived from the snapshot.

The per-side SELECTs here are the single source of the map's view of a stop: the live map query
(`app/services/stops.py`, which adds its filters as WHERE conditions) and the import's build of
`map_features` (in staging, `database/snapshot/derived.py`) both use them, so the stored feature
text is byte for byte what the live path returns (`tests/integration/test_map_features.py`).

Table names are unqualified on purpose: the import runs these statements with the staging schema
first on the search path, so they read and fill the staged twins.
"""

from __future__ import annotations

from collections.abc import Sequence

# What OSM tags say about the means of transport, in ATLAS's vocabulary (app/services/vocabulary.py).
# Aerialway stations do not tell a chairlift from a cable car; CABLE_CAR stands for both.
OSM_TRANSPORTS_SQL = """array_remove(ARRAY[
    CASE WHEN o.highway = 'bus_stop' OR o.tags->>'bus' = 'yes' OR o.tags->>'trolleybus' = 'yes'
         THEN 'BUS' END,
    CASE WHEN o.railway = 'tram_stop' OR o.tags->>'tram' = 'yes' THEN 'TRAM' END,
    CASE WHEN o.tags->>'subway' = 'yes' OR o.tags->>'station' = 'subway' THEN 'METRO' END,
    CASE WHEN o.tags->>'funicular' = 'yes' OR o.tags->>'station' = 'funicular' THEN 'CABLE_RAILWAY' END,
    CASE WHEN o.tags->>'train' = 'yes' OR o.tags->>'light_rail' = 'yes'
              OR (o.railway IN ('station', 'halt', 'platform')
                  AND coalesce(o.tags->>'station', 'train') = 'train')
         THEN 'TRAIN' END,
    CASE WHEN o.aerialway IS NOT NULL THEN 'CABLE_CAR' END,
    CASE WHEN o.amenity = 'ferry_terminal' OR o.tags->>'ferry' = 'yes' THEN 'BOAT' END
]::text[], NULL)"""

# A registry stop's means of transport (`registry_stops.modes`, "BUS|TRAIN"), alias `a`.
REGISTRY_TRANSPORTS_SQL = "string_to_array(coalesce(nullif(a.modes, ''), 'UNKNOWN'), '|')::text[]"


def _where(conditions: Sequence[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


def registry_side_sql(where: Sequence[str] = (), tail: str = "") -> str:
    """The registry side of the map (alias `a` for `registry_stops`): one row per stop with its
    partners and problems. `where`: conditions; `tail`: ORDER BY / LIMIT clauses."""
    return f"""
        SELECT a.stop_id AS key, a.source AS source, a.name AS name, a.operator_code AS operator,
               a.lat, a.lon, a.platform_code AS local_ref, a.code::text AS uic,
               {REGISTRY_TRANSPORTS_SQL} AS transports,
               m.partner_keys, m.methods, m.distance_m, p.problem_types, p.priority
        FROM registry_stops a
        LEFT JOIN LATERAL (
            SELECT array_agg(mm.osm_key::text ORDER BY mm.distance_m, mm.osm_key) AS partner_keys,
                   array_agg(mm.method::text ORDER BY mm.distance_m, mm.osm_key) AS methods,
                   min(mm.distance_m) AS distance_m
            FROM matches mm WHERE mm.source = a.source AND mm.stop_id = a.stop_id
        ) m ON true
        LEFT JOIN LATERAL (
            SELECT array_agg(DISTINCT pp.problem_type::text) AS problem_types, min(pp.priority) AS priority
            FROM problems pp WHERE pp.source = a.source AND pp.stop_id = a.stop_id
        ) p ON true
        {_where(where)}
        {tail}
    """


# Registry partners of an OSM object `o` (the OSM side's operator and transport filters).
OSM_PARTNERS_SQL = (
    "SELECT 1 FROM matches mf JOIN registry_stops a ON a.source = mf.source AND a.stop_id = mf.stop_id"
    " WHERE mf.osm_key = o.osm_key"
)


def osm_side_sql(where: Sequence[str] = (), tail: str = "") -> str:
    """The OSM side of the map (alias `o` for `osm_stops`): one row per object with its registry
    partners and problems. `where`: conditions; `tail`: ORDER BY / LIMIT clauses."""
    return f"""
        SELECT o.osm_key AS key, o.name, o.operator, o.lat, o.lon, o.local_ref, o.uic_ref AS uic,
               {OSM_TRANSPORTS_SQL} AS transports,
               m.partner_keys, m.methods, m.distance_m, p.problem_types, p.priority
        FROM osm_stops o
        LEFT JOIN LATERAL (
            SELECT array_agg(mm.stop_id::text ORDER BY mm.distance_m, mm.stop_id) AS partner_keys,
                   array_agg(mm.method::text ORDER BY mm.distance_m, mm.stop_id) AS methods,
                   min(mm.distance_m) AS distance_m
            FROM matches mm WHERE mm.osm_key = o.osm_key
        ) m ON true
        LEFT JOIN LATERAL (
            SELECT array_agg(DISTINCT pp.problem_type::text) AS problem_types, min(pp.priority) AS priority
            FROM problems pp WHERE pp.osm_key = o.osm_key
        ) p ON true
        {_where(where)}
        {tail}
    """


# One map row as the GeoJSON feature text the map API returns. A format string: `{kind}` is the
# literal atlas or osm; `s` is a row of `registry_side_sql` / `osm_side_sql`.
FEATURE_JSON_SQL = """json_build_object(
    'type', 'Feature',
    'id', '{kind}:' || s.key,
    'geometry', json_build_object(
        'type', 'Point', 'coordinates', json_build_array(round(s.lon::numeric, 7), round(s.lat::numeric, 7))),
    'properties', json_build_object(
        'kind', '{kind}',
        'key', s.key,
        'name', s.name,
        'operator', s.operator,
        'status', CASE WHEN s.partner_keys IS NULL THEN 'unmatched' ELSE 'matched' END,
        'method', s.methods[1],
        'methods', coalesce(s.methods, '{{}}'),
        'partner_keys', coalesce(s.partner_keys, '{{}}'),
        'distance_m', round(s.distance_m::numeric, 1),
        'problem_types', coalesce(s.problem_types, '{{}}'),
        'priority', s.priority,
        'local_ref', s.local_ref,
        'uic', s.uic,
        'transports', coalesce(s.transports, '{{}}')))::text"""

# Filter columns of map_features next to the finished feature text. For the OSM side, operators and
# transports include the registry partners' (the live query's EXISTS over matches); problem_pairs is
# "type:priority" per problem so that a filter on both asks for one problem having both.
_EXTRA_SQL = {
    "atlas": {
        # Part of the key: two registries may use one stop id.
        "source": "s.source",
        "problem_pairs": "ARRAY(SELECT DISTINCT pp.problem_type || ':' || pp.priority"
        " FROM problems pp WHERE pp.source = s.source AND pp.stop_id = s.key)",
        "operators": "array_remove(ARRAY[s.operator::text], NULL)",
        "transports": "coalesce(s.transports, '{}')",
    },
    "osm": {
        "source": "''",
        "problem_pairs": "ARRAY(SELECT DISTINCT pp.problem_type || ':' || pp.priority"
        " FROM problems pp WHERE pp.osm_key = s.key)",
        "operators": "array_remove(ARRAY[s.operator::text], NULL) || ARRAY(SELECT a.operator_code::text"
        " FROM matches mf JOIN registry_stops a ON a.source = mf.source AND a.stop_id = mf.stop_id"
        " WHERE mf.osm_key = s.key AND a.operator_code IS NOT NULL)",
        "transports": f"coalesce(s.transports, '{{}}') || ARRAY(SELECT t FROM matches mf"
        f" JOIN registry_stops a ON a.source = mf.source AND a.stop_id = mf.stop_id,"
        f" unnest({REGISTRY_TRANSPORTS_SQL}) t"
        f" WHERE mf.osm_key = s.key)",
    },
}


def insert_statements() -> list[str]:
    """Statements that fill `map_features` from the snapshot tables the search path finds first."""
    statements = []
    for kind, side in (("atlas", registry_side_sql), ("osm", osm_side_sql)):
        extra = _EXTRA_SQL[kind]
        statements.append(
            "INSERT INTO map_features (kind, source, key, geom, priority, matched, methods, problem_types,"
            " problem_pairs, operators, transports, feature)"
            f" SELECT '{kind}', {extra['source']}, s.key, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326),"
            " s.priority,"
            " s.partner_keys IS NOT NULL, coalesce(s.methods, '{}'), coalesce(s.problem_types, '{}'),"
            f" {extra['problem_pairs']}, {extra['operators']}, {extra['transports']},"
            f" {FEATURE_JSON_SQL.format(kind=kind)} FROM ({side()}) s"
        )
    return statements
