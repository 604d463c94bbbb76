"""PIPELINE_SOURCES chooses what a run uses; a registered but unselected source is never needed."""

from __future__ import annotations

import pytest

import pipeline.sources as sources
from app.config import ConfigError, load_settings
from pipeline.sources import DEFAULT_PIPELINE_SOURCES, register_source, registry_sources, selected_sources
from tests.second_registry import ZhvSource

TEST = {"STOPSYNC_ENV": "test"}


@pytest.fixture
def zhv(monkeypatch):
    """zHV registered as a third registry plug-in for this test only."""
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    source = ZhvSource()
    register_source(source)
    return source


def names(chosen) -> list[str]:
    return [s.name for s in chosen]


def test_the_default_selection_is_the_swiss_instance():
    assert DEFAULT_PIPELINE_SOURCES == "atlas,osm,gtfs"
    assert names(selected_sources()) == ["atlas", "osm", "gtfs"]
    assert load_settings(TEST).PIPELINE_SOURCES == "atlas,osm,gtfs"


def test_a_selection_keeps_registration_order_and_ignores_case_blanks_and_repeats(zhv):
    assert names(selected_sources(" OSM , zhv,osm ")) == ["osm", "zhv"]
    assert names(selected_sources("zhv,atlas,osm")) == ["atlas", "osm", "zhv"]


def test_an_unknown_source_or_a_selection_without_a_registry_or_osm_is_refused():
    with pytest.raises(ValueError, match="unknown source"):
        selected_sources("atlas,osm,bav")
    with pytest.raises(ValueError, match="no registry source"):
        selected_sources("osm,gtfs")
    with pytest.raises(ValueError, match="no OSM source"):
        selected_sources("atlas")
    with pytest.raises(ConfigError, match="PIPELINE_SOURCES"):
        load_settings(TEST, PIPELINE_SOURCES="atlas")


def test_a_registered_registry_is_known_to_the_pages_even_when_not_selected(zhv):
    assert set(registry_sources()) >= {"atlas", "zhv"}
    assert "zhv" not in names(selected_sources())


def test_a_required_source_without_url_or_folder_is_an_error_only_when_selected(zhv):
    # zHV has no URL setting: without PIPELINE_SOURCE_DIR it cannot be read. Not selected: fine.
    live = {"ATLAS_URL": "https://example.org/a.csv", "OSM_URL": "https://example.org/api/interpreter"}
    settings = load_settings(TEST, PIPELINE_SOURCE_DIR="", **live)
    assert settings.PIPELINE_SOURCES == "atlas,osm,gtfs"
    with pytest.raises(ConfigError, match="the zhv source is disabled"):
        load_settings(TEST, PIPELINE_SOURCE_DIR="", PIPELINE_SOURCES="zhv,osm", **live)
    # ATLAS unselected: its emptied URLs are no error either.
    load_settings(TEST, PIPELINE_SOURCE_DIR="data/demo", ATLAS_URL="", PIPELINE_SOURCES="zhv,osm")
