"""The map read model keys a registry stop by (source, stop_id): `map_features.source`.

Revision ID: b4d1e6f2a9c3
Revises: a7c3e9d1f520
Create Date: 2026-11-30 07:00:00

`map_features` was keyed (kind, key), the registry side's key being the stop id alone: two registries
in one instance holding the same id string made the import's unique primary key fail, so no snapshot
could be published. `source` is the registry plug-in of a registry stop ('' on the OSM side) and
joins the primary key: (kind, source, key). Expand only: the previous app version's importer does not
write the column and gets the default '' (its rows keep the old (kind, key) uniqueness), and its
readers never read it.
"""

import sqlalchemy as sa
from alembic import op

revision = "b4d1e6f2a9c3"
down_revision = "a7c3e9d1f520"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "map_features",
        sa.Column("source", sa.String(length=40), server_default="", nullable=False),
    )
    op.drop_constraint("pk_map_features", "map_features", type_="primary")
    op.create_primary_key("pk_map_features", "map_features", ["kind", "source", "key"])


def downgrade() -> None:
    # The rows are derived and rebuilt by every import: dropping them keeps the narrower key valid.
    op.execute("DELETE FROM map_features")
    op.drop_constraint("pk_map_features", "map_features", type_="primary")
    op.create_primary_key("pk_map_features", "map_features", ["kind", "key"])
    op.drop_column("map_features", "source")
