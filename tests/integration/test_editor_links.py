"""Editor links (openstreetmap.org, iD, JOSM) in the stop API and on the stop pages, on the real database."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from urllib.parse import unquote, urlsplit

import pytest
from jsonschema import Draft202012Validator

from app.api.openapi import openapi_document
from database import db
from database.models import PipelineRun, ProblemChange
from tests import factories as f

HOSTILE_NAME = 'Vaduz "Post" <img src=x onerror=alert(1)>|highway=motorway & co'


def link_map(links: list[dict]) -> dict[tuple[str, str], str]:
    return {(link["editor"], link["action"]): link["url"] for link in links}


def josm_tags(url: str) -> dict[str, str]:
    """Tags as JOSM reads `addtags`: raw '&' split, one decode, '|' split, first '=' split."""
    args = dict(unquote(pair).partition("=")[::2] for pair in urlsplit(url).query.split("&"))
    return dict(tag.split("=", 1) for tag in args.get("addtags", "").split("|") if "=" in tag)


def anchors(page: str) -> dict[str, str]:
    """Link text → href (HTML-unescaped) of every editor link button on a page."""
    found = {}
    for match in re.finditer(
        r'<a class="button button-small" href="([^"]*)"[^>]*data-editor="[^"]*"[^>]*>([^<]*)</a>', page
    ):
        found[html_lib.unescape(match.group(2))] = html_lib.unescape(match.group(1))
    return found


def test_stop_api_gives_a_matched_stop_links_to_view_and_edit_its_osm_object(app, client):
    stop, node, _ = f.matched_pair()
    body = client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()
    expected = {
        ("osm", "view"): f"https://www.openstreetmap.org/node/{node.osm_id}",
        ("id", "edit"): f"https://www.openstreetmap.org/edit?editor=id&node={node.osm_id}",
        ("josm", "edit"): f"http://127.0.0.1:8111/load_object?objects=n{node.osm_id}&relation_members=true",
    }
    assert link_map(body["links"]) == expected
    assert link_map(body["osm"][0]["links"]) == expected
    osm_body = client.get(f"/api/v1/stops/osm/{node.osm_key}").get_json()
    assert link_map(osm_body["links"]) == expected


def test_stop_api_loads_every_matched_object_into_josm_and_opens_the_nearest_in_id(app, client):
    stop = f.atlas_stop()
    near = f.osm_stop()
    way = f.osm_stop("way/77", lat=47.1412, lon=9.5211)
    f.match(stop.stop_id, near.osm_key, distance_m=3.0)
    f.match(stop.stop_id, way.osm_key, distance_m=9.0)
    links = link_map(client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()["links"])
    assert links[("josm", "edit")].endswith(f"objects=n{near.osm_id},w77&relation_members=true")
    assert links[("id", "edit")].endswith(f"node={near.osm_id}")


def test_stop_api_gives_an_unmatched_registry_stop_links_to_add_it_with_its_tags(app, client):
    stop = f.atlas_stop(lat=47.2, lon=9.5, name="Balzers, Post", code=8510305, modes="BUS")
    # Mappers 3 km away tag ref:IFOPT: the new stop follows local practice and carries it too.
    f.osm_stop(lat=47.227, lon=9.5, ifopt="ch:1:sloid:999", tags={"ref:IFOPT": "ch:1:sloid:999"})
    body = client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()
    links = link_map(body["links"])
    assert list(links) == [("osm", "view"), ("id", "add"), ("josm", "area"), ("josm", "add")]
    assert links[("id", "add")] == "https://www.openstreetmap.org/edit?editor=id#map=19/47.2000000/9.5000000"
    assert links[("josm", "area")].startswith(
        "http://127.0.0.1:8111/load_and_zoom?left=9.499400&right=9.500600"
    )
    add = links[("josm", "add")]
    assert add.startswith("http://127.0.0.1:8111/add_node?lat=47.2000000&lon=9.5000000&addtags=")
    assert josm_tags(add) == {
        "bus": "yes",
        "highway": "bus_stop",
        "name": "Balzers, Post",
        "operator": "Verkehrsbetrieb LIECHTENSTEINmobil",
        "public_transport": "platform",
        "ref:IFOPT": stop.stop_id,
        "uic_name": "Balzers, Post",
        "uic_ref": "8510305",
    }


def test_a_new_stop_carries_ref_ifopt_only_where_mappers_nearby_use_it(app, client):
    used_here = f.atlas_stop(lat=47.10, lon=9.50, modes="BUS")
    not_used_here = f.atlas_stop(lat=47.30, lon=9.50, modes="BUS")  # 22 km further north
    f.osm_stop(lat=47.13, lon=9.50, tags={"ref:sloid": "ch:1:sloid:77"})  # 3.3 km from the first
    f.osm_stop(lat=47.30, lon=9.501, tags={"name": "no identifier"})

    def add_tags(stop) -> dict[str, str]:
        links = link_map(client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()["links"])
        return josm_tags(links[("josm", "add")])

    assert add_tags(used_here)["ref:IFOPT"] == used_here.stop_id
    assert "ref:IFOPT" not in add_tags(not_used_here)


@pytest.mark.parametrize(("policy", "expected"), [("always", True), ("never", False)])
def test_new_stop_ifopt_always_or_never_overrides_local_practice(make_app, policy, expected):
    app = make_app(NEW_STOP_IFOPT=policy)
    with app.app_context():
        stop_id = f.atlas_stop(lat=47.2, lon=9.5, modes="BUS").stop_id
        f.osm_stop(lat=47.2005, lon=9.5, ifopt="ch:1:sloid:1", tags={"ref:IFOPT": "ch:1:sloid:1"})
    links = link_map(app.test_client().get(f"/api/v1/stops/atlas/{stop_id}").get_json()["links"])
    assert ("ref:IFOPT" in josm_tags(links[("josm", "add")])) is expected


def test_an_unmatched_platform_takes_its_means_of_transport_from_its_stop(app, client):
    parent = f.atlas_stop("ch:1:sloid:4242", modes="TRAIN", lat=47.3, lon=9.6)
    platform = f.atlas_stop(
        "ch:1:sloid:4242:1:2",
        dataset="traffic_point",
        modes=None,
        parent_id=parent.stop_id,
        platform_code="2",
        name="Schaan, Bahnhof",
    )
    links = link_map(client.get(f"/api/v1/stops/atlas/{platform.stop_id}").get_json()["links"])
    tags = josm_tags(links[("josm", "add")])
    assert tags["railway"] == "platform"
    assert tags["train"] == "yes"
    assert tags["local_ref"] == "2"


def test_a_registry_stop_whose_tagging_is_unknown_gets_no_add_link_but_the_area(app, client):
    stop = f.atlas_stop(modes="ELEVATOR")
    links = link_map(client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()["links"])
    assert ("josm", "area") in links
    assert ("josm", "add") not in links


def test_a_hostile_registry_name_cannot_inject_tags_or_markup(app, client):
    stop = f.atlas_stop(name=HOSTILE_NAME, operator_name="A & B|x=y")
    links = link_map(client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()["links"])
    tags = josm_tags(links[("josm", "add")])
    # Values holding '|' are left out whole: JOSM has no escape for it.
    assert "name" not in tags
    assert "operator" not in tags
    assert tags["highway"] == "bus_stop"
    assert set(tags) == {"bus", "highway", "public_transport", "uic_ref"}
    page = client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_stop_page_shows_the_apis_editor_links_for_a_matched_object(app, client):
    stop, node, _ = f.matched_pair()
    api_links = client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()["links"]
    page = client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    assert anchors(page) == {link["label"]: link["url"] for link in api_links}
    assert set(anchors(page)) == {"View on openstreetmap.org", "Edit in iD", "Open in JOSM"}
    osm_page = client.get(f"/stops/osm/{node.osm_key}").get_data(as_text=True)
    assert (
        anchors(osm_page)["Edit in iD"] == f"https://www.openstreetmap.org/edit?editor=id&node={node.osm_id}"
    )


def test_stop_page_offers_to_add_an_unmatched_registry_stop_in_josm_and_id(app, client):
    stop = f.atlas_stop(lat=47.2, lon=9.5, name="Triesen, Messina & Söhne")
    page = client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    found = anchors(page)
    assert set(found) == {"View on openstreetmap.org", "Edit here in iD", "Load area in JOSM", "Add in JOSM"}
    assert josm_tags(found["Add in JOSM"])["name"] == "Triesen, Messina & Söhne"
    # In the HTML the query's separators are entities, the tag list one percent-encoded value.
    assert "add_node?lat=47.2000000&amp;lon=9.5000000&amp;addtags=" in page
    assert "Messina%20%26%20S%C3%B6hne" in page


def test_editor_links_open_in_a_new_tab_without_an_opener(app, client):
    stop, _, _ = f.matched_pair()
    page = client.get(f"/stops/atlas/{stop.stop_id}").get_data(as_text=True)
    buttons = re.findall(r'<a class="button button-small"[^>]*data-editor="[^"]*"[^>]*>', page)
    assert len(buttons) == 3
    assert all('target="_blank" rel="noopener"' in button for button in buttons)


def test_an_osm_object_matched_to_two_registry_stops_links_itself_only(app, client):
    _first, node, _ = f.matched_pair()
    second = f.atlas_stop()
    f.match(second.stop_id, node.osm_key, distance_m=12.0)
    links = link_map(client.get(f"/api/v1/stops/osm/{node.osm_key}").get_json()["links"])
    assert links[("josm", "edit")].endswith(f"objects=n{node.osm_id}&relation_members=true")


def test_changes_list_carries_editor_links_for_each_still_open_stop(app, client):
    stop, node, _ = f.matched_pair()
    distance = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key)
    lonely = f.atlas_stop(lat=47.2, lon=9.5, name="Ruggell, Industrie")
    unmatched = f.problem("unmatched", stop_id=lonely.stop_id, priority=1)
    run = PipelineRun(run_uuid=str(uuid.uuid4()), trigger="cli", status="succeeded")
    db.session.add(run)
    db.session.flush()
    for problem in (distance, unmatched):
        db.session.add(
            ProblemChange(
                run_id=run.id,
                problem_identity=problem.identity,
                problem_type=problem.problem_type,
                change="appeared",
                priority=problem.priority,
            )
        )
    db.session.add(
        ProblemChange(
            run_id=run.id,
            problem_identity="unmatched:-:node/9",
            problem_type="unmatched",
            change="resolved",
            priority=1,
        )
    )
    db.session.commit()

    items = {
        c["problem_identity"]: c for c in client.get(f"/api/v1/changes?run={run.id}").get_json()["changes"]
    }
    assert link_map(items[distance.identity]["links"])[("josm", "edit")].endswith(
        f"objects=n{node.osm_id}&relation_members=true"
    )
    added = link_map(items[unmatched.identity]["links"])
    assert josm_tags(added[("josm", "add")])["name"] == "Ruggell, Industrie"
    assert items["unmatched:-:node/9"]["links"] == []  # resolved: nothing left to edit


def test_stop_detail_with_links_matches_its_openapi_schema(app, client):
    document = openapi_document()
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/StopDetail", "components": document["components"]}
    )
    stop, _, _ = f.matched_pair()
    lonely = f.atlas_stop(lat=47.2, lon=9.5)
    for stop_id in (stop.stop_id, lonely.stop_id):
        body = client.get(f"/api/v1/stops/atlas/{stop_id}").get_json()
        assert body["links"]
        validator.validate(body)


def test_osm_candidates_of_why_not_matched_carry_editor_links(app, client):
    stop = f.atlas_stop(lat=47.2, lon=9.5)
    near = f.osm_stop(lat=47.2001, lon=9.5001)
    body = client.get(f"/api/v1/stops/atlas/{stop.stop_id}/candidates").get_json()
    (candidate,) = [c for c in body["candidates"] if c["key"] == near.osm_key]
    assert link_map(candidate["links"])[("id", "edit")] == (
        f"https://www.openstreetmap.org/edit?editor=id&node={near.osm_id}"
    )
