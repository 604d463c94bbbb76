"""The schedule as data: every job is {id, func, trigger}; each func goes through `runner.run_job`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.config import Settings
from app.coordination import SCHEDULER_HEARTBEAT_EVERY_S, WATCHDOG_EVERY_S
from scheduler import runner


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., object]
    trigger: BaseTrigger


def schedule(settings: Settings) -> list[JobSpec]:
    """Every job of the scheduler. All run in UTC unless PIPELINE_TIMEZONE says otherwise."""
    return [
        JobSpec(
            id="heartbeat",
            func=runner.write_heartbeat,
            trigger=IntervalTrigger(seconds=SCHEDULER_HEARTBEAT_EVERY_S),
        ),
        JobSpec(
            id="pipeline",
            func=runner.run_scheduled_pipeline,
            trigger=CronTrigger.from_crontab(settings.PIPELINE_CRON, timezone=settings.PIPELINE_TIMEZONE),
        ),
        JobSpec(
            id="run-requests",
            func=runner.poll_run_requests,
            trigger=IntervalTrigger(seconds=settings.PIPELINE_REQUEST_POLL_S),
        ),
        JobSpec(id="watchdog", func=runner.watchdog, trigger=IntervalTrigger(seconds=WATCHDOG_EVERY_S)),
    ]
