"""A bounded, open-loop HTTP load generator: `python -m bench.loadgen --rate 200 ...`.

Requests start on a fixed schedule (request i at t0 + i/rate), whatever the server does, and each
latency is measured from the request's *scheduled* start. A slow server therefore shows up as
queueing delay in the percentiles instead of silently lowering the offered rate (no coordinated
omission, the flaw wrk has without wrk2's `-R`). Keep-alive connections come from a pool of
threads, one `http.client` connection each; at a few hundred requests per second the client needs
a few percent of one core, which matters on a 2-core machine that also runs the server.

Prints one JSON object on stdout: offered and achieved rate, status counts, latency percentiles.
Run it as its own process so its CPU use is not the server's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import percentile


def _load_paths(path: Path) -> list[str]:
    paths = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not paths:
        raise SystemExit(f"{path}: no request paths")
    return paths


class _Worker(threading.Thread):
    """Takes (scheduled_time, path) jobs and records (latency from schedule, service time, status)."""

    def __init__(
        self, host: str, port: int, jobs: queue.Queue, timeout_s: float, check_features: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.jobs, self.timeout_s = host, port, jobs, timeout_s
        # Count GeoJSON answers without a single feature: a viewport centred on a real stop is
        # never empty, unless the data vanished (what an import must never let a reader see).
        self.check_features = check_features
        self.empty = 0
        # (scheduled_at, latency_s, service_s, status, bytes)
        self.results: list[tuple[float, float, float, int, int]] = []
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, path: str) -> tuple[int, int]:
        for attempt in (1, 2):  # a keep-alive connection the server closed is retried once, fresh
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                self.connection.request("GET", path, headers={"Accept": "application/json"})
                response = self.connection.getresponse()
                body = response.read()
                if self.check_features and response.status == 200 and not json.loads(body).get("features"):
                    self.empty += 1
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                return response.status, len(body)
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    return 0, 0  # 0 = transport error
        return 0, 0

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            scheduled, path = job
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            status, size = self._request(path)
            done = time.perf_counter()
            self.results.append((scheduled, done - scheduled, done - sent, status, size))


def run_load(
    host: str,
    port: int,
    paths: list[str],
    rate: float,
    duration_s: float,
    connections: int,
    warmup_s: float = 2.0,
    timeout_s: float = 10.0,
    check_features: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Offer `rate` requests/s for `warmup_s + duration_s`; report on the requests after the warm-up.

    `stop` (SIGTERM in `main`) ends the schedule early; what was sent until then is reported.
    Requests still unanswered `timeout_s` after the schedule ended count as errors (status 0).
    """
    stop = stop or threading.Event()
    jobs: queue.Queue = queue.Queue()
    workers = [_Worker(host, port, jobs, timeout_s, check_features) for _ in range(connections)]
    for worker in workers:
        worker.start()
    total = int((warmup_s + duration_s) * rate)
    warmup_count = int(warmup_s * rate)
    start = time.perf_counter() + 0.05
    # Jobs are handed out a little ahead of their time; workers wait for the exact moment.
    lead_s = 0.02
    scheduled_count = 0
    for i in range(total):
        if stop.is_set():
            break
        scheduled = start + i / rate
        wait = scheduled - lead_s - time.perf_counter()
        if wait > 0:
            stop.wait(wait)
        jobs.put((scheduled, paths[i % len(paths)]))
        scheduled_count += 1
    for _ in workers:
        jobs.put(None)
    drain_deadline = time.perf_counter() + timeout_s + 5
    for worker in workers:
        worker.join(timeout=max(0.0, drain_deadline - time.perf_counter()))

    results = sorted((r for w in workers for r in list(w.results)), key=lambda r: r[0])
    unanswered = scheduled_count - len(results)  # still queued or in flight: the server fell behind
    measured = results[warmup_count:]
    latencies = sorted(r[1] for r in measured)
    service = sorted(r[2] for r in measured)
    statuses = Counter(r[3] for r in measured)
    if unanswered > 0:
        statuses[0] += unanswered
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    # The rate actually served: answers over the time from the first measured request's schedule to
    # the last answer (longer than the schedule when the server falls behind).
    span = max(r[0] + r[1] for r in measured) - measured[0][0] if measured else 0.0
    span = max(span, 1e-9)
    return {
        "offered_rate": rate,
        "achieved_rate": len(measured) / span,
        "ok_rate": ok / span,
        "requests": len(measured) + max(unanswered, 0),
        "ok": ok,
        "errors": len(measured) + max(unanswered, 0) - ok,
        "unanswered": max(unanswered, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "mean_bytes": (sum(r[4] for r in measured) / len(measured)) if measured else 0,
        "latency_ms": {
            "p50": percentile(latencies, 50) * 1000,
            "p95": percentile(latencies, 95) * 1000,
            "p99": percentile(latencies, 99) * 1000,
            "max": (latencies[-1] * 1000) if latencies else None,
        },
        "service_ms": {
            "p50": percentile(service, 50) * 1000,
            "p99": percentile(service, 99) * 1000,
        },
        "connections": connections,
        "duration_s": duration_s,
        "empty_feature_collections": sum(w.empty for w in workers) if check_features else None,
        # This process's own CPU: what the measurement took from the server on a shared machine.
        "client_cpu_s": time.process_time(),
        "client_wall_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", type=Path, required=True, help="file with one request path per line")
    parser.add_argument("--rate", type=float, required=True, help="requests per second (fixed schedule)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds after the warm-up")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--check-features", action="store_true", help="count GeoJSON answers with no feature (as empty)"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    result = run_load(
        args.host,
        args.port,
        _load_paths(args.paths),
        args.rate,
        args.duration,
        args.connections,
        args.warmup,
        check_features=args.check_features,
        stop=stop,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
