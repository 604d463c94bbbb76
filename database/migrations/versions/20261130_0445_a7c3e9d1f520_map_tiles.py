"""Map tiles without per-request re-projection: a stored Web-Mercator position and pre-rendered low zooms.

Revision ID: a7c3e9d1f520
Revises: e81f4c6a2d03
Create Date: 2026-11-30 04:45:00

`map_features.geom_3857`: the stop's position in EPSG:3857, a stored generated column (so any
importer's INSERT fills it, the previous app version's included) with its own GiST index; the tile
SQL selects and clips by it instead of transforming every stop of a tile per request (a cold zoom-5
tile over national data: ~630 ms, most of it ST_Transform).
`map_tiles`: the unfiltered counted-cell tiles of the low zooms, rendered by the import in staging
and swapped with the snapshot (database/snapshot/map_tiles.py). Expand only: the previous app version
neither reads nor writes it, and an empty table only means tiles are rendered on demand. Each tile
names the snapshot (run) it was rendered from and is served only while that snapshot is published:
an importer that does not know the table (the previous version, during a deploy) leaves it behind
unswapped, and its stale tiles must not be served for the newer data.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "a7c3e9d1f520"
down_revision = "e81f4c6a2d03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "map_features",
        sa.Column(
            "geom_3857",
            Geometry(
                geometry_type="POINT",
                srid=3857,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            sa.Computed("ST_Transform(geom, 3857)", persisted=True),
            nullable=False,
        ),
    )
    op.create_geospatial_index(
        "idx_map_features_geom_3857",
        "map_features",
        ["geom_3857"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "map_tiles",
        sa.Column("z", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("x", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("y", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mvt", sa.LargeBinary(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("z", "x", "y", name=op.f("pk_map_tiles")),
    )


def downgrade() -> None:
    op.drop_table("map_tiles")
    op.drop_geospatial_index(
        "idx_map_features_geom_3857",
        table_name="map_features",
        postgresql_using="gist",
        column_name="geom_3857",
    )
    op.drop_column("map_features", "geom_3857")
