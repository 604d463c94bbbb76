"""PUBLIC_BASE_URL: the one source of absolute links and feed ids, validated at start-up."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings


def test_public_base_url_has_a_fixed_local_default_never_derived_from_requests():
    assert load_settings({}, SECRET_KEY="x" * 32).PUBLIC_BASE_URL == "http://localhost:5001"


@pytest.mark.parametrize(
    "value",
    [
        "stopsync.example.org",
        "ftp://stopsync.example.org",
        "https://",
        "https://user:pw@stopsync.example.org",
        "https://stopsync.example.org/?next=evil",
        "https://stopsync.example.org/#x",
        "https://stopsync.example.org /x",
        "javascript:alert(1)",
    ],
)
def test_a_public_base_url_that_is_not_a_plain_http_url_is_refused(value):
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings({"PUBLIC_BASE_URL": value}, SECRET_KEY="x" * 32)


@pytest.mark.parametrize("value", ["https://stopsync.example.org", "https://example.org/stopsync/"])
def test_a_plain_public_base_url_is_accepted(value):
    assert value == load_settings({"PUBLIC_BASE_URL": value}, SECRET_KEY="x" * 32).PUBLIC_BASE_URL
