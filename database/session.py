"""Session helpers for code that runs outside a request (scheduler jobs, CLI, pipeline import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_sqlalchemy.session import Session
from sqlalchemy.orm import scoped_session

from database.base import db


@contextmanager
def transaction() -> Iterator[scoped_session[Session]]:
    """One unit of work: commit when the block ends normally, roll back on any exception."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def engine_options(
    connect_timeout_s: int,
    statement_timeout_ms: int,
    pool_size: int,
    *,
    application_name: str = "stopsync",
    read_only: bool = False,
) -> dict:
    """Engine options with bounded waits, so a stuck database fails requests fast instead of hanging.

    `application_name` names the connections in `pg_stat_activity`; `read_only` makes every
    transaction read-only (the replica engine: a write routed there by mistake fails loudly even
    when the URL points at a server that would accept it).
    """
    options = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout=5000"
    if read_only:
        options += " -c default_transaction_read_only=on"
    return {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_timeout": connect_timeout_s,
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": connect_timeout_s,
            "options": options,
            "application_name": application_name,
        },
    }
