"""One-shot database preparation: wait for PostgreSQL, PostGIS, optional backup, upgrade, exit."""
