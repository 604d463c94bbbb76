"""osm_stops.way_member: whether an OSM stop node is a vertex of a way.

Revision ID: d41e7b2a9c55
Revises: 7b1e2d9c4f30
Create Date: 2026-11-30 01:10:00

Fix exports never move a node that belongs to a way (a stop position on a road, a vertex of a
platform outline): moving it would bend the road. NULL means the source did not say (ways, and an
Overpass answer without the ways around the stop nodes). Expand only: one nullable column, which the
previous app version neither reads nor writes (its importer names its columns).
"""

import sqlalchemy as sa
from alembic import op

revision = "d41e7b2a9c55"
down_revision = "7b1e2d9c4f30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("osm_stops", sa.Column("way_member", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("osm_stops", "way_member")
