"""`flask pipeline ...`: run the pipeline from a shell.

The command belongs to `runs`, and the app never imports `runs`, so the `flask` command is given
`runs.cli:create_app` (FLASK_APP): the web app plus this command group. The web server itself
(gunicorn, `flask run` in the entrypoint) keeps `app:create_app` and knows nothing of runs.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app import create_app as create_web_app
from runs.guard import AlreadyRunningError, CoordinationUnavailableError, run_guarded

pipeline_cli = AppGroup("pipeline", help="Run the ATLAS/OSM pipeline.")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


@pipeline_cli.command("run")
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Read every source from this folder (offline), even when URLs are configured.",
)
@click.option(
    "--only-if-changed", is_flag=True, help="Skip the run when no source changed since the last run."
)
def run_command(source_dir: str | None, only_if_changed: bool) -> None:
    """Fetch, parse, match, detect problems and import, once.

    Runs under the pipeline lock like scheduled and requested runs: exit 2 when another run holds
    it, exit 1 when the run fails or Redis (and so the lock) is unreachable.
    """

    def progress(
        stage: str, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None:
        # runs.publish.Progress: counts and message are optional (a stage may report only its name).
        counts = f" {done}/{total}" if done is not None else ""
        click.echo(f"[{stage}{counts}] {message or ''}", err=True)

    try:
        outcome = run_guarded(
            "cli",
            requested_by=f"cli:{_os_user()}",
            source_dir=source_dir,
            only_if_changed=only_if_changed,
            offline=source_dir is not None,
            on_progress=progress,
        )
    except AlreadyRunningError as exc:
        click.echo(f"Error: {exc}. Not started; try again when it has finished.", err=True)
        raise SystemExit(2) from None
    except CoordinationUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    if not outcome.ok:
        raise click.ClickException(outcome.error or "the pipeline run failed")
    click.echo(json.dumps(outcome.result.as_dict(), indent=2, default=str))


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """The app the `flask` command loads: `app.create_app` plus the `pipeline` command group."""
    flask_app = create_web_app(overrides)
    flask_app.cli.add_command(pipeline_cli)
    return flask_app
