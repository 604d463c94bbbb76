"""Rate limits under gunicorn, as in production: one budget shared by every process through Redis,
429 in the JSON error shape, and back on Redis by itself after an outage. Also the SSE stream under
gunicorn: bounded in time, and other requests of the same worker keep flowing while it is open.

Each test starts its own gunicorn processes (the Limiter object is per process, so only separate
processes prove sharing); the outage test also gets a Redis of its own, so stopping it disturbs
no other test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib

from app.coordination import RATELIMIT_KEY_PREFIX
from devstack.services import LocalRedis, free_port, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def get(self, path: str) -> Reply:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())


def _wait_for(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        threading.Event().wait(interval_s)
    return value


@pytest.fixture
def gunicorn(stack, clean_state, tmp_path) -> Iterator[Callable[..., Server]]:
    """`gunicorn(**env)` serves the app in a new process group; all are stopped after the test."""
    servers: list[Server] = []

    def start(**env: str) -> Server:
        port = free_port()
        log = tmp_path / f"gunicorn-{len(servers)}.log"
        argv = gunicorn_command(port, workers=1, timeout_s=30)
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=stack.base_env(STOPSYNC_ENV="production", LOG_LEVEL="WARNING", **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, port, log)
        servers.append(server)

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                return server.get("/healthz").status == 200
            return False

        _wait_for(up, 60, "gunicorn to serve")
        return server

    yield start
    for server in servers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path / "redis", free_port())
    server.start()
    yield server
    server.stop()


def _ratelimit_counters(url: str) -> dict[str, int]:
    client = redis_lib.Redis.from_url(url, decode_responses=True, socket_timeout=2)
    return {key: int(client.get(key) or 0) for key in client.scan_iter(f"*{RATELIMIT_KEY_PREFIX}*")}


def test_two_app_processes_share_one_limit_and_answer_429_in_the_json_shape(gunicorn, stack):
    first = gunicorn(RATELIMIT_DEFAULT="6 per hour")
    second = gunicorn(RATELIMIT_DEFAULT="6 per hour")

    replies = [(first if i % 2 == 0 else second).get("/api/v1/pipeline/status") for i in range(7)]

    assert [r.status for r in replies] == [200] * 6 + [429]
    limited = replies[-1]
    assert limited.json()["error"]["status"] == 429
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    assert first.get("/healthz").status == 200, "health checks are never limited"
    assert sum(_ratelimit_counters(stack.redis_url).values()) >= 6


def test_reads_survive_a_redis_outage_and_limits_are_enforced_again_when_it_returns(gunicorn, own_redis):
    limit = 60
    server = gunicorn(
        REDIS_URL=own_redis.url, RATELIMIT_STORAGE_URL=own_redis.url, RATELIMIT_DEFAULT=f"{limit} per hour"
    )
    assert server.get("/api/v1/pipeline/runs").status == 200
    assert _ratelimit_counters(own_redis.url), "counters live in Redis while it is up"

    own_redis.stop()
    outage = [server.get(path) for path in ("/api/v1/pipeline/runs", "/api/v1/pipeline/status", "/")]
    assert [r.status for r in outage] == [200, 200, 200]
    assert outage[1].json()["state"] == "unknown"

    own_redis.start()  # same port, empty: every counter is gone

    def back_on_redis() -> bool:
        reply = server.get("/api/v1/pipeline/status")
        assert reply.status == 200
        return reply.json()["state"] != "unknown" and bool(_ratelimit_counters(own_redis.url))

    # Flask-Limiter probes its storage with a backoff (1, 2, 4... s) after an outage.
    _wait_for(back_on_redis, 40, "rate limiting to return to Redis", interval_s=0.5)
    statuses = [server.get("/api/v1/pipeline/status").status for _ in range(limit + 1)]

    assert 429 in statuses
    assert max(_ratelimit_counters(own_redis.url).values()) >= limit, "the 429 came from Redis counters"


def test_the_event_stream_is_bounded_under_gunicorn_and_other_requests_keep_flowing(gunicorn, stack):
    from app.coordination import EventType
    from app.services import pipeline_state

    server = gunicorn(PIPELINE_STREAM_MAX_S="3", PIPELINE_STREAM_KEEPALIVE_S="1")
    lines: list[str] = []
    opened = threading.Event()

    def read() -> None:
        url = f"http://127.0.0.1:{server.port}/api/v1/pipeline/stream"
        with urllib.request.urlopen(url, timeout=30) as stream:
            for raw in stream:
                lines.append(raw.decode().rstrip("\n"))
                if lines[-1] == "event: status":
                    opened.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert opened.wait(20), lines
    # The worker's only process is streaming, and still serves (the stream waits in a greenlet).
    assert server.get("/api/v1/pipeline/status").status == 200
    client = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    pipeline_state.publish_event(client, EventType.PROGRESS, "run-x", {"stage": "match", "percent": 50.0})
    reader.join(timeout=20)

    assert not reader.is_alive(), "the server ends the stream after PIPELINE_STREAM_MAX_S"
    assert lines[0] == "retry: 2000"
    assert "event: progress" in lines
    assert any(line.startswith("id: ") for line in lines), "events carry ids for Last-Event-ID"
    assert ": keepalive" in lines
