"""Database backups: `pg_dump -Fc` archives with a manifest, written atomically, kept N deep, restorable.

A backup is two files in the backups folder:

- ``stopsync-<UTC stamp>-<label>.dump``: ``pg_dump --format=custom`` of the ``public`` schema (every
  StopSync table, sequence and index; the extensions themselves are recreated by name on restore);
- ``stopsync-<UTC stamp>-<label>.manifest.json``: when, what (Alembic revision, row count per table,
  extension versions), the archive's size and SHA-256, and the versions of the tools involved.

Both are written under hidden ``.partial`` names, flushed to disk, then renamed: the archive first,
the manifest last. A backup is complete exactly when its manifest exists, so a crash or a full disk
never leaves something that looks like a good backup. The row counts are taken inside the very
snapshot that pg_dump dumps (an exported snapshot), so they describe the archive exactly even while
the app keeps writing, and a restore can prove it put back what the backup holds.

A restore is refused unless the manifest is present, the archive's size and SHA-256 match it,
``pg_restore --list`` reads its table of contents and the whole archive reads end to end. It then runs
``pg_restore --clean --if-exists --single-transaction``: it either replaces every table or, on any
error, rolls back and leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
NAME_PREFIX = "stopsync-"
ARCHIVE_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
# Leftovers of an interrupted backup are removed by a later prune once they are this old; a younger
# one may belong to a backup that is still running (the sidecar and the migrator can overlap).
STALE_AFTER_S = 24 * 3600
SCHEMA = "public"
# Timeouts for the restore session: waiting behind a running app for a table lock must end with a
# clear error rather than hang; the restore itself may take as long as it needs.
RESTORE_PGOPTIONS = "-c lock_timeout=30s -c statement_timeout=0"
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# A table-of-contents line of `pg_restore --list`: "215; 1259 17520 TABLE public users stopsync".
_TOC_LINE = re.compile(r"^\d+; \d+ \d+ (?P<entry>.+)$")


class BackupError(RuntimeError):
    """A backup could not be written, or an archive is not fit to restore. The message says why."""


# --------------------------------------------------------------------------------------------
# Connections and tools
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a database lives, from a SQLAlchemy URL; `describe()` never shows the password."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    @classmethod
    def from_url(cls, database_url: str) -> Target:
        url = make_url(database_url)
        return cls(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname=url.database or "postgres",
        )

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            connect_timeout=10,
            application_name="stopsync-backup",
            **kwargs,
        )

    def tool_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.dbname]

    def tool_env(self, pgoptions: str | None = None) -> dict[str, str]:
        """Environment for pg_dump/pg_restore: the password travels here, never on a command line."""
        env = dict(os.environ)
        env.update({"PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "stopsync-backup"})
        if self.password:
            env["PGPASSWORD"] = self.password
        if pgoptions:
            env["PGOPTIONS"] = pgoptions
        return env


def _one(conn: psycopg.Connection[Any], query: Any) -> Any:
    """The value of a query that always answers one row (a count, SHOW, a function call)."""
    row = conn.execute(query).fetchone()
    assert row is not None, "a one-row query answered no row"
    return row[0]


def libpq_env(database_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for PostgreSQL client tools pointed at `database_url`."""
    target = Target.from_url(database_url)
    return target.tool_args(), target.tool_env()


def pg_tool(name: str, server_major: int | None = None) -> str:
    """The `pg_dump`/`pg_restore` binary to use.

    pg_dump refuses servers newer than itself and pg_restore cannot read archives written by a newer
    pg_dump, so prefer the binary of the server's major version (Debian installs each version in
    /usr/lib/postgresql/<major>/bin), then the one on PATH.
    """
    candidates = []
    if server_major is not None:
        candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin") / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found; install the PostgreSQL client (postgresql-client)")
    return found


def _run(argv: list[str], env: dict[str, str] | None = None, umask: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, umask=umask)


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _tool_version(binary: str) -> str:
    result = _run([binary, "--version"])
    return result.stdout.strip() or result.stderr.strip()


# --------------------------------------------------------------------------------------------
# Inspecting a database
# --------------------------------------------------------------------------------------------


def _user_tables(conn: psycopg.Connection) -> list[str]:
    """Tables of our schema, without those that belong to an extension (postgis' spatial_ref_sys)."""
    rows = conn.execute(
        """
        SELECT c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
          AND NOT EXISTS (
            SELECT 1 FROM pg_depend d
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
          )
        ORDER BY c.relname
        """,
        (SCHEMA,),
    ).fetchall()
    return [name for (name,) in rows]


def _row_counts(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
        counts[table] = _one(conn, query)
    return counts


def _alembic_revision(conn: psycopg.Connection, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    revisions = [row[0] for row in conn.execute("SELECT version_num FROM public.alembic_version ORDER BY 1")]
    return ",".join(revisions) or None


def _extensions(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        "SELECT e.extname, e.extversion, n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1"
    ).fetchall()
    return {name: {"version": version, "schema": schema} for name, version, schema in rows}


@dataclass(frozen=True)
class DatabaseState:
    """What a database holds right now, as far as backups are concerned."""

    server_version: str
    server_major: int
    alembic_revision: str | None
    tables: dict[str, int]
    extensions: dict[str, dict[str, str]]


def inspect_database(database_url: str) -> DatabaseState:
    """Revision, row count per table and extensions of the database at `database_url`."""
    target = Target.from_url(database_url)
    try:
        with target.connect() as conn:
            tables = _user_tables(conn)
            return DatabaseState(
                server_version=_one(conn, "SHOW server_version"),
                server_major=conn.info.server_version // 10000,
                alembic_revision=_alembic_revision(conn, tables),
                tables=_row_counts(conn, tables),
                extensions=_extensions(conn),
            )
    except psycopg.OperationalError as exc:
        raise BackupError(f"cannot connect to {target.describe()}: {_tail(str(exc), 2)}") from None


# --------------------------------------------------------------------------------------------
# The backups folder
# --------------------------------------------------------------------------------------------


def manifest_path_for(archive: Path) -> Path:
    return archive.with_name(archive.name.removesuffix(ARCHIVE_SUFFIX) + MANIFEST_SUFFIX)


@dataclass(frozen=True)
class Backup:
    """One archive in the backups folder and its manifest (None: missing or unreadable)."""

    archive: Path
    manifest: dict[str, Any] | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.archive.name

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def created_at(self) -> dt.datetime | None:
        if self.manifest is None:
            return None
        return dt.datetime.fromisoformat(self.manifest["created_at"])


def _read_manifest(archive: Path) -> tuple[dict[str, Any] | None, str | None]:
    path = manifest_path_for(archive)
    if not path.exists():
        return None, f"no manifest ({path.name} is missing): incomplete or not written by StopSync"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"manifest {path.name} is unreadable: {exc}"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None, f"manifest {path.name} has an unknown format (expected format {MANIFEST_FORMAT})"
    missing = {"created_at", "archive_sha256", "archive_size", "tables"} - set(manifest)
    if missing:
        return None, f"manifest {path.name} lacks {', '.join(sorted(missing))}"
    return manifest, None


def list_backups(backup_dir: str | Path) -> list[Backup]:
    """Every archive in `backup_dir`, newest first (names start with a UTC timestamp)."""
    folder = Path(backup_dir)
    if not folder.is_dir():
        return []
    backups = []
    for archive in sorted(folder.glob(f"{NAME_PREFIX}*{ARCHIVE_SUFFIX}"), reverse=True):
        manifest, problem = _read_manifest(archive)
        backups.append(Backup(archive, manifest, problem))
    return backups


def prune_backups(folder: str | Path, keep: int, now: float | None = None) -> list[Path]:
    """Keep the newest `keep` complete backups; delete older ones and stale leftovers. Returns what went."""
    if keep < 1:
        raise BackupError(f"keep must be at least 1, not {keep}")
    folder = Path(folder)
    now = time.time() if now is None else now
    removed: list[Path] = []

    def stale(path: Path) -> bool:
        try:
            return now - path.stat().st_mtime > STALE_AFTER_S
        except FileNotFoundError:
            return False

    complete = [backup for backup in list_backups(folder) if backup.complete]
    for backup in complete[keep:]:
        # Manifest first: should we stop half-way, what remains is an incomplete backup, never a
        # manifest that vouches for a missing archive.
        for path in (manifest_path_for(backup.archive), backup.archive):
            path.unlink(missing_ok=True)
            removed.append(path)
    for backup in list_backups(folder):
        if not backup.complete and stale(backup.archive):
            backup.archive.unlink(missing_ok=True)
            removed.append(backup.archive)
    for manifest in folder.glob(f"{NAME_PREFIX}*{MANIFEST_SUFFIX}"):
        archive = manifest.with_name(manifest.name.removesuffix(MANIFEST_SUFFIX) + ARCHIVE_SUFFIX)
        if not archive.exists() and stale(manifest):
            manifest.unlink(missing_ok=True)
            removed.append(manifest)
    for partial in folder.glob(f".{NAME_PREFIX}*{PARTIAL_SUFFIX}"):
        if stale(partial):
            partial.unlink(missing_ok=True)
            removed.append(partial)
    for path in removed:
        logger.info("retention: removed %s", path.name)
    return removed


# --------------------------------------------------------------------------------------------
# Creating a backup
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# Archives hold password hashes and token digests: owner-only from the first byte, in an owner-only
# folder. pg_dump runs with this umask too, should it ever replace the file it was given.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
PRIVATE_UMASK = 0o077


def _private_folder(folder: Path) -> None:
    """Create `folder` owner-only, or make an existing one so (a Docker volume starts out 0755)."""
    folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        try:
            folder.chmod(PRIVATE_DIR_MODE)
        except PermissionError:
            # Not ours to change: the files themselves are still created owner-only.
            logger.warning("backups folder %s is readable by others and not ours to chmod", folder)


def _create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 before anything is written to it (never an existing file)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    os.close(descriptor)


def _stopsync_version() -> str:
    try:
        return metadata.version("stopsync")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def _exported_snapshot(target: Target) -> Iterator[tuple[psycopg.Connection, str]]:
    """A read-only repeatable-read transaction whose snapshot pg_dump can share (`--snapshot`)."""
    with target.connect() as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = _one(conn, "SELECT pg_export_snapshot()")
            yield conn, snapshot


def create_backup(database_url: str, backup_dir: str | Path, keep: int = 7, label: str = "manual") -> Path:
    """Dump the database into `backup_dir` with its manifest; keep the newest `keep`. Returns the archive.

    Raises BackupError (and leaves no partial file behind) when the dump cannot be written.
    """
    if not LABEL_PATTERN.match(label):
        raise BackupError(f"backup label must be lower-case letters, digits and dashes, not {label!r}")
    if keep < 1:
        raise BackupError(f"keep must be at least 1, not {keep}")
    folder = Path(backup_dir)
    _private_folder(folder)
    created = dt.datetime.now(dt.UTC)
    stem = f"{NAME_PREFIX}{created.strftime('%Y%m%dT%H%M%S%fZ')}-{label}"
    archive = folder / f"{stem}{ARCHIVE_SUFFIX}"
    manifest_path = folder / f"{stem}{MANIFEST_SUFFIX}"
    partial_archive = folder / f".{archive.name}{PARTIAL_SUFFIX}"
    partial_manifest = folder / f".{manifest_path.name}{PARTIAL_SUFFIX}"
    target = Target.from_url(database_url)
    started = time.monotonic()
    try:
        _create_private(partial_archive)
    except FileExistsError:
        # Never ours to delete: another backup started in the same microsecond with the same label.
        raise BackupError(f"{partial_archive.name} already exists; try again") from None
    try:
        manifest = _dump(target, partial_archive, created, label)
        manifest["archive"] = archive.name
        manifest["duration_s"] = round(time.monotonic() - started, 3)
        _create_private(partial_manifest)
        partial_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fsync_file(partial_manifest)
        os.replace(partial_archive, archive)
        os.replace(partial_manifest, manifest_path)
        _fsync_dir(folder)
    except psycopg.OperationalError as exc:
        raise BackupError(f"cannot connect to {target.describe()}: {_tail(str(exc), 2)}") from None
    finally:
        partial_archive.unlink(missing_ok=True)
        partial_manifest.unlink(missing_ok=True)
    logger.info(
        "backup %s written: %d bytes, %d rows in %d tables, revision %s",
        archive.name,
        manifest["archive_size"],
        sum(manifest["tables"].values()),
        len(manifest["tables"]),
        manifest["alembic_revision"],
    )
    prune_backups(folder, keep)
    return archive


def _dump(target: Target, partial_archive: Path, created: dt.datetime, label: str) -> dict[str, Any]:
    """pg_dump into `partial_archive` inside an exported snapshot; returns the manifest (no name yet)."""
    with _exported_snapshot(target) as (conn, snapshot):
        server_major = conn.info.server_version // 10000
        pg_dump = pg_tool("pg_dump", server_major)
        options = [
            "--format=custom",
            f"--schema={SCHEMA}",
            # Rows postgis ships with; a restore recreates the extension, which brings them back.
            f"--exclude-table-data={SCHEMA}.spatial_ref_sys",
            "--lock-wait-timeout=60s",
        ]
        # pg_dump opens the file it is given for writing, which keeps its 0600 mode.
        result = _run(
            [pg_dump, *options, f"--snapshot={snapshot}", f"--file={partial_archive}", *target.tool_args()],
            env=target.tool_env(),
            umask=PRIVATE_UMASK,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {_tail(result.stderr)}")
        partial_archive.chmod(PRIVATE_FILE_MODE)
        _fsync_file(partial_archive)
        tables = _user_tables(conn)
        counts = _row_counts(conn, tables)
        revision = _alembic_revision(conn, tables)
        extensions = _extensions(conn)
        server_version = _one(conn, "SHOW server_version")
    return {
        "format": MANIFEST_FORMAT,
        "created_at": created.isoformat(),
        "label": label,
        "database": {"host": target.host, "port": target.port, "name": target.dbname},
        "alembic_revision": revision,
        "tables": counts,
        "total_rows": sum(counts.values()),
        "extensions": extensions,
        "archive_size": partial_archive.stat().st_size,
        "archive_sha256": _sha256(partial_archive),
        "pg_dump_options": options,
        "tools": {
            "pg_dump": _tool_version(pg_dump),
            "server": server_version,
            "stopsync": _stopsync_version(),
            "python": platform.python_version(),
        },
    }


# --------------------------------------------------------------------------------------------
# Validating and restoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedArchive:
    """An archive whose manifest, checksum and contents were checked."""

    archive: Path
    manifest: dict[str, Any]
    toc: list[str]  # `pg_restore --list` lines, comments removed

    @property
    def tables(self) -> dict[str, int]:
        return dict(self.manifest["tables"])


def verify_archive(archive: str | Path, server_major: int | None = None) -> VerifiedArchive:
    """Check everything that can be checked without touching a database; BackupError says what failed."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such archive")
    manifest, problem = _read_manifest(archive)
    if manifest is None:
        raise BackupError(f"refusing {archive.name}: {problem}")
    size = archive.stat().st_size
    if size != manifest["archive_size"]:
        raise BackupError(
            f"refusing {archive.name}: it is {size} bytes but its manifest recorded "
            f"{manifest['archive_size']}; the archive is truncated or damaged"
        )
    checksum = _sha256(archive)
    if checksum != manifest["archive_sha256"]:
        raise BackupError(
            f"refusing {archive.name}: its SHA-256 is {checksum} but its manifest recorded "
            f"{manifest['archive_sha256']}; the archive is damaged"
        )
    pg_restore = pg_tool("pg_restore", server_major)
    listing = _run([pg_restore, "--list", str(archive)])
    if listing.returncode != 0:
        raise BackupError(f"refusing {archive.name}: pg_restore cannot read it: {_tail(listing.stderr)}")
    # --list reads only the table of contents; converting the whole archive to SQL (thrown away)
    # reads every data block, so damage past the header is caught before we touch the database.
    full_read = _run([pg_restore, "--file=/dev/null", str(archive)])
    if full_read.returncode != 0:
        raise BackupError(
            f"refusing {archive.name}: its data cannot be read to the end: {_tail(full_read.stderr)}"
        )
    toc = [line for line in listing.stdout.splitlines() if line.strip() and not line.startswith(";")]
    return VerifiedArchive(archive, manifest, toc)


def restorable_toc(toc: list[str]) -> list[str]:
    """The archive's entries minus those a restore must not replay.

    The public schema itself and the extensions stay as they are: dropping them would take every
    object of every extension with it. The restore creates the archive's extensions beforehand.
    """
    kept = []
    for line in toc:
        match = _TOC_LINE.match(line)
        entry = match.group("entry") if match else line
        if entry.startswith(
            ("SCHEMA - public", "COMMENT - SCHEMA public", "EXTENSION ", "COMMENT - EXTENSION")
        ):
            continue
        kept.append(line)
    return kept


@dataclass(frozen=True)
class RestorePlan:
    """What a restore of `verified` into the target database would do."""

    verified: VerifiedArchive
    target: str
    current: DatabaseState
    code_heads: tuple[str, ...]
    extensions_to_create: list[str] = field(default_factory=list)

    @property
    def tables_to_drop(self) -> list[str]:
        """Tables the database has and the archive does not (created after the backup)."""
        return sorted(set(self.current.tables) - set(self.verified.tables))

    def describe(self) -> list[str]:
        manifest = self.verified.manifest
        archive_rev = manifest.get("alembic_revision") or "none"
        lines = [
            f"archive:  {self.verified.archive.name} ({manifest['archive_size']} bytes, SHA-256 verified, "
            f"{len(self.verified.toc)} entries, reads end to end)",
            f"created:  {manifest['created_at']} ({manifest.get('label', '?')}), "
            f"by {manifest.get('tools', {}).get('pg_dump', 'pg_dump')}",
            f"schema:   archive at revision {archive_rev}; database at "
            f"{self.current.alembic_revision or 'none'}; this code expects {', '.join(self.code_heads)}",
            f"target:   {self.target} (PostgreSQL {self.current.server_version})",
            "tables:   rows now -> rows after restore",
        ]
        for table in sorted(set(self.verified.tables) | set(self.current.tables)):
            now = self.current.tables.get(table)
            after = self.verified.tables.get(table)
            now_text = "-" if now is None else str(now)
            after_text = "dropped" if after is None else str(after)
            lines.append(f"  {table:<24} {now_text:>10} -> {after_text}")
        if archive_rev != "none" and archive_rev not in self.code_heads:
            lines.append(
                f"note:     the archive's revision {archive_rev} is not this code's head; run the migrator "
                "afterwards (older archive) or restore with the release that wrote it (newer archive)"
            )
        if self.extensions_to_create:
            lines.append(f"creates:  extensions {', '.join(self.extensions_to_create)}")
        return lines


def plan_restore(database_url: str, archive: str | Path) -> RestorePlan:
    """Validate `archive` and compare it with the database; changes nothing."""
    from database.schema import migration_heads

    current = inspect_database(database_url)
    verified = verify_archive(archive, current.server_major)
    wanted = verified.manifest.get("extensions", {})
    to_create = sorted(
        name
        for name, info in wanted.items()
        if info.get("schema") == SCHEMA and name not in current.extensions
    )
    return RestorePlan(
        verified=verified,
        target=Target.from_url(database_url).describe(),
        current=current,
        code_heads=migration_heads(),
        extensions_to_create=to_create,
    )


@dataclass(frozen=True)
class RestoreResult:
    archive: Path
    tables: dict[str, int]
    dropped_tables: list[str]
    duration_s: float


def restore_backup(database_url: str, archive: str | Path) -> RestoreResult:
    """Replace the database's tables with the archive's, in one transaction. Validates first.

    Stop the app and the scheduler before: the restore takes every table's lock and waits for
    them at most 30 s (then fails and changes nothing).
    """
    started = time.monotonic()
    plan = plan_restore(database_url, archive)
    target = Target.from_url(database_url)
    verified = plan.verified
    if plan.extensions_to_create:
        with target.connect(autocommit=True) as conn:
            for name in plan.extensions_to_create:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    pg_restore = pg_tool("pg_restore", plan.current.server_major)
    with tempfile.NamedTemporaryFile("w", prefix="stopsync-restore-", suffix=".list") as listing:
        listing.write("\n".join(restorable_toc(verified.toc)) + "\n")
        listing.flush()
        result = _run(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                f"--use-list={listing.name}",
                *target.tool_args(),
                str(verified.archive),
            ],
            env=target.tool_env(RESTORE_PGOPTIONS),
        )
    if result.returncode != 0:
        raise BackupError(
            f"restore of {verified.archive.name} failed and was rolled back; the database is as it was: "
            f"{_tail(result.stderr)}"
        )
    dropped = _drop_tables(target, plan.tables_to_drop)
    after = inspect_database(database_url)
    if after.tables != verified.tables:
        differing = sorted(
            table
            for table in set(after.tables) | set(verified.tables)
            if after.tables.get(table) != verified.tables.get(table)
        )
        raise BackupError(
            f"restored {verified.archive.name}, but row counts differ from its manifest: {differing}"
        )
    duration = round(time.monotonic() - started, 3)
    logger.info("restored %s into %s in %.1f s", verified.archive.name, plan.target, duration)
    return RestoreResult(verified.archive, after.tables, dropped, duration)


def _drop_tables(target: Target, tables: list[str]) -> list[str]:
    """Drop tables that came after the backup, so a later migrator run can create them again."""
    if not tables:
        return []
    with target.connect() as conn, conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '30s'")
        for table in tables:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(
                    sql.Identifier(SCHEMA), sql.Identifier(table)
                )
            )
            logger.info("dropped table %s: it is not in the archive (created after the backup)", table)
    return tables
