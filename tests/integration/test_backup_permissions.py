"""Backup archives are owner-only from the moment they exist, in an owner-only folder.

The real pg_dump runs against the real PostGIS; it is started through a small wrapper that notes the
file's and the folder's modes and its own umask just before pg_dump starts and just after it ends,
i.e. while the dump is being written and before StopSync touches the file again.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from database import backup
from database.backup import create_backup, manifest_path_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def observed_pg_dump(monkeypatch, tmp_path) -> Callable[[], dict[str, str]]:
    """pg_dump wrapped so that what it saw is recorded; returns a reader of the records."""
    log = tmp_path / "pg_dump.log"
    real_pg_tool = backup.pg_tool

    def wrapped(name: str, server_major: int | None = None) -> str:
        real = real_pg_tool(name, server_major)
        if name != "pg_dump":
            return real
        script = tmp_path / "pg_dump"
        script.write_text(
            f"""#!/bin/bash
file=""
for arg in "$@"; do case "$arg" in --file=*) file="${{arg#--file=}}" ;; esac; done
[ -z "$file" ] && exec {real} "$@"
{{
  echo "umask $(umask)"
  if [ -e "$file" ]; then stat -c 'before %a' "$file"; else echo "before missing"; fi
  stat -c 'folder %a' "$(dirname "$file")"
}} >> {log}
{real} "$@"
status=$?
stat -c 'after %a' "$file" >> {log}
exit $status
"""
        )
        script.chmod(0o700)
        return str(script)

    monkeypatch.setattr(backup, "pg_tool", wrapped)

    def records() -> dict[str, str]:
        return dict(line.split(" ", 1) for line in log.read_text().splitlines())

    return records


def test_the_archive_is_owner_only_while_pg_dump_writes_it(app, stack, tmp_path, observed_pg_dump):
    archive = create_backup(stack.database_url, tmp_path / "backups", keep=2, label="test")
    seen = observed_pg_dump()
    assert seen["before"] == "600", "the file pg_dump writes into must exist, owner-only, before it starts"
    assert seen["after"] == "600", "pg_dump must not leave a world-readable file"
    assert seen["umask"] == "0077"
    assert seen["folder"] == "700"
    assert _mode(archive) == 0o600
    assert _mode(manifest_path_for(archive)) == 0o600


def test_an_existing_world_readable_backups_folder_is_made_owner_only(app, stack, tmp_path, observed_pg_dump):
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # mkdir's mode is filtered by the umask: make sure it really is 0755
    create_backup(stack.database_url, folder, keep=2, label="test")
    assert observed_pg_dump()["folder"] == "700"
    assert _mode(folder) == 0o700


def test_a_failed_dump_leaves_no_partial_file_behind(app, stack, tmp_path, monkeypatch):
    folder = tmp_path / "backups"

    def failing_tool(name: str, server_major: int | None = None) -> str:
        script = tmp_path / "failing-pg_dump"
        script.write_text("#!/bin/sh\necho 'pg_dump: error: disk full' >&2\nexit 1\n")
        script.chmod(0o700)
        return str(script)

    monkeypatch.setattr(backup, "pg_tool", failing_tool)
    with pytest.raises(backup.BackupError, match="disk full"):
        create_backup(stack.database_url, folder, keep=2, label="test")
    assert list(folder.iterdir()) == []
