"""Snapshot publications: which pipeline run published the snapshot readers see.

Revision ID: e81f4c6a2d03
Revises: 5b7d2e9a4c18
Create Date: 2026-11-30 04:30:00

The swap transaction inserts one row per published snapshot (database/snapshot/publication.py), so
the snapshot id (the run id) changes in the same commit as the data. Tiles key their cache and
ETag by it (with the start of the run's uuid, so a database rebuilt from scratch never repeats a
key); the replica check compares it between servers. Not a foreign key to `pipeline_runs`: pruning
old runs must not unpublish anything. Expand only: a new table that the
previous app version neither reads nor writes.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "e81f4c6a2d03"
down_revision = "5b7d2e9a4c18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_publications",
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_uuid", sa.String(length=36), nullable=True),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "row_counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_snapshot_publications")),
    )
    op.create_index(op.f("ix_snapshot_publications_published_at"), "snapshot_publications", ["published_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_snapshot_publications_published_at"), table_name="snapshot_publications")
    op.drop_table("snapshot_publications")
