"""GET /api/v1/stats and the streamed exports."""

from __future__ import annotations

import csv
import io
import json

from database import db
from database.models import PipelineRun, Problem
from tests import factories as f


def test_stats_count_methods_problems_operators_transports_and_decisions(app, client):
    stop, node, _ = f.matched_pair(method="exact_uic", distance_m=3.0)
    f.matched_pair(method="name", distance_m=30.0, operator_code="PAG", modes="BUS|TRAM")
    lonely = f.atlas_stop(modes="TRAIN")
    f.osm_stop()
    problem = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key, priority=3)
    f.problem("unmatched", stop_id=lonely.stop_id, priority=1)
    f.decision(problem.identity, "not_a_problem")
    db.session.add(PipelineRun(run_uuid="r1", trigger="cli", status="succeeded"))
    db.session.commit()

    body = client.get("/api/v1/stats").get_json()
    assert body["totals"] == {
        "registry_stops": 3,
        "osm_stops": 3,
        "matches": 2,
        "matched_atlas": 2,
        "unmatched_atlas": 1,
        "matched_osm": 2,
        "unmatched_osm": 1,
        "problems": 2,
        "decided": 1,
        "undecided": 1,
    }
    assert {row["method"]: row["count"] for row in body["match_methods"]} == {"exact_uic": 1, "name": 1}
    by_type = {row["problem_type"]: row for row in body["problem_types"]}
    assert by_type["distance"]["by_priority"] == {"3": 1}
    assert by_type["distance"]["decided"] == 1
    assert by_type["unmatched"]["undecided"] == 1
    assert {row["operator"]: row["registry_stops"] for row in body["operators"]} == {"LIEmobil": 2, "PAG": 1}
    transports = {row["transport"]: row for row in body["modes"]}
    assert transports["BUS"]["registry_stops"] == 2
    assert transports["TRAM"]["matched"] == 1
    assert transports["TRAIN"]["matched"] == 0
    assert [bucket["count"] for bucket in body["distance_buckets"]] == [1, 0, 1, 0, 0]
    assert body["decisions"] == [{"decision": "not_a_problem", "status": "active", "count": 1}]
    assert body["last_run"]["status"] == "succeeded"


def test_stats_of_an_empty_database(app, client):
    body = client.get("/api/v1/stats").get_json()
    assert body["totals"]["registry_stops"] == 0
    assert body["last_run"] is None


def test_stops_csv_export_is_streamed_and_filtered(app, client):
    stop, node, _ = f.matched_pair()
    f.atlas_stop(operator_code="PAG")
    response = client.get("/api/v1/exports/stops.csv?operator=LIEmobil")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    # Decoded as Excel does: the file starts with the UTF-8 byte-order mark.
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert {(row["kind"], row["key"]) for row in rows} == {("atlas", stop.stop_id), ("osm", node.osm_key)}
    assert rows[0]["status"] == "matched"


def test_matches_geojson_export_draws_a_line_per_match(app, client):
    stop, node, _ = f.matched_pair()
    response = client.get("/api/v1/exports/matches.geojson")
    assert response.mimetype == "application/geo+json"
    body = json.loads(response.get_data(as_text=True))
    [feature] = body["features"]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == [stop.lon, stop.lat]
    assert feature["properties"]["osm_key"] == node.osm_key


def test_problems_exports_carry_decisions_and_follow_the_filters(app, client):
    decided = f.problem("distance", stop_id="ch:1:sloid:1", osm_key="node/1", priority=1)
    f.problem("unmatched", stop_id="ch:1:sloid:2", priority=2)
    f.decision(decided.identity, "needs_survey", note="ask the operator")
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/api/v1/exports/problems.csv?type=distance&bom=false").get_data(as_text=True)
            )
        )
    )
    assert [(row["identity"], row["decision"], row["decision_note"]) for row in rows] == [
        (decided.identity, "needs_survey", "ask the operator")
    ]
    body = json.loads(client.get("/api/v1/exports/problems.geojson?decided=false").get_data(as_text=True))
    assert [feature["properties"]["problem_type"] for feature in body["features"]] == ["unmatched"]


def test_exports_of_many_rows_arrive_complete(app, client):
    for index in range(1200):
        db.session.add(
            Problem(
                identity=f"unmatched:ch:1:sloid:{index}:-",
                problem_type="unmatched",
                priority=1 + index % 3,
                stop_id=f"ch:1:sloid:{index}",
                message="m",
                details={},
                lat=47.0,
                lon=9.5,
                geom="SRID=4326;POINT(9.5 47.0)",
            )
        )
    db.session.commit()
    response = client.get("/api/v1/exports/problems.geojson")
    chunks = list(response.response)
    assert len(chunks) > 2  # written in pieces, not one buffered string
    assert (
        len(json.loads(b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks))["features"])
        == 1200
    )


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(app, client):
    f.osm_stop(name='=HYPERLINK("http://evil")')
    text_body = client.get("/api/v1/exports/stops.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text_body


def test_unknown_export_or_format_is_a_404_and_bad_filter_a_400(app, client):
    assert client.get("/api/v1/exports/users.csv").status_code == 404
    assert client.get("/api/v1/exports/stops.xlsx").status_code == 404
    response = client.get("/api/v1/exports/stops.csv?bbox=oops")
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["parameter"] == "bbox"
