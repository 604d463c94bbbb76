"""Database backups with pg_dump's custom format, written atomically (temp name, then rename)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """A backup could not be written or an archive is not usable."""


BACKUP_SUFFIX = ".dump"


def libpq_env(database_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore; the password goes through the environment."""
    url = make_url(database_url)
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return [*args, "-d", url.database or "postgres"], env


def create_backup(database_url: str, backup_dir: str | Path, keep: int = 7) -> Path:
    """Dump the database into `backup_dir`; keep the newest `keep` archives. Returns the archive path."""
    folder = Path(backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"stopsync-{stamp}{BACKUP_SUFFIX}"
    partial = folder / f".{final.name}.partial"
    args, env = libpq_env(database_url)
    result = subprocess.run(
        ["pg_dump", "-Fc", "-f", str(partial), *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    os.replace(partial, final)
    prune_backups(folder, keep)
    return final


def prune_backups(folder: Path, keep: int) -> list[Path]:
    archives = sorted(folder.glob(f"stopsync-*{BACKUP_SUFFIX}"))
    removed = archives[:-keep] if keep > 0 else []
    for path in removed:
        path.unlink()
    return removed
