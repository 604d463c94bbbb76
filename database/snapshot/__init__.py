"""The snapshot import: staging, the swap, the map read model, the published snapshot id.

The API other packages use (everything else in this package is internal):

- ``import_snapshot(connection, run_id, registry, osm, matches, problems, source_states, *,
  structure=None, timetable_routes=(), timetable_route_stops=(), min_row_ratio=0.0, timeout_s=600.0,
  lock_timeout_s=0.5, checkpoint=None) -> ImportStats`` — stage every snapshot table and every table
  derived from them (`map_features`) in the schema `snapshot_stage` (COPY, indexes, ANALYZE: no
  reader waits), then swap them in by one short transaction of `ALTER TABLE ... SET SCHEMA` plus
  the small writes that belong to it (problem changes, source validators, the publication row).
  `connection` is a psycopg connection not in autocommit (e.g. `db.engine.raw_connection()
  .driver_connection`). `ImportStats.as_counts()` is what a run records as `counts["import"]`.
  Checkpoints (tests, progress): "staged" (built, invisible), "swap:locking", "swap:locked"
  (ACCESS EXCLUSIVE held: readers wait while a checkpoint blocks here), "swap:moved", "published".
- ``SourceStateRow``: the validators of one downloaded source, written with the snapshot.
- ``check_row_counts(previous, new, min_ratio)``: the guard against a source that lost most rows.
- ``current_snapshot_id(session_or_connection) -> int | None``: the run id that published the
  snapshot readers see (None before the first import). One index probe on
  `snapshot_publications`; it changes in the swap's commit, together with the data.
  ``current_snapshot_key(...) -> str | None``: the same as a cache key, `<run id>-<uuid prefix>`,
  never repeated by a database rebuilt from scratch (tile URLs and ETags).
- ``on_published(hook)`` / ``remove_published_hook(hook)``: `hook(Publication)` runs in the
  importing process right after each swap commits (e.g. dropping Redis tile caches); a hook's
  exception is logged and never fails the run. The swap also sends `NOTIFY stopsync_snapshot,
  '<run id>'` at commit (``SNAPSHOT_CHANNEL``).
- ``mapping``: the row ↔ record declaration of every snapshot table (``mapping.REGISTRY_STOPS``
  ...), used by the COPY and by ``mapping.read_records(session, mapping.OSM_STOPS, ...)`` to read
  records back (review, re-checks), so a column is declared once.
- ``map_features``: the map's per-side SELECTs and the feature JSON, shared by the live map query.
- ``SNAPSHOT_TABLES`` (written by the pipeline) and ``SWAPPED_TABLES`` (plus derived tables).
"""

from database.snapshot import mapping
from database.snapshot.importer import (
    SNAPSHOT_TABLES,
    SWAPPED_TABLES,
    Checkpoint,
    ImportStats,
    SourceStateRow,
    check_row_counts,
    import_snapshot,
)
from database.snapshot.publication import (
    SNAPSHOT_CHANNEL,
    Publication,
    current_snapshot_id,
    current_snapshot_key,
    on_published,
    remove_published_hook,
)

__all__ = [
    "SNAPSHOT_CHANNEL",
    "SNAPSHOT_TABLES",
    "SWAPPED_TABLES",
    "Checkpoint",
    "ImportStats",
    "Publication",
    "SourceStateRow",
    "check_row_counts",
    "current_snapshot_id",
    "current_snapshot_key",
    "import_snapshot",
    "mapping",
    "on_published",
    "remove_published_hook",
]
