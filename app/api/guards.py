"""Last-line guards for API requests: database errors that can only come from client input.

Routes and parameters are validated where they are read; this catches what slips through, so a
client mistake never becomes a 500. Only out-of-range numbers (SQLSTATE 22003, e.g. an id beyond
PostgreSQL's int4) are mapped: every other database error is still a bug and still a 500.
"""

from __future__ import annotations

import logging

from psycopg import errors as pg_errors
from sqlalchemy.exc import DataError

from app.api import bp
from app.errors import json_error
from database import db

logger = logging.getLogger(__name__)


@bp.errorhandler(DataError)
def _data_error(exc: DataError):
    if not isinstance(exc.orig, pg_errors.NumericValueOutOfRange):
        raise exc
    db.session.rollback()
    logger.info("number out of range in an API request: %s", type(exc.orig).__name__)
    return json_error(400, "invalid_parameter", "A number in the request is out of range.")
