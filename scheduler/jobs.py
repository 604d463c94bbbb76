"""The schedule as data: every job is {id, func, trigger}, and every job goes through `run_job`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.config import Settings
from app.coordination import SCHEDULER_HEARTBEAT_EVERY_S


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., object]
    trigger: BaseTrigger


def pipeline_job() -> None:
    """The nightly pipeline run (placeholder until the pipeline lands: records a run)."""
    from scheduler.runner import run_pipeline_job

    run_pipeline_job(trigger="scheduled")


def heartbeat_job() -> None:
    """Tell the health check (and the app) that this scheduler is alive."""
    from scheduler.runner import write_heartbeat

    write_heartbeat()


def schedule(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            id="heartbeat", func=heartbeat_job, trigger=IntervalTrigger(seconds=SCHEDULER_HEARTBEAT_EVERY_S)
        ),
        JobSpec(
            id="pipeline",
            func=pipeline_job,
            trigger=CronTrigger.from_crontab(settings.PIPELINE_CRON, timezone=settings.PIPELINE_TIMEZONE),
        ),
    ]
