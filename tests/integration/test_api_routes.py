"""Lines of both sides: GET /api/v1/routes, GET /api/v1/routes/<side>/<id>, the route page and the
stop page's lines, on hand-made rows (every status, every filter), the Liechtenstein demo (OSM side
only) and the real Zug timetable with an OSM side derived from it (both sides)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from app.api.openapi import openapi_document
from runs.stages import RunOptions, run_pipeline
from tests import factories as f
from tests.route_lines import LINE_11, ZVB, seed_line_11

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2025, 8, 2)


def validator(schema_ref: str | None = None, path: str | None = None) -> Draft202012Validator:
    """A validator for a component schema, or for the 200 response of GET `path`."""
    document = openapi_document()
    if path is not None:
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    else:
        schema = {"$ref": f"#/components/schemas/{schema_ref}"}
    return Draft202012Validator({**schema, "components": document["components"]})


def by_id(body: dict) -> dict[tuple[str, str], dict]:
    return {(r["side"], r["id"]): r for r in body["routes"]}


def test_routes_list_pairs_each_osm_relation_with_its_timetable_direction(app, client):
    seed_line_11()
    body = client.get("/api/v1/routes").get_json()
    validator(path="/routes").validate(body)
    routes = by_id(body)
    assert body["count"] == 5
    assert body["sides"] == {"osm": {"routes": 3, "matched": 2}, "gtfs": {"routes": 2, "matched": 1}}
    [forward] = routes["osm", "101"]["directions"]
    assert [(p["id"], p["direction_id"]) for p in forward["partners"]] == [(LINE_11, "0")]
    # 102 has no `to`: its last platform's name stands in, and the shared registry stops decide
    [backward] = routes["osm", "102"]["directions"]
    assert backward["to"] == "Zug, A"
    assert [(p["id"], p["direction_id"]) for p in backward["partners"]] == [(LINE_11, "1")]
    assert routes["osm", "103"]["matched"] is False
    line = routes["gtfs", LINE_11]
    assert line["matched"] is True
    assert line["mode"] == "bus"
    assert line["stops"] == 7
    assert [[p["id"] for p in d["partners"]] for d in line["directions"]] == [["101"], ["102"]]
    assert routes["gtfs", "92-5-A-j21-1"]["matched"] is False
    assert routes["osm", "101"]["osm_url"] == "https://www.openstreetmap.org/relation/101"
    assert routes["osm", "101"]["route_master_id"] == 100


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("side=osm", {("osm", "101"), ("osm", "102"), ("osm", "103")}),
        ("side=gtfs&matched=true", {("gtfs", LINE_11)}),
        ("matched=false", {("osm", "103"), ("gtfs", "92-5-A-j21-1")}),
        ("operator=zugerland&side=osm", {("osm", "101"), ("osm", "102")}),
        ("operator=OTHER%20BUS", {("osm", "103")}),
        ("q=99", {("osm", "103")}),
        ("q=bus%2011&side=osm", {("osm", "101"), ("osm", "102")}),
        ("q=92-5", {("gtfs", "92-5-A-j21-1")}),
        ("mode=train", set()),
        ("mode=bus&side=gtfs", {("gtfs", LINE_11), ("gtfs", "92-5-A-j21-1")}),
    ],
)
def test_routes_list_filters_by_side_match_operator_text_and_mode(app, client, query, expected):
    seed_line_11()
    body = client.get(f"/api/v1/routes?{query}").get_json()
    assert set(by_id(body)) == expected
    assert body["count"] == len(expected)


def test_routes_list_pages_with_a_cursor_through_every_line_once(app, client):
    seed_line_11()
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/routes?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).get_json()
        seen += [(r["side"], r["id"]) for r in body["routes"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    # ordered by side, then line number as a number (5 before 11), then id
    assert seen == [
        ("gtfs", "92-5-A-j21-1"),
        ("gtfs", LINE_11),
        ("osm", "101"),
        ("osm", "102"),
        ("osm", "103"),
    ]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("side=bus", "side"),
        ("matched=maybe", "matched"),
        ("mode=plane", "mode"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=not-ours", "cursor"),
        ("cursor=eyJzIjoicHJpb3JpdHkiLCJrIjpbMSwyXX0", "cursor"),  # a /problems cursor
        ("operator=a%00b", "operator"),
        ("q=" + "x" * 101, "q"),
        ("sort=ref", "sort"),
    ],
)
def test_invalid_route_filters_are_a_400_naming_the_parameter(app, client, query, parameter):
    response = client.get(f"/api/v1/routes?{query}")
    assert response.status_code == 400, query
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"]["parameter"] == parameter


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("/api/v1/routes/bus/1", 400, "side"),
        ("/api/v1/routes/osm/abc", 400, "route_id"),
        ("/api/v1/routes/osm/0", 400, "route_id"),
        ("/api/v1/routes/osm/99999999999999999999", 400, "route_id"),
        # a control character or undecodable bytes (a lone surrogate, UTF-8 encoded) in a path is a
        # 404 of the app's error handler (app/errors.py), never a database error
        ("/api/v1/routes/gtfs/a%00b", 404, None),
        ("/api/v1/routes/gtfs/%ED%A0%80", 404, None),
        ("/api/v1/routes/gtfs/" + "x" * 256, 400, "route_id"),
        ("/api/v1/routes/osm/999", 404, None),
        ("/api/v1/routes/gtfs/no-such-route", 404, None),
    ],
)
def test_unknown_routes_are_404_and_malformed_ids_400(app, client, path, status, parameter):
    response = client.get(path)
    assert response.status_code == status, path
    error = response.get_json()["error"]
    assert error["status"] == status
    if parameter:
        assert error["details"]["parameter"] == parameter


def test_route_detail_marks_each_stop_agree_only_here_or_unknown(app, client):
    keys = seed_line_11()
    body = client.get(f"/api/v1/routes/gtfs/{LINE_11}").get_json()
    validator(path="/routes/{side}/{route_id}").validate(body)
    its = {(i["side"], i["id"], i["direction_id"]): i for i in body["itineraries"]}
    # each direction, then the relation paired with it
    assert list(its) == [
        ("gtfs", LINE_11, "0"),
        ("osm", "101", None),
        ("gtfs", LINE_11, "1"),
        ("osm", "102", None),
    ]
    forward = its["gtfs", LINE_11, "0"]
    assert [(s["name"], s["status"]) for s in forward["stops"]] == [
        ("Konstanz", "unknown"),  # resolved to no registry stop
        ("Zug, A", "agree"),
        ("Zug, B", "agree"),
        ("Zug, C", "agree"),
    ]
    backward = its["gtfs", LINE_11, "1"]
    assert [s["status"] for s in backward["stops"]] == ["agree", "only_here", "agree"]  # 102 skips B'
    assert backward["stops"][1]["registry_stop_id"] == keys["B'"]
    assert backward["counts"] == {"agree": 2, "only_here": 1, "unknown": 0, "no_partner": 0}
    relation = its["osm", "101", None]
    assert [(m["osm_key"], m["role"], m["status"]) for m in relation["stops"]] == [
        (keys["position A"], "stop", "unknown"),  # the stop position is matched to no registry stop
        (keys["node A"], "platform", "agree"),
        (keys["node B"], "platform", "agree"),
        (keys["node C"], "platform", "agree"),
    ]
    assert relation["stops"][1]["url"] == f"/stops/osm/{keys['node A']}"
    assert forward["stops"][1]["url"] == f"/stops/atlas/{keys['A']}"


def test_route_detail_of_an_osm_relation_shows_its_partner_direction(app, client):
    keys = seed_line_11()
    body = client.get("/api/v1/routes/osm/102").get_json()
    validator(path="/routes/{side}/{route_id}").validate(body)
    assert [(i["side"], i["id"], i["direction_id"]) for i in body["itineraries"]] == [
        ("osm", "102", None),
        ("gtfs", LINE_11, "1"),
    ]
    assert [m["status"] for m in body["itineraries"][0]["stops"]] == ["agree", "agree"]
    lonely = client.get("/api/v1/routes/osm/103").get_json()
    assert [m["status"] for m in lonely["itineraries"][0]["stops"]] == ["no_partner"]
    assert lonely["itineraries"][0]["stops"][0]["sloids"] == [keys["A"]]


def test_stop_detail_lists_the_lines_serving_the_stop_on_each_side(app, client):
    keys = seed_line_11()
    body = client.get(f"/api/v1/stops/atlas/{keys['A']}").get_json()
    validator("StopDetail").validate(body)
    assert {line["id"] for line in body["lines"]["osm"]} == {"101", "103"}
    assert [(line["id"], line["direction_id"], line["to"]) for line in body["lines"]["gtfs"]] == [
        (LINE_11, "0", "Zug, C")
    ]
    osm_side = client.get(f"/api/v1/stops/osm/{keys['node B']}").get_json()
    assert [line["id"] for line in osm_side["lines"]["osm"]] == ["101"]
    assert {(line["id"], line["direction_id"]) for line in osm_side["lines"]["gtfs"]} == {
        (LINE_11, "0"),
        ("92-5-A-j21-1", "0"),
    }
    nothing = client.get(f"/api/v1/stops/atlas/{f.atlas_stop(lat=46.0, lon=8.0).stop_id}").get_json()
    assert nothing["lines"] == {"osm": [], "gtfs": []}


def test_route_page_shows_both_sides_in_order_with_links(app, client):
    keys = seed_line_11()
    page = client.get(f"/routes/gtfs/{LINE_11}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="/stops/atlas/{keys["A"]}"' in html
    assert f'href="/stops/osm/{keys["node A"]}"' in html
    assert 'href="/routes/osm/101"' in html
    assert 'href="/routes/osm/102"' in html
    assert "https://www.openstreetmap.org/relation/101" in html
    assert html.count('<tr data-status="only_here">') == 1  # B' of direction 1
    # the itineraries' stops keep the travel order
    forward = html.split('data-direction="0"')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert (
        forward.index("Konstanz")
        < forward.index("Zug, A")
        < forward.index("Zug, B")
        < forward.index("Zug, C")
    )
    # no inline script (CSP): only external scripts and JSON data blocks
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    relation = client.get("/routes/osm/101").get_data(as_text=True)
    assert f'href="/routes/gtfs/{LINE_11}"' in relation
    assert 'href="https://www.openstreetmap.org/relation/101"' in relation


@pytest.mark.parametrize("path", ["/routes/osm/999", "/routes/bus/1", "/routes/gtfs/a%00b", "/routes/osm/x"])
def test_route_page_of_an_unknown_or_malformed_line_is_404(app, client, path):
    assert client.get(path).status_code == 404


def test_stop_page_lists_the_lines_on_each_side(app, client):
    keys = seed_line_11()
    html = client.get(f"/stops/atlas/{keys['A']}").get_data(as_text=True)
    lines = html.split('id="stop-lines"')[1].split("</section>")[0]
    assert 'href="/routes/osm/101"' in lines
    assert 'href="/routes/osm/103"' in lines
    assert f'href="/routes/gtfs/{LINE_11}"' in lines
    lonely = f.atlas_stop(lat=46.0, lon=8.0)
    html = client.get(f"/stops/atlas/{lonely.stop_id}").get_data(as_text=True)
    assert "No OSM route relation has this stop" in html
    assert "No timetable (GTFS) route stops" in html


# --- real data --------------------------------------------------------------------------------


def test_demo_routes_are_listed_with_their_members_and_no_timetable_partner(app, client):
    summary = run_pipeline(
        RunOptions(source_dir=ROOT / "data/demo", offline=True, today=TODAY, trigger="cli")
    )
    assert summary.status == "succeeded"
    body = client.get("/api/v1/routes?side=osm&mode=bus&limit=1000").get_json()
    validator(path="/routes").validate(body)
    assert body["count"] == 93
    assert body["sides"]["gtfs"] == {"routes": 0, "matched": 0}  # the demo has no timetable
    assert client.get("/api/v1/routes?mode=train").get_json()["count"] == 9
    assert client.get("/api/v1/routes?matched=true").get_json()["count"] == 0
    line = next(r for r in body["routes"] if r["ref"] == "11")
    detail = client.get(line["url"].replace("/routes/", "/api/v1/routes/")).get_json()
    validator(path="/routes/{side}/{route_id}").validate(detail)
    [relation] = detail["itineraries"]
    assert [m["sequence"] for m in relation["stops"]] == list(range(len(relation["stops"])))
    assert {m["status"] for m in relation["stops"]} == {"no_partner"}
    member = next(m for m in relation["stops"] if m["known"] and m["sloids"])
    stop = client.get(f"/api/v1/stops/osm/{member['osm_key']}").get_json()
    assert line["id"] in {x["id"] for x in stop["lines"]["osm"]}
    registry = client.get(f"/api/v1/stops/atlas/{member['sloids'][0]}").get_json()
    assert line["id"] in {x["id"] for x in registry["lines"]["osm"]}
    assert client.get(line["url"]).status_code == 200


@pytest.fixture
def zug_run(app, tmp_path):
    """A whole run over the real Zug timetable and ATLAS rows, the OSM side derived from them."""
    from pipeline.sources.atlas import AtlasSource
    from pipeline.sources.base import ParseOptions
    from pipeline.sources.gtfs import read_gtfs, resolve_stops
    from tests.route_derivation import derive_osm, write_osm

    fixture = ROOT / "tests/data/gtfs_zug"
    registry = AtlasSource().parse(
        [fixture / "atlas_zug.csv.zip"], ParseOptions(today=TODAY, uic_country_codes=None)
    )
    timetable = read_gtfs(fixture / "gtfs_zug.zip")
    resolution = resolve_stops(timetable.stops, registry.records)
    folder = tmp_path / "sources"
    folder.mkdir()
    shutil.copy(fixture / "atlas_zug.csv.zip", folder)
    shutil.copy(fixture / "gtfs_zug.zip", folder)
    data, _truth, _decoys = derive_osm(registry.records, timetable, resolution)
    write_osm(folder / "osm_zug.json", data)
    summary = run_pipeline(RunOptions(source_dir=folder, offline=True, today=TODAY))
    assert summary.status == "succeeded"
    # derive_osm makes one relation per itinerary reaching two platforms (one per registry stop of
    # region ZG that the timetable serves), numbered in itinerary order: the truth of the pairing
    zug = {s.stop_id for s in registry.records if s.region == "ZG"}
    served = {resolution.sloid_of.get(c.stop_id) for c in timetable.calls} & zug
    truth: dict[str, tuple[str, str]] = {}
    for itinerary in timetable.itineraries:
        platforms: list[str] = []
        for stop_id in itinerary.stop_ids:
            sloid = resolution.sloid_of.get(stop_id)
            if sloid in served and (not platforms or platforms[-1] != sloid):
                platforms.append(sloid)
        if len(platforms) >= 2:
            truth[str(len(truth) + 1)] = (itinerary.route_id, itinerary.direction_id)
    relations = [e for e in data["elements"] if e["type"] == "relation" and e["tags"].get("ref") != "99"]
    assert len(relations) == len(truth)
    return truth


def test_zug_relations_pair_with_the_timetable_direction_they_were_derived_from(client, zug_run):
    truth = zug_run
    body = client.get("/api/v1/routes?limit=1000").get_json()
    validator(path="/routes").validate(body)
    routes = by_id(body)
    assert body["sides"]["gtfs"]["routes"] == 60
    assert body["sides"]["osm"]["routes"] == len(truth) + 1  # and the decoys' line 99
    assert routes["osm", str(len(truth) + 1)]["matched"] is False  # line 99 of another operator
    found = sole = wrong = 0
    for relation_id, itinerary in truth.items():
        [relation] = routes["osm", relation_id]["directions"]
        partners = {(p["id"], p["direction_id"]) for p in relation["partners"]}
        found += itinerary in partners
        sole += partners == {itinerary}
        wrong += bool(partners) and itinerary not in partners
    print(f"Zug: {len(truth)} relations; partners include their itinerary: {found}, only it: {sole}")
    assert found / len(truth) >= 0.95
    assert sole / len(truth) >= 0.85
    assert wrong == 0

    line = routes["gtfs", LINE_11]
    assert line["matched"]
    assert line["operator"] == ZVB
    assert line["mode"] == "bus"
    detail = client.get(f"/api/v1/routes/gtfs/{LINE_11}").get_json()
    validator(path="/routes/{side}/{route_id}").validate(detail)
    gtfs_its = [i for i in detail["itineraries"] if i["side"] == "gtfs"]
    assert {i["direction_id"] for i in gtfs_its} == {"0", "1"}
    agreed = sum(i["counts"]["agree"] for i in gtfs_its)
    total = sum(len(i["stops"]) for i in gtfs_its)
    print(f"Zug line 11: {agreed} of {total} timetable stops agree with their OSM relations")
    assert agreed / total >= 0.9  # the relations were derived from these itineraries
    page = client.get(f"/routes/gtfs/{LINE_11}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('href="https://www.openstreetmap.org/relation/') >= 2


def test_a_relation_without_from_and_to_is_named_by_its_first_and_last_known_platform(app, client):
    keys = seed_line_11()
    outside = "node/999999999"  # a member the snapshot does not hold (beyond the data's edge)
    f.osm_route(
        104,
        [keys["node C'"], keys["node B'"], keys["node A'"], outside],
        roles=["forward:platform", "forward:stop", "forward:platform", "platform"],
        ref="11",
        operator=ZVB,
    )
    f.osm_route(
        105, [keys["node A"], keys["node C"]], roles=["stop", "stop_exit_only"], ref="11", operator=ZVB
    )
    routes = by_id(client.get("/api/v1/routes?side=osm").get_json())
    [ptv1] = routes["osm", "104"]["directions"]
    assert (ptv1["from"], ptv1["to"]) == ("Zug, C", "Zug, A")  # platforms only, the unknown one skipped
    assert [p["direction_id"] for p in ptv1["partners"]] == ["1"]
    [stops_only] = routes["osm", "105"]["directions"]
    assert (stops_only["from"], stops_only["to"]) == ("Zug, A", "Zug, C")  # no platform: the stops name it
    assert [p["direction_id"] for p in stops_only["partners"]] == ["0"]


def test_lines_page_lists_both_sides_with_partners_and_filters_like_the_api(app, client):
    seed_line_11()
    html = client.get("/routes").get_data(as_text=True)
    rows = re.findall(r'<tr data-side="(\w+)" data-id="([^"]+)" data-matched="(\w+)">', html)
    assert set(rows) == {
        ("gtfs", "92-5-A-j21-1", "false"),
        ("gtfs", LINE_11, "true"),
        ("osm", "101", "true"),
        ("osm", "102", "true"),
        ("osm", "103", "false"),
    }
    assert f'href="/routes/gtfs/{LINE_11}"' in html
    assert 'href="/routes/osm/101"' in html
    unpaired = client.get("/routes?side=osm&matched=false").get_data(as_text=True)
    assert re.findall(r'<tr data-side="osm" data-id="(\d+)"', unpaired) == ["103"]
    # values the API refuses are ignored by the page (all lines), never an error page
    lenient = client.get("/routes?side=bus&matched=maybe&mode=plane&cursor=nonsense&q=%00")
    assert lenient.status_code == 200
    assert len(re.findall(r"<tr data-side=", lenient.get_data(as_text=True))) == 5


def test_lines_page_links_the_next_page_with_the_filters_kept(app, client, monkeypatch):
    from app import pages

    seed_line_11()
    monkeypatch.setattr(pages, "ROUTE_PAGE_SIZE", 2)
    html = client.get("/routes?side=osm").get_data(as_text=True)
    assert len(re.findall(r"<tr data-side=", html)) == 2
    next_href = re.search(r'id="routes-next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "side=osm" in next_href
    rest = client.get(next_href).get_data(as_text=True)
    assert re.findall(r'<tr data-side="osm" data-id="(\d+)"', rest) == ["103"]
    assert 'id="routes-next"' not in rest


def test_hostile_line_names_and_ids_are_shown_as_text(app, client):
    stop, node, _ = f.matched_pair()
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    f.osm_route(201, [node.osm_key], ref=hostile, name=hostile, operator=hostile, to_name=hostile)
    f.gtfs_route('a/b?c#d&e"<x>', {"0": [(hostile, stop.stop_id)]}, short_name=hostile, long_name=hostile)
    for path in ("/routes", "/routes/osm/201", f"/stops/atlas/{stop.stop_id}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    # an id with URL syntax in it is linked percent-encoded and its page found again
    listing = client.get("/api/v1/routes?side=gtfs").get_json()
    [line] = listing["routes"]
    assert line["url"] == "/routes/gtfs/a%2Fb%3Fc%23d%26e%22%3Cx%3E"
    assert client.get(line["url"]).status_code == 200
    assert client.get("/api/v1" + line["url"]).get_json()["route"]["id"] == 'a/b?c#d&e"<x>'
