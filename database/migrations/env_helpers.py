"""Shared by env.py and the tests: which database objects belong to our schema."""

from __future__ import annotations

from geoalchemy2 import alembic_helpers

# PostGIS (and its Debian packaging) own these tables; they are not part of our schema.
FOREIGN_TABLES = {"spatial_ref_sys"}


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name in FOREIGN_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
