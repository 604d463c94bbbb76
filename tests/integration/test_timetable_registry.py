"""A timetable's stops resolve to the stops of its own registry (GTFS_REGISTRY) only: a second registry
holding the same ids, numbers and positions never takes its routes nor makes them ambiguous."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from pipeline.records import RegistryKey
from pipeline.route_evidence import build_route_data
from pipeline.sources.atlas import AtlasSource
from pipeline.sources.base import ParseOptions
from pipeline.sources.gtfs import read_gtfs
from tests.second_registry import register_zhv

FIXTURE = Path(__file__).resolve().parents[2] / "tests/data/gtfs_zug"
TODAY = dt.date(2025, 8, 2)


def test_timetable_routes_attach_only_to_its_registrys_stops_when_another_registry_has_the_same_ids():
    atlas = AtlasSource().parse([FIXTURE / "atlas_zug.csv.zip"], ParseOptions(today=TODAY)).records
    register_zhv()
    # The same stops again as another registry's: same ids (on purpose), numbers and positions.
    twins = [dataclasses.replace(s, source="zhv", dataset="csv") for s in atlas]
    timetable = read_gtfs(FIXTURE / "gtfs_zug.zip")
    alone = build_route_data(atlas, [], None, timetable, timetable_registry="atlas")
    both = build_route_data([*atlas, *twins], [], None, timetable, timetable_registry="atlas")
    assert both.resolution is not None
    assert alone.resolution is not None
    assert both.resolution.counts() == alone.resolution.counts()  # no rule saw two candidates
    assert both.evidence.registry_routes == alone.evidence.registry_routes
    assert {key.source for key in both.evidence.registry_routes} == {"atlas"}
    assert (
        RegistryKey("zhv", next(iter(both.evidence.registry_routes)).stop_id)
        not in both.evidence.registry_routes
    )
    # The snapshot rows name stops of the timetable's registry (gtfs_route_stops.registry_stop_id).
    atlas_ids = {s.stop_id for s in atlas}
    assert {r.registry_stop_id for r in both.gtfs_route_stops if r.registry_stop_id} <= atlas_ids


def test_a_timetable_of_another_registry_resolves_against_that_registrys_stops():
    atlas = AtlasSource().parse([FIXTURE / "atlas_zug.csv.zip"], ParseOptions(today=TODAY)).records
    register_zhv()
    twins = [dataclasses.replace(s, source="zhv", dataset="csv") for s in atlas]
    timetable = read_gtfs(FIXTURE / "gtfs_zug.zip")
    data = build_route_data([*atlas, *twins], [], None, timetable, timetable_registry="zhv")
    assert data.evidence.registry_routes
    assert {key.source for key in data.evidence.registry_routes} == {"zhv"}
