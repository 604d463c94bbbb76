"""Backups against the real PostGIS: create, list, check, validate, restore, retention, pre-upgrade backup.

Every test works on scratch databases of its own (created on the harness's server, or on the CI
service container through SQL), so restoring never touches the shared test database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from database.backup import BackupError, Target, create_backup, list_backups, manifest_path_for
from database.schema import migration_heads
from devstack.services import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIRM = "--yes-i-know-this-replaces-the-database"


# --------------------------------------------------------------------------------------------
# Scratch databases
# --------------------------------------------------------------------------------------------


def _create_database(stack, name: str) -> None:
    if stack.postgres is not None:
        stack.postgres.create_database(name)
        return
    # CI service container: the harness does not own the server, but its user may create databases.
    maintenance = Target.from_url(stack.database_url_for("postgres"))
    with maintenance.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(stack, name: str) -> None:
    if stack.postgres is not None:
        stack.postgres.drop_database(name)
        return
    maintenance = Target.from_url(stack.database_url_for("postgres"))
    with maintenance.connect(autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def new_database(stack) -> Iterator[Callable[[], str]]:
    """Factory of empty scratch databases (URL), all dropped after the test."""
    names: list[str] = []

    def make() -> str:
        name = f"backup_{uuid.uuid4().hex[:10]}"
        _create_database(stack, name)
        names.append(name)
        return stack.database_url_for(name)

    yield make
    for name in names:
        _drop_database(stack, name)


@pytest.fixture
def backup_dir(tmp_path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def scratch_app(make_app, new_database, backup_dir) -> Iterator[Flask]:
    """An app whose database is a scratch one, migrated to head, and whose backups go to tmp."""
    app = make_app(DATABASE_URL=new_database(), BACKUP_DIR=str(backup_dir), BACKUP_KEEP=3)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        from database import db

        db.engine.dispose()


def database_url(app: Flask) -> str:
    return app.config["SETTINGS"].DATABASE_URL


def sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def add_user(url: str, username: str) -> None:
    sql(
        url,
        "INSERT INTO users (username, password_hash, role, is_active) "
        f"VALUES ('{username}', 'argon2-hash-of-{username}', 'editor', true)",
    )


def add_stop(url: str, stop_id: str, lon: float, lat: float) -> None:
    sql(
        url,
        "INSERT INTO registry_stops (stop_id, source, dataset, lat, lon, geom, row_hash) VALUES "
        f"('{stop_id}', 'atlas', 'service_point', {lat}, {lon}, "
        f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326), 'h')",
    )


def content(url: str) -> dict:
    """What the tests compare: users, stops with their geometry, the schema revision, the tables."""
    engine = create_engine(url)
    with engine.connect() as connection:
        state = {
            "users": connection.execute(text("SELECT username FROM users ORDER BY 1")).scalars().all(),
            "stops": connection.execute(
                text("SELECT stop_id, ST_AsText(geom) FROM registry_stops ORDER BY 1")
            ).all(),
            "revision": connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all(),
            "tables": connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            )
            .scalars()
            .all(),
        }
    engine.dispose()
    return state


def flask(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def make_backup(app: Flask) -> Path:
    result = flask(app, "backup", "create")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def seeded(app: Flask) -> str:
    url = database_url(app)
    add_user(url, "anna")
    add_user(url, "bruno")
    add_stop(url, "ch:1:sloid:7000", 8.54, 47.37)
    return url


# --------------------------------------------------------------------------------------------
# Create, restore
# --------------------------------------------------------------------------------------------


def test_backup_then_change_then_restore_brings_the_data_back(scratch_app):
    url = seeded(scratch_app)
    before = content(url)
    archive = make_backup(scratch_app)

    add_user(url, "carla")
    sql(
        url,
        "DELETE FROM users WHERE username = 'anna'",
        "UPDATE registry_stops SET geom = ST_SetSRID(ST_MakePoint(9.0, 46.0), 4326)",
        "CREATE TABLE created_after_the_backup (id int)",
    )
    assert content(url) != before

    result = flask(scratch_app, "backup", "restore", archive.name, CONFIRM)
    assert result.exit_code == 0, result.output
    assert "row counts match the manifest" in result.output
    assert "created_after_the_backup" in result.output
    assert content(url) == before


def test_manifest_records_revision_row_counts_checksum_and_tool_versions(scratch_app, backup_dir):
    seeded(scratch_app)
    archive = make_backup(scratch_app)
    manifest = json.loads(manifest_path_for(archive).read_text())

    assert manifest["alembic_revision"] == ",".join(migration_heads())
    assert manifest["tables"]["users"] == 2
    assert manifest["tables"]["registry_stops"] == 1
    assert "spatial_ref_sys" not in manifest["tables"]
    assert manifest["archive_size"] == archive.stat().st_size
    assert manifest["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["tools"]["pg_dump"].startswith("pg_dump (PostgreSQL)")
    assert set(manifest["tools"]) >= {"server", "stopsync", "python"}
    assert "postgis" in manifest["extensions"]
    assert manifest["label"] == "manual"
    # Complete files only, owner-readable only (they hold password hashes).
    assert sorted(path.name for path in backup_dir.iterdir()) == sorted(
        [archive.name, manifest_path_for(archive).name]
    )
    assert archive.stat().st_mode & 0o077 == 0
    assert manifest_path_for(archive).stat().st_mode & 0o077 == 0


def test_restore_into_an_empty_database_recreates_extensions_and_tables(scratch_app, make_app, new_database):
    url = seeded(scratch_app)
    archive = make_backup(scratch_app)
    fresh = make_app(DATABASE_URL=new_database(), BACKUP_DIR=str(archive.parent))

    result = flask(fresh, "backup", "restore", str(archive), CONFIRM)

    assert result.exit_code == 0, result.output
    assert content(database_url(fresh)) == content(url)


# --------------------------------------------------------------------------------------------
# Refusals: nothing is touched
# --------------------------------------------------------------------------------------------


def test_truncated_archive_is_refused_with_a_clear_error_and_the_database_is_untouched(scratch_app):
    url = seeded(scratch_app)
    archive = make_backup(scratch_app)
    add_user(url, "carla")
    after_change = content(url)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    for flags in (["--dry-run"], [CONFIRM]):
        result = flask(scratch_app, "backup", "restore", archive.name, *flags)
        assert result.exit_code == 1, result.output
        assert "refusing" in result.output
        assert "truncated" in result.output
    assert content(url) == after_change


def test_archive_damaged_past_its_header_is_refused_even_with_a_matching_manifest(scratch_app):
    # A manifest rewritten to match the damaged file defeats the checksum; reading the archive to the
    # end still catches it, before the database is touched.
    url = seeded(scratch_app)
    archive = make_backup(scratch_app)
    add_user(url, "carla")
    after_change = content(url)
    # Cut inside the last data block: the table of contents still reads (`pg_restore --list` passes).
    damaged = archive.read_bytes()[:-16]
    archive.write_bytes(damaged)
    manifest_path = manifest_path_for(archive)
    manifest = json.loads(manifest_path.read_text())
    manifest.update(archive_size=len(damaged), archive_sha256=hashlib.sha256(damaged).hexdigest())
    manifest_path.write_text(json.dumps(manifest))

    result = flask(scratch_app, "backup", "restore", archive.name, CONFIRM)

    assert result.exit_code == 1, result.output
    assert "cannot be read to the end" in result.output
    assert content(url) == after_change


def test_archive_without_manifest_is_refused(scratch_app):
    seeded(scratch_app)
    archive = make_backup(scratch_app)
    manifest_path_for(archive).unlink()

    result = flask(scratch_app, "backup", "restore", archive.name, "--dry-run")

    assert result.exit_code == 1
    assert "no manifest" in result.output


def test_restore_without_the_confirmation_flag_changes_nothing(scratch_app):
    url = seeded(scratch_app)
    archive = make_backup(scratch_app)
    add_user(url, "carla")
    after_change = content(url)

    result = flask(scratch_app, "backup", "restore", archive.name)

    assert result.exit_code == 2
    assert CONFIRM in result.output
    assert content(url) == after_change


def test_dry_run_validates_shows_the_plan_and_changes_nothing(scratch_app):
    url = seeded(scratch_app)
    archive = make_backup(scratch_app)
    add_user(url, "carla")
    sql(url, "CREATE TABLE created_after_the_backup (id int)")
    after_change = content(url)

    result = flask(scratch_app, "backup", "restore", archive.name, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "SHA-256 verified" in result.output
    users_line = next(line for line in result.output.splitlines() if line.strip().startswith("users "))
    assert users_line.split()[1:] == ["3", "->", "2"]
    assert "created_after_the_backup" in result.output
    assert "dropped" in result.output
    assert "nothing was changed" in result.output
    assert content(url) == after_change


# --------------------------------------------------------------------------------------------
# Retention, listing, health, failures
# --------------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_backup_keep_backups(scratch_app, backup_dir):
    made = [make_backup(scratch_app) for _ in range(5)]

    kept = list_backups(backup_dir)

    assert [backup.archive for backup in kept] == list(reversed(made[-3:]))
    assert all(backup.complete for backup in kept)
    assert sorted(path.name for path in backup_dir.iterdir()) == sorted(
        name for archive in made[-3:] for name in (archive.name, manifest_path_for(archive).name)
    )


def test_list_shows_backups_newest_first_and_flags_incomplete_and_damaged_ones(scratch_app):
    first, second, third = (make_backup(scratch_app) for _ in range(3))
    manifest_path_for(first).unlink()
    second.write_bytes(second.read_bytes()[:100])

    result = flask(scratch_app, "backup", "list", "--verify")

    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [third.name, second.name, first.name]
    assert rows[0].endswith("ok, verified")
    assert "DAMAGED" in rows[1]
    assert "INCOMPLETE" in rows[2]


def test_check_fails_without_a_recent_backup_and_passes_with_one(scratch_app):
    assert flask(scratch_app, "backup", "check").exit_code == 1
    make_backup(scratch_app)
    assert flask(scratch_app, "backup", "check").exit_code == 0
    assert flask(scratch_app, "backup", "check", "--max-age-hours", "0").exit_code == 1


def test_failed_backup_raises_a_clear_error_and_leaves_no_files(tmp_path):
    unreachable = f"postgresql+psycopg://stopsync:stopsync@127.0.0.1:{free_port()}/nowhere"

    with pytest.raises(BackupError, match="cannot connect"):
        create_backup(unreachable, tmp_path / "backups", keep=3)

    assert list((tmp_path / "backups").iterdir()) == []


# --------------------------------------------------------------------------------------------
# The migrator's pre-upgrade backup
# --------------------------------------------------------------------------------------------

PROBE_REVISION = "ffff00000001"
PROBE_MIGRATION = '''"""Test-only release: one more migration on top of the real head."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrade_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrade_probe")
'''


@pytest.fixture
def next_release(tmp_path) -> Path:
    """This checkout plus one migration: what the migrator of the next release would run."""
    code = tmp_path / "next-release"
    code.mkdir()
    for package in ("app", "migrator", "pipeline", "scheduler"):
        (code / package).symlink_to(ROOT / package, target_is_directory=True)
    shutil.copytree(ROOT / "database", code / "database", ignore=shutil.ignore_patterns("__pycache__"))
    (head,) = migration_heads()
    (code / "database" / "migrations" / "versions" / f"99991231_0000_{PROBE_REVISION}_probe.py").write_text(
        PROBE_MIGRATION.format(revision=PROBE_REVISION, down_revision=head)
    )
    return code


def test_migrator_with_backup_enabled_backs_up_a_non_empty_schema_before_upgrading(
    stack, scratch_app, next_release, backup_dir
):
    url = seeded(scratch_app)
    env = stack.base_env(DATABASE_URL=url, MIGRATOR_BACKUP="true", BACKUP_DIR=str(backup_dir))
    env.pop("PYTHONPATH", None)

    result = subprocess.run(
        [sys.executable, "-m", "migrator"],
        env=env,
        cwd=next_release,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert content(url)["revision"] == [PROBE_REVISION]
    (backup,) = list_backups(backup_dir)
    assert backup.name.endswith("-pre-upgrade.dump")
    # Taken before the upgrade: the old revision, the data, and not the table the upgrade added.
    assert backup.manifest["alembic_revision"] == ",".join(migration_heads())
    assert backup.manifest["tables"]["users"] == 2
    assert "upgrade_probe" not in backup.manifest["tables"]
    assert os.path.exists(manifest_path_for(backup.archive))
