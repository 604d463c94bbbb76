"""The distinct folded stop names for search's fuzzy lookup: `search_names` (derived, swapped).

Revision ID: d5e8a2c7f913
Revises: b4d1e6f2a9c3
Create Date: 2026-11-30 07:45:00

Search's trigram lookup compared the query with every stop's folded name on each side; names repeat
(platforms of one stop, both sides naming a stop alike), so it now runs over each distinct name once
and reads the stops of the names it found by the btree indexes. The table is derived like
`map_features`: every import rebuilds it in staging and swaps it with the snapshot. Expand only:
the previous app version never reads it. Filled here from the live tables, so search answers the
same before the next import.
"""

import sqlalchemy as sa
from alembic import op

revision = "d5e8a2c7f913"
down_revision = "b4d1e6f2a9c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_names",
        sa.Column("name_fold", sa.Text(), nullable=False),
        sa.Column("in_registry", sa.Boolean(), nullable=False),
        sa.Column("in_osm", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name_fold", name=op.f("pk_search_names")),
    )
    op.create_index(
        "ix_search_names_name_fold_trgm",
        "search_names",
        ["name_fold"],
        postgresql_using="gin",
        postgresql_ops={"name_fold": "gin_trgm_ops"},
    )
    op.execute(
        "INSERT INTO search_names (name_fold, in_registry, in_osm)"
        " SELECT name_fold, bool_or(registry), bool_or(osm) FROM ("
        " SELECT name_fold, true AS registry, false AS osm FROM registry_stops"
        " UNION ALL SELECT name_fold, false, true FROM osm_stops) n"
        " WHERE name_fold IS NOT NULL GROUP BY name_fold"
    )


def downgrade() -> None:
    op.drop_index("ix_search_names_name_fold_trgm", table_name="search_names")
    op.drop_table("search_names")
