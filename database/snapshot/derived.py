"""Tables derived from the snapshot tables, built in staging before the swap.

Each derived table has a twin in the staging schema like the snapshot tables; `build` fills the
twins from the staged snapshot tables (the staging schema first on the search path, so the
statements' unqualified names read the new rows), and the twins are swapped with the rest. Readers
therefore get the derived data of exactly the snapshot they read.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from database.snapshot import map_features, map_tiles
from database.snapshot.staging import STAGE_SCHEMA, quote

# The map read model: one row per stop of either side, the finished GeoJSON plus filter columns;
# the unfiltered vector tiles pre-rendered from it (filled by `prerender`, after its indexes exist);
# search's distinct folded names (its fuzzy lookup, app/services/search.py).
DERIVED_TABLES = ("map_features", "map_tiles", "search_names")

# Each distinct folded name of either side, and which sides use it (the migration that created the
# table fills it with the same statement).
SEARCH_NAMES_SQL = (
    "INSERT INTO search_names (name_fold, in_registry, in_osm)"
    " SELECT name_fold, bool_or(registry), bool_or(osm) FROM ("
    " SELECT name_fold, true AS registry, false AS osm FROM registry_stops"
    " UNION ALL SELECT name_fold, false, true FROM osm_stops) n"
    " WHERE name_fold IS NOT NULL GROUP BY name_fold"
)

logger = logging.getLogger(__name__)


def build(cur: Any, live: str) -> None:
    """Fill the derived tables' twins from the staged snapshot tables (in the caller's transaction)."""
    cur.execute("SELECT current_setting('search_path')")
    search_path = cur.fetchone()[0]
    cur.execute("SELECT set_config('search_path', %s, true)", (f"{quote(STAGE_SCHEMA)}, {quote(live)}",))
    for statement in map_features.insert_statements():
        cur.execute(statement)
    cur.execute(SEARCH_NAMES_SQL)
    # Local to the transaction either way: a failure rolls it back with the setting.
    cur.execute("SELECT set_config('search_path', %s, true)", (search_path,))


def prerender(cur: Any, live: str, max_zoom: int, run_id: int) -> dict[int, tuple[int, float]]:
    """Render the unfiltered tiles of zooms 0..max_zoom into the staged `map_tiles` from the staged
    `map_features` (whose indexes must exist and be analysed: each counted-cell tile is one GiST index
    scan); tiles and seconds per zoom, also logged.

    A failure here never costs the snapshot: the tiles are an optimisation (the endpoint renders any
    tile missing from `map_tiles`), so the staged table is left empty and the import goes on.
    """
    cur.execute("SELECT current_setting('search_path')")
    search_path = cur.fetchone()[0]
    cur.execute("SAVEPOINT prerender_tiles")
    try:
        cur.execute("SELECT set_config('search_path', %s, true)", (f"{quote(STAGE_SCHEMA)}, {quote(live)}",))
        done = map_tiles.prerender(cur, max_zoom, run_id)
    except psycopg.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT prerender_tiles")
        logger.warning("import: map tiles not pre-rendered (rendered on demand instead): %s", exc)
        done = {}
    if done:
        logger.info(
            "import: map tiles pre-rendered (zoom: tiles in seconds): %s",
            ", ".join(f"{z}: {count} in {seconds:.2f}" for z, (count, seconds) in done.items()),
        )
    cur.execute("RELEASE SAVEPOINT prerender_tiles")
    cur.execute("SELECT set_config('search_path', %s, true)", (search_path,))
    return done
