"""Session helpers for code that runs outside a request (scheduler jobs, CLI, pipeline import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from database.base import db


@contextmanager
def transaction() -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def engine_options(connect_timeout_s: int, statement_timeout_ms: int, pool_size: int) -> dict:
    """Engine options with bounded waits, so a stuck database fails requests fast instead of hanging."""
    return {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_timeout": connect_timeout_s,
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": connect_timeout_s,
            "options": f"-c statement_timeout={statement_timeout_ms} -c lock_timeout=5000",
            "application_name": "stopsync",
        },
    }
