"""The map's vector-tile SQL, and the low-zoom tiles pre-rendered at import (`map_tiles`).

One text per layer, used both by the tile endpoint (`app/services/tiles.py`, which renders any tile
on demand, with the map's filters) and by the import, which renders the unfiltered counted-cell
tiles of zooms 0..TILE_PRERENDER_MAX_ZOOM in staging and stores them in `map_tiles`, swapped with
the rest of the snapshot. The statements differ only in where the tile's z/x/y come from (bind
parameters, or the columns of the tile list), so a stored tile is byte for byte the on-demand one
(`tests/integration/test_map_tiles.py`).

Why pre-render: a low-zoom tile counts every stop under it. On national data (130k stops) a cold
zoom-5 tile took ~630 ms while each stop was re-projected per request; with the stored Web-Mercator
position (`map_features.geom_3857`) it is still one pass over the country per tile. Done once at
import, outside the swap transaction, the whole pyramid of such tiles costs about what a handful of
requests would, and every first request after an import is a primary-key lookup.

Table names are unqualified on purpose (like map_features.py): the import runs `prerender` with the
staging schema first on the search path.
"""

from __future__ import annotations

import time
from typing import Any

EXTENT = 4096
# 4 x 4 cells per 256 px tile: one count bubble (40 px) per 64 px square at the most.
CELLS_PER_SIDE = 4
# Zooms 0..this are pre-rendered by default (TILE_PRERENDER_MAX_ZOOM). Measured on a national-size
# read model (130k features, 2 cores shared with other work): zooms 0-10 take 1.7-1.9 s at import
# (1.44 s of backend CPU, ~0.12 s per zoom, 246 tiles, 155 kB); on demand, a tile of zoom 11 or
# deeper has a cold p99 under 10 ms, zoom 10 about 15 ms, zoom 7 over 100 ms. Zooms 11, 12 and 13
# add 0.20, 0.23 and 0.31 s of backend CPU: cheap beside the render work a burst of first requests
# after an import costs on demand (the map bench's cold pass), so every counted-cell zoom is built.
DEFAULT_PRERENDER_MAX_ZOOM = 13
# Half the Web-Mercator world's width (EPSG:3857 metres), as ST_TileEnvelope uses it.
MERCATOR_HALF = 20037508.342789244

# The tile as z, x, y bind parameters (on demand).
BOUND_TILE = ":z, :x, :y"

STOPS_SQL = """
WITH bounds AS (SELECT ST_TileEnvelope({tile}) AS e),
box AS (SELECT e, ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 FROM bounds),
hit AS (
    SELECT f.kind, f.key, f.feature::jsonb -> 'properties' AS p, f.geom_3857 AS g
    FROM map_features f, box
    WHERE f.geom_3857 && box.e {where}
),
inside AS (
    -- Half-open tile bounds: a stop on the line between two tiles is in exactly one of them.
    SELECT hit.* FROM hit, box
    WHERE ST_X(g) >= box.x0 AND ST_X(g) < box.x1 AND ST_Y(g) > box.y0 AND ST_Y(g) <= box.y1
),
mvt AS (
    SELECT ST_AsMVTGeom(inside.g, box.e, {extent}, 0, false) AS geom,
           inside.kind, inside.key, p ->> 'source' AS source,
           p ->> 'name' AS name, p ->> 'operator' AS operator, p ->> 'status' AS status,
           p ->> 'method' AS method, (p ->> 'distance_m')::float8 AS distance_m,
           (p ->> 'priority')::int AS priority, p ->> 'local_ref' AS local_ref, p ->> 'uic' AS uic,
           -- Lists as JSON text: MVT values are scalars.
           (p -> 'problem_types')::text AS problem_types, (p -> 'partner_keys')::text AS partner_keys,
           (p -> 'methods')::text AS methods, (p -> 'transports')::text AS transports
    FROM inside, box
    ORDER BY inside.kind, inside.key
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
    return layer_sql.format(tile=tile, where=where, extent=EXTENT, n=CELLS_PER_SIDE)


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


def prerender(cur: Any, max_zoom: int, run_id: int) -> dict[int, tuple[int, float]]:
    """Fill `map_tiles` with the unfiltered counted-cell tiles of zooms 0..max_zoom (none if below 0),
    from the `map_features` the search path finds first (in the caller's transaction), as snapshot
    `run_id`'s (served only while that one is published); per zoom, how
    many tiles and the seconds they took. Zooms of the stops layer (one point per stop) are never
    pre-rendered: they are cheap on demand."""
    done: dict[int, tuple[int, float]] = {}
    # Each zoom is one statement over all stops: its cost estimate sets off JIT compilation, which
    # took 1.4 s per zoom for a 0.3 s query (measured). Sorting 130k rows for a country-wide tile
    # spills to disk under the default work_mem. Both local to the staging transaction.
    cur.execute("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")
    for z in range(0, max_zoom + 1):
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
    return done
