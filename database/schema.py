"""Where the database schema stands relative to the migrations in this checkout."""

from __future__ import annotations

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

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.heads)

    def describe(self) -> str:
        current = ", ".join(self.current) or "empty (no migrations applied)"
        return f"schema is at {current}; code expects {', '.join(self.heads)}"


def migration_heads() -> tuple[str, ...]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return tuple(ScriptDirectory.from_config(config).get_heads())


def schema_status(connection: Connection) -> SchemaStatus:
    """Compare the revision stamped in the database with the heads of the migration scripts."""
    current = MigrationContext.configure(connection).get_current_heads()
    return SchemaStatus(current=tuple(current), heads=migration_heads())
