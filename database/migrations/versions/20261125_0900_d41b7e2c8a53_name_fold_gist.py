"""GiST trigram indexes on folded stop names: fuzzy search reads its nearest names, not all candidates.

Revision ID: d41b7e2c8a53
Revises: c3e7a1f90b42
Create Date: 2026-11-25 09:00:00

A typo search such as "Seuzach, Bahnhof" shares trigrams with thousands of names ("bahnhof"); the GIN
index returned them all and PostgreSQL folded and scored each before sorting (35-55 ms per side at
full scale). GiST answers `ORDER BY q <<-> fold(name) LIMIT n` as a nearest-neighbour scan (10-20 ms).
Building both costs 1.7 s on 115k names; the import maintains them. Expand only.
"""

import sqlalchemy as sa
from alembic import op

revision = "d41b7e2c8a53"
down_revision = "c3e7a1f90b42"
branch_labels = None
depends_on = None

NAMES = (("atlas_stops", "designation_official"), ("osm_stops", "name"))


def upgrade() -> None:
    for table, column in NAMES:
        op.create_index(
            f"ix_{table}_name_fold_gist",
            table,
            [sa.text(f"stopsync_fold({column}) gist_trgm_ops")],
            postgresql_using="gist",
        )


def downgrade() -> None:
    for table, _ in NAMES:
        op.drop_index(f"ix_{table}_name_fold_gist", table_name=table)
