"""The migrations are the schema: one head, and the models describe exactly what they build."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from database import db
from database.migrations.env_helpers import include_object
from database.schema import migration_heads


def test_migrations_have_a_single_head():
    assert len(migration_heads()) == 1


def test_models_match_the_migrated_schema(stack):
    import database.models  # noqa: F401 - registers every table on the metadata

    engine = create_engine(stack.database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        differences = compare_metadata(context, db.metadata)
    engine.dispose()
    assert differences == []
