"""`python -m scheduler`: refuses to start unless the schema is at the migrations' head.

Any number of replicas may run: the jobs fire in each, and the pipeline lock in Redis lets only
one of them run the pipeline at a time. Starting a scheduler never touches the run status: a run
owned by another replica (or the CLI) keeps its state, and a dead one is found by the watchdog.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING

from apscheduler.schedulers.blocking import BlockingScheduler

from app import create_app
from app.config import ConfigError
from app.extensions import db
from database.schema import schema_status
from scheduler.jobs import schedule
from scheduler.runner import bind_app, write_heartbeat

if TYPE_CHECKING:
    from runs.guard import WorkFn

logger = logging.getLogger("scheduler")


def check_schema(app) -> str | None:
    """None when the schema is at head, else the reason we must not start."""
    try:
        with app.app_context(), db.engine.connect() as connection:
            status = schema_status(connection)
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}"
    if not status.compatible:
        return f"{status.describe()}; run the migrator first (python -m migrator)"
    return None


def main(work: WorkFn | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT. `work` replaces the real pipeline (tests only)."""
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"scheduler: configuration error: {exc}", file=sys.stderr)
        return 2
    reason = check_schema(app)
    if reason is not None:
        logger.error("refusing to start: %s", reason)
        print(f"scheduler: refusing to start: {reason}", file=sys.stderr)
        return 1
    settings = app.config["SETTINGS"]
    # APScheduler logs two INFO lines per job execution; the request poller alone would write
    # tens of thousands a day. Failures and missed runs are WARNING and above, and still shown.
    logging.getLogger("apscheduler.executors").setLevel(max(logging.WARNING, logging.getLogger().level))
    bind_app(app, work)
    scheduler = BlockingScheduler(
        timezone=settings.PIPELINE_TIMEZONE,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for job in schedule(settings):
        scheduler.add_job(job.func, job.trigger, id=job.id, replace_existing=True)
        logger.info("scheduled %s: %s", job.id, job.trigger)

    def _shutdown(signum, _frame):
        logger.info("signal %s: shutting down", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    write_heartbeat()
    logger.info("scheduler started")
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
