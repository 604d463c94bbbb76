"""PostgreSQL going away: requests fail fast with a 503 JSON error and recover without an app restart."""

from __future__ import annotations

import time

import pytest


def test_requests_fail_fast_with_503_json_while_postgres_is_down_and_recover(stack, client):
    if stack.postgres is None:
        pytest.skip("needs the harness's own PostgreSQL to stop and start it")
    assert client.get("/api/v1/pipeline/runs").status_code == 200
    stack.postgres.stop(mode="fast")
    try:
        started = time.monotonic()
        response = client.get("/api/v1/pipeline/runs")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database_unavailable"
        # The database's own hint, not the rate limiter's window (which would say up to a minute).
        assert response.headers["Retry-After"] == "5"
        assert elapsed < 5, f"took {elapsed:.1f} s; a dead database must not hang requests"
        assert client.get("/healthz").status_code == 200
    finally:
        stack.postgres.start()
    assert client.get("/api/v1/pipeline/runs").status_code == 200
