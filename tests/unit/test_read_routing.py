"""Which endpoints may read from the replica, how far behind a replica is, and the settings for it.

The app is assembled without touching a server (nothing connects at create_app), so the routing
table is checked against the real URL map: an endpoint the issue names as read-only that is not
routed, or a write or auth endpoint that is, fails here.
"""

from __future__ import annotations

import pytest
from flask import Flask

from app import create_app
from app.config import ConfigError, load_settings
from app.read_routing import EXTENSION_KEY, is_read_only_rule
from database.read_routing import _lsn, is_replica_failure, replica_lag_s

UNREACHABLE = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none"


def _app(**overrides: object) -> Flask:
    return create_app(
        {
            "STOPSYNC_ENV": "test",
            "DATABASE_URL": UNREACHABLE,
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SECRET_KEY": "k" * 40,
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def rules() -> dict[str, str]:
    """URL rule -> endpoint of the app as assembled with a replica configured."""
    app = _app(DATABASE_READ_URL=UNREACHABLE)
    return {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}


READ_ONLY = [
    "/",
    "/api/v1/tiles.json",
    "/api/v1/tiles/<snapshot>/<int:z>/<int:x>/<int:y>.mvt",
    "/api/v1/stops",
    "/api/v1/stops/<source>/<path:stop_id>",
    "/api/v1/search",
    "/api/v1/problems",
    "/api/v1/stats",
    "/api/v1/trends",
    "/api/v1/exports/<any(stops, matches, problems):dataset>.<any(csv, geojson):fmt>",
    "/api/v1/routes",
    "/api/v1/operators",
    "/feeds/problems.atom",
    "/stops/<source>/<path:stop_id>",
    "/stats",
    "/routes",
    "/operators",
    "/downloads",
]


@pytest.mark.parametrize("rule", READ_ONLY)
def test_the_read_only_endpoints_named_by_the_issue_read_from_the_replica(rules, rule):
    assert rule in rules, f"{rule} is not served by the app any more"
    assert is_read_only_rule(rule)


PRIMARY_ONLY = [
    "/api/v1/decisions",  # an editor's own decisions, right after recording them
    "/api/v1/manual-matches",
    "/api/v1/users",
    "/api/v1/me",  # sign-in state and the CSRF token
    "/api/v1/pipeline/status",
    "/api/v1/pipeline/runs",
    "/api/v1/pipeline/stream",
    "/login",
    "/logout",
    "/login/osm/callback",
    "/review",  # the queue an editor works through, deciding as they go
    "/pipeline",
    "/readyz",
    "/healthz",
]


@pytest.mark.parametrize("rule", PRIMARY_ONLY)
def test_writes_sign_in_review_and_live_state_stay_on_the_primary(rules, rule):
    assert rule in rules, f"{rule} is not served by the app any more"
    assert not is_read_only_rule(rule)


def test_a_rule_matches_an_entry_only_at_a_path_boundary():
    assert is_read_only_rule("/stops/<source>/<path:stop_id>")
    assert not is_read_only_rule("/stopsy")
    assert not is_read_only_rule("/statsd")
    assert not is_read_only_rule("/api/v1/problemsets")
    assert not is_read_only_rule("/review"), "'/' covers the map page only, not every path"


def test_every_routed_endpoint_of_the_app_answers_reads_only(rules):
    app = _app(DATABASE_READ_URL=UNREACHABLE)
    for rule in app.url_map.iter_rules():
        if is_read_only_rule(rule.rule):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, f"{rule.rule} also writes: {rule.methods}"


def test_without_a_replica_nothing_is_wired():
    plain = _app()
    assert EXTENSION_KEY not in plain.extensions
    response = plain.test_client().get("/healthz")
    assert "X-Read-Source" not in response.headers


def test_with_a_replica_every_response_names_its_read_source():
    routed = _app(DATABASE_READ_URL=UNREACHABLE)
    assert routed.test_client().get("/healthz").headers["X-Read-Source"] == "primary"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0/0", 0), ("0/3000060", 0x3000060), ("16/B374D848", (0x16 << 32) + 0xB374D848), (None, None)],
)
def test_wal_positions_compare_as_numbers(text, value):
    assert _lsn(text) == value


def test_a_replica_that_replayed_everything_is_not_behind_however_old_its_last_commit():
    assert replica_lag_s(primary_lsn=100, replay_lsn=100, replay_age_s=3600.0) == 0.0
    assert replica_lag_s(primary_lsn=100, replay_lsn=120, replay_age_s=3600.0) == 0.0


def test_a_replica_behind_the_primary_is_as_stale_as_its_last_replayed_commit():
    assert replica_lag_s(primary_lsn=200, replay_lsn=100, replay_age_s=7.5) == 7.5
    assert replica_lag_s(primary_lsn=200, replay_lsn=100, replay_age_s=-0.2) == 0.0, "clock skew"
    assert replica_lag_s(primary_lsn=200, replay_lsn=100, replay_age_s=None) is None, "nothing replayed yet"


def test_a_statement_timeout_on_the_replica_is_not_retried_on_the_primary():
    import psycopg
    from sqlalchemy.exc import OperationalError

    def wrapped(error: Exception) -> OperationalError:
        return OperationalError("SELECT 1", {}, error)

    # query_canceled by statement_timeout: it would time out on the primary too.
    assert not is_replica_failure(wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    # "canceling statement due to conflict with recovery": only a standby does that.
    assert is_replica_failure(wrapped(psycopg.errors.SerializationFailure("conflict with recovery")))
    assert is_replica_failure(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_replica_failure(wrapped(psycopg.OperationalError("connection refused")))  # no SQLSTATE
    assert not is_replica_failure(ValueError("not a database error"))


def test_the_replica_settings_are_validated():
    base = {"SECRET_KEY": "s" * 40}
    assert load_settings(base).DATABASE_READ_URL == ""
    assert load_settings(base).DATABASE_READ_MAX_LAG_S == 5.0
    with pytest.raises(ConfigError, match="DATABASE_READ_URL"):
        load_settings({**base, "DATABASE_READ_URL": "mysql://replica/stopsync"})
    with pytest.raises(ConfigError, match="DATABASE_READ_MAX_LAG_S"):
        load_settings({**base, "DATABASE_READ_MAX_LAG_S": "-1"})
    with pytest.raises(ConfigError, match="DATABASE_READ_CHECK_INTERVAL_S"):
        load_settings({**base, "DATABASE_READ_CHECK_INTERVAL_S": "0"})


def _closed_port_engine():
    from sqlalchemy import create_engine

    from database.session import engine_options

    return create_engine(UNREACHABLE, **engine_options(2, 1000, 1))


def test_the_replica_check_runs_once_per_interval_and_logs_only_changes(caplog):
    from database.read_routing import ReadRouter

    now = [100.0]
    checks: list[float] = []
    engine = _closed_port_engine()

    def primary():
        checks.append(now[0])
        return engine

    router = ReadRouter(engine, primary, max_lag_s=5, check_interval_s=1.0, clock=lambda: now[0])
    caplog.set_level("WARNING", logger="database.read_routing")
    first = router.health()
    assert (first.usable, first.reason) == (False, "primary_check_failed")
    assert "OperationalError" in first.detail
    for step in (0.2, 0.5, 0.9):
        now[0] = 100.0 + step
        assert router.health() is first, "cached within the interval: no query per request"
    now[0] = 101.5
    assert router.health() is not first
    assert checks == [100.0, 101.5]
    fallbacks = [r for r in caplog.records if "reads fall back to the primary" in r.getMessage()]
    assert len(fallbacks) == 1, "one line when the state changes, not one per check"


def test_a_request_that_lost_the_replica_sends_reads_to_the_primary_until_the_next_check():
    from database.read_routing import ReadRouter

    now = [0.0]
    engine = _closed_port_engine()
    router = ReadRouter(engine, lambda: engine, max_lag_s=5, check_interval_s=1.0, clock=lambda: now[0])
    router.mark_failed(RuntimeError("lost"))
    now[0] = 0.5
    assert (router.health().reason, router.health().detail) == ("error", "RuntimeError")
    now[0] = 1.5
    assert router.health().reason == "primary_check_failed", "checked again after the interval"
