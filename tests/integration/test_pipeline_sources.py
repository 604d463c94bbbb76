"""PIPELINE_SOURCES on real runs: unselected registries are never fetched, a selected one must have
its files, and two registries in one instance each keep their stops, pages and API answers."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

import pipeline.sources as sources
from database import db
from database.models import Match, RegistryStopRow
from pipeline.errors import SourceError
from pipeline.sources import register_source
from runs.stages import RunOptions, run_pipeline
from tests.second_registry import ZHV_CSV, ZhvSource

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data/demo"
TODAY = dt.date(2025, 8, 2)


@pytest.fixture
def zhv(monkeypatch):
    """zHV registered as a registry plug-in for this test only."""
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    source = ZhvSource()
    register_source(source)
    return source


def test_a_registered_but_unselected_registry_is_never_fetched_and_its_missing_files_are_no_error(
    make_app, zhv, tmp_path
):
    app = make_app(PIPELINE_CACHE_DIR=str(tmp_path / "cache"))  # PIPELINE_SOURCES: atlas,osm,gtfs
    with app.app_context():
        summary = run_pipeline(RunOptions(trigger="cli", source_dir=DEMO, today=TODAY))
        assert summary.status == "succeeded", summary.error
        assert zhv.fetched == 0
        assert db.session.scalar(select(func.count()).where(RegistryStopRow.source == "zhv")) == 0
        db.session.remove()


def test_a_selected_source_whose_files_are_missing_fails_the_run_naming_it(make_app, zhv, tmp_path):
    app = make_app(PIPELINE_SOURCES="atlas,zhv,osm", PIPELINE_CACHE_DIR=str(tmp_path / "cache"))
    with app.app_context(), pytest.raises(SourceError, match="zhv"):
        run_pipeline(RunOptions(trigger="cli", source_dir=DEMO, today=TODAY))
    assert zhv.fetched == 1


def test_two_registries_in_one_instance_keep_their_stops_pages_and_api(make_app, zhv, tmp_path):
    folder = tmp_path / "sources"
    shutil.copytree(DEMO, folder)
    (folder / "zhv_konstanz.csv").write_text(ZHV_CSV, encoding="utf-8")
    app = make_app(PIPELINE_SOURCES="atlas,zhv,osm", PIPELINE_CACHE_DIR=str(tmp_path / "cache"))
    with app.app_context():
        summary = run_pipeline(RunOptions(trigger="cli", source_dir=folder, today=TODAY))
        assert summary.status == "succeeded", summary.error
        counts = dict(
            db.session.execute(
                select(RegistryStopRow.source, func.count()).group_by(RegistryStopRow.source)
            ).all()
        )
        assert counts == {"atlas": 221, "zhv": 1}
        # The Swiss matches are those of an ATLAS-only run (test_pipeline_run: 751).
        assert db.session.scalar(select(func.count()).where(Match.source == "atlas")) == 751
        atlas_id = db.session.scalar(select(RegistryStopRow.stop_id).where(RegistryStopRow.source == "atlas"))
        db.session.remove()
    client = app.test_client()
    dhid = "de:08335:3424:1:1"
    assert client.get(f"/api/v1/stops/zhv/{dhid}").get_json()["atlas"]["source"] == "zhv"
    page = client.get(f"/stops/zhv/{dhid}")
    assert page.status_code == 200
    assert "zHV" in page.get_data(as_text=True)
    assert client.get(f"/api/v1/stops/zhv/{dhid}/candidates").status_code == 200
    # The ATLAS URLs of before registries were plug-ins still resolve; an unknown registry is a 404.
    assert client.get(f"/stops/atlas/{atlas_id}").status_code == 200
    assert client.get(f"/api/v1/stops/atlas/{atlas_id}").get_json()["atlas"]["stop_id"] == atlas_id
    missing = client.get(f"/api/v1/stops/bav/{dhid}")
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "not_found")
    assert client.get(f"/stops/bav/{dhid}").status_code == 404
    # A zHV stop is not an ATLAS stop of the same id.
    assert client.get(f"/api/v1/stops/atlas/{dhid}").status_code == 404


def test_a_registry_stop_page_asked_under_another_registry_redirects_to_its_own(app, client):
    from tests import factories as f
    from tests.second_registry import register_zhv

    register_zhv()
    stop = f.atlas_stop("de:08335:3424:1:1", source="zhv", dataset="csv")
    # Links written before registries were plug-ins (feeds, exports, bookmarks) say /stops/atlas/.
    response = client.get(f"/stops/atlas/{stop.stop_id}")
    assert (response.status_code, response.headers["Location"]) == (301, f"/stops/zhv/{stop.stop_id}")
    problem = f.problem("unmatched", stop_id=stop.stop_id, source="zhv")
    [listed] = [
        p for p in client.get("/api/v1/problems").get_json()["problems"] if p["identity"] == problem.identity
    ]
    assert (listed["source"], listed["stop_id"]) == ("zhv", stop.stop_id)
