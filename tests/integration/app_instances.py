"""Real app instances for the scale-out tests: gunicorn processes (gevent workers, as `./dev up` and
the container run them) pointed at the test stack, each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devstack.services import free_port, gunicorn_command
from tests.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        threading.Event().wait(interval_s)
    return value


def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET without cookies: status, headers, body (error statuses too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@contextlib.contextmanager
def gunicorn(stack: Stack, log: Path, *, access_log: bool = False, **env: str) -> Iterator[int]:
    """Serve the app on a free port until the block ends; yields the port. `access_log`: one line
    per request in `log` too (which instance answered what)."""
    port = free_port()
    settings = {"STOPSYNC_ENV": "production", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **env}
    extra = ("--access-logfile", "-") if access_log else ()
    with log.open("wb") as out:
        process = subprocess.Popen(
            gunicorn_command(port, workers=1, timeout_s=60, extra=extra),
            cwd=ROOT,
            env=stack.base_env(**settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                return http_get(port, "/healthz")[0] == 200
            return False

        wait_for(up, 60, "gunicorn to serve", interval_s=0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
