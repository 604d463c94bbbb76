"""Pure parts of the sign-in hardening: the same-site redirect check, password scoring, settings."""

from __future__ import annotations

import time

import pytest

from app.auth import safe_next
from app.config import ConfigError, load_settings
from app.services import users as user_service


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\x00/evil.example",
        "\t//evil.example",
        " //evil.example",
        "//evil.example",
        "///evil.example",
        "https://evil.example",
        "HTTPS://evil.example/",
        "https:/evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%5Cevil.example",
        "/%5c%5cevil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0D%0A/evil.example",
    ],
)
def test_safe_next_refuses_every_way_off_the_site(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/review",
        "/review?operator=PAG&region=BE",
        "/stops/atlas/ch:1:sloid:7000:0:1",
        "/stops/osm/node/123",
        "/?lat=47.1&lon=9.5#z=15",
        "/search?q=Z%C3%BCrich%20HB",
    ],
)
def test_safe_next_keeps_same_site_paths(target):
    assert safe_next(target) == target


def test_safe_next_without_a_target_is_the_map():
    assert safe_next(None) == "/"
    assert safe_next("") == "/"
    assert safe_next("/review?") == "/review"


def test_password_scoring_knows_the_username_and_the_site_name():
    assert user_service.password_strength("margarethe1234")["score"] >= 3
    assert user_service.password_strength("margarethe1234", ["margarethe"])["score"] < 3
    assert user_service.password_strength("stopsync2026!")["score"] < 3


def test_password_scoring_time_is_bounded_for_the_longest_allowed_password():
    # Unbounded, zxcvbn needs about two minutes for 1,024 repeated letters; only the first
    # PASSWORD_SCORED_CHARS characters are scored.
    worst = 0.0
    for password in ("x" * 1024, "aB3$" * 256, "1234567890" * 102, "qwertyuiop" * 102):
        started = time.perf_counter()
        with pytest.raises(user_service.UserError, match="too easy to guess"):
            user_service.check_password(password, "bob", min_score=3)
        worst = max(worst, time.perf_counter() - started)
    assert worst < 2.0


def test_a_long_random_password_is_accepted_although_only_its_start_is_scored():
    user_service.check_password("Vx7#kq2!Lm9@" * 80, "bob", min_score=4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PASSWORD_MIN_SCORE", "5", "PASSWORD_MIN_SCORE"),
        ("PASSWORD_MIN_SCORE", "-1", "PASSWORD_MIN_SCORE"),
        ("MAX_CONTENT_LENGTH_BYTES", "100", "MAX_CONTENT_LENGTH_BYTES"),
        ("MAX_CONTENT_LENGTH_BYTES", "one megabyte", "MAX_CONTENT_LENGTH_BYTES"),
    ],
)
def test_sign_in_settings_are_validated_at_start_up(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"STOPSYNC_ENV": "test", name: value})


def test_sign_in_settings_defaults():
    settings = load_settings({"STOPSYNC_ENV": "test"})
    assert settings.PASSWORD_MIN_SCORE == 3
    assert settings.MAX_CONTENT_LENGTH_BYTES == 1_048_576
