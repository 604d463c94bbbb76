"""Registry stops keyed by (source, stop_id): `atlas_stops` becomes `registry_stops`.

Revision ID: 5b7d2e9a4c18
Revises: 9c4e1d7a2b58
Create Date: 2026-11-30 04:00:00

A registry is a plug-in (issue 12): the snapshot's registry table, and every table that names a
registry stop, carry the pair (`source`, `stop_id`) instead of an ATLAS sloid. Expand, copy, contract,
in one transaction:

1. expand: create `registry_stops` in its new shape; add `source` + `stop_id` beside `sloid` in
   `matches`, `problems`, `decisions`, `manual_matches`; `operator_code` beside `operator_abbr`;
   `registry_stop_id` beside `gtfs_route_stops.sloid`;
2. copy the Swiss data: every ATLAS row becomes `source='atlas'` (the UIC number as decimal text,
   `atlas:traffic_points` → dataset `traffic_points`); the evidence a decision or a manual link holds
   about its registry stop gets the new key names, so a decision's review keeps comparing like with
   like;
3. contract: drop `atlas_stops` and the old columns.

Problem identities (`<type>:<sloid>:<osm key>`) are not touched: an ATLAS stop's `stop_id` is its
sloid, so every decision and problem change recorded before still names the same problem.
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "5b7d2e9a4c18"
down_revision = "9c4e1d7a2b58"
branch_labels = None
depends_on = None

# Old → new key names inside the registry side (`evidence->'atlas'`) of decisions and manual links.
EVIDENCE_KEYS = (
    ("sloid", "stop_id"),
    ("uic_number", "code"),
    ("designation", "platform_code"),
    ("designation_official", "name"),
    ("operator_abbr", "operator_code"),
    ("means_of_transport", "modes"),
)
# Tables naming a registry stop: (table, whether the stop may be absent, old index to drop).
REFERRING = (
    ("matches", False, "ix_matches_sloid"),
    ("problems", True, "ix_problems_sloid"),
    ("decisions", True, "ix_decisions_sloid"),
    ("manual_matches", False, "ix_manual_matches_sloid"),
)


def _rename_evidence_keys(table: str, pairs: tuple[tuple[str, str], ...]) -> None:
    """Rename keys of `evidence->'atlas'` in `table` (a JSON object, or null/absent: left alone).
    The UIC number moves from a JSON number to decimal text, as the `code` column holds it."""
    for old, new in pairs:
        text_value = f"evidence->'atlas'->>'{old}'"
        if new == "code":
            value = f"to_jsonb({text_value})"
        elif new == "uic_number":
            value = f"CASE WHEN {text_value} ~ '^[0-9]{{1,9}}$' THEN to_jsonb(({text_value})::integer) END"
        else:
            value = f"evidence->'atlas'->'{old}'"
        op.execute(
            f"""
            UPDATE {table}
               SET evidence = jsonb_set(evidence, '{{atlas}}',
                                        ((evidence->'atlas') - '{old}'::text)
                                        || jsonb_build_object('{new}', {value}))
             WHERE jsonb_typeof(evidence->'atlas') = 'object' AND (evidence->'atlas') ? '{old}'
            """
        )


def upgrade() -> None:
    # 1. expand
    op.create_table(
        "registry_stops",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("stop_id", sa.String(length=100), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("platform_code", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_fold", sa.Text(), sa.Computed("stopsync_fold(name)", persisted=True), nullable=True),
        sa.Column("operator_code", sa.String(length=60), nullable=True),
        sa.Column("operator_name", sa.String(length=200), nullable=True),
        sa.Column("modes", sa.String(length=200), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=40), nullable=True),
        sa.Column("parent_id", sa.String(length=100), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source", "stop_id", name=op.f("pk_registry_stops")),
    )
    op.create_index("idx_registry_stops_geom", "registry_stops", ["geom"], postgresql_using="gist")
    op.create_index(op.f("ix_registry_stops_code"), "registry_stops", ["code"])
    op.create_index(op.f("ix_registry_stops_operator_code"), "registry_stops", ["operator_code"])
    op.create_index(
        "ix_registry_stops_name_fold_trgm",
        "registry_stops",
        ["name_fold"],
        postgresql_using="gin",
        postgresql_ops={"name_fold": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_registry_stops_name_fold_prefix",
        "registry_stops",
        ["name_fold"],
        postgresql_ops={"name_fold": "text_pattern_ops"},
    )
    op.create_index(
        "ix_registry_stops_stop_id_pattern",
        "registry_stops",
        ["stop_id"],
        postgresql_ops={"stop_id": "varchar_pattern_ops"},
    )
    for table, _, _ in REFERRING:
        op.add_column(table, sa.Column("source", sa.String(length=40), nullable=True))
        op.add_column(table, sa.Column("stop_id", sa.String(length=100), nullable=True))
    for table in ("problems", "problem_changes"):
        op.add_column(table, sa.Column("operator_code", sa.String(length=60), nullable=True))
    op.add_column("gtfs_route_stops", sa.Column("registry_stop_id", sa.String(length=100), nullable=True))

    # 2. copy
    op.execute(
        """
        INSERT INTO registry_stops (source, stop_id, dataset, code, platform_code, name, operator_code,
                                    operator_name, modes, country_code, region, parent_id, valid_from,
                                    valid_to, lat, lon, geom, row_hash)
        SELECT 'atlas', sloid, regexp_replace(source, '^atlas:', ''), uic_number::text, designation,
               designation_official, operator_abbr, operator_name, means_of_transport, country_code, canton,
               parent_sloid, valid_from, valid_to, lat, lon, geom, row_hash
        FROM atlas_stops
        """
    )
    for table, _, _ in REFERRING:
        op.execute(
            f"UPDATE {table} SET stop_id = sloid, source = CASE WHEN sloid IS NULL THEN NULL ELSE 'atlas' END"
        )
    for table in ("problems", "problem_changes"):
        op.execute(f"UPDATE {table} SET operator_code = operator_abbr")
    op.execute("UPDATE gtfs_route_stops SET registry_stop_id = sloid")
    for table in ("decisions", "manual_matches"):
        _rename_evidence_keys(table, EVIDENCE_KEYS)

    # 3. contract
    for table, nullable, _ in REFERRING:
        if not nullable:
            op.alter_column(table, "source", nullable=False)
            op.alter_column(table, "stop_id", nullable=False)
        op.create_index(op.f(f"ix_{table}_stop_id"), table, ["stop_id"])
    op.drop_constraint("uq_manual_matches_sloid_osm_key", "manual_matches", type_="unique")
    op.create_unique_constraint(
        "uq_manual_matches_source_stop_id_osm_key", "manual_matches", ["source", "stop_id", "osm_key"]
    )
    for table, _, old_index in REFERRING:
        op.drop_index(old_index, table_name=table)
        op.drop_column(table, "sloid")
    op.drop_index("ix_problems_operator_abbr", table_name="problems")
    op.create_index(op.f("ix_problems_operator_code"), "problems", ["operator_code"])
    for table in ("problems", "problem_changes"):
        op.drop_column(table, "operator_abbr")
    op.drop_index("ix_gtfs_route_stops_sloid", table_name="gtfs_route_stops")
    op.create_index(op.f("ix_gtfs_route_stops_registry_stop_id"), "gtfs_route_stops", ["registry_stop_id"])
    op.drop_column("gtfs_route_stops", "sloid")
    op.drop_table("atlas_stops")


def downgrade() -> None:
    """Back to `atlas_stops`. Only ATLAS rows fit the old shape: another registry's rows, matches,
    problems and manual links are dropped (the next run of the old version rebuilds the snapshot)."""
    op.create_table(
        "atlas_stops",
        sa.Column("sloid", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("uic_number", sa.Integer(), nullable=True),
        sa.Column("designation", sa.String(length=100), nullable=True),
        sa.Column("designation_official", sa.String(length=200), nullable=True),
        sa.Column(
            "name_fold",
            sa.Text(),
            sa.Computed("stopsync_fold(designation_official)", persisted=True),
            nullable=True,
        ),
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
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sloid", name=op.f("pk_atlas_stops")),
    )
    op.create_index("idx_atlas_stops_geom", "atlas_stops", ["geom"], postgresql_using="gist")
    op.create_index(op.f("ix_atlas_stops_operator_abbr"), "atlas_stops", ["operator_abbr"])
    op.create_index(op.f("ix_atlas_stops_uic_number"), "atlas_stops", ["uic_number"])
    op.create_index(
        "ix_atlas_stops_name_fold_trgm",
        "atlas_stops",
        ["name_fold"],
        postgresql_using="gin",
        postgresql_ops={"name_fold": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_atlas_stops_name_fold_prefix",
        "atlas_stops",
        ["name_fold"],
        postgresql_ops={"name_fold": "text_pattern_ops"},
    )
    op.create_index(
        "ix_atlas_stops_sloid_pattern",
        "atlas_stops",
        ["sloid"],
        postgresql_ops={"sloid": "varchar_pattern_ops"},
    )
    op.execute(
        """
        INSERT INTO atlas_stops (sloid, source, uic_number, designation, designation_official, operator_abbr,
                                 operator_name, means_of_transport, country_code, canton, parent_sloid,
                                 valid_from, valid_to, lat, lon, geom, row_hash)
        SELECT stop_id, 'atlas:' || dataset, CASE WHEN code ~ '^[0-9]{1,9}$' THEN code::integer END,
               platform_code, name, operator_code, operator_name, modes, country_code, left(region, 4),
               parent_id, valid_from, valid_to, lat, lon, geom, row_hash
        FROM registry_stops WHERE source = 'atlas'
        """
    )
    for table in ("matches", "manual_matches"):
        op.execute(f"DELETE FROM {table} WHERE source <> 'atlas'")
    op.execute("DELETE FROM problems WHERE source IS NOT NULL AND source <> 'atlas'")
    for table, nullable, old_index in REFERRING:
        op.add_column(table, sa.Column("sloid", sa.String(length=100), nullable=True))
        op.execute(f"UPDATE {table} SET sloid = stop_id")
        if not nullable:
            op.alter_column(table, "sloid", nullable=False)
        op.create_index(old_index, table, ["sloid"])
    op.drop_constraint("uq_manual_matches_source_stop_id_osm_key", "manual_matches", type_="unique")
    op.create_unique_constraint("uq_manual_matches_sloid_osm_key", "manual_matches", ["sloid", "osm_key"])
    for table, _, _ in REFERRING:
        op.drop_index(op.f(f"ix_{table}_stop_id"), table_name=table)
        op.drop_column(table, "stop_id")
        op.drop_column(table, "source")
    for table in ("problems", "problem_changes"):
        op.add_column(table, sa.Column("operator_abbr", sa.String(length=60), nullable=True))
        op.execute(f"UPDATE {table} SET operator_abbr = operator_code")
    op.drop_index(op.f("ix_problems_operator_code"), table_name="problems")
    op.create_index("ix_problems_operator_abbr", "problems", ["operator_abbr"])
    for table in ("problems", "problem_changes"):
        op.drop_column(table, "operator_code")
    op.add_column("gtfs_route_stops", sa.Column("sloid", sa.String(length=100), nullable=True))
    op.execute("UPDATE gtfs_route_stops SET sloid = registry_stop_id")
    op.drop_index(op.f("ix_gtfs_route_stops_registry_stop_id"), table_name="gtfs_route_stops")
    op.create_index("ix_gtfs_route_stops_sloid", "gtfs_route_stops", ["sloid"])
    op.drop_column("gtfs_route_stops", "registry_stop_id")
    for table in ("decisions", "manual_matches"):
        _rename_evidence_keys(table, tuple((new, old) for old, new in EVIDENCE_KEYS))
    op.drop_table("registry_stops")
