"""Initial schema: snapshot tables (stops, matches, problems) and persistent tables.

Revision ID: 248a945a5693
Revises:
Create Date: 2026-11-24 17:15:09.138880

Expand/contract rule: the previous app version keeps running while the migrator runs, so a
migration only adds (tables, nullable columns, indexes). Drops and renames happen in a later
release, after no running code reads the old shape.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "248a945a5693"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The migrator creates postgis before upgrading; the others serve name search (trigram, accents).
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.create_geospatial_table(
        "atlas_stops",
        sa.Column("sloid", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("uic_number", sa.Integer(), nullable=True),
        sa.Column("designation", sa.String(length=100), nullable=True),
        sa.Column("designation_official", sa.String(length=200), nullable=True),
        sa.Column("operator_abbr", sa.String(length=60), nullable=True),
        sa.Column("operator_name", sa.String(length=200), nullable=True),
        sa.Column("means_of_transport", sa.String(length=200), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("canton", sa.String(length=4), nullable=True),
        sa.Column("parent_sloid", sa.String(length=100), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
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
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sloid", name=op.f("pk_atlas_stops")),
    )
    op.create_geospatial_index(
        "idx_atlas_stops_geom",
        "atlas_stops",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_atlas_stops_operator_abbr"), "atlas_stops", ["operator_abbr"], unique=False)
    op.create_index(op.f("ix_atlas_stops_uic_number"), "atlas_stops", ["uic_number"], unique=False)
    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sloid", sa.String(length=100), nullable=False),
        sa.Column("osm_key", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("name_score", sa.Float(), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
    )
    op.create_index(op.f("ix_matches_method"), "matches", ["method"], unique=False)
    op.create_index(op.f("ix_matches_osm_key"), "matches", ["osm_key"], unique=False)
    op.create_index(op.f("ix_matches_sloid"), "matches", ["sloid"], unique=False)
    op.create_geospatial_table(
        "osm_stops",
        sa.Column("osm_key", sa.String(length=40), nullable=False),
        sa.Column("osm_type", sa.String(length=8), nullable=False),
        sa.Column("osm_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("uic_ref", sa.String(length=40), nullable=True),
        sa.Column("uic_name", sa.String(length=200), nullable=True),
        sa.Column("ifopt", sa.String(length=100), nullable=True),
        sa.Column("local_ref", sa.String(length=40), nullable=True),
        sa.Column("operator", sa.String(length=200), nullable=True),
        sa.Column("network", sa.String(length=200), nullable=True),
        sa.Column("public_transport", sa.String(length=40), nullable=True),
        sa.Column("railway", sa.String(length=40), nullable=True),
        sa.Column("highway", sa.String(length=40), nullable=True),
        sa.Column("amenity", sa.String(length=40), nullable=True),
        sa.Column("aerialway", sa.String(length=40), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
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
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("osm_key", name=op.f("pk_osm_stops")),
    )
    op.create_geospatial_index(
        "idx_osm_stops_geom", "osm_stops", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_osm_stops_ifopt"), "osm_stops", ["ifopt"], unique=False)
    op.create_index(op.f("ix_osm_stops_uic_ref"), "osm_stops", ["uic_ref"], unique=False)
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_uuid", sa.String(length=36), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stage_seconds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_versions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
        sa.UniqueConstraint("run_uuid", name=op.f("uq_pipeline_runs_run_uuid")),
    )
    op.create_index(op.f("ix_pipeline_runs_status"), "pipeline_runs", ["status"], unique=False)
    op.create_geospatial_table(
        "problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=300), nullable=False),
        sa.Column("problem_type", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("sloid", sa.String(length=100), nullable=True),
        sa.Column("osm_key", sa.String(length=40), nullable=True),
        sa.Column("operator_abbr", sa.String(length=60), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problems")),
        sa.UniqueConstraint("identity", name=op.f("uq_problems_identity")),
    )
    op.create_geospatial_index(
        "idx_problems_geom", "problems", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_problems_operator_abbr"), "problems", ["operator_abbr"], unique=False)
    op.create_index(op.f("ix_problems_osm_key"), "problems", ["osm_key"], unique=False)
    op.create_index(op.f("ix_problems_priority"), "problems", ["priority"], unique=False)
    op.create_index(op.f("ix_problems_problem_type"), "problems", ["problem_type"], unique=False)
    op.create_index(op.f("ix_problems_sloid"), "problems", ["sloid"], unique=False)
    op.create_table(
        "source_states",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_states")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("api_token_hash", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("api_token_hash", name=op.f("uq_users_api_token_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_identity", sa.String(length=300), nullable=False),
        sa.Column("problem_type", sa.String(length=40), nullable=False),
        sa.Column("sloid", sa.String(length=100), nullable=True),
        sa.Column("osm_key", sa.String(length=40), nullable=True),
        sa.Column("decision", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("review_diff", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("verified_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_decisions_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["verified_run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_decisions_verified_run_id_pipeline_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("problem_identity", name=op.f("uq_decisions_problem_identity")),
    )
    op.create_index(op.f("ix_decisions_osm_key"), "decisions", ["osm_key"], unique=False)
    op.create_index(op.f("ix_decisions_sloid"), "decisions", ["sloid"], unique=False)
    op.create_index(op.f("ix_decisions_status"), "decisions", ["status"], unique=False)
    op.create_table(
        "manual_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sloid", sa.String(length=100), nullable=False),
        sa.Column("osm_key", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_manual_matches_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_matches")),
        sa.UniqueConstraint("sloid", "osm_key", name="uq_manual_matches_sloid_osm_key"),
    )
    op.create_index(op.f("ix_manual_matches_osm_key"), "manual_matches", ["osm_key"], unique=False)
    op.create_index(op.f("ix_manual_matches_sloid"), "manual_matches", ["sloid"], unique=False)
    op.create_table(
        "problem_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("problem_identity", sa.String(length=300), nullable=False),
        sa.Column("problem_type", sa.String(length=40), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("operator_abbr", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_problem_changes_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_changes")),
    )
    op.create_index(
        op.f("ix_problem_changes_problem_identity"), "problem_changes", ["problem_identity"], unique=False
    )
    op.create_index("ix_problem_changes_run_id_change", "problem_changes", ["run_id", "change"], unique=False)
    op.create_table(
        "decision_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("decision", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_decision_events_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_events_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_decision_events_run_id_pipeline_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_events")),
    )
    op.create_index(op.f("ix_decision_events_decision_id"), "decision_events", ["decision_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_decision_events_decision_id"), table_name="decision_events")
    op.drop_table("decision_events")
    op.drop_index("ix_problem_changes_run_id_change", table_name="problem_changes")
    op.drop_index(op.f("ix_problem_changes_problem_identity"), table_name="problem_changes")
    op.drop_table("problem_changes")
    op.drop_index(op.f("ix_manual_matches_sloid"), table_name="manual_matches")
    op.drop_index(op.f("ix_manual_matches_osm_key"), table_name="manual_matches")
    op.drop_table("manual_matches")
    op.drop_index(op.f("ix_decisions_status"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_sloid"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_osm_key"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("users")
    op.drop_table("source_states")
    op.drop_index(op.f("ix_problems_sloid"), table_name="problems")
    op.drop_index(op.f("ix_problems_problem_type"), table_name="problems")
    op.drop_index(op.f("ix_problems_priority"), table_name="problems")
    op.drop_index(op.f("ix_problems_osm_key"), table_name="problems")
    op.drop_index(op.f("ix_problems_operator_abbr"), table_name="problems")
    op.drop_geospatial_index(
        "idx_problems_geom", table_name="problems", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("problems")
    op.drop_index(op.f("ix_pipeline_runs_status"), table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
    op.drop_index(op.f("ix_osm_stops_uic_ref"), table_name="osm_stops")
    op.drop_index(op.f("ix_osm_stops_ifopt"), table_name="osm_stops")
    op.drop_geospatial_index(
        "idx_osm_stops_geom", table_name="osm_stops", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("osm_stops")
    op.drop_index(op.f("ix_matches_sloid"), table_name="matches")
    op.drop_index(op.f("ix_matches_osm_key"), table_name="matches")
    op.drop_index(op.f("ix_matches_method"), table_name="matches")
    op.drop_table("matches")
    op.drop_index(op.f("ix_atlas_stops_uic_number"), table_name="atlas_stops")
    op.drop_index(op.f("ix_atlas_stops_operator_abbr"), table_name="atlas_stops")
    op.drop_geospatial_index(
        "idx_atlas_stops_geom", table_name="atlas_stops", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("atlas_stops")
