"""Fault test: the importer process is killed (kill -9) in the middle of the swap.

The new snapshot is first built in staging: readers are not blocked and see the previous one. Inside
the swap transaction (its ACCESS EXCLUSIVE locks held) a reader waits; when the importer dies there,
PostgreSQL rolls the swap back and the waiting reader gets the complete previous snapshot. The next
run succeeds normally and drops what the killed one had staged.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from database import db
from database.models import Match, PipelineRun, Problem, RegistryStopRow
from runs.stages import RunOptions, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data/demo"
TODAY = dt.date(2025, 8, 2)

CHILD = """
import datetime as dt, os, sys, time
from pathlib import Path
from app import create_app
from runs.stages import RunOptions, run_pipeline

source_dir, staged, go, marker = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])

def checkpoint(name):
    if name == "staged":  # the new snapshot is built in staging: nothing of it is visible yet
        staged.write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if name == "swap:locked":  # inside the swap transaction, every snapshot table locked
        marker.write_text(str(os.getpid()))
        time.sleep(600)

with create_app().app_context():
    run_pipeline(RunOptions(trigger="cli", source_dir=source_dir, offline=True,
                            today=dt.date(2025, 8, 2), checkpoint=checkpoint))
"""


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def snapshot_counts() -> tuple[int, int, int]:
    db.session.rollback()  # a fresh snapshot of the database for each look
    return count(RegistryStopRow), count(Match), count(Problem)


def test_kill_9_during_the_swap_leaves_the_previous_snapshot_served(app, stack, tmp_path):
    run_pipeline(RunOptions(source_dir=DEMO, offline=True, today=TODAY))
    before = snapshot_counts()
    assert before[0] == 221

    # The next run's data differs (fewer stops), so a partial import would show.
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    csv_path = changed / "atlas_service_points_li.csv"
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    csv_path.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8-sig")

    staged, go, marker = tmp_path / "staged", tmp_path / "go", tmp_path / "in-swap"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(changed), str(staged), str(go), str(marker)],
        cwd=ROOT,
        env=stack.base_env(LOG_LEVEL="WARNING"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    reader = create_engine(stack.database_url)
    blocked: dict[str, tuple[int, int, int]] = {}

    def read_blocked() -> None:
        with reader.connect() as connection:
            blocked["counts"] = tuple(
                connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("registry_stops", "matches", "problems")
            )

    thread = threading.Thread(target=read_blocked)
    try:
        wait_for(lambda: staged.exists() or child.poll() is not None, 60, "the child to stage its snapshot")
        assert child.poll() is None, child.stdout.read().decode()
        # Staged, not swapped: readers see the complete previous snapshot and are not blocked.
        assert snapshot_counts() == before
        assert db.session.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = 'snapshot_stage'"))
        db.session.rollback()  # end this read: a transaction holding the tables' locks holds up the swap
        go.write_text("go")

        wait_for(lambda: marker.exists() or child.poll() is not None, 60, "the child to reach the swap")
        assert child.poll() is None, child.stdout.read().decode()
        # Inside the swap: a reader waits for its commit (or, here, its death).
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "a reader went past the swap's locks"

        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        thread.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        reader.dispose()
    assert child.returncode == -signal.SIGKILL
    # The reader that waited on the killed swap got the complete previous snapshot.
    assert blocked["counts"] == before

    # PostgreSQL notices the dead client and rolls its transaction back.
    def swap_gone() -> bool:
        db.session.rollback()
        return not db.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )

    wait_for(swap_gone, 20, "the killed import's transaction to be rolled back")
    assert snapshot_counts() == before
    killed = db.session.scalars(select(PipelineRun).order_by(PipelineRun.id.desc())).first()
    assert killed.status == "running"  # never finished: the coordination watchdog reports it stale

    # The next run succeeds and swaps in the new data.
    summary = run_pipeline(RunOptions(source_dir=changed, offline=True, today=TODAY))
    assert summary.status == "succeeded"
    assert snapshot_counts()[0] == summary.counts["registry_stops"] < before[0]
    # What the killed run had staged is gone.
    assert not db.session.scalar(
        text("SELECT count(*) FROM pg_namespace WHERE nspname IN ('snapshot_stage', 'snapshot_retired')")
    )
