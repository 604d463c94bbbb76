"""Settings come only from the environment, typed, and unsafe values are refused with a clear message."""

import pytest

from app.config import ConfigError, load_settings


def test_defaults_are_used_when_the_environment_is_silent():
    settings = load_settings({"SECRET_KEY": "x" * 40})
    assert settings.PIPELINE_CRON == "0 2 * * *"
    assert settings.ratelimit_storage_url == settings.REDIS_URL


def test_values_are_coerced_to_their_types():
    settings = load_settings({"SECRET_KEY": "s" * 40, "DB_POOL_SIZE": "9", "FORCE_HTTPS": "yes"})
    assert settings.DB_POOL_SIZE == 9
    assert settings.FORCE_HTTPS is True


def test_a_malformed_number_names_the_variable():
    with pytest.raises(ConfigError, match="DB_POOL_SIZE='many'"):
        load_settings({"SECRET_KEY": "s" * 40, "DB_POOL_SIZE": "many"})


def test_production_refuses_the_development_secret():
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        load_settings({})


def test_a_non_postgresql_database_is_refused():
    with pytest.raises(ConfigError, match="DATABASE_URL must be a PostgreSQL URL"):
        load_settings({"SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite:///x.db"})


def test_lock_ttl_must_cover_several_heartbeats():
    with pytest.raises(ConfigError, match="PIPELINE_LOCK_TTL_S"):
        load_settings({"SECRET_KEY": "s" * 40, "PIPELINE_LOCK_TTL_S": "10", "PIPELINE_HEARTBEAT_S": "5"})


@pytest.mark.parametrize("value", ["0", "-1", "30"])
def test_the_swap_lock_timeout_must_be_a_short_positive_wait(value):
    with pytest.raises(ConfigError, match="PIPELINE_SWAP_LOCK_TIMEOUT_S"):
        load_settings({"SECRET_KEY": "s" * 40, "PIPELINE_SWAP_LOCK_TIMEOUT_S": value})
    assert load_settings({"SECRET_KEY": "s" * 40}).PIPELINE_SWAP_LOCK_TIMEOUT_S == 0.5
