"""Database layer: the SQLAlchemy handle, the models and the migrations.

`db` is created unbound here and bound to an app in `app.create_app`; nothing connects at import.
"""

from database.base import SRID_WGS84, db

__all__ = ["SRID_WGS84", "db"]
