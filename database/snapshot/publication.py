"""Which snapshot is published: its id, and hooks called after each swap.

The snapshot id is the id of the pipeline run that published it (`pipeline_runs.id`). The swap
transaction inserts a row into `snapshot_publications`, so the id changes in the same commit as
the data: a reader that sees the new id sees the new rows, on the primary and, once replayed, on
a streaming replica. `current_snapshot_id` is one index probe: cheap enough for every tile request
(the tiles key their cache and ETag by it; the replica check compares it between servers).

After the swap commits, every hook registered with `on_published` is called with the
`Publication` (in the importing process: the pipeline run). A hook that raises is logged and
ignored: the snapshot is already published, and the hook's caches are keyed by snapshot id anyway.
The swap transaction also sends `NOTIFY stopsync_snapshot, '<id>'` (delivered at commit), for a
process of another kind that wants to LISTEN.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# The channel of the NOTIFY the swap sends; the payload is the new snapshot id as decimal text.
SNAPSHOT_CHANNEL = "stopsync_snapshot"

CURRENT_SNAPSHOT_SQL = (
    "SELECT run_id FROM snapshot_publications ORDER BY published_at DESC, run_id DESC LIMIT 1"
)
CURRENT_SNAPSHOT_KEY_SQL = (
    "SELECT run_id::text || coalesce('-' || left(replace(run_uuid, '-', ''), 8), '')"
    " FROM snapshot_publications ORDER BY published_at DESC, run_id DESC LIMIT 1"
)


@dataclass(frozen=True)
class Publication:
    """One published snapshot: the run that published it, the one it replaced, its row counts."""

    snapshot_id: int
    previous_id: int | None
    published_at: dt.datetime
    rows: dict[str, int] = field(default_factory=dict)


PublishedHook = Callable[[Publication], None]
_hooks: list[PublishedHook] = []


def on_published(hook: PublishedHook) -> PublishedHook:
    """Call `hook(publication)` after every swap of this process from now on (usable as a
    decorator; registering the same function twice registers it once)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def remove_published_hook(hook: PublishedHook) -> None:
    """Stop calling `hook` (no error when it was not registered)."""
    if hook in _hooks:
        _hooks.remove(hook)


def run_published_hooks(publication: Publication) -> list[str]:
    """Call every registered hook; returns the names of those that failed (logged, not raised)."""
    failed = []
    for hook in list(_hooks):
        try:
            hook(publication)
        except Exception:
            name = getattr(hook, "__qualname__", repr(hook))
            failed.append(name)
            logger.exception("snapshot %s: post-swap hook %s failed", publication.snapshot_id, name)
    return failed


def _scalar(connection: Any, sql: str) -> Any:
    if hasattr(connection, "cursor") and not hasattr(connection, "scalar"):
        with connection.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        return None if row is None else row[0]
    from sqlalchemy import text

    return connection.scalar(text(sql))


def current_snapshot_id(connection: Any) -> int | None:
    """The id of the published snapshot (the run that published it), None before the first import.

    `connection`: a SQLAlchemy Session or Connection (e.g. `db.session`), or a psycopg connection.
    """
    value = _scalar(connection, CURRENT_SNAPSHOT_SQL)
    return None if value is None else int(value)


def current_snapshot_key(connection: Any) -> str | None:
    """The published snapshot as a cache key: `<run id>-<first 8 hex digits of the run's uuid>`, so
    a database rebuilt from scratch (run ids from 1 again) never repeats a key that HTTP caches may
    still hold. None before the first import."""
    value = _scalar(connection, CURRENT_SNAPSHOT_KEY_SQL)
    return None if value is None else str(value)
