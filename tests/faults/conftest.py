"""Fault tests: real processes (gunicorn, `flask pipeline run`) against the session's PostGIS, killed,
starved or fed garbage on purpose.

Everything is on loopback and bounded: every wait is a poll with a deadline, every subprocess is
stopped by its own process group id when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.services import LocalRedis, free_port, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]


def poll(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Call `predicate` until it returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    """A gunicorn serving the app as in production (2 gevent workers), on a free loopback port."""

    process: subprocess.Popen
    port: int
    log_file: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout_s: float = 15.0) -> Reply:
        """GET `path`; never raises for an HTTP status (a transport error is status 0)."""
        started = time.monotonic()
        url = self.base_url + path  # always http://127.0.0.1
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                body, status, headers = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            body, status, headers = exc.read(), exc.code, dict(exc.headers)
        except OSError:
            body, status, headers = b"", 0, {}
        return Reply(status, body, headers, time.monotonic() - started)

    def worker_pids(self) -> set[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return {int(pid) for pid in out.stdout.split()}

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def start_gunicorn(env: dict[str, str], log_file: Path, workers: int = 2) -> Served:
    port = free_port()
    argv = gunicorn_command(port, workers=workers, timeout_s=30)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    served = Served(process, port, log_file, env)
    deadline = time.monotonic() + 60
    while served.get("/healthz", timeout_s=2).status != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process)
            pytest.fail(f"gunicorn did not start:\n{served.log_tail()}")
        time.sleep(0.1)
    return served


def stop_process_group(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM the process group we started, SIGKILL it if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A Redis of this test alone, so stopping it disturbs no other test."""
    redis = LocalRedis(tmp_path / "redis", free_port())
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def serve(stack, clean_state, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start gunicorn in production mode against the session's servers; `serve(**env)` overrides env."""
    started: list[Served] = []

    def _serve(**extra: str) -> Served:
        env = stack.base_env(
            STOPSYNC_ENV="production",
            LOG_LEVEL="WARNING",
            RATELIMIT_DEFAULT="100000 per minute",
            **extra,
        )
        served = start_gunicorn(env, tmp_path / f"gunicorn-{len(started)}.log")
        started.append(served)
        return served

    yield _serve
    for served in started:
        stop_process_group(served.process)
