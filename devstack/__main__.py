"""`python -m devstack up|down|reset|services`: the whole stack as local processes, no Docker.

`up` starts PostgreSQL+PostGIS and Redis in `.stack/`, runs the migrator, loads the bundled demo
data on first start, then runs the app (gunicorn, port 5001) and the scheduler until Ctrl-C, when it
stops everything it started. Ports and folders come from the environment (see `.env.example`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devstack.services import LocalPostgres, LocalRedis, ServiceError, gunicorn_command, port_open

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
PG_PORT = int(os.environ.get("DEV_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("DEV_REDIS_PORT", "56379"))
# DEV_READ_REPLICA=1: also a streaming replica of the local PostgreSQL, which the app reads from.
REPLICA_PORT = int(os.environ.get("DEV_REPLICA_PORT", "55433"))
APP_PORT = int(os.environ.get("APP_PORT", "5001"))


def _say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def services() -> tuple[LocalPostgres, LocalRedis]:
    return (
        LocalPostgres(STACK_DIR / "postgres", PG_PORT),
        LocalRedis(STACK_DIR / "redis", REDIS_PORT, persistent=True),
    )


def replica_wanted() -> bool:
    return os.environ.get("DEV_READ_REPLICA", "").strip().lower() in {"1", "true", "yes", "on"}


def start_replica(postgres: LocalPostgres) -> LocalPostgres:
    """The local replica: copied from the running primary the first time, started as it is later."""
    replica = LocalPostgres(STACK_DIR / "replica", REPLICA_PORT)
    if replica.is_initialised():
        replica.start()
        return replica
    _say(f"streaming replica on 127.0.0.1:{REPLICA_PORT} (pg_basebackup of the primary)")
    return postgres.start_replica(replica.base_dir, REPLICA_PORT)


def stack_environment(postgres: LocalPostgres, redis: LocalRedis) -> dict[str, str]:
    secret_file = STACK_DIR / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48))
    env = dict(os.environ)
    env.update(
        {
            "STOPSYNC_ENV": env.get("STOPSYNC_ENV", "development"),
            "DATABASE_URL": postgres.url(),
            "REDIS_URL": redis.url,
            "SECRET_KEY": secret_file.read_text().strip(),
            "SESSION_COOKIE_SECURE": "false",
            "FLASK_APP": "runs.cli:create_app",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_services() -> tuple[LocalPostgres, LocalRedis]:
    postgres, redis = services()
    _say(f"PostgreSQL+PostGIS on 127.0.0.1:{PG_PORT} (data in {postgres.data_dir})")
    postgres.start()
    postgres.create_database("stopsync")
    _say(f"Redis on 127.0.0.1:{REDIS_PORT}")
    redis.start()
    return postgres, redis


def load_demo_data(env: dict[str, str]) -> None:
    """Import the bundled demo region on first start (when no stop has been imported yet)."""
    if importlib.util.find_spec("runs.stages") is None:
        _say("pipeline not available yet: skipping demo data")
        return
    import psycopg

    conninfo = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM registry_stops").fetchone()
        count = row[0] if row is not None else 0
    if count:
        _say(f"{count} registry stops already imported: skipping demo data")
        return
    _say("loading the bundled demo data (Liechtenstein)")
    subprocess.run(
        [sys.executable, "-m", "flask", "pipeline", "run", "--source-dir", str(ROOT / "data" / "demo")],
        env=env,
        cwd=ROOT,
        check=True,
    )


def wait_ready(timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{APP_PORT}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.5)
    return False


def up(args: argparse.Namespace) -> int:
    if port_open(APP_PORT):
        _say(f"port {APP_PORT} is already in use: stop what runs there first (./dev down)")
        return 1
    postgres, redis = start_services()
    env = stack_environment(postgres, redis)
    children: list[subprocess.Popen] = []
    replica: LocalPostgres | None = None

    def stop_all(code: int) -> int:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)
            if child.poll() is None:
                child.kill()
        _say("stopping Redis and PostgreSQL")
        redis.stop()
        if replica is not None:
            replica.stop()
        postgres.stop()
        for name in ("app.pid", "scheduler.pid"):
            (STACK_DIR / name).unlink(missing_ok=True)
        return code

    try:
        _say("running the migrator")
        if subprocess.run([sys.executable, "-m", "migrator"], env=env, cwd=ROOT).returncode != 0:
            _say("migrator failed")
            return stop_all(1)
        if not args.no_demo:
            load_demo_data(env)
        gunicorn = gunicorn_command(
            APP_PORT,
            host="0.0.0.0",  # noqa: S104 - like the container, reachable from the LAN
            extra=("--access-logfile", "-", "--reload"),
        )
        app_env = dict(env)
        if replica_wanted():
            replica = start_replica(postgres)
            app_env["DATABASE_READ_URL"] = replica.url()  # the app only: the scheduler writes
        children.append(subprocess.Popen(gunicorn, env=app_env, cwd=ROOT))
        children.append(subprocess.Popen([sys.executable, "-m", "scheduler"], env=env, cwd=ROOT))
        (STACK_DIR / "app.pid").write_text(str(children[0].pid))
        (STACK_DIR / "scheduler.pid").write_text(str(children[1].pid))
    except (ServiceError, subprocess.CalledProcessError, KeyboardInterrupt) as exc:
        _say(f"start-up failed: {exc}")
        return stop_all(1)

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if wait_ready():
        _say(f"StopSync is running on http://localhost:{APP_PORT}  (Ctrl-C stops everything)")
    else:
        _say("the app did not report ready within 60 s; see the log above")
    while not stopping:
        for child in children:
            if child.poll() is not None:
                # Started as [python, -m, module]: the module names the process.
                command = (
                    [str(arg) for arg in child.args] if isinstance(child.args, list) else [str(child.args)]
                )
                _say(f"process {command[2] if len(command) > 2 else command} exited: stopping")
                return stop_all(child.returncode or 1)
        time.sleep(0.5)
    _say("Ctrl-C: stopping the app and the scheduler")
    return stop_all(0)


def down(_args: argparse.Namespace) -> int:
    for name in ("app.pid", "scheduler.pid"):
        pid_file = STACK_DIR / name
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()
    postgres, redis = services()
    redis.stop()
    LocalPostgres(STACK_DIR / "replica", REPLICA_PORT).stop()  # nothing to do without one
    postgres.stop()
    _say("stopped")
    return 0


def reset(args: argparse.Namespace) -> int:
    down(args)
    shutil.rmtree(STACK_DIR, ignore_errors=True)
    _say(f"removed {STACK_DIR}")
    return 0


def env_cmd(_args: argparse.Namespace) -> int:
    """Start only PostgreSQL and Redis and print the environment to reach them (for scripts, bench)."""
    postgres, redis = start_services()
    env = stack_environment(postgres, redis)
    print(json.dumps({key: env[key] for key in ("DATABASE_URL", "REDIS_URL")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="run the whole stack until Ctrl-C")
    up_parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    up_parser.set_defaults(func=up)
    sub.add_parser("down", help="stop whatever a previous `up` left running").set_defaults(func=down)
    sub.add_parser("reset", help="stop and delete all local data").set_defaults(func=reset)
    sub.add_parser("services", help="start PostgreSQL and Redis only").set_defaults(func=env_cmd)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ServiceError as exc:
        _say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
