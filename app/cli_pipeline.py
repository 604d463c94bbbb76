"""`flask pipeline ...`: run the pipeline from a shell."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

pipeline_cli = AppGroup("pipeline", help="Run the ATLAS/OSM pipeline.")


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
    """Fetch, parse, match, detect problems and import, once."""
    from app.services.pipeline_service import execute_pipeline_run
    from pipeline.errors import PipelineError

    def progress(stage: str, done: int, total: int, message: str) -> None:
        click.echo(f"[{stage} {done}/{total}] {message}", err=True)

    try:
        summary = execute_pipeline_run(
            trigger="cli",
            source_dir=source_dir,
            only_if_changed=only_if_changed,
            progress=progress,
            offline=source_dir is not None,
        )
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
