"""The GTFS source: reading a feed (tiny hand-made zips), refusing what is not one, resolving
stop_ids to registry stops rule by rule, the OSM side's services, and the GTFS settings."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from app.config import LIVE_GTFS_URL, ConfigError, load_settings
from pipeline.errors import SourceError
from pipeline.fetch import HttpPolicy, fetch_source
from pipeline.records import OsmMember, OsmRoute, OsmStructure
from pipeline.route_evidence import osm_services
from pipeline.sources import get_source
from pipeline.sources.base import ParseOptions
from pipeline.sources.gtfs import (
    GtfsStop,
    expand_url,
    parse_stop_id,
    read_gtfs,
    resolve_stops,
    sloid_in,
)
from tests.pipeline_records import at, osm, stop

STOPS = """stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station
8500001:0:1,"Town, Station",47.0,8.0,,
8500002,"Town, Market",47.001,8.0,,
8500003,"Town, School",47.002,8.0,,
8500004,"Town, Lake",47.003,8.0,,
"""
ROUTES = """route_id,agency_id,route_short_name,route_long_name,route_type
92-1-A-j21-1,7,1,,700
92-2-B-j21-1,7,2,,700
"""
AGENCY = "agency_id,agency_name,agency_url,agency_timezone\n7,Town Bus AG,http://x,Europe/Zurich\n"
TRIPS = """route_id,service_id,trip_id,direction_id
92-1-A-j21-1,s,t1,0
92-1-A-j21-1,s,t2,0
92-1-A-j21-1,s,t3,0
92-1-A-j21-1,s,t4,1
92-2-B-j21-1,s,t5,
"""
# t1, t2: Station → Market → School (the most frequent); t3 short: Station → Market; t4 back;
# t5: line 2, Lake → Station. Sequences out of file order on purpose.
STOP_TIMES = """trip_id,arrival_time,departure_time,stop_id,stop_sequence
t1,08:00:00,08:00:00,8500002,2
t1,08:00:00,08:00:00,8500001:0:1,1
t1,08:00:00,08:00:00,8500003,3
t2,09:00:00,09:00:00,8500001:0:1,1
t2,09:00:00,09:00:00,8500002,2
t2,09:00:00,09:00:00,8500003,3
t3,10:00:00,10:00:00,8500001:0:1,1
t3,10:00:00,10:00:00,8500002,2
t4,11:00:00,11:00:00,8500003,1
t4,11:00:00,11:00:00,8500002,2
t4,11:00:00,11:00:00,8500001:0:1,3
t5,12:00:00,12:00:00,8500004,1
t5,12:00:00,12:00:00,8500001:0:1,2
"""
FEED = {
    "agency.txt": AGENCY,
    "routes.txt": ROUTES,
    "trips.txt": TRIPS,
    "stops.txt": STOPS,
    "stop_times.txt": STOP_TIMES,
}


def write_feed(path: Path, files: dict[str, str] | dict[str, str | bytes] = FEED) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


# -- reading -------------------------------------------------------------------------------------


def test_feed_becomes_stops_routes_itineraries_and_calls(tmp_path):
    timetable = read_gtfs(write_feed(tmp_path / "gtfs.zip"))
    assert timetable.stats == {
        "stops": 4,
        "routes": 2,
        "stop_times": 13,
        "trips": 5,
        "itineraries": 4,
        "stop_route_directions": 10,
    }
    assert timetable.routes["92-1-A-j21-1"].agency_name == "Town Bus AG"
    assert timetable.routes["92-1-A-j21-1"].short_name == "1"
    best = {(i.route_id, i.direction_id): i for i in timetable.itineraries}
    # the most frequent pattern (2 trips), in stop_sequence order whatever the file order
    assert best[("92-1-A-j21-1", "0")].stop_ids == ("8500001:0:1", "8500002", "8500003")
    assert best[("92-1-A-j21-1", "0")].trips == 2
    assert best[("92-2-B-j21-1", "")].stop_ids == ("8500004", "8500001:0:1")
    calls = {
        (c.stop_id, c.route_id, c.direction_id, c.first_stop_id, c.last_stop_id) for c in timetable.calls
    }
    assert ("8500002", "92-1-A-j21-1", "0", "8500001:0:1", "8500003") in calls
    assert ("8500002", "92-1-A-j21-1", "0", "8500001:0:1", "8500002") in calls  # the short trip
    assert ("8500002", "92-1-A-j21-1", "1", "8500003", "8500001:0:1") in calls


def test_feed_in_a_subfolder_of_the_zip_and_without_agency_file_is_read(tmp_path):
    files = {f"feed/{name}": text for name, text in FEED.items() if name != "agency.txt"}
    timetable = read_gtfs(write_feed(tmp_path / "gtfs.zip", files))
    assert timetable.stats["stop_times"] == 13
    assert timetable.routes["92-1-A-j21-1"].agency_name is None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({k: v for k, v in FEED.items() if k != "stop_times.txt"}, "stop_times.txt missing"),
        ({**FEED, "trips.txt": "route_id,service_id\nr,s\n"}, r"trips.txt lacks the column\(s\) trip_id"),
    ],
)
def test_incomplete_feed_is_a_source_error_naming_the_file(tmp_path, files, message):
    with pytest.raises(SourceError, match=message) as info:
        read_gtfs(write_feed(tmp_path / "gtfs.zip", files))
    assert info.value.source == "gtfs"


def test_html_page_and_broken_zip_are_refused(tmp_path):
    page = tmp_path / "gtfs.zip"
    page.write_bytes(b"<!DOCTYPE html><html>maintenance</html>")
    with pytest.raises(SourceError, match="HTML page"):
        read_gtfs(page)
    broken = tmp_path / "gtfs_broken.zip"
    broken.write_bytes(write_feed(tmp_path / "ok.zip").read_bytes()[:300])
    with pytest.raises(SourceError, match="gtfs"):
        read_gtfs(broken)


def test_member_larger_than_the_limit_is_refused_before_unzipping(tmp_path):
    with pytest.raises(SourceError, match="GTFS_MAX_UNZIPPED_BYTES"):
        read_gtfs(write_feed(tmp_path / "gtfs.zip"), max_bytes=100)


def test_unreadable_csv_is_a_source_error_with_the_line(tmp_path):
    files = {**FEED, "stop_times.txt": b"trip_id,stop_id,stop_sequence\nt1,85\xff\xfe01,1\n"}
    with pytest.raises(SourceError, match=r"cannot read the feed: .*Line: 2"):
        read_gtfs(write_feed(tmp_path / "gtfs.zip", files))


def test_nul_in_feed_text_never_reaches_the_snapshot(tmp_path):
    # PostgreSQL refuses NUL in text: one in a stop_id or a line name must not fail the import.
    files = {
        **FEED,
        "stop_times.txt": STOP_TIMES.replace("8500003", "85000\x0003"),
        "routes.txt": ROUTES.replace(",1,", ",1\x00,"),
    }
    timetable = read_gtfs(write_feed(tmp_path / "gtfs.zip", files))
    assert all("\x00" not in stop_id for it in timetable.itineraries for stop_id in it.stop_ids)
    assert all("\x00" not in part for service in timetable.services for part in service)
    assert timetable.routes["92-1-A-j21-1"].short_name == "1"


def test_gtfs_url_year_is_the_current_year():
    assert expand_url(LIVE_GTFS_URL, dt.date(2026, 11, 30)).endswith("/timetable-2026-gtfs2020/permalink")
    settings = load_settings({"SECRET_KEY": "s" * 40})
    request = get_source("gtfs").http_request(settings)
    assert request is not None
    assert f"timetable-{dt.datetime.now(dt.UTC).year}-gtfs2020" in request.url


def test_gtfs_settings_defaults_and_validation():
    assert load_settings({"SECRET_KEY": "s" * 40}).GTFS_URL == LIVE_GTFS_URL
    assert load_settings({"STOPSYNC_ENV": "test"}).GTFS_URL == ""
    assert get_source("gtfs").http_request(load_settings({"STOPSYNC_ENV": "test"})) is None
    with pytest.raises(ConfigError, match="GTFS_DUCKDB_MEMORY_LIMIT"):
        load_settings({"STOPSYNC_ENV": "test", "GTFS_DUCKDB_MEMORY_LIMIT": "1GB'; ATTACH"})


def test_optional_source_without_a_file_in_the_folder_is_absent(tmp_path):
    # Before: a folder without gtfs*.zip raised "no input file" and failed every run.
    fetched = fetch_source(get_source("gtfs"), [], tmp_path, tmp_path / "cache", {}, HttpPolicy())
    assert fetched == []
    write_feed(tmp_path / "gtfs_x.zip")
    fetched = fetch_source(get_source("gtfs"), [], tmp_path, tmp_path / "cache", {}, HttpPolicy())
    assert [p.name for f in fetched for p in f.paths] == ["gtfs_x.zip"]
    result = get_source("gtfs").parse(fetched[0].paths, ParseOptions())
    assert result.stats["stop_times"] == 13


# -- resolution ----------------------------------------------------------------------------------


def test_swiss_stop_ids_are_parsed():
    assert parse_stop_id("8503000:0:31") == (8503000, "31")
    assert parse_stop_id("8503000") == (8503000, None)
    assert parse_stop_id("8503000P") == (8503000, None)
    assert parse_stop_id("Parent8503000") == (8503000, None)
    assert parse_stop_id("8503000:0:10000") == (8503000, "1")  # the timetable's own platform codes
    assert parse_stop_id("8503000:0:10001") == (8503000, "2")
    assert parse_stop_id("ch:1:sloid:3000:0:731") == (None, None)
    assert parse_stop_id("850300²") == (None, None)
    assert sloid_in("ch:1:sloid:3000:0:731") == "ch:1:sloid:3000:0:731"
    assert sloid_in("8503000:0:31") is None


def _gtfs_stop(
    stop_id: str, east_m: float = 0.0, north_m: float = 0.0, original: str | None = None
) -> GtfsStop:
    lat, lon = at(east_m, north_m)
    return GtfsStop(stop_id, "x", lat, lon, None, None, original)


def test_resolution_rules_in_order_and_never_a_guess():
    registry = [
        stop("ch:1:sloid:3000:0:1", 0, 0, number=8503000, platform_code="1"),
        stop("ch:1:sloid:3000:0:2", 0, 20, number=8503000, platform_code="2"),
        stop("ch:1:sloid:3000:0:3", 0, 40, number=8503000, platform_code="3"),
        stop("ch:1:sloid:4000", 500, 0, number=8504000, level="service_point"),
        stop("ch:1:sloid:5000:0:1", 1000, 0, number=8505000),
        stop("ch:1:sloid:5000:0:2", 1000, 30, number=8505000),
    ]
    stops = [
        _gtfs_stop("ch:1:sloid:3000:0:2", 0, 900),  # 1: sloid in the id (position ignored)
        _gtfs_stop("8503000:0:99", 0, 0.2, original="ch:1:sloid:3000:0:3"),  # 1: original_stop_id
        _gtfs_stop("ch:1:sloid:4000:0:7", 800, 800),  # 1: a platform sloid → its whole stop
        _gtfs_stop("8503000:0:1", 300, 300),  # 2: number + platform code
        _gtfs_stop("8505000", 1000, 30.3),  # 3: within 0.5 m of one stop of that number
        _gtfs_stop("8504000:0:5", 700, 0),  # 4: the only registry stop with that number
        _gtfs_stop("8505000:0:9", 1000, 15),  # two of that number, neither code nor position: no guess
        _gtfs_stop("8509999", 0, 0),  # not in the registry
        _gtfs_stop("Haltestelle X", 5000, 5000),  # no number, nothing within 0.5 m
    ]
    resolution = resolve_stops(stops, registry)
    assert resolution.sloid_of == {
        "ch:1:sloid:3000:0:2": "ch:1:sloid:3000:0:2",
        "8503000:0:99": "ch:1:sloid:3000:0:3",
        "ch:1:sloid:4000:0:7": "ch:1:sloid:4000",
        "8503000:0:1": "ch:1:sloid:3000:0:1",
        "8505000": "ch:1:sloid:5000:0:2",
        "8504000:0:5": "ch:1:sloid:4000",
    }
    assert resolution.rule_of["8503000:0:1"] == "uic_platform"
    assert resolution.rule_of["8505000"] == "position"
    assert resolution.rule_of["8504000:0:5"] == "unique_number"
    assert resolution.unresolved == {
        "8505000:0:9": "number_not_unique",
        "8509999": "number_not_in_registry",
        "Haltestelle X": "no_number",
    }
    assert resolution.share() == pytest.approx(6 / 9)


def test_position_rule_refuses_two_registry_stops_within_tolerance():
    registry = [
        stop("ch:1:sloid:6000:0:1", 0, 0, number=8506000),
        stop("ch:1:sloid:6000:0:2", 0, 0.3, number=8506000),
    ]
    resolution = resolve_stops([_gtfs_stop("8506000", 0, 0.1)], registry)
    assert resolution.unresolved == {"8506000": "number_not_unique"}


# -- the OSM side --------------------------------------------------------------------------------


def _route(members: list[str], **tags: str | None) -> OsmRoute:
    return OsmRoute(
        osm_id=1,
        version=1,
        route="bus",
        ref=tags.get("ref"),
        name=None,
        from_=tags.get("from_"),
        to=tags.get("to"),
        via=None,
        operator=tags.get("operator"),
        network=None,
        gtfs_route_id=tags.get("gtfs_route_id"),
        ref_trips=None,
        pt_version="2",
        master_id=None,
        tags={},
        members=tuple(OsmMember("platform", key, i) for i, key in enumerate(members)),
    )


def test_osm_route_direction_is_its_to_tag_or_its_last_members_name():
    objects = [osm(1, 0, 0, name="Town, Station"), osm(2, 0, 100, name="Town, Market"), osm(3, 0, 200)]
    structure = OsmStructure(routes=(_route(["node/1", "node/2", "node/9"], ref="1"),))
    services = osm_services(structure, objects)
    (service,) = services["node/1"]
    assert service.origin == "Town, Station"
    assert service.destination == "Town, Market"  # node/9 is not a stop object we know
    # the last member has no name: the direction is unknown, never an inner stop's name
    structure = OsmStructure(routes=(_route(["node/1", "node/2", "node/3"], ref="1"),))
    (service,) = osm_services(structure, objects)["node/2"]
    assert service.destination is None
    structure = OsmStructure(routes=(_route(["node/1", "node/3"], ref="1", to="Town, Lake"),))
    (service,) = osm_services(structure, objects)["node/3"]
    assert service.destination == "Town, Lake"
    assert osm_services(None, objects) == {}
