"""The map's vector-tile SQL, and the tiles pre-rendered at import (`map_tiles`).

The tile endpoint (`app/services/tiles.py`) renders any tile on demand, with the map's filters, from
STOPS_SQL (zoom STOPS_MIN_ZOOM and deeper: one point per stop) or CELLS_SQL (below: counted cells).
The import renders the unfiltered tiles of zooms 0..TILE_PRERENDER_MAX_ZOOM (by default all of them,
0..MAX_ZOOM) in staging and stores them in `map_tiles`, swapped with the rest of the snapshot:
- counted cells: the same CELLS_SQL text, with the tile's z/x/y taken from a tile list instead of
  bind parameters;
- stops: one statement per zoom that assigns every stop to its tile and aggregates each tile with
  ST_AsMVT, from the same attribute list (STOP_ATTRIBUTES), tile rule (INSIDE_TILE) and feature
  order (STOP_ORDER: kind, source, key) as STOPS_SQL; rendering the ~80k tiles of zooms 14-16 one
  by one would pay a statement's overhead per tile.
Either way a stored tile is byte for byte the on-demand one (`tests/integration/
test_map_tiles_prerendered.py`), so every first request for an unfiltered tile after an import is a
primary-key lookup.

Why pre-render: a low-zoom tile counts every stop under it. On national data (130k stops) a cold
zoom-5 tile took ~630 ms while each stop was re-projected per request; with the stored Web-Mercator
position (`map_features.geom_3857`) it is still one pass over the country per tile. The stops
zooms are cheap per tile, but the map's first requests after an import are mostly such tiles (the
bench's cold pass: a burst of distinct tiles, each rendered once), and their renders saturated the
CPU (cold p99 8 s at 1,500 requests/s). Done once at import, outside the swap transaction, the
whole pyramid costs about what a few seconds of such requests would.

Table names are unqualified on purpose (like map_features.py): the import runs `prerender` with the
staging schema first on the search path.
"""

from __future__ import annotations

import time
from typing import Any

EXTENT = 4096
# 4 x 4 cells per 256 px tile: one count bubble (40 px) per 64 px square at the most.
CELLS_PER_SIDE = 4
# The `stops` layer (one point per stop) from this zoom on, the counted `cells` below it; no tile is
# deeper than MAX_ZOOM (the map draws deeper views from it). The app serves the same constants.
STOPS_MIN_ZOOM = 14
MAX_ZOOM = 16
# Zooms 0..this are pre-rendered by default (TILE_PRERENDER_MAX_ZOOM): every zoom a tile has.
# Measured on a national-size read model (115k features, 2 cores shared with other work): the
# counted-cell zooms 0-13 cost 2.6 s of backend CPU at import (zooms 0-10 ~0.15 s each, 11-13 0.2,
# 0.3, 0.4 s; 13.8k tiles); the stops zooms 14-16 2.4 s (0.6 s to parse the features once, then
# ~0.6 s per zoom; 81k tiles, 54 MB). Linear in the stops: a Germany-size model (1.84M features)
# takes 39 s of CPU (46 s wall; 1.28M tiles, 0.87 GB) for zooms 14-16, where a lower setting may
# suit a tight import budget. Through the app, a cold request for a zoom-14..16 tile costs about
# 0.25 ms of PostgreSQL CPU when stored, 0.8 ms when rendered (1.0 ms before the render parsed each
# feature's JSON once).
DEFAULT_PRERENDER_MAX_ZOOM = MAX_ZOOM
# Half the Web-Mercator world's width (EPSG:3857 metres), as ST_TileEnvelope uses it.
MERCATOR_HALF = 20037508.342789244

# The tile as z, x, y bind parameters (on demand).
BOUND_TILE = ":z, :x, :y"

# The `stops` layer's attributes after `kind` and `key`, each from the feature's GeoJSON properties
# `p`: one list for the on-demand statement and the import's pre-render, so both encode the same
# values in the same order (MVT dictionaries are built in the order values are met).
STOP_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("source", "p ->> 'source'"),
    ("name", "p ->> 'name'"),
    ("operator", "p ->> 'operator'"),
    ("status", "p ->> 'status'"),
    ("method", "p ->> 'method'"),
    ("distance_m", "(p ->> 'distance_m')::float8"),
    ("priority", "(p ->> 'priority')::int"),
    ("local_ref", "p ->> 'local_ref'"),
    ("uic", "p ->> 'uic'"),
    # Lists as JSON text: MVT values are scalars.
    ("problem_types", "(p -> 'problem_types')::text"),
    ("partner_keys", "(p -> 'partner_keys')::text"),
    ("methods", "(p -> 'methods')::text"),
    ("transports", "(p -> 'transports')::text"),
)
_ATTRIBUTE_EXPRESSIONS = ", ".join(f"{expression} AS {name}" for name, expression in STOP_ATTRIBUTES)
# The order of a tile's features, for both paths: it sets the bytes (features and the MVT value
# dictionary are written in this order), so it must be total, a key of map_features: should that key
# grow (another column), add it here and to the pre-render's stop rows.
# `row_source` is map_features.source (the registry, '' for OSM): two registries may hold one stop id.
STOP_ORDER: tuple[str, ...] = ("kind", "row_source", "key")

# Half-open tile bounds, one text for both paths: a stop on the line between two tiles is in
# exactly one of them (the one east / north of the line). `{g}` the point, `{e}` the tile envelope.
INSIDE_TILE = (
    "ST_X({g}) >= ST_XMin({e}) AND ST_X({g}) < ST_XMax({e})"
    " AND ST_Y({g}) > ST_YMin({e}) AND ST_Y({g}) <= ST_YMax({e})"
)

STOPS_SQL = """
WITH bounds AS (SELECT ST_TileEnvelope({tile}) AS e),
hit AS MATERIALIZED (
    -- MATERIALIZED: each feature's JSON is parsed once, not once per attribute read from it (the
    -- inlined form parsed it 14 times per stop, most of a zoom-14 tile's cost).
    SELECT f.kind, f.source AS row_source, f.key, f.feature::jsonb -> 'properties' AS p, f.geom_3857 AS g
    FROM map_features f, bounds
    WHERE f.geom_3857 && bounds.e {where}
),
mvt AS (
    SELECT ST_AsMVTGeom(hit.g, bounds.e, {extent}, 0, false) AS geom, hit.kind, hit.key, {attributes}
    FROM hit, bounds
    WHERE {inside}
    ORDER BY {order}
)
SELECT ST_AsMVT(mvt, 'stops', {extent}, 'geom') FROM mvt
"""

CELLS_SQL = """
WITH bounds AS (SELECT ST_TileEnvelope({tile}) AS e),
box AS (SELECT e, ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 FROM bounds),
hit AS (
    SELECT f.kind, f.matched, f.priority, ST_X(f.geom_3857) AS px, ST_Y(f.geom_3857) AS py
    FROM map_features f, box
    WHERE f.geom_3857 && box.e {where}
),
inside AS (
    -- Half-open bounds for tiles and cells alike: every stop is counted once at every zoom.
    SELECT hit.*,
           least(floor((px - box.x0) / (box.x1 - box.x0) * {n}), {n} - 1)::int AS cx,
           least(floor((box.y1 - py) / (box.y1 - box.y0) * {n}), {n} - 1)::int AS cy
    FROM hit, box
    WHERE px >= box.x0 AND px < box.x1 AND py > box.y0 AND py <= box.y1
),
cells AS (
    -- The cell's point is its stops' mean position (what ST_Centroid of their collection is,
    -- without building a collection of up to every stop of the country).
    SELECT cx, cy,
           ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(px), avg(py)), 3857), (SELECT e FROM box),
                        {extent}, 0, false) AS geom,
           count(*)::int AS count,
           count(*) FILTER (WHERE kind = 'atlas')::int AS atlas,
           count(*) FILTER (WHERE kind = 'osm')::int AS osm,
           count(*) FILTER (WHERE matched)::int AS matched,
           count(*) FILTER (WHERE NOT matched)::int AS unmatched,
           count(*) FILTER (WHERE priority IS NOT NULL)::int AS with_problems,
           count(*) FILTER (WHERE priority = 1)::int AS p1,
           count(*) FILTER (WHERE priority = 2)::int AS p2,
           count(*) FILTER (WHERE priority = 3)::int AS p3
    FROM inside
    GROUP BY cx, cy
    ORDER BY cy, cx
)
SELECT ST_AsMVT(cells, 'cells', {extent}, 'geom') FROM cells
"""


def tile_sql(layer_sql: str, where: str = "", tile: str = BOUND_TILE) -> str:
    """One tile's statement: `layer_sql` (STOPS_SQL or CELLS_SQL), `where` extra conditions on `f`
    (each starting with AND), `tile` the z, x, y expressions."""
    return layer_sql.format(
        tile=tile,
        where=where,
        extent=EXTENT,
        n=CELLS_PER_SIDE,
        attributes=_ATTRIBUTE_EXPRESSIONS,
        inside=INSIDE_TILE.format(g="hit.g", e="bounds.e"),
        order=", ".join(f"hit.{column}" for column in STOP_ORDER),
    )


# The tiles holding at least one stop at zoom :z, by the same half-open rule as the tile SQL (a stop
# exactly on a tile edge belongs to the tile east / north of it). A stop whose float arithmetic puts
# it across an edge here merely leaves that one tile to the on-demand path; an empty rendering is
# never stored.
_TILES_OF_ZOOM_SQL = f"""
SELECT DISTINCT %(z)s::int AS z,
       least(greatest(floor((ST_X(geom_3857) + {MERCATOR_HALF}) / %(size)s::float8), 0),
             %(last)s::int)::int AS x,
       least(greatest(floor(({MERCATOR_HALF} - ST_Y(geom_3857)) / %(size)s::float8), 0),
             %(last)s::int)::int AS y
FROM map_features
"""


# The stops layer's rows, once per import for all its zooms: each feature's JSON parsed once (the
# per-zoom statements read typed columns). Dropped after the render (and at commit in any case).
_STOP_ROWS_SQL = f"""
CREATE TEMP TABLE map_tile_stop_rows ON COMMIT DROP AS
WITH parsed AS MATERIALIZED (
    SELECT f.kind, f.source AS row_source, f.key, f.geom_3857 AS g, f.feature::jsonb -> 'properties' AS p
    FROM map_features f
)
SELECT parsed.g, parsed.kind, parsed.row_source, parsed.key, {_ATTRIBUTE_EXPRESSIONS}
FROM parsed
"""


def _candidate_tiles(position: str) -> str:
    """The tile numbers (one, or two on a line between tiles) a position in tile units may fall in.

    Division and floor may round a stop on (or within a hair of) the line between two tiles to the
    other side of the line than ST_TileEnvelope's bounds put it, so both neighbours are candidates
    there; INSIDE_TILE then keeps exactly the one the on-demand statement shows the stop in.
    """
    return (
        f"generate_series(greatest(floor({position} - 1e-6), 0)::int,"
        f" least(floor({position} + 1e-6), %(last)s::int)::int)"
    )


# One zoom of the stops layer in one statement: every stop assigned to its tile (by INSIDE_TILE, as
# on demand), the tiles aggregated by ST_AsMVT in the on-demand feature order (STOP_ORDER)
# with the same attributes, so each stored tile is byte for byte the on-demand one. Only tiles
# holding a stop are grouped, so no empty tile is stored.
_ROW_ORDER = ", ".join(f"s.{column}" for column in STOP_ORDER)
_STOPS_OF_ZOOM_SQL = f"""
INSERT INTO map_tiles (z, x, y, mvt, run_id)
SELECT %(z)s::int, s.tx, s.ty, ST_AsMVT(mvt, 'stops', {EXTENT}, 'geom' ORDER BY {_ROW_ORDER}), %(run)s::int
FROM (
    SELECT r.*, tx, ty
    FROM pg_temp.map_tile_stop_rows r,
         {_candidate_tiles(f"(ST_X(r.g) + {MERCATOR_HALF}) / %(size)s::float8")} AS tx,
         {_candidate_tiles(f"({MERCATOR_HALF} - ST_Y(r.g)) / %(size)s::float8")} AS ty
) s
CROSS JOIN LATERAL ST_TileEnvelope(%(z)s::int, s.tx, s.ty) AS e
CROSS JOIN LATERAL (
    SELECT ST_AsMVTGeom(s.g, e, {EXTENT}, 0, false) AS geom, s.kind, s.key,
           {", ".join(f"s.{name}" for name, _expression in STOP_ATTRIBUTES)}
) mvt
WHERE {INSIDE_TILE.format(g="s.g", e="e")}
GROUP BY s.tx, s.ty
"""


def prerender(cur: Any, max_zoom: int, run_id: int) -> dict[int, tuple[int, float]]:
    """Fill `map_tiles` with the unfiltered tiles of zooms 0..max_zoom (none if below 0): counted
    cells below STOPS_MIN_ZOOM, one point per stop from there on; from the `map_features` the search
    path finds first (in the caller's transaction), as snapshot `run_id`'s (served only while that
    one is published). Per zoom, how many tiles and the seconds they took (the stops zooms' shared
    preparation counted in the first of them)."""
    done: dict[int, tuple[int, float]] = {}
    # Each zoom is one statement over all stops: its cost estimate sets off JIT compilation, which
    # took 1.4 s per zoom for a 0.3 s query (measured). Sorting 130k rows for a country-wide tile
    # spills to disk under the default work_mem. Both local to the staging transaction.
    cur.execute("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")
    for z in range(0, min(max_zoom, STOPS_MIN_ZOOM - 1) + 1):
        started = time.perf_counter()
        cur.execute(
            # MATERIALIZED: a flattened subquery would render each tile twice (SELECT and WHERE).
            f"WITH rendered AS MATERIALIZED ("
            f"  SELECT t.z, t.x, t.y, ({tile_sql(CELLS_SQL, tile='t.z, t.x, t.y')}) AS mvt"
            f"  FROM ({_TILES_OF_ZOOM_SQL}) t)"
            f" INSERT INTO map_tiles (z, x, y, mvt, run_id)"
            f" SELECT z, x, y, mvt, %(run)s::int FROM rendered WHERE octet_length(mvt) > 0",
            {"z": z, "size": 2 * MERCATOR_HALF / 2**z, "last": 2**z - 1, "run": run_id},
        )
        done[z] = (int(cur.rowcount), round(time.perf_counter() - started, 3))
    if max_zoom < STOPS_MIN_ZOOM:
        return done
    started = time.perf_counter()
    cur.execute("DROP TABLE IF EXISTS pg_temp.map_tile_stop_rows")
    cur.execute(_STOP_ROWS_SQL)
    for z in range(STOPS_MIN_ZOOM, min(max_zoom, MAX_ZOOM) + 1):
        cur.execute(
            _STOPS_OF_ZOOM_SQL,
            {"z": z, "size": 2 * MERCATOR_HALF / 2**z, "last": 2**z - 1, "run": run_id},
        )
        done[z] = (int(cur.rowcount), round(time.perf_counter() - started, 3))
        started = time.perf_counter()
    cur.execute("DROP TABLE pg_temp.map_tile_stop_rows")
    return done
