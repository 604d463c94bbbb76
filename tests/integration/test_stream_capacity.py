"""The live stream cannot starve the API: under the real gunicorn command, open streams never hold
a request thread, and they are bounded per client and in total (429 in the JSON error shape with
Retry-After), with slots counted in Redis that a killed server cannot leak for long.

Streams are opened with raw sockets, so a test can hold fifty at once without fifty threads, and
can say which client it is (X-Forwarded-For, honoured only when TRUST_PROXY_HOPS trusts a proxy).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text

from app.coordination import EVENTS_KEY, STREAM_CLIENT_KEY_PREFIX, STREAM_SLOTS_KEY
from app.services.pipeline_stream import SlotRefused, StreamLimits, StreamSlot, take_slot
from devstack.services import free_port, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]
STREAM_PATH = "/api/v1/pipeline/stream"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def get(self, path: str, timeout_s: float = 10.0) -> Reply:
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                body, status, headers = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            body, status, headers = exc.read(), exc.code, dict(exc.headers)
        except OSError:  # a read that timed out: the server did not answer
            body, status, headers = b"", 0, {}
        return Reply(status, headers, body, time.monotonic() - started)


@dataclass
class RawStream:
    """One SSE request on a plain socket: no thread per connection, and nothing read until asked."""

    sock: socket.socket
    received: bytes = field(default=b"")

    @classmethod
    def open(cls, port: int, client_ip: str | None = None) -> RawStream:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        forwarded = f"X-Forwarded-For: {client_ip}\r\n" if client_ip else ""
        request = (
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{forwarded}\r\n"
        )
        sock.sendall(request.encode())
        return cls(sock)

    def read_until(self, marker: bytes, deadline: float) -> bool:
        """Read until `marker` arrived or the connection closed; False at the deadline."""
        while marker not in self.received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            if not chunk:
                return marker in self.received
            self.received += chunk
        return True

    def read_to_end(self, deadline: float) -> bool:
        """Read until the server closes the connection (True) or the deadline passes (False)."""
        while (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.received += chunk
        return False

    def streaming(self, deadline: float) -> bool:
        """The server answered 200 and sent the first `status` event."""
        return self.read_until(b"event: status", deadline) and self.status == 200

    @property
    def status(self) -> int:
        first_line = self.received.split(b"\r\n", 1)[0].split()
        return int(first_line[1]) if len(first_line) > 1 else 0

    def rejection(self, deadline: float) -> tuple[int, dict[str, str], dict]:
        """Status, headers and JSON body of a refused stream (read until the server closes)."""
        self.read_until(b"\0never\0", deadline)  # a refusal is short: read it to the end
        head, _, body = self.received.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        if headers.get("Transfer-Encoding") == "chunked":  # one chunk, then the terminating one
            size, _, rest = body.partition(b"\r\n")
            body = rest[: int(size, 16)]
        return self.status, headers, json.loads(body or b"{}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _wait_for(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
    return value


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def gunicorn(stack, clean_state, tmp_path) -> Iterator[Callable[..., Server]]:
    """`gunicorn(**env)` serves the app with the project's own gunicorn command (two workers, as
    `./dev up` and the container run it); every server is stopped after the test."""
    servers: list[Server] = []

    def start(workers: int = 2, **env: str) -> Server:
        port = free_port()
        log = tmp_path / f"gunicorn-{len(servers)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                gunicorn_command(port, workers=workers, timeout_s=30),
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
            return server.get("/healthz", timeout_s=2).status == 200

        _wait_for(up, 60, "gunicorn to serve")
        return server

    yield start
    for server in servers:
        _stop(server.process)


@pytest.fixture
def streams() -> Iterator[list[RawStream]]:
    """Streams a test opened; all are closed after it."""
    opened: list[RawStream] = []
    yield opened
    for stream in opened:
        stream.close()


def _open(streams: list[RawStream], server: Server, client_ip: str | None = None) -> RawStream:
    stream = RawStream.open(server.port, client_ip)
    streams.append(stream)
    return stream


def test_fifty_open_streams_leave_ordinary_reads_answering_within_a_second(gunicorn, streams):
    server = gunicorn(
        TRUST_PROXY_HOPS="1",  # fifty different clients, as a proxy would tell us
        STREAM_MAX_PER_CLIENT="2",
        STREAM_MAX_TOTAL="60",
        PIPELINE_STREAM_MAX_S="120",  # none ends by itself during the test
        PIPELINE_STREAM_KEEPALIVE_S="1",  # and the server notices closed ones soon: a quick shutdown
        RATELIMIT_DEFAULT="10000 per minute",
    )
    for n in range(50):
        _open(streams, server, f"10.0.{n // 200}.{n % 200 + 1}")
    deadline = time.monotonic() + 20
    serving = [stream.streaming(deadline) for stream in streams]

    slowest: dict[str, float] = {}
    for _ in range(5):
        for path in ("/api/v1/stats", "/api/v1/pipeline/runs", "/api/v1/pipeline/status"):
            reply = server.get(path, timeout_s=5)
            assert reply.status == 200, (path, reply.status, reply.body[:200])
            slowest[path] = max(slowest.get(path, 0.0), reply.elapsed_s)

    assert all(seconds < 1.0 for seconds in slowest.values()), slowest
    assert sum(serving) == 50, f"only {sum(serving)} of 50 streams were served"
    for stream in streams:  # and all fifty are still open, not ended to make room
        stream.sock.settimeout(0.01)
        with contextlib.suppress(TimeoutError):
            assert stream.sock.recv(65536) != b"", "a stream was closed by the server"


def test_a_client_over_its_stream_limit_gets_429_in_the_json_shape_with_retry_after(gunicorn, streams):
    server = gunicorn(
        TRUST_PROXY_HOPS="1",
        STREAM_MAX_PER_CLIENT="2",
        STREAM_MAX_TOTAL="50",
        PIPELINE_STREAM_KEEPALIVE_S="1",
    )
    deadline = time.monotonic() + 20
    assert _open(streams, server, "10.9.0.1").streaming(deadline)
    assert _open(streams, server, "10.9.0.1").streaming(deadline)

    status, headers, body = _open(streams, server, "10.9.0.1").rejection(deadline)

    assert status == 429
    assert body["error"]["status"] == 429
    assert body["error"]["code"] == "too_many_requests"
    assert body["error"]["details"]["limit"] == "STREAM_MAX_PER_CLIENT"
    assert 1 <= int(headers["Retry-After"]) <= 45
    assert _open(streams, server, "10.9.0.2").streaming(deadline), "other clients are not affected"


def test_a_spoofed_x_forwarded_for_does_not_escape_the_per_client_limit_without_a_trusted_proxy(
    gunicorn, streams
):
    # TRUST_PROXY_HOPS=0: no proxy is trusted
    server = gunicorn(STREAM_MAX_PER_CLIENT="2", STREAM_MAX_TOTAL="50", PIPELINE_STREAM_KEEPALIVE_S="1")
    deadline = time.monotonic() + 20
    assert _open(streams, server, "10.8.0.1").streaming(deadline)
    assert _open(streams, server, "10.8.0.2").streaming(deadline)

    status, _, _ = _open(streams, server, "10.8.0.3").rejection(deadline)

    assert status == 429, "all three came from 127.0.0.1, whatever the header said"


def test_streams_over_the_total_limit_get_429_and_a_closed_stream_frees_its_slot(gunicorn, streams):
    server = gunicorn(
        TRUST_PROXY_HOPS="1", STREAM_MAX_PER_CLIENT="3", STREAM_MAX_TOTAL="3", PIPELINE_STREAM_KEEPALIVE_S="1"
    )
    deadline = time.monotonic() + 20
    held = [_open(streams, server, f"10.7.0.{n}") for n in (1, 2, 3)]
    assert all(stream.streaming(deadline) for stream in held)

    status, headers, body = _open(streams, server, "10.7.0.4").rejection(deadline)
    assert status == 429
    assert body["error"]["details"]["limit"] == "STREAM_MAX_TOTAL"
    assert int(headers["Retry-After"]) >= 1

    held[0].close()  # the server notices at its next keepalive write and releases the slot
    _wait_for(
        lambda: _open(streams, server, "10.7.0.4").streaming(time.monotonic() + 10),
        20,
        "the closed stream's slot to be free again",
        interval_s=0.5,
    )


def test_slots_of_a_killed_server_expire_instead_of_leaking(gunicorn, streams, stack):
    env = {
        "TRUST_PROXY_HOPS": "1",
        "STREAM_MAX_PER_CLIENT": "1",
        "STREAM_MAX_TOTAL": "2",
        "PIPELINE_STREAM_KEEPALIVE_S": "1",
    }
    first = gunicorn(**env)
    deadline = time.monotonic() + 20
    assert all(_open(streams, first, f"10.6.0.{n}").streaming(deadline) for n in (1, 2))
    redis = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    assert redis.zcard(STREAM_SLOTS_KEY) == 2
    assert redis.zcard(f"{STREAM_CLIENT_KEY_PREFIX}:10.6.0.1") == 1

    _stop(first.process, signal.SIGKILL)  # no worker gets to release anything
    assert redis.zcard(STREAM_SLOTS_KEY) == 2, "the slots outlive the killed server..."

    second = gunicorn(**env)
    _wait_for(
        lambda: _open(streams, second, "10.6.0.3").streaming(time.monotonic() + 10),
        30,
        "...until their lease runs out",
        interval_s=0.5,
    )
    assert redis.zcard(STREAM_SLOTS_KEY) == 1


def test_a_request_waiting_on_the_database_does_not_hold_up_the_rest_of_its_worker(gunicorn, stack):
    """The gevent worker only works if psycopg waits cooperatively (it picks its wait function at
    import, after the worker's monkey-patching): a request stuck on a lock must not stall the hub."""
    server = gunicorn(workers=1)
    engine = create_engine(stack.database_url)
    stuck: dict[str, Reply] = {}
    try:
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE pipeline_runs IN ACCESS EXCLUSIVE MODE"))
            waiter = threading.Thread(target=lambda: stuck.update(reply=server.get("/api/v1/stats")))
            waiter.start()

            def stats_waits_on_the_lock() -> bool:
                with engine.connect() as probe:
                    return bool(
                        probe.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stopsync'"
                                " AND wait_event_type = 'Lock'"
                            )
                        )
                    )

            _wait_for(stats_waits_on_the_lock, 10, "/api/v1/stats to wait on the table lock")
            replies = [server.get(path) for path in ("/healthz", "/api/v1/pipeline/status") * 3]
            holder.rollback()
        waiter.join(timeout=15)
    finally:
        engine.dispose()

    assert [reply.status for reply in replies] == [200] * 6
    assert max(reply.elapsed_s for reply in replies) < 1.0, [reply.elapsed_s for reply in replies]
    assert stuck["reply"].status in {200, 503}, "the waiting request ended on its own terms"


def test_a_slot_not_renewed_expires_and_renewing_it_afterwards_ends_its_stream(redis_client):
    limits = StreamLimits(per_client=1, total=1, lease_s=0.3, max_s=45)
    first = take_slot(redis_client, "10.5.0.1", limits)
    assert isinstance(first, StreamSlot)
    refused = take_slot(redis_client, "10.5.0.2", limits)
    assert isinstance(refused, SlotRefused)
    assert refused.setting == "STREAM_MAX_TOTAL"
    assert 44 <= refused.retry_after_s <= 45, "the oldest stream ends by itself max_s after it started"

    def slot_for_the_second_client() -> StreamSlot | None:
        slot = take_slot(redis_client, "10.5.0.2", limits)
        return slot if isinstance(slot, StreamSlot) else None

    second = _wait_for(slot_for_the_second_client, 10, "the unrenewed lease to run out", interval_s=0.1)

    assert first.renew() is False, "the slot was given to another stream: the first must stop"
    assert second.renew() is True
    second.release()
    assert redis_client.zcard(STREAM_SLOTS_KEY) == 0
    assert redis_client.exists(f"{STREAM_CLIENT_KEY_PREFIX}:10.5.0.1") == 0, "empty client keys vanish"


def test_a_stream_answers_unknown_and_ends_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    body = app.test_client().get(STREAM_PATH).get_data(as_text=True)

    assert body.startswith("retry: 2000")
    assert "event: status" in body
    assert '"state":"unknown"' in body


def test_a_client_that_stops_reading_is_disconnected_instead_of_pinning_its_connection(gunicorn, stack):
    """Once the socket buffers are full, writes to a client that never reads block. Its lease then
    runs out (the limits stop counting it), so the blocked write must not wait forever either."""
    server = gunicorn(PIPELINE_STREAM_KEEPALIVE_S="1", PIPELINE_STREAM_MAX_S="300")  # lease: 7 s
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window fills fast
    sock.connect(("127.0.0.1", server.port))
    stalled = RawStream(sock)
    try:
        sock.sendall(f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert stalled.streaming(time.monotonic() + 20)
        # A busy run: far more events than both sockets' buffers hold, while the client reads nothing.
        redis = redis_lib.Redis.from_url(stack.redis_url)
        line = json.dumps({"level": "INFO", "message": "x" * 3000, "at": "2026-01-01T00:00:00Z"})
        with redis.pipeline(transaction=False) as pipe:
            for _ in range(1900):
                pipe.xadd(EVENTS_KEY, {"type": "log", "run_uuid": "run-stalled", "data": line})
            pipe.execute()
        client_port = sock.getsockname()[1]

        # The server closes its side (FIN queued behind the unsent data) while the client still
        # reads nothing; the kernel's table shows it, the client cannot without reading.
        _wait_for(
            lambda: _server_side_tcp_state(server.port, client_port) != TCP_ESTABLISHED,
            40,
            "the server to give up on the client that stopped reading",
            interval_s=0.5,
        )
    finally:
        stalled.close()


TCP_ESTABLISHED = "01"  # /proc/net/tcp state code


def _server_side_tcp_state(server_port: int, client_port: int) -> str | None:
    """State of the server's end of one loopback connection, from the kernel's socket table."""
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = row.split()[1:4]
        if (
            int(local.rsplit(":", 1)[1], 16) == server_port
            and int(remote.rsplit(":", 1)[1], 16) == client_port
        ):
            return state
    return None


def test_a_stream_that_ended_by_itself_has_given_its_slot_back(make_app, redis_client):
    app = make_app(PIPELINE_STREAM_MAX_S=1, STREAM_MAX_PER_CLIENT=1, STREAM_MAX_TOTAL=1)
    client = app.test_client()

    bodies = [client.get(STREAM_PATH).get_data(as_text=True) for _ in range(3)]

    assert all("event: status" in body for body in bodies), "each one got the only slot in turn"
    assert redis_client.zcard(STREAM_SLOTS_KEY) == 0
