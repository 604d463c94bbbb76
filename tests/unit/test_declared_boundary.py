"""A registry's declared boundary is the run's inside-the-country filter unless a setting overrides it."""

from __future__ import annotations

import datetime as dt

import numpy as np

from app.config import load_settings
from runs.stages import parse_options

TEST = {"STOPSYNC_ENV": "test"}
BRIGHTON = (50.8225, -0.1372)
ZURICH = (47.3779, 8.5403)


def inside(boundary, point: tuple[float, float]) -> bool:
    return bool(boundary.contains(np.array([point[0]]), np.array([point[1]]))[0])


def test_a_uk_instance_with_only_its_sources_selected_filters_by_the_gb_boundary():
    settings = load_settings({**TEST, "PIPELINE_SOURCES": "naptan,osm"})
    boundary = parse_options(settings, dt.date(2026, 1, 1)).boundary
    assert boundary is not None
    assert inside(boundary, BRIGHTON)
    assert not inside(boundary, ZURICH)


def test_the_swiss_instance_still_filters_by_ch_and_li():
    boundary = parse_options(load_settings(TEST), dt.date(2026, 1, 1)).boundary
    assert boundary is not None
    assert inside(boundary, ZURICH)
    assert not inside(boundary, BRIGHTON)


def test_two_registries_filter_by_the_union_of_their_declared_boundaries():
    settings = load_settings({**TEST, "PIPELINE_SOURCES": "atlas,naptan,osm"})
    boundary = parse_options(settings, dt.date(2026, 1, 1)).boundary
    assert inside(boundary, ZURICH)
    assert inside(boundary, BRIGHTON)


def test_pipeline_boundary_file_overrides_the_declared_boundary_and_empty_turns_it_off():
    ch_li = "data/boundary/ch_li.geojson"
    chosen = {**TEST, "PIPELINE_SOURCES": "naptan,osm", "PIPELINE_BOUNDARY_FILE": ch_li}
    boundary = parse_options(load_settings(chosen), dt.date(2026, 1, 1)).boundary
    assert inside(boundary, ZURICH)
    assert not inside(boundary, BRIGHTON)
    off = {**TEST, "PIPELINE_SOURCES": "naptan,osm", "PIPELINE_BOUNDARY_FILE": ""}
    assert parse_options(load_settings(off), dt.date(2026, 1, 1)).boundary is None
