"""Staging tables: a complete copy of the snapshot tables' structure, filled and indexed off-line.

Each snapshot table gets a twin in the schema `snapshot_stage`, created `LIKE` the live table (its
columns, defaults, generated columns, CHECK constraints, storage and statistics settings), filled
with COPY FREEZE, then given exactly the live table's indexes and primary / unique constraints
(replayed from the catalogue with the same names: index names are per schema, so the twin can carry
them) and its privileges, and analysed. Nothing here locks a live table beyond ACCESS SHARE (the
catalogue reads and `LIKE`), so readers never wait for staging.

The swap (`database.snapshot.swap`) then moves the live tables out and the twins in by `ALTER
TABLE ... SET SCHEMA`: the twins arrive with their indexes, statistics and frozen pages, so no index
build, ANALYZE or VACUUM is left for after the swap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

logger = logging.getLogger(__name__)

STAGE_SCHEMA = "snapshot_stage"
RETIRED_SCHEMA = "snapshot_retired"


def quote(name: str) -> str:
    """A SQL identifier, double-quoted (the names here are ours, never user input)."""
    return '"' + name.replace('"', '""') + '"'


def live_schema(cur: Any) -> str:
    """The schema the application's unqualified table names resolve to (normally `public`)."""
    cur.execute("SELECT current_schema()")
    return str(cur.fetchone()[0])


def drop_leftovers(cur: Any) -> None:
    """Drop the staging and retired schemas a killed import may have left behind."""
    for schema in (STAGE_SCHEMA, RETIRED_SCHEMA):
        cur.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")


def refuse_foreign_keys(cur: Any, live: str, tables: Sequence[str]) -> None:
    """Snapshot tables are replaced whole: a foreign key from or to one would tie it to a table
    that stays behind (persistent tables refer to snapshot rows by identity only)."""
    cur.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text
          FROM pg_constraint c
          JOIN pg_class t ON t.oid IN (c.conrelid, c.confrelid)
          JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE c.contype = 'f' AND n.nspname = %s AND t.relname = ANY(%s)
        """,
        (live, list(tables)),
    )
    found = cur.fetchall()
    if found:
        raise RuntimeError(f"snapshot tables must not take part in foreign keys: {found}")


def create_twins(cur: Any, live: str, tables: Sequence[str]) -> None:
    """Create `snapshot_stage` and an empty twin of each live table in it (no indexes yet: the rows
    go in first, which is faster than maintaining the indexes row by row)."""
    cur.execute(f"CREATE SCHEMA {quote(STAGE_SCHEMA)}")
    for table in tables:
        cur.execute(
            f"CREATE TABLE {quote(STAGE_SCHEMA)}.{quote(table)}"
            f" (LIKE {quote(live)}.{quote(table)} INCLUDING ALL EXCLUDING INDEXES)"
        )


def text_limits(cur: Any, live: str, table: str) -> dict[str, int]:
    """The `varchar(n)` columns of `table` and their n, as the database has them now."""
    cur.execute(
        "SELECT column_name, character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND character_maximum_length IS NOT NULL",
        (live, table),
    )
    return dict(cur.fetchall())


def fitted(
    rows: Iterable[tuple[Any, ...]], columns: Sequence[str], limits: dict[str, int], clipped: dict[str, int]
) -> Iterator[tuple[Any, ...]]:
    """Rows with every text longer than its column cut to the column's length, counted per column.

    An OSM tag may be 255 characters and a hand-made source any length; one such value must not make
    PostgreSQL refuse the whole snapshot. Identifiers never get here too long: the sources drop rows
    whose id is not one, and OSM keys are built from numbers.
    """
    checks = [(i, name, limits[name]) for i, name in enumerate(columns) if name in limits]
    if not checks:
        yield from rows
        return
    for row in rows:
        for i, name, limit in checks:
            value = row[i]
            if value is not None and len(value) > limit:
                row = (*row[:i], value[:limit], *row[i + 1 :])
                clipped[name] = clipped.get(name, 0) + 1
        yield row


def copy_rows(
    cur: Any,
    live: str,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    clipped: dict[str, int],
) -> int:
    """COPY `rows` into the twin of `table` (FREEZE: the twin was created in this transaction, so its
    rows are written frozen and all-visible, and need no VACUUM after the swap). Texts are fitted to
    the live table's columns; the number of cut values per `table.column` is added to `clipped`."""
    limits = text_limits(cur, live, table)
    counts: dict[str, int] = {}
    count = 0
    target = f"{quote(STAGE_SCHEMA)}.{quote(table)}"
    with cur.copy(f"COPY {target} ({', '.join(map(quote, columns))}) FROM STDIN WITH (FREEZE)") as copy:
        for row in fitted(rows, columns, limits, counts):
            copy.write_row(row)
            count += 1
    clipped.update({f"{table}.{name}": n for name, n in counts.items()})
    return count


def replay_indexes(cur: Any, live: str, table: str) -> int:
    """Give the twin every index of the live table, with the same name and definition, and turn the
    primary-key and unique indexes into the same constraints. Returns the number of indexes built."""
    cur.execute(
        """
        SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname, con.contype
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid
         WHERE n.nspname = %s AND t.relname = %s
         ORDER BY ic.relname
        """,
        (live, table),
    )
    indexes = cur.fetchall()
    live_name = f" ON {_qualified(live, table)} "
    stage_name = f" ON {quote(STAGE_SCHEMA)}.{quote(table)} "
    for name, definition, constraint, kind in indexes:
        if definition.count(live_name) != 1:
            raise RuntimeError(f"cannot replay index {name}: unexpected definition {definition!r}")
        cur.execute(definition.replace(live_name, stage_name))
        if constraint is None:
            continue
        if kind not in ("p", "u") or constraint != name:
            raise RuntimeError(f"cannot replay constraint {constraint} ({kind}) of {table}")
        clause = "PRIMARY KEY" if kind == "p" else "UNIQUE"
        cur.execute(
            f"ALTER TABLE {quote(STAGE_SCHEMA)}.{quote(table)}"
            f" ADD CONSTRAINT {quote(constraint)} {clause} USING INDEX {quote(name)}"
        )
    return len(indexes)


def _qualified(schema: str, table: str) -> str:
    """`schema.table` as pg_get_indexdef writes it (quoted only where needed)."""
    return ".".join(_ident(part) for part in (schema, table))


def _ident(name: str) -> str:
    plain = name.isidentifier() and name == name.lower() and name.isascii()
    return name if plain else quote(name)


def replay_privileges(cur: Any, live: str, table: str) -> None:
    """Grant on the twin what was granted on the live table (an operator's read-only role keeps
    reading after the swap). The owner's own rights come with ownership."""
    cur.execute(
        """
        SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               a.is_grantable
          FROM pg_class t
          JOIN pg_namespace n ON n.oid = t.relnamespace,
               aclexplode(t.relacl) a
         WHERE n.nspname = %s AND t.relname = %s AND a.grantee <> t.relowner
        """,
        (live, table),
    )
    for privilege, grantee, grantable in cur.fetchall():
        target = "PUBLIC" if grantee == "PUBLIC" else quote(grantee)
        cur.execute(
            f"GRANT {privilege} ON {quote(STAGE_SCHEMA)}.{quote(table)} TO {target}"
            + (" WITH GRANT OPTION" if grantable else "")
        )


def analyze(cur: Any, tables: Sequence[str]) -> None:
    """Planner statistics for the twins: they travel with the table, so the first query after the
    swap is planned on the new data."""
    cur.execute(f"ANALYZE {', '.join(f'{quote(STAGE_SCHEMA)}.{quote(t)}' for t in tables)}")
