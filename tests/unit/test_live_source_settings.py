"""Production runs on the live sources by default, development and test on the bundled data; every
source URL is a documented setting, and an emptied one is never silently replaced."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from app.config import (
    BUNDLED_SOURCES,
    LIVE_ATLAS_SERVICE_POINTS_URL,
    LIVE_ATLAS_TRAFFIC_POINTS_URL,
    LIVE_GTFS_URL,
    LIVE_OVERPASS_URL,
    ConfigError,
    Settings,
    load_settings,
)
from pipeline.errors import SourceError
from pipeline.fetch import HttpPolicy, fetch_source
from pipeline.sources import get_source

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"SECRET_KEY": "s" * 40}
LIVE = {
    "ATLAS_URL": LIVE_ATLAS_TRAFFIC_POINTS_URL,
    "ATLAS_SERVICE_POINTS_URL": LIVE_ATLAS_SERVICE_POINTS_URL,
    "OSM_URL": LIVE_OVERPASS_URL,
    "GTFS_URL": LIVE_GTFS_URL,
}


def test_production_defaults_to_the_live_sources():
    settings = load_settings(PRODUCTION)
    for name, url in LIVE.items():
        assert getattr(settings, name) == url
    assert settings.PIPELINE_SOURCE_DIR == ""  # no silent fallback to the demo data
    assert settings.OVERPASS_AREAS == "ISO3166-1=CH,ISO3166-1=LI"


def test_the_live_defaults_are_the_published_permalinks():
    assert LIVE_ATLAS_TRAFFIC_POINTS_URL.startswith(
        "https://data.opentransportdata.swiss/dataset/traffic-point-v2/"
    )
    assert LIVE_ATLAS_SERVICE_POINTS_URL.startswith(
        "https://data.opentransportdata.swiss/dataset/service-point-v2/"
    )
    assert LIVE_OVERPASS_URL == "https://overpass-api.de/api/interpreter"


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_test_keep_the_bundled_data(env):
    settings = load_settings({"STOPSYNC_ENV": env})
    assert settings.PIPELINE_SOURCE_DIR == "data/demo"
    for name in LIVE:
        assert getattr(settings, name) == ""
    # the same through keyword overrides (how the tests build their apps)
    assert load_settings({}, STOPSYNC_ENV=env).OSM_URL == ""


def test_a_url_set_in_development_is_used():
    settings = load_settings(
        {"STOPSYNC_ENV": "development", "OSM_URL": "http://127.0.0.1:8080/api/interpreter"}
    )
    assert settings.OSM_URL == "http://127.0.0.1:8080/api/interpreter"
    assert settings.ATLAS_URL == ""


def test_an_explicitly_empty_url_is_not_replaced_by_the_live_default():
    settings = load_settings({**PRODUCTION, "ATLAS_SERVICE_POINTS_URL": ""})
    assert settings.ATLAS_SERVICE_POINTS_URL == ""
    assert settings.ATLAS_URL == LIVE_ATLAS_TRAFFIC_POINTS_URL


@pytest.mark.parametrize(
    ("emptied", "named"),
    [
        ({"OSM_URL": ""}, "OSM_URL"),
        ({"ATLAS_URL": "", "ATLAS_SERVICE_POINTS_URL": ""}, "ATLAS_URL and ATLAS_SERVICE_POINTS_URL"),
    ],
)
def test_a_disabled_required_source_is_refused_at_start_up(emptied, named):
    with pytest.raises(ConfigError, match=f"disabled: {named} empty and PIPELINE_SOURCE_DIR unset"):
        load_settings({**PRODUCTION, **emptied})


def test_an_emptied_source_is_read_from_the_source_folder_when_there_is_one():
    settings = load_settings({**PRODUCTION, "OSM_URL": "", "PIPELINE_SOURCE_DIR": "/srv/osm-extracts"})
    assert settings.OSM_URL == ""
    assert settings.ATLAS_URL == LIVE_ATLAS_TRAFFIC_POINTS_URL


def test_a_disabled_required_source_fails_the_run_with_a_clear_message(tmp_path):
    policy = HttpPolicy(retries=0, sleep=lambda _s: None)
    with pytest.raises(SourceError, match="source osm: disabled: OSM_URL empty and no PIPELINE_SOURCE_DIR"):
        fetch_source(get_source("osm"), [], None, tmp_path, {}, policy)


@pytest.mark.parametrize(
    "url",
    ["overpass-api.de/api/interpreter", "ftp://example.org/atlas.csv", "file:///etc/passwd", "https:// x"],
)
def test_a_source_url_that_is_not_http_is_refused(url):
    with pytest.raises(ConfigError, match="OSM_URL must be an http"):
        load_settings({**PRODUCTION, "OSM_URL": url})


def test_malformed_overpass_areas_are_refused():
    with pytest.raises(ConfigError, match="OVERPASS_AREAS"):
        load_settings({**PRODUCTION, "OVERPASS_AREAS": 'ISO3166-1=CH"];out;'})


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = re.split(r"\s+#", match.group(2), maxsplit=1)[0].strip()
    return values


def test_env_example_documents_every_setting():
    documented = _env_example()
    missing = [f.name for f in fields(Settings) if f.name not in documented]
    assert missing == []


def test_env_example_gives_the_production_source_defaults():
    documented = _env_example()
    for name, url in LIVE.items():
        assert documented[name] == url
    assert documented["OVERPASS_AREAS"] == Settings.OVERPASS_AREAS
    assert documented["PIPELINE_SOURCE_DIR"] == ""


def test_compose_gives_the_live_sources_unless_emptied():
    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app-env"]
    for name, url in LIVE.items():
        # ${X-default}: the default only when X is unset; an X set empty stays empty.
        assert environment[name] == f"${{{name}-{url}}}"


def test_compose_development_keeps_the_bundled_data():
    environment = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())["x-dev-env"]
    assert environment["STOPSYNC_ENV"] == "development"
    for name in LIVE:
        assert environment[name] == f"${{{name}:-}}"
    assert (
        environment["PIPELINE_SOURCE_DIR"]
        == f"${{PIPELINE_SOURCE_DIR:-{BUNDLED_SOURCES['PIPELINE_SOURCE_DIR']}}}"
    )
