"""`flask backup ...`: create, list, check, restore database backups, and the backup sidecar's schedule.

The logic lives in `database/backup.py` (shared with the migrator's pre-upgrade backup); these
commands only read the settings, print, and turn errors into exit codes.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.config import Settings
from database.backup import (
    LABEL_PATTERN,
    Backup,
    BackupError,
    create_backup,
    list_backups,
    plan_restore,
    restore_backup,
    verify_archive,
)

logger = logging.getLogger(__name__)

CONFIRM_FLAG = "--yes-i-know-this-replaces-the-database"

backup_cli = AppGroup(
    "backup", help="Database backups: pg_dump archives with a manifest, in BACKUP_DIR, BACKUP_KEEP deep."
)


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _age_hours(backup: Backup, now: dt.datetime) -> float | None:
    created = backup.created_at
    return None if created is None else (now - created).total_seconds() / 3600


def _resolve_archive(name: str) -> Path:
    """A path as given, or else a file name inside BACKUP_DIR (what `flask backup list` prints)."""
    path = Path(name)
    if path.exists():
        return path
    in_folder = Path(_settings().BACKUP_DIR) / name
    return in_folder if in_folder.exists() else path


@backup_cli.command("create")
@click.option(
    "--keep", type=click.IntRange(min=1), default=None, help="Backups to keep [default: BACKUP_KEEP]."
)
@click.option("--label", default="manual", show_default=True, help="Word in the file name (a-z, 0-9, -).")
def create_command(keep: int | None, label: str) -> None:
    """Dump the database (pg_dump -Fc) with a manifest into BACKUP_DIR, then apply retention."""
    settings = _settings()
    if not LABEL_PATTERN.match(label):
        raise click.BadParameter("lower-case letters, digits and dashes only", param_hint="--label")
    try:
        archive = create_backup(
            settings.DATABASE_URL, settings.BACKUP_DIR, keep=keep or settings.BACKUP_KEEP, label=label
        )
    except BackupError as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    click.echo(str(archive))


@backup_cli.command("list")
@click.option(
    "--verify", is_flag=True, help="Also check every archive against its manifest (reads them all)."
)
def list_command(verify: bool) -> None:
    """List the backups in BACKUP_DIR, newest first."""
    backups = list_backups(_settings().BACKUP_DIR)
    if not backups:
        click.echo(f"no backups in {_settings().BACKUP_DIR}")
        return
    click.echo(f"{'NAME':<48} {'CREATED (UTC)':<19} {'SIZE':>10} {'REVISION':<14} {'ROWS':>9}  STATUS")
    for backup in backups:
        manifest = backup.manifest or {}
        created = backup.created_at.strftime("%Y-%m-%d %H:%M:%S") if backup.created_at else "-"
        size = _human_size(backup.archive.stat().st_size)
        status = "ok" if backup.complete else f"INCOMPLETE: {backup.problem}"
        if verify and backup.complete:
            try:
                verify_archive(backup.archive)
                status = "ok, verified"
            except BackupError as exc:
                status = f"DAMAGED: {exc}"
        click.echo(
            f"{backup.name:<48} {created:<19} {size:>10} {manifest.get('alembic_revision') or '-':<14} "
            f"{manifest.get('total_rows', '-'):>9}  {status}"
        )


@backup_cli.command("check")
@click.option("--max-age-hours", type=float, default=26.0, show_default=True)
def check_command(max_age_hours: float) -> None:
    """Exit 0 when the newest complete backup is younger than --max-age-hours (sidecar healthcheck)."""
    now = dt.datetime.now(dt.UTC)
    complete = [backup for backup in list_backups(_settings().BACKUP_DIR) if backup.complete]
    if not complete:
        raise click.ClickException(f"no complete backup in {_settings().BACKUP_DIR}")
    age = _age_hours(complete[0], now) or 0.0
    if age > max_age_hours:
        raise click.ClickException(
            f"newest backup {complete[0].name} is {age:.1f} h old (limit {max_age_hours} h)"
        )
    click.echo(f"newest backup {complete[0].name} is {age:.1f} h old")


@backup_cli.command("restore")
@click.argument("archive")
@click.option(
    "--dry-run", is_flag=True, help="Validate the archive and show what would change; change nothing."
)
@click.option(CONFIRM_FLAG, "confirmed", is_flag=True, help="Required to actually restore.")
def restore_command(archive: str, dry_run: bool, confirmed: bool) -> None:
    """Replace the configured database's tables with ARCHIVE's (a path or a name from `list`).

    The archive is validated first: manifest present, size and SHA-256 as recorded, readable by
    pg_restore to the end. Stop the app and the scheduler before a real restore.
    """
    if not dry_run and not confirmed:
        raise click.UsageError(
            f"a restore replaces every table of the configured database; run with --dry-run to see what "
            f"would change, then again with {CONFIRM_FLAG} to do it"
        )
    settings = _settings()
    path = _resolve_archive(archive)
    try:
        plan = plan_restore(settings.DATABASE_URL, path)
        for line in plan.describe():
            click.echo(line)
        if dry_run:
            click.echo("dry run: the archive is valid; nothing was changed")
            return
        result = restore_backup(settings.DATABASE_URL, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"restored {result.archive.name}: {len(result.tables)} tables, {sum(result.tables.values())} rows, "
        f"row counts match the manifest ({result.duration_s:.1f} s)"
    )
    if result.dropped_tables:
        click.echo(f"dropped tables created after the backup: {', '.join(result.dropped_tables)}")


@backup_cli.command("schedule")
@click.option("--cron", default=None, help="Crontab in UTC [default: BACKUP_CRON].")
@click.option(
    "--catch-up-hours",
    type=float,
    default=24.0,
    show_default=True,
    help="At start, back up at once when the newest backup is older than this.",
)
def schedule_command(cron: str | None, catch_up_hours: float) -> None:
    """Run forever, backing up on a cron schedule (the compose `backup` profile's sidecar)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    settings = _settings()
    try:
        trigger = CronTrigger.from_crontab(cron or settings.BACKUP_CRON, timezone="UTC")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cron / BACKUP_CRON") from None

    def run_backup() -> None:
        # Never let a failed backup end the loop: log it, the next run (and the healthcheck) follow.
        try:
            create_backup(
                settings.DATABASE_URL, settings.BACKUP_DIR, keep=settings.BACKUP_KEEP, label="scheduled"
            )
        except Exception:
            logger.exception("scheduled backup failed")

    complete = [backup for backup in list_backups(settings.BACKUP_DIR) if backup.complete]
    newest_age = _age_hours(complete[0], dt.datetime.now(dt.UTC)) if complete else None
    if newest_age is None or newest_age > catch_up_hours:
        logger.info("no backup in the last %.0f h: taking one now", catch_up_hours)
        run_backup()

    scheduler = BlockingScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    )
    scheduler.add_job(run_backup, trigger, id="backup", replace_existing=True)

    def _shutdown(signum, _frame) -> None:
        logger.info("signal %s: stopping the backup schedule", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    logger.info(
        "backups scheduled: %s (UTC), keeping %d in %s", trigger, settings.BACKUP_KEEP, settings.BACKUP_DIR
    )
    scheduler.start()
