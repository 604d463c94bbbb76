"""Shared benchmark machinery: a throwaway stack, gunicorn as in production, figures and the table.

Every benchmark returns a list of `Figure`s; `python -m bench` prints them in one table with their
targets. The stack is started the way `./dev up` starts it (devstack.services) but on free ports, in
a temporary folder, and with PostgreSQL's normal durability settings (fsync and synchronous commit
on), so the figures are what production would see on this machine, not what a no-fsync test cluster
would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import BUNDLED_SOURCES
from devstack.services import LocalPostgres, LocalRedis, free_port, gunicorn_command

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DATABASE = "stopsync_bench"


# --------------------------------------------------------------------------------------------
# Figures and the table
# --------------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured value, optionally with a target. `lower_is_better` decides what "pass" means."""

    name: str
    value: float | None  # None: could not be measured (the note says why)
    unit: str
    target: float | None = None
    lower_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.target:
            return None
        return self.value / self.target

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        if self.target is None:
            return ""
        ok = self.value <= self.target if self.lower_is_better else self.value >= self.target
        return "pass" if ok else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "lower_is_better": self.lower_is_better,
            "ratio": self.ratio,
            "verdict": self.verdict,
            "note": self.note,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(figures: Sequence[Figure]) -> str:
    """The figures as a fixed-width text table: figure, value, target, ratio, verdict, note."""
    header = ("figure", "value", "target", "ratio", "", "note")
    rows = []
    for fig in figures:
        target = "-"
        if fig.target is not None:
            target = f"{'≤' if fig.lower_is_better else '≥'} {_fmt(fig.target)}"
        rows.append(
            (
                fig.name,
                f"{_fmt(fig.value)} {fig.unit}".strip(),
                f"{target} {fig.unit}".strip() if fig.target is not None else "-",
                f"{fig.ratio:.2f}" if fig.ratio is not None else "-",
                fig.verdict,
                fig.note,
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(cell).ljust(widths[i]) if i < 2 or i == 4 else str(cell).rjust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join(cells) + ("  " + row[-1] if row[-1] else ""))
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(line.rstrip() for line in lines)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0-100) of already sorted values, nearest-rank (no interpolation)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the table (or JSON) only."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Subprocesses
# --------------------------------------------------------------------------------------------


def run_json(argv: Sequence[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Run a helper process and parse the last line of its stdout as JSON (stderr passes through)."""
    result = subprocess.run(
        list(argv), env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {result.returncode}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(argv[:4])}... printed nothing")
    return json.loads(lines[-1])


def wait_http_ok(url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200, or raise after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our http URL
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout_s:.0f} s (last: {last})")


def settle(base_url: str, timeout_s: float = 60.0, quick_s: float = 0.1) -> None:
    """Wait until the server answers /healthz within `quick_s` three times in a row: an overloaded
    run leaves a backlog behind, which must not be billed to the next measurement."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while streak < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:  # noqa: S310 - our http URL
                response.read()
            streak = streak + 1 if time.monotonic() - started < quick_s else 0
        except OSError:
            streak = 0
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------


@dataclass
class BenchStack:
    """PostgreSQL+PostGIS and Redis on free loopback ports, migrated, in a temporary folder."""

    workdir: Path
    postgres: LocalPostgres
    redis: LocalRedis
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def database_url(self) -> str:
        return self.postgres.url(BENCH_DATABASE)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a StopSync process in production mode pointed at this stack."""
        env = dict(os.environ)
        env.update(
            {
                "STOPSYNC_ENV": "production",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url,
                "SECRET_KEY": self.secret_key,
                "SESSION_COOKIE_SECURE": "false",
                "FLASK_APP": "app:create_app",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Benchmarks measure StopSync, not the internet: the bundled data, not production's live sources.
        env.update(BUNDLED_SOURCES)
        env.update(extra)
        return env

    def psql(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (autocommit)."""
        import psycopg

        conninfo = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql)  # type: ignore[arg-type]  # internal, constant SQL
            return cur.fetchall() if cur.description else []


@contextlib.contextmanager
def bench_stack(keep: bool = False) -> Iterator[BenchStack]:
    """Start, migrate, yield, stop. `keep` leaves the folder in place for a post-mortem."""
    workdir = Path(tempfile.mkdtemp(prefix="stopsync-bench-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - the postgres system user must reach its data folder
    postgres = LocalPostgres(workdir / "postgres", free_port())
    redis = LocalRedis(workdir / "redis", free_port())
    stack = BenchStack(workdir, postgres, redis)
    try:
        say(f"PostgreSQL+PostGIS on 127.0.0.1:{postgres.port}, Redis on 127.0.0.1:{redis.port} ({workdir})")
        postgres.start()
        postgres.create_database(BENCH_DATABASE)
        redis.start()
        migrated = subprocess.run([PYTHON, "-m", "migrator"], env=stack.env(), cwd=ROOT, check=False)
        if migrated.returncode != 0:
            raise RuntimeError("the migrator failed on the benchmark database")
        yield stack
    finally:
        redis.stop()
        postgres.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# gunicorn, configured as in production (entrypoint.sh `app`)
# --------------------------------------------------------------------------------------------

# Rate limits exist to stop abuse, not a benchmark driving thousands of requests from one address.
UNLIMITED = "1000000 per minute"


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def gunicorn(stack: BenchStack, workers: int = 2, **env_extra: str) -> Iterator[Server]:
    """Serve the app with gunicorn on a free loopback port until the block ends."""
    port = free_port()
    argv = gunicorn_command(port, workers=workers, timeout_s=60, extra=("--log-level", "warning"))
    env = stack.env(RATELIMIT_DEFAULT=UNLIMITED, RATELIMIT_WRITE=UNLIMITED, **env_extra)
    process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
    server = Server(process, port)
    try:
        wait_http_ok(f"{server.base_url}/readyz", timeout_s=60)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CALIBRATION_ROUNDS = 10_000_000


def calibration_s() -> float:
    """Seconds one core takes for a fixed CPU-bound workload (a Python loop and SHA-256 over 64 MiB).

    Printed beside every run, before and after the benchmarks, so figures from different machines and
    days can be compared as ratios to it, and a run on a slowed machine shows itself.
    """
    started = time.perf_counter()
    total = 0
    for i in range(CALIBRATION_ROUNDS):
        total += i * i % 7
    hashlib.sha256(bytes(64 * 1024 * 1024)).digest()
    return time.perf_counter() - started
