"""Alembic environment, run by `flask db upgrade` inside the app context.

Migrations run under a PostgreSQL advisory lock (two migrators never upgrade at once: the second
waits, then finds nothing to do) and with bounded lock and statement timeouts.
"""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app
from geoalchemy2 import alembic_helpers
from sqlalchemy import text

from database.migrations.env_helpers import include_object

logger = logging.getLogger("alembic.env")

# Any fixed 64-bit number shared by every migrator of this project.
MIGRATION_ADVISORY_LOCK_ID = 0x53_54_4F_50_53_59_4E_43  # "STOPSYNC"

config = context.config
target_db = current_app.extensions["migrate"].db


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_db.metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        transaction_per_migration=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=str(target_db.engine.url).replace("%", "%%"),
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with target_db.engine.connect() as connection:
        connection.execute(text("SET lock_timeout = '10s'"))
        connection.execute(text("SET statement_timeout = '10min'"))
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_ADVISORY_LOCK_ID})
        connection.commit()
        try:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_ADVISORY_LOCK_ID})
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
