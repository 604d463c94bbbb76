"""The swap: one short transaction that puts the staged twins in place of the live tables.

In order, in one transaction: the small writes that must commit with the data (the problem changes
computed in staging, the sources' validators, the publication row), then `LOCK TABLE` of every live
snapshot table in ACCESS EXCLUSIVE mode, then for each table `ALTER TABLE live SET SCHEMA
snapshot_retired` and `ALTER TABLE twin SET SCHEMA <live>` (catalogue updates: milliseconds,
whatever the table size), then COMMIT. Readers see the old tables or the new ones, never a mix:
a statement or transaction that has read one snapshot table holds its lock until it ends, so the
swap waits for it; readers arriving during the swap wait for the commit and then resolve the names
to the new tables.

Because ACCESS EXCLUSIVE queues behind a long reader and new readers queue behind it, each attempt
waits at most `lock_timeout_s` for its locks (below PostgreSQL's 1 s deadlock_timeout, so a reader
that reads a second table is never the one chosen to fail), then rolls back and tries again until
the deadline; the blocking backends are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from database.snapshot.publication import SNAPSHOT_CHANNEL
from database.snapshot.staging import RETIRED_SCHEMA, STAGE_SCHEMA, quote

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwapTimes:
    """How the swap went: the committed attempt's transaction and lock-holding time, attempts made."""

    transaction_seconds: float
    locked_seconds: float
    attempts: int
    waited_seconds: float


def owned_sequences(cur: Any, live: str, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(sequence, table, column) of the serial columns' sequences of `tables` (their OWNED BY link
    would carry the sequence along with the retired table, and drop it with it)."""
    cur.execute(
        """
        SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname), t.relname, a.attname
          FROM pg_depend d
          JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
          JOIN pg_namespace sn ON sn.oid = s.relnamespace
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'a'
           AND n.nspname = %s AND t.relname = ANY(%s)
        """,
        (live, list(tables)),
    )
    return [(seq, table, column) for seq, table, column in cur.fetchall()]


def _blockers(connection: psycopg.Connection) -> str:
    """Who holds what the swap waits for (for the log): pid, state, the start of the query."""
    try:
        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT pid, state, left(query, 80) FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid() AND datname = current_database()
                   AND xact_start IS NOT NULL AND backend_type = 'client backend'
                 ORDER BY xact_start LIMIT 5
                """
            )
            return "; ".join(f"pid {pid} ({state}): {query}" for pid, state, query in cur.fetchall())
    except psycopg.Error:
        return "unknown"


def swap(
    connection: psycopg.Connection,
    live: str,
    tables: Sequence[str],
    *,
    before_lock: Callable[[Any], None],
    deadline: float,
    lock_timeout_s: float,
    snapshot_id: int,
    checkpoint: Callable[[str], None],
) -> SwapTimes:
    """Swap the twins of `tables` in, retrying on lock timeouts until `deadline` (time.monotonic()).

    `before_lock(cursor)` runs first in each attempt (the writes that commit with the swap).
    `connection` must not be in autocommit mode; commits on success, rolls back on failure.
    """
    attempts = 0
    waited = 0.0
    live_q = quote(live)
    while True:
        attempts += 1
        started = time.perf_counter()
        try:
            with connection.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = {max(1, int(lock_timeout_s * 1000))}")
                before_lock(cur)
                sequences = owned_sequences(cur, live, tables)
                checkpoint("swap:locking")
                cur.execute(
                    f"LOCK TABLE {', '.join(f'{live_q}.{quote(t)}' for t in tables)} IN ACCESS EXCLUSIVE MODE"
                )
                locked = time.perf_counter()
                checkpoint("swap:locked")
                cur.execute(f"CREATE SCHEMA {quote(RETIRED_SCHEMA)}")
                for sequence, _table, _column in sequences:
                    cur.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
                for table in tables:
                    cur.execute(f"ALTER TABLE {live_q}.{quote(table)} SET SCHEMA {quote(RETIRED_SCHEMA)}")
                for table in tables:
                    cur.execute(f"ALTER TABLE {quote(STAGE_SCHEMA)}.{quote(table)} SET SCHEMA {live_q}")
                for sequence, table, column in sequences:
                    cur.execute(f"ALTER SEQUENCE {sequence} OWNED BY {live_q}.{quote(table)}.{quote(column)}")
                cur.execute("SELECT pg_notify(%s, %s)", (SNAPSHOT_CHANNEL, str(snapshot_id)))
                checkpoint("swap:moved")
            connection.commit()
            done = time.perf_counter()
            return SwapTimes(
                transaction_seconds=done - started,
                locked_seconds=done - locked,
                attempts=attempts,
                waited_seconds=waited,
            )
        except pg_errors.LockNotAvailable:
            connection.rollback()
            waited += time.perf_counter() - started
            if time.monotonic() >= deadline:
                raise
            logger.warning(
                "snapshot swap: tables busy, attempt %d gave up after %.1f s; holders: %s",
                attempts,
                lock_timeout_s,
                _blockers(connection),
            )
            connection.rollback()  # _blockers' query opened a transaction
            # Let the queued readers through before the next attempt.
            pause = min(1.0, 0.1 * attempts)
            time.sleep(pause)
            waited += pause
        except BaseException:
            connection.rollback()
            raise
