"""Redis goes away while gunicorn serves: reads keep answering 200, and everything recovers by itself.

The server gets a Redis of its own (pipeline state and rate-limit storage), which the test stops
and starts again on the same port, without touching the gunicorn process.
"""

from __future__ import annotations

import redis as redis_lib

from tests.faults.conftest import poll

# Reads that must not depend on Redis: database-backed API reads, pages and liveness.
READS = (
    "/api/v1/stops?bbox=9.47,47.04,9.64,47.28",
    "/api/v1/search?q=Vaduz",
    "/api/v1/problems",
    "/api/v1/pipeline/runs",
    "/healthz",
    "/",
)
# A request must not wait long on a dead Redis (the client's socket timeouts are 1 s).
MAX_READ_S = 3.0


def _ratelimit_keys(url: str) -> list[str]:
    return list(redis_lib.Redis.from_url(url, decode_responses=True).scan_iter("*stopsync:ratelimit*"))


def test_reads_stay_200_while_redis_is_down_and_everything_recovers_when_it_returns(serve, own_redis):
    served = serve(REDIS_URL=own_redis.url, RATELIMIT_STORAGE_URL=own_redis.url)
    for path in READS:
        assert served.get(path).status == 200, path
    assert served.get("/readyz").status == 200
    assert served.get("/api/v1/pipeline/status").json()["state"] != "unknown"
    assert _ratelimit_keys(own_redis.url), "rate-limit counters live in Redis while it is up"
    workers = served.worker_pids()

    own_redis.stop()
    # Several rounds, so both workers and several threads meet the dead Redis.
    for _ in range(5):
        for path in READS:
            reply = served.get(path)
            assert reply.status == 200, f"{path}: {reply.status} with Redis down: {reply.body[:200]!r}"
            assert reply.elapsed_s < MAX_READ_S, f"{path} took {reply.elapsed_s:.1f} s with Redis down"
    status = served.get("/api/v1/pipeline/status")
    assert status.status == 200
    assert status.json()["state"] == "unknown", "with Redis down the run status is unknown, not idle"
    ready = served.get("/readyz")
    assert ready.status == 503
    assert any(p["component"] == "redis" for p in ready.json()["problems"])

    own_redis.start()
    poll(lambda: served.get("/readyz").status == 200, 30, "readiness back after Redis returned")
    poll(
        lambda: served.get("/api/v1/pipeline/status").json()["state"] != "unknown",
        30,
        "run status readable again",
    )

    # Rate limiting went back to Redis storage (it used per-process memory meanwhile).
    def counters_back() -> bool:
        served.get("/api/v1/pipeline/runs")
        return bool(_ratelimit_keys(own_redis.url))

    poll(counters_back, 45, "rate-limit counters written to Redis again", interval_s=0.5)
    for path in READS:
        assert served.get(path).status == 200, path
    assert served.worker_pids() == workers, "recovered without restarting a worker"
