"""users.osm_uid, users.osm_display_name, and usernames up to 300 characters: OpenStreetMap sign-in.

Revision ID: 6a0f3c2e8b17
Revises: 1bbfb6d03039
Create Date: 2026-11-30 01:40:00

A mapper who signs in with OpenStreetMap becomes a user row keyed by the OSM user id (display
names can change, the id never does), named "osm:" + the display name so their decisions carry
it. OSM display names have up to 255 characters, hence the wider `username`.

Expand only: two nullable columns the previous app version never reads, and a wider varchar,
which PostgreSQL applies without rewriting the table or its unique index; the previous version
writes names of at most 80 characters, which still fit.
"""

import sqlalchemy as sa
from alembic import op

revision = "6a0f3c2e8b17"
down_revision = "1bbfb6d03039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("osm_uid", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("osm_display_name", sa.String(length=255), nullable=True))
    op.create_unique_constraint(op.f("uq_users_osm_uid"), "users", ["osm_uid"])
    op.alter_column(
        "users",
        "username",
        existing_type=sa.String(length=80),
        type_=sa.String(length=300),
        existing_nullable=False,
    )


def downgrade() -> None:
    # Names longer than 80 characters exist only for OSM accounts, which the older schema cannot
    # represent: shorten them rather than fail (the osm_uid that identified them goes too).
    op.execute("UPDATE users SET username = left(username, 80) WHERE length(username) > 80")
    op.alter_column(
        "users",
        "username",
        existing_type=sa.String(length=300),
        type_=sa.String(length=80),
        existing_nullable=False,
    )
    op.drop_constraint(op.f("uq_users_osm_uid"), "users", type_="unique")
    op.drop_column("users", "osm_display_name")
    op.drop_column("users", "osm_uid")
