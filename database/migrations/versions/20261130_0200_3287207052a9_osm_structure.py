"""OSM structure tables: stop areas, transit routes and route masters, with their members.

Revision ID: 3287207052a9
Revises: 6a0f3c2e8b17
Create Date: 2026-11-30 02:00:00

Snapshot tables like `osm_stops`: the importer replaces their content in the same transaction as the
stops and matches. The stop-area matching stage reads them from the parsed source, the pages and
the route stage from here. Expand only: five new tables, which the previous app version never reads
or writes (its importer names the tables it swaps).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "3287207052a9"
down_revision = "6a0f3c2e8b17"
branch_labels = None
depends_on = None


def _members(table: str, parent: str) -> None:
    op.create_table(
        table,
        sa.Column(parent, sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("osm_key", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint(parent, "sequence", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_osm_key"), table, ["osm_key"])


def upgrade() -> None:
    op.create_table(
        "osm_stop_areas",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("uic_ref", sa.String(length=40), nullable=True),
        sa.Column("uic_name", sa.String(length=255), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_osm_stop_areas")),
    )
    op.create_index(op.f("ix_osm_stop_areas_uic_ref"), "osm_stop_areas", ["uic_ref"])
    _members("osm_stop_area_members", "stop_area_id")
    op.create_table(
        "osm_routes",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("from_name", sa.String(length=255), nullable=True),
        sa.Column("to_name", sa.String(length=255), nullable=True),
        sa.Column("via", sa.String(length=255), nullable=True),
        sa.Column("operator", sa.String(length=255), nullable=True),
        sa.Column("network", sa.String(length=255), nullable=True),
        sa.Column("gtfs_route_id", sa.String(length=255), nullable=True),
        sa.Column("ref_trips", sa.String(length=255), nullable=True),
        sa.Column("pt_version", sa.String(length=40), nullable=True),
        sa.Column("master_id", sa.BigInteger(), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_osm_routes")),
    )
    op.create_index(op.f("ix_osm_routes_gtfs_route_id"), "osm_routes", ["gtfs_route_id"])
    op.create_index(op.f("ix_osm_routes_master_id"), "osm_routes", ["master_id"])
    _members("osm_route_members", "route_id")
    op.create_table(
        "osm_route_masters",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=True),
        sa.Column("ref", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("operator", sa.String(length=255), nullable=True),
        sa.Column("network", sa.String(length=255), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_osm_route_masters")),
    )


def downgrade() -> None:
    op.drop_table("osm_route_masters")
    op.drop_index(op.f("ix_osm_route_members_osm_key"), table_name="osm_route_members")
    op.drop_table("osm_route_members")
    op.drop_index(op.f("ix_osm_routes_master_id"), table_name="osm_routes")
    op.drop_index(op.f("ix_osm_routes_gtfs_route_id"), table_name="osm_routes")
    op.drop_table("osm_routes")
    op.drop_index(op.f("ix_osm_stop_area_members_osm_key"), table_name="osm_stop_area_members")
    op.drop_table("osm_stop_area_members")
    op.drop_index(op.f("ix_osm_stop_areas_uic_ref"), table_name="osm_stop_areas")
    op.drop_table("osm_stop_areas")
