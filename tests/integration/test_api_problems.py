"""GET /api/v1/problems: filters, sort orders, cursor pagination."""

from __future__ import annotations

import pytest

from tests import factories as f


def page(client, **query) -> dict:
    response = client.get("/api/v1/problems", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def identities(body: dict) -> list[str]:
    return [problem["identity"] for problem in body["problems"]]


@pytest.fixture
def queue(app):
    """Seven problems of mixed type, priority, operator, distance and place; one decided."""
    rows = [
        f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1", priority=2, distance_m=40.0),
        f.problem("distance", stop_id="ch:1:sloid:2", osm_key="node/2", priority=1, distance_m=120.0),
        f.problem("distance", stop_id="ch:1:sloid:3", osm_key="node/3", priority=3, distance_m=18.0),
        f.problem("unmatched", stop_id="ch:1:sloid:4", priority=1, operator_code="PAG"),
        f.problem("unmatched", osm_key="node/5", priority=3, operator_code=None, lat=46.5, lon=6.6),
        f.problem("attributes", stop_id="ch:1:sloid:6", osm_key="node/6", priority=2),
        f.problem("duplicates", stop_id="ch:1:sloid:7", priority=2),
    ]
    f.decision(rows[0].identity, "fixed_in_osm")
    return rows


def test_problems_come_by_priority_with_their_decision(client, queue):
    body = page(client)
    priorities = [problem["priority"] for problem in body["problems"]]
    assert priorities == sorted(priorities)
    decided = next(p for p in body["problems"] if p["identity"] == queue[0].identity)
    assert decided["decision"]["decision"] == "fixed_in_osm"
    assert body["next_cursor"] is None


def test_sort_by_distance_puts_the_farthest_first_and_no_distance_last(client, queue):
    body = page(client, sort="distance")
    distances = [problem["distance_m"] for problem in body["problems"]]
    assert distances[:3] == [120.0, 40.0, 18.0]
    assert all(distance is None for distance in distances[3:])


@pytest.mark.parametrize("sort", ["priority", "distance"])
def test_cursor_pagination_visits_every_problem_once(client, queue, sort):
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"limit": 2, "sort": sort}
        if cursor:
            query["cursor"] = cursor
        body = page(client, **query)
        seen += identities(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(problem.identity for problem in queue)
    assert len(seen) == len(set(seen))
    assert seen == identities(page(client, sort=sort, limit=100))


def test_filters_type_priority_decided_operator_and_bbox(client, queue):
    assert {p["problem_type"] for p in page(client, type="unmatched,duplicates")["problems"]} == {
        "unmatched",
        "duplicates",
    }
    assert {p["priority"] for p in page(client, priority="1")["problems"]} == {1}
    assert identities(page(client, decided="true")) == [queue[0].identity]
    assert queue[0].identity not in identities(page(client, decided="false"))
    assert identities(page(client, operator="PAG")) == [queue[3].identity]
    assert identities(page(client, bbox="6.5,46.4,6.7,46.6")) == [queue[4].identity]
    assert identities(page(client, stop_id="ch:1:sloid:6")) == [queue[5].identity]
    assert identities(page(client, osm_key="node/5")) == [queue[4].identity]


def test_a_decision_flagged_for_review_is_back_in_the_undecided_queue(client, queue):
    f.decision(queue[1].identity, "not_a_problem", status="needs_review")
    assert queue[1].identity in identities(page(client, decided="false"))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"type": "nonsense"}, "type"),
        ({"priority": "7"}, "priority"),
        ({"decided": "maybe"}, "decided"),
        ({"sort": "random"}, "sort"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "501"}, "limit"),
        ({"bbox": "1,2"}, "bbox"),
        ({"osm_key": "node/x"}, "osm_key"),
        ({"page": "2"}, "page"),
    ],
)
def test_invalid_problem_queries_are_a_400(client, queue, query, parameter):
    response = client.get("/api/v1/problems", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["parameter"] == parameter


def test_a_cursor_of_another_sort_order_is_refused(client, queue):
    cursor = page(client, limit=1)["next_cursor"]
    response = client.get("/api/v1/problems", query_string={"cursor": cursor, "sort": "distance"})
    assert response.status_code == 400
