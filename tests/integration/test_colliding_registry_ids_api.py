"""Two registries in one instance holding the same id string: the stop pages and API keep their matches,
problems, decisions, manual links and candidates apart (registry stops are (source, stop_id))."""

from __future__ import annotations

import pytest

from database import db
from database.models import ManualMatch
from tests import factories as f
from tests.second_registry import KONSTANZ, SAME_ID, register_zhv_source


@pytest.fixture(autouse=True)
def zhv(monkeypatch):
    """zHV registered as a second registry plug-in for these tests only."""
    register_zhv_source(monkeypatch)


def two_registries_with_one_id():
    """An ATLAS stop in Vaduz and a zHV stop in Konstanz with the same id, each matched, each with a
    problem, a decision and a manual link of its own."""
    atlas = f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv = f.atlas_stop(
        SAME_ID, source="zhv", dataset="csv", name="Konstanz Bf", country_code="DE", **KONSTANZ
    )
    node_a = f.osm_stop(lat=atlas.lat + 0.0001, lon=atlas.lon, name="Vaduz, Post")
    node_z = f.osm_stop(lat=zhv.lat + 0.0001, lon=zhv.lon, name="Konstanz Bf")
    f.match(SAME_ID, node_a.osm_key)
    f.match(SAME_ID, node_z.osm_key, source="zhv")
    p_atlas = f.problem("distance", stop_id=SAME_ID, osm_key=node_a.osm_key)
    p_zhv = f.problem(
        "distance",
        stop_id=SAME_ID,
        osm_key=node_z.osm_key,
        source="zhv",
        identity=f"distance:zhv/{SAME_ID}:{node_z.osm_key}",
        **KONSTANZ,
    )
    f.decision(p_atlas.identity, "needs_survey", source="atlas", stop_id=SAME_ID, osm_key=node_a.osm_key)
    f.decision(p_zhv.identity, "not_a_problem", source="zhv", stop_id=SAME_ID, osm_key=node_z.osm_key)
    # Links to objects neither page shows otherwise (a link is also listed on its object's page).
    db.session.add_all(
        [
            ManualMatch(source="atlas", stop_id=SAME_ID, osm_key="node/91", action="unlink"),
            ManualMatch(source="zhv", stop_id=SAME_ID, osm_key="node/92", action="unlink"),
        ]
    )
    db.session.commit()
    return node_a, node_z, p_atlas, p_zhv


def test_each_registrys_stop_detail_shows_only_its_own_matches_problems_decisions_and_links(app, client):
    node_a, node_z, p_atlas, p_zhv = two_registries_with_one_id()
    for source, node, problem, name, unlinked in (
        ("atlas", node_a, p_atlas, "Vaduz, Post", "node/91"),
        ("zhv", node_z, p_zhv, "Konstanz Bf", "node/92"),
    ):
        response = client.get(f"/api/v1/stops/{source}/{SAME_ID}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["atlas"]["name"] == name
        assert [(m["source"], m["osm_key"]) for m in body["matches"]] == [(source, node.osm_key)]
        assert [o["osm_key"] for o in body["osm"]] == [node.osm_key]
        assert [p["identity"] for p in body["problems"]] == [problem.identity]
        assert [d["problem_identity"] for d in body["decisions"]] == [problem.identity]
        assert [(m["source"], m["osm_key"]) for m in body["manual_matches"]] == [(source, unlinked)]


def test_each_registrys_stop_page_names_its_own_stop(app, client):
    two_registries_with_one_id()
    atlas = client.get(f"/stops/atlas/{SAME_ID}")
    zhv = client.get(f"/stops/zhv/{SAME_ID}")
    assert atlas.status_code == 200
    assert zhv.status_code == 200
    assert "Vaduz, Post" in atlas.get_data(as_text=True)
    assert "Konstanz Bf" not in atlas.get_data(as_text=True)
    assert "Konstanz Bf" in zhv.get_data(as_text=True)
    assert "Vaduz, Post" not in zhv.get_data(as_text=True)


def test_each_osm_object_names_its_own_registrys_partner(app, client):
    node_a, node_z, _, _ = two_registries_with_one_id()
    assert client.get(f"/api/v1/stops/osm/{node_a.osm_key}").get_json()["atlas"]["name"] == "Vaduz, Post"
    assert client.get(f"/api/v1/stops/osm/{node_z.osm_key}").get_json()["atlas"]["name"] == "Konstanz Bf"


def test_stats_count_a_stop_matched_only_in_the_other_registry_as_unmatched(app, client):
    atlas = f.atlas_stop(SAME_ID, operator_code="PAG")  # ATLAS: nothing matched
    zhv = f.atlas_stop(SAME_ID, source="zhv", dataset="csv", operator_code="SBG", **KONSTANZ)
    node = f.osm_stop(lat=zhv.lat + 0.0001, lon=zhv.lon)
    f.match(SAME_ID, node.osm_key, source="zhv")
    body = client.get("/api/v1/stats").get_json()
    assert body["totals"]["matched_atlas"] == 1
    operators = {o["operator"]: o for o in body["operators"]}
    assert operators[atlas.operator_code]["matched"] == 0
    assert operators["SBG"]["matched"] == 1


def test_the_map_shows_a_stop_unmatched_when_only_the_other_registrys_stop_with_its_id_is_matched(
    app, client
):
    atlas = f.atlas_stop(SAME_ID)
    zhv = f.atlas_stop(SAME_ID, source="zhv", dataset="csv", **KONSTANZ)
    node = f.osm_stop(lat=zhv.lat + 0.0001, lon=zhv.lon)
    f.match(SAME_ID, node.osm_key, source="zhv")
    f.problem("distance", stop_id=SAME_ID, osm_key=node.osm_key, source="zhv", **KONSTANZ)
    box = f"{atlas.lon - 0.01},{atlas.lat - 0.01},{atlas.lon + 0.01},{atlas.lat + 0.01}"
    body = client.get(f"/api/v1/stops?bbox={box}").get_json()
    (feature,) = body["features"]
    assert feature["properties"]["status"] == "unmatched"
    assert not feature["properties"].get("partner_keys")
    assert not feature["properties"].get("problem_types")


def test_search_by_the_shared_id_lists_each_registrys_stop_with_its_own_osm_objects(app, client):
    node_a, node_z, _, _ = two_registries_with_one_id()
    response = client.get("/api/v1/search", query_string={"q": SAME_ID})
    assert response.status_code == 200, response.get_json()
    results = {r["kind"]: r for r in response.get_json()["results"]}
    assert set(results) == {"atlas", "zhv"}
    assert results["atlas"]["url"] == f"/stops/atlas/{SAME_ID}"
    assert results["zhv"]["url"] == f"/stops/zhv/{SAME_ID}"
    assert [o["key"] for o in results["atlas"]["osm"]] == [node_a.osm_key]
    assert [o["key"] for o in results["zhv"]["osm"]] == [node_z.osm_key]
