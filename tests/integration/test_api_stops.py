"""GET /api/v1/stops (map GeoJSON) and the stop detail endpoints, against real PostGIS."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from database import db
from tests import factories as f

LI_BBOX = "9.4,47.0,9.7,47.3"


def features(client, query: str) -> list[dict]:
    response = client.get(f"/api/v1/stops?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["features"]


def keys(items: list[dict]) -> set[str]:
    return {item["id"] for item in items}


def test_stops_in_bbox_are_geojson_features_of_both_sides(app, client):
    stop, node, _ = f.matched_pair(distance_m=12.5)
    f.atlas_stop(lat=46.0, lon=7.0)  # outside the box
    body = client.get(f"/api/v1/stops?bbox={LI_BBOX}").get_json()
    assert body["type"] == "FeatureCollection"
    assert body["truncated"] is False
    assert body["count"] == 2
    by_id = {item["id"]: item for item in body["features"]}
    atlas = by_id[f"atlas:{stop.stop_id}"]
    assert atlas["geometry"] == {"type": "Point", "coordinates": [stop.lon, stop.lat]}
    assert atlas["properties"]["status"] == "matched"
    assert atlas["properties"]["method"] == "exact_uic"
    assert atlas["properties"]["partner_keys"] == [node.osm_key]
    assert atlas["properties"]["distance_m"] == 12.5
    assert by_id[f"osm:{node.osm_key}"]["properties"]["partner_keys"] == [stop.stop_id]


def test_stop_carries_its_problem_types_and_most_urgent_priority(app, client):
    stop, node, _ = f.matched_pair()
    f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key, priority=3)
    f.problem("attributes", stop_id=stop.stop_id, osm_key=node.osm_key, priority=1)
    props = {item["id"]: item["properties"] for item in features(client, f"bbox={LI_BBOX}")}
    assert props[f"atlas:{stop.stop_id}"]["problem_types"] == ["attributes", "distance"]
    assert props[f"atlas:{stop.stop_id}"]["priority"] == 1
    assert props[f"osm:{node.osm_key}"]["priority"] == 1


def test_filters_by_status_side_method_operator_transport_and_problem(app, client):
    matched, node, _ = f.matched_pair(method="name")
    lonely = f.atlas_stop(operator_code="PAG", modes="TRAIN", lat=47.15, lon=9.55)
    f.problem("unmatched", stop_id=lonely.stop_id, priority=1)
    assert keys(features(client, "status=unmatched")) == {f"atlas:{lonely.stop_id}"}
    assert keys(features(client, "status=matched&side=osm")) == {f"osm:{node.osm_key}"}
    assert keys(features(client, "method=name&side=atlas")) == {f"atlas:{matched.stop_id}"}
    assert keys(features(client, "operator=PAG")) == {f"atlas:{lonely.stop_id}"}
    assert keys(features(client, "transport=train")) == {f"atlas:{lonely.stop_id}"}
    assert keys(features(client, "problem_type=unmatched&priority=1")) == {f"atlas:{lonely.stop_id}"}
    assert features(client, "problem_type=unmatched&priority=2") == []
    # OSM objects match an operator or transport filter through their registry partner too.
    assert f"osm:{node.osm_key}" in keys(features(client, "operator=LIEmobil&transport=BUS"))


def test_limit_truncates_and_keeps_problem_stops_first(app, client):
    for index in range(5):
        f.atlas_stop(lat=47.1 + index * 0.001)
    urgent = f.atlas_stop(lat=47.2)
    f.problem("unmatched", stop_id=urgent.stop_id, priority=1)
    body = client.get("/api/v1/stops?limit=2&side=atlas").get_json()
    assert body["truncated"] is True
    assert body["count"] == 2
    assert body["features"][0]["id"] == f"atlas:{urgent.stop_id}"


def test_bbox_query_can_use_the_gist_index(app):
    from app.services.stops import StopFilters, _bind, atlas_sql, osm_sql

    filters = StopFilters(bbox=[9.4, 47.0, 9.7, 47.3])
    for build, index in ((atlas_sql, "idx_registry_stops_geom"), (osm_sql, "idx_osm_stops_geom")):
        sql, params = build(filters, 100)
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in db.session.execute(_bind("EXPLAIN " + sql, params), params))
        assert index in plan, plan
    db.session.rollback()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=10,47,9,48", "bbox"),
        ("bbox=0,0,200,10", "bbox"),
        ("bbox=nan,0,1,1", "bbox"),
        ("status=lost", "status"),
        ("side=both", "side"),
        ("method=telepathy", "method"),
        ("problem_type=ugly", "problem_type"),
        ("priority=0", "priority"),
        ("priority=x", "priority"),
        ("transport=ROCKET", "transport"),
        ("limit=10001", "limit"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("colour=red", "colour"),
    ],
)
def test_invalid_stop_filters_are_a_400_naming_the_parameter(app, client, query, parameter):
    response = client.get(f"/api/v1/stops?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"]["parameter"] == parameter


def test_atlas_stop_detail_has_both_sides_matches_problems_and_decisions(app, client):
    stop, node, _ = f.matched_pair(distance_m=31.0)
    problem = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key, priority=2, distance_m=31.0)
    editor = f.create_user("anna")
    f.decision(problem.identity, "needs_survey", author=editor, note="check on site")
    body = client.get(f"/api/v1/stops/atlas/{stop.stop_id}").get_json()
    assert body["atlas"]["stop_id"] == stop.stop_id
    assert [item["osm_key"] for item in body["osm"]] == [node.osm_key]
    assert body["osm"][0]["url"] == f"https://www.openstreetmap.org/{node.osm_key}"
    assert body["matches"] == [
        {
            "source": "atlas",
            "stop_id": stop.stop_id,
            "osm_key": node.osm_key,
            "method": "exact_uic",
            "distance_m": 31.0,
            "name_score": None,
            "evidence": {},
        }
    ]
    assert body["problems"][0]["identity"] == problem.identity
    assert body["problems"][0]["decision"]["decision"] == "needs_survey"
    assert body["problems"][0]["decision"]["author"] == "anna"
    assert body["decisions"][0]["history"][0]["action"] == "created"


def test_osm_stop_detail_lists_its_registry_partner(app, client):
    stop, node, _ = f.matched_pair()
    body = client.get(f"/api/v1/stops/osm/{node.osm_key}").get_json()
    assert body["atlas"]["stop_id"] == stop.stop_id
    assert body["osm"][0]["osm_key"] == node.osm_key


def test_unmatched_osm_stop_detail_has_no_registry_side(app, client):
    node = f.osm_stop()
    body = client.get(f"/api/v1/stops/osm/{node.osm_key}").get_json()
    assert body["atlas"] is None
    assert body["matches"] == []


def test_unknown_stops_are_404_and_malformed_ids_400(app, client):
    assert client.get("/api/v1/stops/atlas/ch:1:sloid:999999").status_code == 404
    assert client.get("/api/v1/stops/osm/node/999999").status_code == 404
    for url in ("/api/v1/stops/osm/planet/1", "/api/v1/stops/osm/node/abc", "/api/v1/stops/osm/node/-4"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert client.get("/api/v1/stops/atlas/%3Cscript%3E").status_code == 400


def test_stop_detail_query_count_does_not_grow_with_matches_and_problems(app, client):
    def count_queries(url: str) -> int:
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    small = f.atlas_stop()
    node = f.osm_stop()
    f.match(small.stop_id, node.osm_key)
    f.decision(f.problem("distance", stop_id=small.stop_id, osm_key=node.osm_key).identity)
    big = f.atlas_stop()
    for _ in range(6):
        other = f.osm_stop()
        f.match(big.stop_id, other.osm_key)
        problem = f.problem("attributes", stop_id=big.stop_id, osm_key=other.osm_key)
        f.decision(problem.identity)
    assert count_queries(f"/api/v1/stops/atlas/{big.stop_id}") == count_queries(
        f"/api/v1/stops/atlas/{small.stop_id}"
    )
