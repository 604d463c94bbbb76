"""The session class that sends a read-only request's SELECTs to the replica (see read_routing.py).

Kept apart from the replica check so that `database.base` can use it without importing the snapshot
package (which imports the models, which import `database.base`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy.engine import Connection, Engine

# Keys in `Session.info`: the engine reads go to, and whether a query actually went there.
READ_ENGINE_KEY = "stopsync_read_engine"
READ_USED_KEY = "stopsync_read_used"


class RoutingSession(FlaskSession):
    """`db.session`'s class: SELECTs go to the bound read engine, flushes and DML to the primary."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        """The replica for reads while one is bound to this session; Flask-SQLAlchemy's choice otherwise."""
        read_engine = self.info.get(READ_ENGINE_KEY)
        if (
            read_engine is not None
            and bind is None
            and not self._flushing
            and not isinstance(clause, sa.UpdateBase)  # INSERT / UPDATE / DELETE statements
        ):
            self.info[READ_USED_KEY] = True
            return read_engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def bind_reads(session: sa.orm.Session, engine: Engine | None) -> None:
    """Send this session's reads to `engine` from now on (None: back to the primary)."""
    session.info.pop(READ_USED_KEY, None)
    if engine is None:
        session.info.pop(READ_ENGINE_KEY, None)
    else:
        session.info[READ_ENGINE_KEY] = engine


def reads_bound(session: sa.orm.Session) -> bool:
    """Whether this session currently sends its reads to a replica."""
    return session.info.get(READ_ENGINE_KEY) is not None


def replica_was_used(session: sa.orm.Session) -> bool:
    """Whether a query of this session went to the replica since it was bound."""
    return bool(session.info.get(READ_USED_KEY))
