"""user_sessions: one row per browser sign-in, so that signing out ends the session on the server.

Revision ID: 1bbfb6d03039
Revises: d41e7b2a9c55
Create Date: 2026-11-30 01:11:00

The session cookie is signed, not stored: until now signing out only cleared the browser's copy, and
a copy taken before (a shared computer, a proxy log) stayed valid until it expired. The cookie now
names a row here, and signing out deletes it. Expand only: a new table, which the previous app
version never reads (its cookies, without a session key, are simply asked to sign in again).
"""

import sqlalchemy as sa
from alembic import op

revision = "1bbfb6d03039"
down_revision = "d41e7b2a9c55"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_user_sessions_key_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
