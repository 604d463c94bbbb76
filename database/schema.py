"""Where the database schema stands relative to the migrations in this checkout."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class SchemaStatus:
    current: tuple[str, ...]
    heads: tuple[str, ...]
    known: frozenset[str] = frozenset()  # every revision this checkout's scripts define

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.heads)

    @property
    def ahead(self) -> bool:
        """The database carries a revision this code does not know: a newer release migrated it.

        Migrations are expand-only, so the code of the previous release keeps working on that schema
        while the new release rolls out; treating it as "not ready" would take healthy instances out.
        """
        return bool(self.current) and not set(self.current) & self.known

    @property
    def compatible(self) -> bool:
        """This code may serve on this schema: at its head, or behind a newer release's migration."""
        return self.at_head or self.ahead

    def describe(self) -> str:
        current = ", ".join(self.current) or "empty (no migrations applied)"
        return f"schema is at {current}; code expects {', '.join(self.heads)}"


@functools.cache  # the scripts of a running process never change
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def migration_heads() -> tuple[str, ...]:
    return tuple(_scripts().get_heads())


def schema_status(connection: Connection) -> SchemaStatus:
    """Compare the revision stamped in the database with the heads of the migration scripts."""
    current = MigrationContext.configure(connection).get_current_heads()
    scripts = _scripts()
    known = frozenset(revision.revision for revision in scripts.walk_revisions())
    return SchemaStatus(current=tuple(current), heads=tuple(scripts.get_heads()), known=known)
