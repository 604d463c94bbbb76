"""The route stage on real data: the Zug GTFS (2021) resolved against the real ATLAS rows around it
(tests/data/gtfs_zug, built from ../shared/data by its build_fixture.py), and a whole pipeline run
whose OSM side is derived from that GTFS at the rates stated in tests/route_derivation.py."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from database import db
from database.models import GtfsRouteRow, GtfsRouteStop, Match, Problem, SourceState
from pipeline.route_evidence import build_route_data
from pipeline.sources.atlas import AtlasSource
from pipeline.sources.base import ParseOptions
from pipeline.sources.gtfs import GtfsSource, read_gtfs, resolve_stops
from runs.stages import RunOptions, run_pipeline
from tests.integration.test_live_sources import Resource, server  # noqa: F401 - `server` is a fixture
from tests.route_derivation import derive_osm, write_osm

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/data/gtfs_zug"
GTFS = FIXTURE / "gtfs_zug.zip"
ATLAS = FIXTURE / "atlas_zug.csv.zip"
TODAY = dt.date(2025, 8, 2)


@pytest.fixture(scope="module")
def zug():
    """Registry (every country, as the national file), timetable and resolution of the real data."""
    registry = AtlasSource().parse([ATLAS], ParseOptions(today=TODAY, uic_country_codes=None)).records
    timetable = read_gtfs(GTFS)
    return registry, timetable, resolve_stops(timetable.stops, registry)


def test_zug_gtfs_is_read_whole(zug):
    _registry, timetable, _resolution = zug
    assert timetable.stats["stops"] == 621
    assert timetable.stats["routes"] == 60
    assert timetable.stats["trips"] == 11_219
    assert timetable.stats["stop_times"] == 164_512
    # every route and direction has its most frequent itinerary, in travel order
    first = next(i for i in timetable.itineraries if i.route_id == "92-11-B-j21-1" and i.direction_id == "0")
    assert first.trips > 0
    assert len(first.stop_ids) >= 5
    assert {c.route_id for c in timetable.calls} == set(timetable.routes)


def test_zug_gtfs_stop_ids_resolve_to_registry_stops(zug):
    registry, timetable, resolution = zug
    # 599 of 621 (96.5 %); the 22 unresolved are abroad (Konstanz, Como, ...: not in the Swiss export)
    # or gone from the registry between the 2021 timetable and the 2025 export: never guessed.
    assert resolution.counts() == {
        "position": 578,
        "unique_number": 21,
        "unresolved_number_not_in_registry": 22,
    }
    assert "8014586" in resolution.unresolved  # Konstanz
    data = build_route_data(registry, [], None, timetable)
    assert data.stats["gtfs_stop_ids_resolved_share"] == pytest.approx(0.9646, abs=1e-4)
    region = [s for s in registry if s.region == "ZG"]
    touched = sum(1 for s in region if s.key in data.evidence.registry_routes)
    assert touched / len(region) > 0.75  # 81 % of the region's rows in this fixture (77.8 % nationally)


def _source_dir(tmp_path: Path, zug, with_gtfs: bool) -> tuple[Path, dict[str, str], set[str]]:
    registry, timetable, resolution = zug
    folder = tmp_path / "sources"
    folder.mkdir()
    shutil.copy(ATLAS, folder / "atlas_zug.csv.zip")
    data, truth, decoys = derive_osm(registry, timetable, resolution)
    write_osm(folder / "osm_zug.json", data)
    if with_gtfs:
        shutil.copy(GTFS, folder / "gtfs_zug.zip")
    return folder, truth, decoys


def test_pipeline_run_matches_stops_by_route_end_to_end(app, tmp_path, zug):
    folder, truth, decoys = _source_dir(tmp_path, zug, with_gtfs=True)
    summary = run_pipeline(RunOptions(source_dir=folder, offline=True, today=TODAY))

    assert summary.status == "succeeded"
    assert summary.counts["routes"]["gtfs_stop_ids_resolved"] == 599
    assert summary.counts["routes"]["osm_routes"] > 50
    matches = db.session.scalars(select(Match).where(Match.method == "route")).all()
    # 115 of the 118 stripped platforms (the other 3 are in no itinerary's relation or tied)
    assert len(matches) >= 0.9 * len(truth)
    assert all(truth.get(m.stop_id) == m.osm_key for m in matches)  # precision 1.0
    assert all(m.evidence["score"][1] >= 1 for m in matches)
    taken = {m.osm_key for m in db.session.scalars(select(Match))}
    assert not taken & decoys  # a decoy shares no line: never matched
    # the relations were derived from the same timetable: no pair contradicts
    assert not db.session.scalars(select(Problem).where(Problem.problem_type == "route_contradiction")).all()
    assert "gtfs" in {s.source for s in db.session.scalars(select(SourceState))}
    # the timetable's routes and main itineraries are in the snapshot, for the route pages
    routes = {r.route_id: r for r in db.session.scalars(select(GtfsRouteRow))}
    assert len(routes) == 60
    assert routes["92-11-B-j21-1"].route_key == "92-11-b-jxx-1"
    assert routes["92-11-B-j21-1"].agency_name == "Zugerland Verkehrsbetriebe"
    line_11 = db.session.scalars(
        select(GtfsRouteStop)
        .where(GtfsRouteStop.route_id == "92-11-B-j21-1", GtfsRouteStop.direction_id == "0")
        .order_by(GtfsRouteStop.sequence)
    ).all()
    assert [s.sequence for s in line_11] == list(range(len(line_11)))
    assert all(s.stop_id for s in line_11)  # every stop of this Zug bus line resolved


def test_pipeline_run_without_gtfs_has_no_route_evidence(app, tmp_path, zug):
    folder, truth, _decoys = _source_dir(tmp_path, zug, with_gtfs=False)
    summary = run_pipeline(RunOptions(source_dir=folder, offline=True, today=TODAY))

    assert summary.status == "succeeded"
    assert "route" not in summary.counts["matches_by_method"]
    assert "gtfs_stop_ids" not in summary.counts["routes"]
    matched = {m.stop_id for m in db.session.scalars(select(Match))}
    assert not matched & set(truth)  # only the routes could place the stripped platforms
    assert db.session.scalars(select(GtfsRouteRow)).all() == []


def test_gtfs_source_is_optional_and_reads_the_first_zip():
    source = GtfsSource()
    assert source.required is False
    assert source.parse([], ParseOptions()).records == []


def test_gtfs_url_is_downloaded_with_the_current_year_like_the_other_sources(
    request, make_app, tmp_path, zug
):
    """GTFS_URL over HTTP (a local server standing in for opentransportdata.swiss): `{year}` filled
    in, the zip parsed, conditional on the next run (304, nothing re-read)."""
    base, resources = request.getfixturevalue("server")  # the live-sources test's local HTTP server
    registry, timetable, resolution = zug
    data, truth, _decoys = derive_osm(registry, timetable, resolution)
    year = dt.datetime.now(dt.UTC).year
    path = f"/en/dataset/timetable-{year}-gtfs2020/permalink"
    resources[path] = Resource(GTFS.read_bytes(), "application/zip", '"gtfs-v1"')
    resources["/atlas/service-points"] = Resource(ATLAS.read_bytes(), "application/zip", '"atlas-v1"')
    resources["/extract/zug.json"] = Resource(json.dumps(data).encode(), "application/json", '"osm-v1"')
    app = make_app(
        ATLAS_URL="",
        ATLAS_SERVICE_POINTS_URL=f"{base}/atlas/service-points",
        OSM_URL=f"{base}/extract/zug.json",
        GTFS_URL=base + "/en/dataset/timetable-{year}-gtfs2020/permalink",
        PIPELINE_SOURCE_DIR="",
        PIPELINE_CACHE_DIR=str(tmp_path / "cache"),
        HTTP_RETRIES=0,
    )
    with app.app_context():
        first = run_pipeline(RunOptions(trigger="cli", today=TODAY))
        assert first.status == "succeeded", first.error
        assert resources[path].statuses() == [200]
        assert first.source_versions["gtfs"]["origin"] == f"{base}{path}"
        assert first.counts["matches_by_method"]["route"] >= 0.9 * len(truth)
        second = run_pipeline(RunOptions(trigger="schedule", today=TODAY, only_if_changed=True))
        assert second.status == "skipped"
        assert resources[path].statuses() == [200, 304]
