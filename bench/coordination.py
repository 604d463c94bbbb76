"""Coordination: how fast a "Run now" starts, how fast live events reach a browser, what the lock costs.

On a throwaway durable stack, with the real scheduler process (default poll period) and gunicorn as
in production:
- run request → run started: a request is queued the way the API queues it; measured from the
  request's time to the run's `started_at` in the status (both wall clock, same machine);
- event published → SSE client: events appended to the stream while a client reads
  /api/v1/pipeline/stream through gunicorn; measured from the append to the parsed frame;
- lock acquire + release, status read: single-client costs against Redis on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request

import redis

from bench.common import (
    PYTHON,
    ROOT,
    BenchStack,
    Figure,
    bench_stack,
    format_table,
    gunicorn,
    percentile,
    say,
)

REQUESTS = 5
EVENTS = 200


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.02)
    return value


def request_pickup(stack: BenchStack, client: redis.Redis) -> list[Figure]:
    """Queue REQUESTS run requests one after the other; time until a scheduler started each."""
    from app.coordination import SCHEDULER_HEARTBEAT_KEY, STATUS_KEY
    from app.services import pipeline_state

    scheduler = subprocess.Popen([PYTHON, "-m", "scheduler"], env=stack.env(), cwd=ROOT)
    try:
        # Measure pickup, not start-up: the scheduler writes its heartbeat once it is scheduling.
        _wait(lambda: client.exists(SCHEDULER_HEARTBEAT_KEY), 60, "the scheduler to start")
        delays, run_seconds = [], []
        for index in range(REQUESTS):
            result = pipeline_state.enqueue_request(client, f"bench-{index}")
            assert result.accepted, result
            request = result.request or {}

            def finished(request_id: str = request["id"]) -> dict | None:
                status = client.hgetall(STATUS_KEY)
                done = status.get("state") in ("succeeded", "failed")
                return status if done and request_id in status.get("request_ids", "") else None

            status = _wait(finished, 120, "the requested run")
            if status["state"] != "succeeded":
                raise RuntimeError(f"the requested run failed: {status.get('last_error')}")
            delays.append(float(status["started_at"]) - request["requested_at"])
            run_seconds.append(float(status["finished_at"]) - float(status["started_at"]))
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
    delays.sort()
    say(f"request pickup delays: {[round(d, 2) for d in delays]}")
    return [
        Figure("run request → run started, median", round(percentile(delays, 50), 2), "s", target=5.0),
        Figure(
            "run request → run started, max", round(delays[-1], 2), "s", target=5.0, note="poll every 2 s"
        ),
        Figure("guarded demo run (LI), median", round(percentile(sorted(run_seconds), 50), 2), "s"),
    ]


def sse_latency(stack: BenchStack, client: redis.Redis) -> list[Figure]:
    """Append events while one client reads the stream through gunicorn; time append → frame."""
    from app.coordination import EventType
    from app.services import pipeline_state

    received: dict[str, float] = {}
    ready = threading.Event()
    with gunicorn(stack, PIPELINE_STREAM_MAX_S="60") as server:

        def read() -> None:
            with urllib.request.urlopen(f"{server.base_url}/api/v1/pipeline/stream", timeout=70) as stream:  # noqa: S310
                for raw in stream:
                    line = raw.decode().strip()
                    if line.startswith("event: status"):
                        ready.set()
                    if line.startswith("data: ") and '"seq"' in line:
                        data = json.loads(line[6:])
                        received[str(data["seq"])] = time.perf_counter()
                        if len(received) == EVENTS:
                            return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if not ready.wait(30):
            raise RuntimeError("the stream did not open")
        sent: dict[str, float] = {}
        for seq in range(EVENTS):
            sent[str(seq)] = time.perf_counter()
            pipeline_state.publish_event(client, EventType.PROGRESS, "bench", {"seq": seq})
            time.sleep(0.005)  # a steady trickle, like a run's progress, not one burst
        reader.join(timeout=30)
    latencies = sorted((received[k] - sent[k]) * 1000 for k in sent if k in received)
    if len(latencies) != EVENTS:
        raise RuntimeError(f"only {len(latencies)} of {EVENTS} events arrived")
    return [
        Figure("event → SSE client (gunicorn), p50", round(percentile(latencies, 50), 2), "ms"),
        Figure("event → SSE client (gunicorn), p95", round(percentile(latencies, 95), 2), "ms", target=250.0),
    ]


def redis_costs(client: redis.Redis) -> list[Figure]:
    from app.services import pipeline_state

    lock = pipeline_state.pipeline_lock(client, 120)
    rounds = 2000
    started = time.perf_counter()
    for index in range(rounds):
        assert pipeline_state.try_acquire(lock, f"bench-{index}")
        lock.release()
    per_cycle_us = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        pipeline_state.read_status(client, 30)
    per_read_us = (time.perf_counter() - started) / rounds * 1e6
    return [
        Figure("lock acquire + release (2 round trips)", round(per_cycle_us, 1), "µs"),
        Figure("status read (one MULTI of 4 reads)", round(per_read_us, 1), "µs"),
    ]


def run(keep: bool = False) -> list[Figure]:
    with bench_stack(keep=keep) as stack:
        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
        figures = redis_costs(client)
        figures += sse_latency(stack, client)
        figures += request_pickup(stack, client)
    return figures


def main() -> None:
    figures = run(keep="--keep" in sys.argv)
    print(format_table(figures))
    sys.exit(0 if all(f.verdict != "MISS" for f in figures) else 1)


if __name__ == "__main__":
    main()
