"""PostgreSQL+PostGIS and Redis as local processes, for machines without a Docker engine.

Used by `./dev up` (the whole stack) and by the pytest harness (one throwaway pair per session).
Everything lives in a project-local folder; nothing touches the system's own clusters.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "stopsync"
PG_PASSWORD = "stopsync"  # noqa: S105 - local loopback-only cluster
PG_SYSTEM_USER = "postgres"  # initdb refuses to run as root; this user comes with the Debian package


# Open connections one gevent worker serves at once (ordinary requests, kept-alive connections and
# live streams together). Live streams are capped by STREAM_MAX_TOTAL in Redis, so this is the
# headroom above that for everything else; the database pool (DB_POOL_SIZE) bounds real work.
WORKER_CONNECTIONS = 256


def gunicorn_command(
    port: int,
    *,
    host: str = "127.0.0.1",
    workers: int = 2,
    connections: int = WORKER_CONNECTIONS,
    timeout_s: int = 60,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command that serves the app with gunicorn, as `./dev up`, the tests and the benchmarks run it.

    gevent workers: each request is a greenlet, so a long-lived response (the live SSE stream) waits
    on Redis without holding a request thread, and ordinary requests keep flowing however many
    streams are open. psycopg and redis-py cooperate with gevent's monkey-patching, which the worker
    applies before it imports the app (so never add --preload: the master would import psycopg
    first and it would pick its blocking C wait function).
    """
    return [
        sys.executable, "-m", "gunicorn", "app:create_app()",
        "--bind", f"{host}:{port}",
        "--worker-class", "gevent",
        "--workers", str(workers),
        "--worker-connections", str(connections),
        "--timeout", str(timeout_s),
        *extra,
    ]  # fmt: skip


class ServiceError(RuntimeError):
    """A local service could not be started or reached."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f} s")


def _as_service_user(argv: list[str]) -> list[str]:
    """Run PostgreSQL tools as an unprivileged user when we are root (initdb insists)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", PG_SYSTEM_USER, "--", *argv]


def _run(argv: list[str], what: str, log_file: Path | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        log_tail = ""
        if log_file is not None and log_file.exists():
            log_tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-10:])
        raise ServiceError(
            f"{what} failed: {result.stderr.strip() or result.stdout.strip()}\n{log_tail}".strip()
        )


def _chown_for_service(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in `base_dir`, listening on 127.0.0.1:`port` only."""

    base_dir: Path
    port: int
    fast_unsafe: bool = False  # tests: no fsync; data is thrown away anyway
    extra_settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def url(self, database: str = "stopsync") -> str:
        return f"postgresql+psycopg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise ServiceError(f"PostgreSQL 15 not found in {PG_BIN}; install postgresql-15-postgis-3")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        _chown_for_service(self.base_dir)
        _run(
            _as_service_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    PG_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            "initdb",
        )
        pwfile.unlink()

    def _options(self) -> str:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
            "shared_buffers": "256MB",
            **self.extra_settings,
        }
        if self.fast_unsafe:
            settings.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
        return " ".join(f"-c {key}={value}" for key, value in settings.items())

    def start(self, timeout_s: float = 60) -> None:
        if not self.is_initialised():
            self.init()
        if self.running():
            return
        _run(
            _as_service_user(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    self._options(),
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "start",
                ]
            ),
            f"starting PostgreSQL on port {self.port}",
            self.log_file,
        )
        wait_until(lambda: port_open(self.port), timeout_s, f"PostgreSQL on port {self.port}")

    def running(self) -> bool:
        result = subprocess.run(
            _as_service_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        if self.is_initialised() and self.running():
            subprocess.run(
                _as_service_user(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"]
                ),
                capture_output=True,
            )

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists (connects to the maintenance database)."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={PG_USER} password={PG_PASSWORD} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def start_replica(self, base_dir: Path, port: int, timeout_s: float = 120) -> LocalPostgres:
        """A hot-standby streaming replica of this (running) cluster in `base_dir`, on 127.0.0.1:`port`.

        `pg_basebackup -R` copies the cluster while it runs and writes the standby's connection to
        it (`primary_conninfo`, `standby.signal`); WAL streams from then on. The default pg_hba
        lets the superuser replicate from 127.0.0.1 with its password, and wal_level defaults to
        `replica`, so the primary needs no change and no restart.
        """
        replica = LocalPostgres(
            base_dir, port, fast_unsafe=self.fast_unsafe, extra_settings=dict(self.extra_settings)
        )
        replica.base_dir.mkdir(parents=True, exist_ok=True)
        replica.socket_dir.mkdir(parents=True, exist_ok=True)
        _chown_for_service(replica.base_dir)
        conninfo = (
            f"host=127.0.0.1 port={self.port} user={PG_USER} password={PG_PASSWORD} "
            "application_name=stopsync-replica"
        )
        _run(
            _as_service_user(
                [
                    str(PG_BIN / "pg_basebackup"),
                    "--dbname",
                    conninfo,
                    "--pgdata",
                    str(replica.data_dir),
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",  # a throwaway copy: its files need not reach the disk before it starts
                ]
            ),
            f"pg_basebackup of port {self.port}",
        )
        replica.start(timeout_s)
        return replica

    def drop_database(self, name: str) -> None:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={PG_USER} password={PG_PASSWORD} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LocalRedis:
    """A redis-server on 127.0.0.1:`port`, its files in `base_dir`."""

    base_dir: Path
    port: int
    persistent: bool = False
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "redis.pid"

    def start(self, timeout_s: float = 20) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found; install the redis-server package")
        if port_open(self.port):
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.base_dir),
            "--pidfile",
            str(self.pid_file),
            "--logfile",
            str(self.base_dir / "redis.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--save", "60 1"]
        else:
            argv += ["--appendonly", "no", "--save", ""]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port), timeout_s, f"Redis on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None
            return
        # Started by another invocation (`./dev up` then `./dev down`): use the pid file.
        if self.pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(self.pid_file.read_text().strip()), signal.SIGTERM)
            wait_until(lambda: not port_open(self.port), 10, "Redis shutdown")
