"""GTFS route tables: the timetable's routes and the stops of each route's main itinerary.

Revision ID: 9c4e1d7a2b58
Revises: 3287207052a9
Create Date: 2026-11-30 02:30:00

Snapshot tables like `osm_routes`: the importer replaces their content in the same transaction as the
stops and matches (empty when a run has no timetable). The route pages read them; the route stage
reads the parsed feed. Expand only: two new tables, which the previous app version never reads or
writes (its importer names the tables it swaps).
"""

import sqlalchemy as sa
from alembic import op

revision = "9c4e1d7a2b58"
down_revision = "3287207052a9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gtfs_routes",
        sa.Column("route_id", sa.String(length=255), nullable=False),
        sa.Column("route_key", sa.String(length=255), nullable=True),
        sa.Column("agency_id", sa.String(length=255), nullable=True),
        sa.Column("agency_name", sa.String(length=255), nullable=True),
        sa.Column("short_name", sa.String(length=255), nullable=True),
        sa.Column("long_name", sa.String(length=255), nullable=True),
        sa.Column("route_type", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_gtfs_routes")),
    )
    op.create_index(op.f("ix_gtfs_routes_route_key"), "gtfs_routes", ["route_key"])
    op.create_table(
        "gtfs_route_stops",
        sa.Column("route_id", sa.String(length=255), nullable=False),
        sa.Column("direction_id", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stop_id", sa.String(length=255), nullable=False),
        sa.Column("stop_name", sa.String(length=255), nullable=True),
        sa.Column("sloid", sa.String(length=100), nullable=True),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("route_id", "direction_id", "sequence", name=op.f("pk_gtfs_route_stops")),
    )
    op.create_index(op.f("ix_gtfs_route_stops_sloid"), "gtfs_route_stops", ["sloid"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gtfs_route_stops_sloid"), table_name="gtfs_route_stops")
    op.drop_table("gtfs_route_stops")
    op.drop_index(op.f("ix_gtfs_routes_route_key"), table_name="gtfs_routes")
    op.drop_table("gtfs_routes")
