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

    def __init__(self, host: str, port: int, jobs: queue.Queue, timeout_s: float) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.jobs, self.timeout_s = host, port, jobs, timeout_s
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
) -> dict[str, Any]:
    """Offer `rate` requests/s for `warmup_s + duration_s`; report on the requests after the warm-up."""
    jobs: queue.Queue = queue.Queue()
    workers = [_Worker(host, port, jobs, timeout_s) for _ in range(connections)]
    for worker in workers:
        worker.start()
    total = int((warmup_s + duration_s) * rate)
    warmup_count = int(warmup_s * rate)
    start = time.perf_counter() + 0.05
    # Jobs are handed out a little ahead of their time; workers wait for the exact moment.
    lead_s = 0.02
    for i in range(total):
        scheduled = start + i / rate
        wait = scheduled - lead_s - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        jobs.put((scheduled, paths[i % len(paths)]))
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join(timeout=timeout_s + 30)
    elapsed = time.perf_counter() - start

    results = [r for w in workers for r in w.results]
    results.sort(key=lambda r: r[0])  # in schedule order, so the warm-up is the first requests
    measured = results[warmup_count:]
    latencies = sorted(r[1] for r in measured)
    service = sorted(r[2] for r in measured)
    statuses = Counter(r[3] for r in measured)
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    measured_span = duration_s if duration_s > 0 else elapsed
    return {
        "offered_rate": rate,
        "achieved_rate": len(measured) / measured_span,
        "ok_rate": ok / measured_span,
        "requests": len(measured),
        "ok": ok,
        "errors": len(measured) - ok,
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
    args = parser.parse_args(argv)
    result = run_load(
        args.host,
        args.port,
        _load_paths(args.paths),
        args.rate,
        args.duration,
        args.connections,
        args.warmup,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
