"""The precomputed map (map_features, written by the importer) answers exactly as the live map query."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from app.services import stops as stop_service
from app.services.stops import StopFilters
from database import db
from runs.stages import RunOptions, run_pipeline

DEMO = Path(__file__).resolve().parents[2] / "data/demo"
LI_BBOX = (9.4, 47.0, 9.7, 47.3)


@pytest.fixture
def imported(app):
    run_pipeline(
        RunOptions(trigger="cli", source_dir=DEMO, offline=True, today=dt.date(2025, 8, 2)),
        progress=lambda *args: None,
    )
    db.session.rollback()
    return app


def both_paths(filters: StopFilters, limit: int = 2000) -> tuple[dict, dict]:
    stored = json.loads(stop_service.feature_collection_json(filters, limit))
    live = json.loads(stop_service._live_feature_collection_json(filters, limit))
    return stored, live


FILTERS = [
    StopFilters(bbox=LI_BBOX),
    StopFilters(bbox=(9.5, 47.1, 9.55, 47.15)),
    StopFilters(bbox=LI_BBOX, statuses=["matched"]),
    StopFilters(bbox=LI_BBOX, statuses=["unmatched"]),
    StopFilters(bbox=LI_BBOX, sides=["osm"]),
    StopFilters(bbox=LI_BBOX, sides=["atlas"], methods=["name"]),
    StopFilters(bbox=LI_BBOX, problem_types=["distance"]),
    StopFilters(bbox=LI_BBOX, priorities=[1]),
    StopFilters(bbox=LI_BBOX, problem_types=["attributes"], priorities=[3]),
    StopFilters(bbox=LI_BBOX, operators=["LIEmobil"]),
    StopFilters(bbox=LI_BBOX, transports=["TRAIN"]),
    StopFilters(bbox=LI_BBOX, transports=["BUS"], statuses=["unmatched"]),
    StopFilters(),
]


@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_stored_map_features_equal_the_live_map_query(imported, filters):
    stored, live = both_paths(filters)
    assert stored == live


def test_cut_map_keeps_the_same_most_urgent_stops_as_the_live_query(imported):
    stored, live = both_paths(StopFilters(bbox=LI_BBOX), limit=50)
    assert stored["truncated"] is True
    assert stored["count"] == 50
    assert stored == live


def test_importer_fills_one_map_feature_per_stop_of_either_side(imported):
    counts = dict(db.session.execute(text("SELECT kind, count(*) FROM map_features GROUP BY kind")).all())
    assert counts == {
        "atlas": db.session.scalar(text("SELECT count(*) FROM registry_stops")),
        "osm": db.session.scalar(text("SELECT count(*) FROM osm_stops")),
    }


def test_filters_of_the_comparison_select_some_stops_but_not_all(imported):
    everything = both_paths(StopFilters(bbox=LI_BBOX))[0]["count"]
    counts = [both_paths(filters)[0]["count"] for filters in FILTERS[2:-1]]
    assert all(0 < n < everything for n in counts), counts
