"""Backup folder rules that need no database: retention, leftovers, what a restore replays."""

from __future__ import annotations

import json
import os
import time

import pytest

from app.config import ConfigError, load_settings
from database.backup import (
    STALE_AFTER_S,
    BackupError,
    list_backups,
    manifest_path_for,
    prune_backups,
    restorable_toc,
)


def fake_backup(folder, stamp: str, complete: bool = True):
    archive = folder / f"stopsync-{stamp}-manual.dump"
    archive.write_bytes(b"PGDMP fake")
    if complete:
        manifest = {"format": 1, "created_at": "2026-11-24T00:00:00+00:00", "archive_sha256": "0" * 64}
        manifest.update(archive_size=10, tables={})
        manifest_path_for(archive).write_text(json.dumps(manifest))
    return archive


def age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_prune_keeps_the_newest_complete_backups_and_deletes_older_ones_with_their_manifests(tmp_path):
    archives = [fake_backup(tmp_path, f"2026112{day}T000000000000Z") for day in range(5)]

    prune_backups(tmp_path, keep=2)

    assert [backup.archive for backup in list_backups(tmp_path)] == [archives[4], archives[3]]
    assert not manifest_path_for(archives[0]).exists()


def test_incomplete_backups_do_not_count_and_go_only_once_stale(tmp_path):
    complete = fake_backup(tmp_path, "20261120T000000000000Z")
    fresh_incomplete = fake_backup(tmp_path, "20261121T000000000000Z", complete=False)
    stale_incomplete = fake_backup(tmp_path, "20261119T000000000000Z", complete=False)
    age(stale_incomplete, STALE_AFTER_S + 60)

    prune_backups(tmp_path, keep=1)

    assert complete.exists()
    assert fresh_incomplete.exists()  # may be a backup still being renamed into place
    assert not stale_incomplete.exists()


def test_partial_files_of_a_running_backup_survive_and_stale_ones_are_removed(tmp_path):
    running = tmp_path / ".stopsync-20261124T000000000000Z-manual.dump.partial"
    crashed = tmp_path / ".stopsync-20261101T000000000000Z-manual.dump.partial"
    running.write_bytes(b"x")
    crashed.write_bytes(b"x")
    age(crashed, STALE_AFTER_S + 60)

    prune_backups(tmp_path, keep=1)

    assert running.exists()
    assert not crashed.exists()


def test_list_ignores_partial_files_and_reports_missing_manifests(tmp_path):
    fake_backup(tmp_path, "20261120T000000000000Z", complete=False)
    (tmp_path / ".stopsync-20261121T000000000000Z-manual.dump.partial").write_bytes(b"x")

    (backup,) = list_backups(tmp_path)

    assert not backup.complete
    assert "no manifest" in backup.problem


def test_keep_below_one_is_refused(tmp_path):
    with pytest.raises(BackupError, match="at least 1"):
        prune_backups(tmp_path, keep=0)
    with pytest.raises(ConfigError, match="BACKUP_KEEP"):
        load_settings({}, STOPSYNC_ENV="test", BACKUP_KEEP=0)


def test_restore_replays_neither_the_public_schema_nor_the_extensions():
    toc = [
        "7; 2615 2200 SCHEMA - public pg_database_owner",
        "4455; 0 0 COMMENT - SCHEMA public pg_database_owner",
        "2; 3079 16385 EXTENSION - postgis ",
        "4456; 0 0 COMMENT - EXTENSION postgis ",
        "215; 1259 17520 TABLE public users stopsync",
        "4300; 0 17520 TABLE DATA public users stopsync",
        "4301; 2606 17673 CONSTRAINT public users pk_users stopsync",
    ]

    assert restorable_toc(toc) == toc[4:]
