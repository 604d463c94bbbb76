"""The unbound Flask-SQLAlchemy handle with a naming convention for every constraint."""

import logging
from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

from database.read_routing_session import RoutingSession

# Every geometry column stores WGS84 longitude/latitude.
SRID_WGS84 = 4326

# Deterministic constraint names, so autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


logger = logging.getLogger(__name__)


class _SQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose end-of-request cleanup survives a database that vanished mid-request."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        # When PostgreSQL restarts between a request's last query and the end of the request, the
        # ROLLBACK in session.close() fails. Raised from teardown, that error escapes every error
        # handler and gunicorn answers a bare 500 for a request that had already succeeded (found by
        # tests/faults/test_faults_postgres.py). SQLAlchemy has already invalidated the dead
        # connection, so the pool will not hand it out again; we only drop the session.
        try:
            self.session.remove()
        except DBAPIError as error:
            logger.warning("database connection lost while ending a request: %s", type(error.orig).__name__)
            self.session.registry.clear()


# RoutingSession: a read-only request's SELECTs go to the replica when one is bound (read_routing.py).
db = _SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})

# The models' base class. mypy reads `db.Model` as an attribute, not a class; at run time it is
# `Base` with Flask-SQLAlchemy's mixins (bind key, repr), so type checkers see `Base`.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
