"""`python -m migrator`: exits 0 when the schema is at head, non-zero with a clear message otherwise."""

from __future__ import annotations

import logging
import sys
import time

import flask_migrate
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from app import create_app
from app.config import ConfigError
from database.backup import BackupError, create_backup
from database.schema import schema_status

logger = logging.getLogger("migrator")

POSTGIS_LOCK_ID = 0x53_54_4F_50_50_47_49_53  # serialises CREATE EXTENSION between migrators


class MigratorError(RuntimeError):
    pass


def wait_for_database(engine: Engine, deadline_s: float) -> None:
    """Poll until PostgreSQL accepts a connection, or fail once `deadline_s` has passed."""
    deadline = time.monotonic() + deadline_s
    attempt = 0
    while True:
        attempt += 1
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise MigratorError(
                    f"database not reachable after {deadline_s:.0f} s ({attempt} attempts): "
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
                ) from None
            time.sleep(min(1.0, max(0.1, deadline - time.monotonic())))


def ensure_postgis(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": POSTGIS_LOCK_ID})
        try:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": POSTGIS_LOCK_ID})
            connection.commit()


def main() -> int:
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"migrator: configuration error: {exc}", file=sys.stderr)
        return 2
    settings = app.config["SETTINGS"]
    engine = create_engine(settings.DATABASE_URL, connect_args={"connect_timeout": 3}, poolclass=None)
    try:
        logger.info("waiting for the database (up to %.0f s)", settings.MIGRATOR_DB_WAIT_S)
        wait_for_database(engine, settings.MIGRATOR_DB_WAIT_S)
        ensure_postgis(engine)
        with engine.connect() as connection:
            before = schema_status(connection)
        if before.at_head:
            logger.info("schema already at head (%s); nothing to do", ", ".join(before.heads))
            return 0
        if before.ahead:
            # An older release's migrator must never try to move a newer schema backwards.
            logger.info("schema is at %s, newer than this code; nothing to do", ", ".join(before.current))
            return 0
        if settings.MIGRATOR_BACKUP and before.current:
            path = create_backup(
                settings.DATABASE_URL, settings.BACKUP_DIR, keep=settings.BACKUP_KEEP, label="pre-upgrade"
            )
            logger.info("pre-upgrade backup written to %s", path)
        with app.app_context():
            flask_migrate.upgrade()
        with engine.connect() as connection:
            after = schema_status(connection)
        if not after.at_head:
            raise MigratorError(after.describe())
        logger.info("schema upgraded to %s", ", ".join(after.heads))
        return 0
    except (MigratorError, BackupError) as exc:
        logger.error("migrator failed: %s", exc)
        print(f"migrator: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
