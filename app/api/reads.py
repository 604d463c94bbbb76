"""The end of a read-only API request's transaction.

A request's transaction ends when Flask-SQLAlchemy returns the connection to the pool, which rolls
it back. psycopg forgets every prepared statement on a ROLLBACK (it sends DEALLOCATE ALL), so the
statements of the public read endpoints (search, stop detail) were parsed and planned again on every
request: most of PostgreSQL's CPU for a stop page. Committing the read transaction instead ends it
the same way for the database (nothing was written) and leaves the pool nothing to roll back, so
psycopg prepares a statement it has seen five times on that connection (its `prepare_threshold`)
and PostgreSQL re-uses the plan from then on.
"""

from __future__ import annotations

from database import db


def finish_read() -> None:
    """Commit this request's read-only transaction (see the module docstring); a view that wrote
    must never call it."""
    db.session.commit()
