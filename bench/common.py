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
from collections.abc import Callable, Iterator, Sequence
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
    # Why the benchmark that measured it was disturbed (its own before/after check), if it was.
    not_comparable: str | None = None

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
            "not_comparable": self.not_comparable,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(figures: Sequence[Figure], not_comparable: str | None = None) -> str:
    """The figures as a fixed-width text table: figure, value, target, ratio, verdict, note.
    With `not_comparable` (the reason a run was disturbed) no figure is printed as a pass."""
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
                judged_verdict(fig, not_comparable),
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
                # `flask pipeline ...` lives in runs/ (the web app never imports it) since issue 12.
                "FLASK_APP": "runs.cli:create_app"
                if (ROOT / "runs" / "cli.py").exists()
                else "app:create_app",
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


# The app settings of a pipeline benchmark's run: everything the bench does not vary explicitly is
# production's default; no country filter and no boundary, so every replicated stop is kept.
PIPELINE_BENCH_SETTINGS: dict[str, Any] = {
    "STOPSYNC_ENV": "development",
    "REDIS_URL": "redis://127.0.0.1:1/0",  # not used by the pipeline itself
    "LOG_LEVEL": "WARNING",
    "PIPELINE_UIC_COUNTRY_CODES": "",
    "PIPELINE_BOUNDARY_FILE": "",
    "PIPELINE_MIN_ROW_RATIO": 0.0,
}


@dataclass
class PipelineDatabase:
    """A migrated database on a PostgreSQL of its own and the app configured for it (`pipeline_database`)."""

    app: Any  # the Flask app; the pipeline runs inside `app.app_context()`
    postgres: LocalPostgres
    workdir: Path

    @property
    def postmaster_pid(self) -> int:
        """The postmaster's pid (its backends are its children): for memory and CPU accounting."""
        return int((Path(self.postgres.data_dir) / "postmaster.pid").read_text().splitlines()[0])


@contextlib.contextmanager
def pipeline_database(
    prefix: str, database: str, label: str = "", keep: bool = False, **settings: Any
) -> Iterator[PipelineDatabase]:
    """PostgreSQL+PostGIS (normal durability) in a temporary folder named `prefix`..., one database
    `database` with PostGIS, the app configured for it (PIPELINE_BENCH_SETTINGS with `settings` on
    top) and the schema migrated. On leaving, PostgreSQL is stopped (pg_ctl waits for its shutdown
    checkpoint) and the folder removed, so nothing of the benchmark's stack still runs when its
    after-run calibration is taken."""
    from sqlalchemy import create_engine, text

    from app import create_app

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)  # the postgres system user must reach its data folder
    postgres = LocalPostgres(workdir / "postgres", free_port())
    say(f"{label + ': ' if label else ''}PostgreSQL on port {postgres.port} ({workdir})")
    postgres.start()
    try:
        postgres.create_database(database)
        url = postgres.url(database)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        app = create_app({**PIPELINE_BENCH_SETTINGS, "DATABASE_URL": url, **settings})
        with app.app_context():
            import flask_migrate

            flask_migrate.upgrade()
            yield PipelineDatabase(app, postgres, workdir)
            # The app's pool holds connections (backends) until disposed; close them before the stop.
            from database import db

            db.session.remove()
            db.engine.dispose()
    finally:
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
def gunicorn(
    stack: BenchStack, workers: int = 2, app_spec: str | None = None, **env_extra: str
) -> Iterator[Server]:
    """Serve the app with gunicorn on a free loopback port until the block ends. `app_spec` replaces
    production's app factory (the calibration serves the same app plus a static route)."""
    port = free_port()
    argv = gunicorn_command(port, workers=workers, timeout_s=60, extra=("--log-level", "warning"))
    if app_spec is not None:
        argv[argv.index("app:create_app()")] = app_spec
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
    return min(_calibration_once() for _ in range(CALIBRATION_REPEATS))


# The best of three: one run alone also measures page faults and a neighbour's momentary burst, and
# varied by up to 19 % between a quiet before and after.
CALIBRATION_REPEATS = 3


def _calibration_once() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(CALIBRATION_ROUNDS):
        total += i * i % 7
    hashlib.sha256(bytes(64 * 1024 * 1024)).digest()
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Is this run comparable? Load, calibration and other processes' CPU, before and after
# --------------------------------------------------------------------------------------------

# A run is "comparable" (its pass verdicts may be printed) only when nothing else competed for the
# CPUs. Three signals, any one of which withholds every pass:
# - the 1-minute load average before the run above this share of the CPUs (someone was busy already;
#   the load average *after* includes the benchmark's own server and load generator, so it is printed
#   but judged through the next two signals instead);
# - the calibration after the run slower or faster than before by more than this share (the machine's
#   speed for one core changed under the run: a neighbour, thermal or frequency throttling);
# - CPU time used during the run by processes that are not the benchmark's own (its process tree,
#   PostgreSQL and Redis), as a share of all the machine's CPU time, above this share.
MAX_LOAD_PER_CPU_BEFORE = 0.5
MAX_CALIBRATION_DRIFT = 0.15
MAX_FOREIGN_CPU_SHARE = 0.10


@dataclass(frozen=True)
class MachineState:
    """What the machine looked like at one moment: load averages and the calibration (seconds), and
    which other processes used CPU while the calibration ran (the ones that can slow it down)."""

    load1: float
    load5: float
    calibration_s: float
    # Other processes' CPU during the calibration, as a share of the machine's capacity then, and
    # the busiest of them: (seconds of CPU, pid, command line), most first.
    others_share: float | None = None
    others: tuple[tuple[float, int, str], ...] = ()

    def describe(self) -> str:
        text = (
            f"load average {self.load1:.2f} (1 min) / {self.load5:.2f} (5 min), "
            f"calibration {self.calibration_s:.2f} s"
        )
        if self.others_share is not None:
            text += f"; other processes during the calibration: {self.others_share:.0%} of the machine"
            if self.others:
                text += " (" + ", ".join(f"{cmd} [{pid}] {cpu:.2f} s" for cpu, pid, cmd in self.others) + ")"
        return text


def wait_for_quiet(
    cpus: int,
    max_wait_s: float = 150.0,
    poll_s: float = 5.0,
    load1: Callable[[], float] = lambda: os.getloadavg()[0],
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until the 1-minute load average is under the comparability limit, at most `max_wait_s`;
    returns the seconds waited. The previous benchmark's own server and load generator keep the
    1-minute average high for a minute or so after they stop; starting at once would judge the next
    benchmark NOT COMPARABLE for the load its predecessor made. Something else that keeps the machine
    busy still makes it not comparable once the wait runs out."""
    limit = MAX_LOAD_PER_CPU_BEFORE * cpus
    waited = 0.0
    while load1() > limit and waited < max_wait_s:
        sleep(poll_s)
        waited += poll_s
    return waited


def machine_state() -> MachineState:
    """The load averages, then the calibration (which itself takes about a second and a half of one
    core), with the CPU every other process used meanwhile (a calibration slower than the one before
    the run names who competed with it, instead of leaving a guess)."""
    load1, load5, _ = os.getloadavg()
    if not Path("/proc/stat").exists():
        return MachineState(load1, load5, calibration_s())
    me = os.getpid()
    ticks0, busy0, t0 = _all_ticks(), _busy_ticks(), time.monotonic()
    calibration = calibration_s()
    ticks1, busy1, t1 = _all_ticks(), _busy_ticks(), time.monotonic()
    mine = ticks1.get(me, (0, "", 0))[0] - ticks0.get(me, (0, "", 0))[0]
    capacity = (t1 - t0) * _CLK_TCK * (os.cpu_count() or 1)
    share = foreign_cpu_share(busy1 - busy0, mine, capacity)
    used = [
        ((ticks - ticks0[pid][0]) / _CLK_TCK, pid, cmd)
        for pid, (ticks, cmd, start) in ticks1.items()
        if pid != me and pid in ticks0 and ticks0[pid][2] == start and ticks > ticks0[pid][0]
    ]
    used.sort(reverse=True)
    return MachineState(load1, load5, calibration, share, tuple(u for u in used[:4] if u[0] >= 0.05))


def _all_ticks() -> dict[int, tuple[int, str, int]]:
    """{pid: (user+system ticks, short command line, start time)} of every process now."""
    out: dict[int, tuple[int, str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        pid = int(entry.name)
        cmd = _cmdline(pid).strip() or raw[raw.find("(") + 1 : raw.rfind(")")]
        out[pid] = (int(fields[11]) + int(fields[12]), cmd[:80], int(fields[19]))
    return out


def wait_for_own_processes(
    root_pid: int | None = None, max_wait_s: float = 30.0, poll_s: float = 0.5
) -> tuple[float, list[str]]:
    """Before the after-run calibration: wait (at most `max_wait_s`) until no process of the
    benchmark's own, other than this one, is alive and busy (a server it started still shutting
    down, a backend finishing), then flush the page cache's dirty pages its files left (the
    kernel's writeback would otherwise run during the calibration). Returns the seconds waited
    and the own processes still busy when the wait ran out (normally none)."""
    root = root_pid or os.getpid()
    waited, busy = 0.0, []

    def descendants() -> dict[int, int]:
        # Only real descendants: a daemon is recognised elsewhere by its folder's name, which
        # another user's benchmark on the same machine may share; our daemons are stopped (and
        # waited for: pg_ctl -w) by the benchmark's own code before it returns.
        table = own_tree(root, markers=())
        return {pid: table[pid][1] for pid in descendants_of(root, table)}

    previous = descendants()
    while waited < max_wait_s:
        time.sleep(poll_s)
        waited += poll_s
        now = descendants()
        busy = [pid for pid, ticks in now.items() if ticks > previous.get(pid, ticks)]
        previous = now
        if not busy:
            break
    waited = 0.0 if not busy and waited <= poll_s else waited  # one quiet poll: no wait worth naming
    if hasattr(os, "sync"):
        os.sync()
    return waited, [f"{_cmdline(pid)[:80]} [{pid}]" for pid in busy]


def comparability(
    before: MachineState,
    after: MachineState,
    cpus: int,
    foreign_cpu_share: float | None = None,
) -> str | None:
    """None when the run's figures may be judged, else the reason ("NOT COMPARABLE: load ...")."""
    reasons = []
    load_limit = MAX_LOAD_PER_CPU_BEFORE * cpus
    if before.load1 > load_limit:
        reasons.append(
            f"load average {before.load1:.2f} before the run (limit {load_limit:.2f} on {cpus} CPUs)"
        )
    drift = abs(after.calibration_s - before.calibration_s) / max(before.calibration_s, 1e-9)
    if drift > MAX_CALIBRATION_DRIFT:
        reasons.append(
            f"calibration {before.calibration_s:.2f} s before, {after.calibration_s:.2f} s after "
            f"({drift:.0%} apart, limit {MAX_CALIBRATION_DRIFT:.0%})"
        )
    if foreign_cpu_share is not None and foreign_cpu_share > MAX_FOREIGN_CPU_SHARE:
        reasons.append(
            f"other processes used {foreign_cpu_share:.0%} of the {cpus} CPUs during the run "
            f"(limit {MAX_FOREIGN_CPU_SHARE:.0%})"
        )
    if not reasons:
        return None
    return "NOT COMPARABLE: " + "; ".join(reasons)


def judged_verdict(figure: Figure, not_comparable: str | None) -> str:
    """The verdict to print: a pass is withheld (printed as NOT COMPARABLE) when the run was disturbed;
    a miss stays a miss (a quiet machine would not have made it a pass with any certainty either)."""
    verdict = figure.verdict
    if (not_comparable or figure.not_comparable) and verdict == "pass":
        return "NOT COMPARABLE"
    return verdict


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user+system clock ticks) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# The temporary folders benchmarks start their servers in (PostgreSQL's -D, Redis's --dir): how a
# daemon of ours is told from another's (the test suite's servers live in /tmp/stopsync-test-*).
BENCH_DIR_MARKERS = (
    "stopsync-bench-",
    "stopsync-scale-",
    "stopsync-germany-",
    "stopsync-gtfs-bench-",
    "stopsync-national-",
)


def own_tree(root_pid: int, markers: Sequence[str] = BENCH_DIR_MARKERS) -> dict[int, tuple[int, int]]:
    """{pid: (ppid, ticks)} of the benchmark's own processes: `root_pid` and its descendants, plus the
    servers it started as daemons (pg_ctl detaches PostgreSQL), recognised by a temporary folder
    named with one of `markers` in their command line, and their descendants (the backends)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                table[int(entry.name)] = stat
    roots = {root_pid} | {pid for pid in table if any(m in _cmdline(pid) for m in markers)}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    own: dict[int, tuple[int, int]] = {}
    stack = [pid for pid in roots if pid in table]
    while stack:
        pid = stack.pop()
        if pid in own:
            continue
        own[pid] = table[pid]
        stack.extend(children.get(pid, ()))
    return own


def _busy_ticks() -> int:
    """All CPUs' non-idle clock ticks since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle


class CpuWatch:
    """Samples, once a second, the machine's busy CPU time and the benchmark's own processes' CPU time;
    `foreign_share()` is the rest (other processes' CPU) as a share of all CPU time in the window.

    Our CPU = this process's own, plus its children's as the kernel bills them when they are reaped
    (RUSAGE_CHILDREN: every benchmark child with the descendants it waited for), plus, by sampling,
    the daemons we started (PostgreSQL, Redis) and descendants still running at the end. A daemon's
    last second before it stops is lost to the sampling and counted as foreign: the estimate errs on
    the side of "not comparable"."""

    def __init__(self, root_pid: int | None = None, interval_s: float = 1.0) -> None:
        import threading

        self.root_pid = root_pid or os.getpid()
        self.interval_s = interval_s
        self._first0: dict[int, int] = {}  # our processes at the start, with their ticks then
        self._last: dict[int, int] = {}
        self._descendant: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._busy0 = self._busy1 = 0
        self._self0 = self._self1 = 0.0
        self._t0 = self._t1 = 0.0
        self.available = Path("/proc/stat").exists()

    @staticmethod
    def _rusage_s() -> float:
        import resource

        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def _sample(self, first: bool = False) -> None:
        tree = own_tree(self.root_pid)
        descendants = descendants_of(self.root_pid, tree)
        for pid, (_, ticks) in tree.items():
            if first:
                self._first0[pid] = ticks
            self._last[pid] = ticks
            self._descendant[pid] = pid in descendants
        self._alive = set(tree)

    def start(self) -> CpuWatch:
        if self.available:
            self._busy0 = _busy_ticks()
            self._self0 = self._rusage_s()
            self._t0 = time.monotonic()
            self._sample(first=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> CpuWatch:
        if self.available:
            self._stop.set()
            self._thread.join()
            self._sample()
            self._busy1 = _busy_ticks()
            self._self1 = self._rusage_s()
            self._t1 = time.monotonic()
        return self

    def own_ticks(self) -> float:
        """Our CPU time in the window, in clock ticks."""
        own = (self._self1 - self._self0) * _CLK_TCK
        for pid, last in self._last.items():
            if pid == self.root_pid:
                continue  # in RUSAGE_SELF
            if self._descendant[pid] and pid not in self._alive:
                continue  # reaped: in RUSAGE_CHILDREN
            own += last - self._first0.get(pid, 0)
        return own

    def foreign_share(self) -> float | None:
        """Other processes' CPU time over all CPU time of the window (0..1), None without /proc."""
        if not self.available or self._t1 <= self._t0:
            return None
        capacity = (self._t1 - self._t0) * _CLK_TCK * (os.cpu_count() or 1)
        return foreign_cpu_share(self._busy1 - self._busy0, self.own_ticks(), capacity)


def descendants_of(root_pid: int, table: dict[int, tuple[int, int]]) -> set[int]:
    """`root_pid`'s descendants (not itself) among {pid: (ppid, ticks)}."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = list(children.get(root_pid, ()))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def foreign_cpu_share(busy_ticks: float, own_ticks: float, capacity_ticks: float) -> float:
    """The CPU time other processes used, as a share of the machine's capacity in the window."""
    if capacity_ticks <= 0:
        return 0.0
    return max(0.0, busy_ticks - own_ticks) / capacity_ticks
