"""Precomputed map features: one row per stop of either side with its GeoJSON text.

Revision ID: c3e7a1f90b42
Revises: 8f2d3c4b5a61
Create Date: 2026-11-24 19:15:00

/api/v1/stops joined every stop in view to its matches and problems and built its JSON per request
(~300 stops, 6 ms of Python and 5.5-8.5 ms of PostgreSQL each). The importer now writes the finished
features in its swap transaction; a map request is one GiST index scan. Expand only: the table starts
empty and the service answers from the live tables until the next import fills it.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "c3e7a1f90b42"
down_revision = "8f2d3c4b5a61"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "map_features",
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("methods", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("problem_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("problem_pairs", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("operators", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("transports", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("feature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_map_features")),
    )
    op.create_geospatial_index(
        "idx_map_features_geom",
        "map_features",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )


def downgrade() -> None:
    op.drop_geospatial_index(
        "idx_map_features_geom", table_name="map_features", postgresql_using="gist", column_name="geom"
    )
    op.drop_table("map_features")
