"""The production Overpass query and how the sources turn their URL settings into downloads."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest

from pipeline.sources import get_source
from pipeline.sources.osm import STOP_TAGS, is_pbf, osm_file_suffix
from pipeline.sources.overpass import DEFAULT_AREAS, TRANSIT_ROUTES, build_query, parse_areas
from tests.live_formats import SUBSET_PBF

osm = get_source("osm")
atlas = get_source("atlas")


def balanced(query: str) -> bool:
    """Brackets and parentheses nest properly outside of quoted strings, and every quote closes."""
    stack: list[str] = []
    pairs = {")": "(", "]": "["}
    quoted = False
    for char in query:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([":
            stack.append(char)
        elif char in ")]" and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack and not quoted


def statements(query: str) -> list[str]:
    """The query's statements (settings line first), split on the semicolons that end them."""
    return [s.strip() for s in query.split(";") if s.strip()]


def test_the_default_query_covers_switzerland_and_liechtenstein():
    query = build_query()
    assert 'area["ISO3166-1"="CH"];' in query
    assert 'area["ISO3166-1"="LI"];' in query
    assert ")->.searchArea;" in query  # one area set, the union of both countries


def test_the_query_has_the_shape_of_overpass_ql():
    query = build_query(120, "ISO3166-1=CH,ISO3166-1=LI", 536_870_912)
    assert balanced(query)
    assert query.startswith("[out:json][timeout:120][maxsize:536870912];\n")
    assert query.rstrip().endswith(".stopWays out skel qt;")
    # every line is a complete statement or part of a ( ... ); union
    for line in query.splitlines():
        assert line.endswith((";", "(")), line


def test_the_query_returns_versions_timestamps_and_way_centres():
    query = build_query()
    assert "out meta center qt;" in query
    assert "out tags" not in query


def test_the_query_asks_for_stop_areas_routes_and_their_masters():
    query = build_query()
    assert 'rel(area.searchArea)["public_transport"="stop_area"]->.stopAreas;' in query
    assert (
        f'rel(area.searchArea)["type"="route"]["route"~"^({"|".join(TRANSIT_ROUTES)})$"]->.routes;' in query
    )
    assert 'rel(br.routes)["type"="route_master"]->.masters;' in query
    assert "(.stops; .stopAreas; .routes; .masters;);" in query
    assert "hiking" not in query


def test_the_query_returns_the_ways_around_stop_nodes_as_skeletons():
    # A fix export never moves a node that belongs to a way; only these skeletons tell which do.
    query = build_query()
    assert "node.stops->.stopNodes;" in query
    assert "way(bn.stopNodes)->.stopWays;" in query
    assert query.index("out meta center qt;") < query.index(".stopWays out skel qt;")


def test_the_stop_filters_are_the_parsers_stop_tags():
    query = build_query()
    for key, values in STOP_TAGS.items():
        assert f'nwr(area.searchArea)["{key}"' in query
        for value in values or ():
            assert value in query


def test_areas_may_be_tags_or_overpass_area_ids():
    assert parse_areas("3600051701, ISO3166-1=LI") == ["area(3600051701);", 'area["ISO3166-1"="LI"];']
    assert parse_areas("name:de=Graubünden") == ['area["name:de"="Graubünden"];']
    assert statements(build_query(areas="3600051701"))[1] == "(\n  area(3600051701)"


@pytest.mark.parametrize("bad", ["", " , ", 'ISO3166-1=CH"];out;', "CH", "name=Zürich]", "=CH"])
def test_a_malformed_area_is_refused(bad):
    with pytest.raises(ValueError, match="area"):
        parse_areas(bad)


def test_an_overpass_interpreter_url_gets_the_query_of_the_configured_areas_by_post():
    settings = SimpleNamespace(
        OSM_URL="https://overpass.example/api/interpreter",
        OVERPASS_QUERY_TIMEOUT_S=90,
        OVERPASS_AREAS="ISO3166-1=LI",
        OVERPASS_MAXSIZE_BYTES=2_000_000,
    )
    request = osm.http_request(settings)
    assert request.method == "POST"
    assert request.suffix == ".json"
    query = parse_qs(request.body.decode())["data"][0]
    assert query == build_query(90, "ISO3166-1=LI", 2_000_000)


@pytest.mark.parametrize(
    ("url", "suffix"),
    [
        ("https://download.geofabrik.de/europe/liechtenstein-latest.osm.pbf", ".osm.pbf"),
        ("https://mirror.example/extracts/switzerland.PBF?v=2", ".osm.pbf"),
        ("https://mirror.example/li.osm", ".osm"),
        ("https://mirror.example/stops.json", ".json"),
        ("https://overpass-api.de/api/interpreter", None),
    ],
)
def test_an_extract_url_is_downloaded_as_it_is(url, suffix):
    assert osm_file_suffix(url) == suffix
    request = osm.http_request(SimpleNamespace(OSM_URL=url))
    if suffix is None:
        assert request.method == "POST"
    else:
        assert (request.method, request.body, request.suffix) == ("GET", None, suffix)


def test_an_empty_osm_url_means_no_download():
    assert osm.http_requests(SimpleNamespace(OSM_URL="")) == []


def test_both_atlas_exports_are_downloaded_for_one_parse():
    settings = SimpleNamespace(
        ATLAS_URL="https://atlas.example/actual-date-world-traffic-point.csv",
        ATLAS_SERVICE_POINTS_URL="https://atlas.example/service-points/permalink",
    )
    traffic, service = atlas.http_requests(settings)
    assert (traffic.url, traffic.key("atlas"), traffic.suffix) == (settings.ATLAS_URL, "atlas", ".csv")
    assert (service.key("atlas"), service.suffix) == ("atlas.service_points", ".csv")
    assert atlas.http_request(settings) == traffic


def test_an_emptied_atlas_export_is_left_out():
    only_service = SimpleNamespace(ATLAS_URL="", ATLAS_SERVICE_POINTS_URL="https://a.example/sp.zip")
    [request] = atlas.http_requests(only_service)
    assert request.key("atlas") == "atlas.service_points"
    assert request.suffix == ".zip"
    assert atlas.http_request(only_service) is None


def test_a_pbf_is_recognised_by_its_content():
    assert is_pbf(SUBSET_PBF.read_bytes()[:4096])
    assert not is_pbf(b'{"version": 0.6, "elements": []}')
    assert not is_pbf(b"<?xml version='1.0'?><osm/>")


def test_the_default_areas_are_the_settings_default():
    from app.config import Settings

    assert Settings.OVERPASS_AREAS == DEFAULT_AREAS
