"""PostgreSQL restarts under a real gunicorn: fast 503 JSON while it is down, recovery without a restart.

`tests/integration/test_database_outage.py` proves the same with Flask's test client; this one goes
through gunicorn's worker processes and threads, with requests in flight while the database goes
away and comes back, so every pooled connection of every worker meets the outage.
"""

from __future__ import annotations

import threading

import pytest

from tests.faults.conftest import Reply, Served, poll

DB_READS = (
    "/api/v1/stops?bbox=9.47,47.04,9.64,47.28",
    "/api/v1/search?q=Vaduz",
    "/api/v1/problems",
    "/api/v1/pipeline/runs",
)
# Connection refused is immediate; anything close to the 5 s connect timeout means a request hung.
FAST_S = 2.0


def _assert_json_503(reply: Reply, path: str) -> None:
    assert reply.status == 503, f"{path}: {reply.status} {reply.body[:200]!r}"
    assert reply.headers.get("Content-Type", "").startswith("application/json"), path
    error = reply.json()["error"]
    assert error["status"] == 503
    assert error["code"] == "database_unavailable"
    assert reply.headers["Retry-After"] == "5"  # the database's hint, not the rate limiter's window
    assert reply.elapsed_s < FAST_S, f"{path} took {reply.elapsed_s:.2f} s with the database down"


class _Traffic(threading.Thread):
    """Keeps requesting while the database goes down and up; records every reply."""

    def __init__(self, served: Served, paths: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.served, self.paths = served, paths
        self.replies: list[tuple[str, Reply]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for path in self.paths:
                self.replies.append((path, self.served.get(path, timeout_s=20)))


def test_gunicorn_answers_503_json_fast_while_postgres_is_down_and_recovers_without_restart(stack, serve):
    if stack.postgres is None:
        pytest.skip("needs the harness's own PostgreSQL to stop and start it")
    served = serve()
    # Warm every worker's pool, so the outage hits established connections, not only new ones.
    for _ in range(20):
        for path in DB_READS:
            assert served.get(path).status == 200
    workers = served.worker_pids()
    traffic = _Traffic(served, DB_READS)
    traffic.start()
    try:
        stack.postgres.stop(mode="fast")
        for _ in range(4):  # both workers, several threads and pooled connections
            for path in DB_READS:
                _assert_json_503(served.get(path), path)
        assert served.get("/healthz").status == 200, "liveness does not depend on the database"
        ready = served.get("/readyz")
        assert ready.status == 503
        assert any(p["component"] == "database" for p in ready.json()["problems"])
    finally:
        stack.postgres.start()
    poll(lambda: all(served.get(p).status == 200 for p in DB_READS), 30, "reads recovered")
    recovered_at = len(traffic.replies)
    poll(lambda: len(traffic.replies) > recovered_at + 10, 30, "traffic continuing after recovery")
    traffic.stopping.set()
    traffic.join(timeout=30)

    # Every reply during the whole episode was a success or the JSON 503, never a 500 or a hang.
    statuses = {reply.status for _, reply in traffic.replies}
    assert statuses <= {200, 503}, f"statuses during the restart: {statuses}\n{served.log_tail(400)}"
    for path, reply in traffic.replies:
        if reply.status == 503:
            assert reply.json()["error"]["code"] == "database_unavailable", path
    assert 200 in statuses
    assert all(reply.status == 200 for _, reply in traffic.replies[recovered_at:]), "no relapse"
    assert served.worker_pids() == workers, "recovered without restarting gunicorn or its workers"
    assert served.process.poll() is None
