"""Processes for the coordination tests: `python -m tests.integration.coordination_helpers MODE`.

They run real StopSync code (create_app from the environment, run_guarded, the scheduler's main)
with a stand-in for the pipeline's work, so a test controls how long a run lasts:

- `guarded NAME`: one guarded run whose work records a `pipeline_runs` row, reports progress, then
  blocks until the test pushes to `stopsync:test:release:NAME` (BLPOP, no sleeping). Prints the
  outcome as JSON; exit 0 when it ran, 2 when the lock was held (like `flask pipeline run`).
- `scheduler`: the real scheduler, whose runs report a few progress steps and finish at once.
"""

from __future__ import annotations

import json
import os
import sys

import redis

RELEASE_KEY = "stopsync:test:release:{name}"
STAGES = ("fetch", "match", "import")


def _blocking_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True, socket_timeout=None)


def blocking_work(name: str):
    """Work that looks like a pipeline run and lasts until the test releases it."""

    def work(progress, run_uuid: str) -> dict:
        from app.services import run_history
        from database.session import transaction
        from runs import record

        with transaction():
            record.start_run(trigger="cli", run_uuid=run_uuid)
        progress("fetch", 1, 4, "downloading")
        progress("match", 2, 4, "matching")
        released = _blocking_client().blpop([RELEASE_KEY.format(name=name)], timeout=120)
        if released is None:
            raise RuntimeError("the test never released this run")
        progress("import", 4, 4, "importing")
        with transaction():
            record.finish_run(run_history.get_by_uuid(run_uuid), status="succeeded")
        return {"name": name}

    return work


def quick_work(progress, run_uuid: str) -> dict:
    """Work that reports every stage and ends at once."""
    for index, stage in enumerate(STAGES, start=1):
        progress(stage, index, len(STAGES), f"stage {stage}")
    return {"stages": len(STAGES)}


def _guarded(name: str) -> int:
    from app import create_app
    from runs.errors import AlreadyRunningError
    from runs.guard import run_guarded

    app = create_app()
    with app.app_context():
        try:
            outcome = run_guarded("cli", requested_by=name, work=blocking_work(name))
        except AlreadyRunningError as exc:
            print(json.dumps({"name": name, "refused": str(exc)}), flush=True)
            return 2
    print(json.dumps({"name": name, "run_uuid": outcome.run_uuid, "state": outcome.state}), flush=True)
    return 0 if outcome.ok else 1


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "guarded":
        return _guarded(argv[1])
    if mode == "scheduler":
        from scheduler.__main__ import main as scheduler_main

        return scheduler_main(work=quick_work)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
