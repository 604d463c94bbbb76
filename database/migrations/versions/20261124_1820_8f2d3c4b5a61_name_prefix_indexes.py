"""Prefix indexes on folded stop names: a name-prefix search reads only the rows it returns.

Revision ID: 8f2d3c4b5a61
Revises: 5e4c1a9b2d10
Create Date: 2026-11-24 18:20:00

The GIN trigram indexes of 5e4c1a9b2d10 filter well but cannot return rows in order: a search for
"ba" read and sorted thousands of names. A btree (text_pattern_ops) on the folded name answers
`prefix ORDER BY name LIMIT n` by reading n index entries. (A GiST trigram index could also order
fuzzy matches, but costs an import several seconds more to maintain; fuzzy lookups only run when
prefixes find too few names, where GIN's candidates are few.) Expand only.
"""

import sqlalchemy as sa
from alembic import op

revision = "8f2d3c4b5a61"
down_revision = "5e4c1a9b2d10"
branch_labels = None
depends_on = None

NAMES = (("atlas_stops", "designation_official"), ("osm_stops", "name"))


def upgrade() -> None:
    for table, column in NAMES:
        op.create_index(
            f"ix_{table}_name_fold_prefix", table, [sa.text(f"stopsync_fold({column}) text_pattern_ops")]
        )


def downgrade() -> None:
    for table, _ in NAMES:
        op.drop_index(f"ix_{table}_name_fold_prefix", table_name=table)
