"""Search and problem-queue indexes: folded-name trigram indexes, sloid prefix, priority keyset.

Revision ID: 5e4c1a9b2d10
Revises: 248a945a5693
Create Date: 2026-11-24 17:29:00

Expand only: a function and indexes; the previous app version ignores them.
`stopsync_fold(text)` is lower(unaccent(text)) with the dictionary named explicitly, which makes it
safe to declare IMMUTABLE (plain unaccent() is STABLE because it looks the dictionary up through
search_path) and therefore indexable.
"""

import sqlalchemy as sa
from alembic import op

revision = "5e4c1a9b2d10"
down_revision = "248a945a5693"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION public.stopsync_fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$
        """
    )
    op.create_index(
        "ix_atlas_stops_name_fold_trgm",
        "atlas_stops",
        [sa.text("stopsync_fold(designation_official) gin_trgm_ops")],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_osm_stops_name_fold_trgm",
        "osm_stops",
        [sa.text("stopsync_fold(name) gin_trgm_ops")],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_atlas_stops_sloid_pattern",
        "atlas_stops",
        ["sloid"],
        postgresql_ops={"sloid": "varchar_pattern_ops"},
    )
    op.create_index("ix_problems_priority_id", "problems", ["priority", "id"])


def downgrade() -> None:
    op.drop_index("ix_problems_priority_id", table_name="problems")
    op.drop_index("ix_atlas_stops_sloid_pattern", table_name="atlas_stops")
    op.drop_index("ix_osm_stops_name_fold_trgm", table_name="osm_stops")
    op.drop_index("ix_atlas_stops_name_fold_trgm", table_name="atlas_stops")
    op.execute("DROP FUNCTION IF EXISTS public.stopsync_fold(text)")
