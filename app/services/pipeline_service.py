"""The pipeline as a service call: what the CLI, the scheduler and "Run now" all execute.

The caller owns coordination (the Redis lock, status, heartbeat: `app.services.pipeline_jobs`); this
function only runs the pipeline in the current app context and returns its summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.run import Progress, RunOptions, RunSummary, run_pipeline


def execute_pipeline_run(
    trigger: str,
    source_dir: str | Path | None = None,
    only_if_changed: bool = False,
    progress: Progress | Any | None = None,
    run_uuid: str | None = None,
    *,
    offline: bool = False,
    requested_by: str | None = None,
) -> RunSummary:
    """Run fetch → parse → match → problems → import once. Raises on failure (the run is marked failed).

    Sources with a configured URL (ATLAS_URL, OSM_URL) are downloaded unless `offline`; the others
    are read from `source_dir` (default PIPELINE_SOURCE_DIR).
    """
    options = RunOptions(
        trigger=trigger,
        source_dir=source_dir,
        offline=offline,
        only_if_changed=only_if_changed,
        run_uuid=run_uuid,
        requested_by=requested_by,
    )
    return run_pipeline(options, progress=progress)
