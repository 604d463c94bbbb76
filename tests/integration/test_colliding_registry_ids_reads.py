"""Read paths with two registries in one instance holding the same id string (on purpose): the answers
about one registry's stop are not disturbed by the other registry's stop (registry stops are
(source, stop_id)): the problem filter, the change list, the fix exports, the map read model."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import text

from app.services import feeds
from app.services.evidence import capture_evidence
from database import db
from database.models import ManualMatch, PipelineRun, ProblemChange
from database.snapshot import map_features
from tests import factories as f
from tests.second_registry import KONSTANZ, SAME_ID, register_zhv_source


@pytest.fixture(autouse=True)
def zhv(monkeypatch):
    """zHV registered as a second registry plug-in for these tests only."""
    register_zhv_source(monkeypatch)


def zhv_stop(stop_id: str = SAME_ID, **fields):
    """The zHV stop with the ATLAS stop's id, in Konstanz."""
    values = {"source": "zhv", "dataset": "csv", "name": "Konstanz Bf", "country_code": "DE", **KONSTANZ}
    return f.atlas_stop(stop_id, **{**values, **fields})


def zhv_problem(problem_type: str, osm_key: str | None = None, **fields):
    """A zHV stop's problem, its identity as the pipeline names another registry's stop."""
    return f.problem(
        problem_type,
        stop_id=SAME_ID,
        osm_key=osm_key,
        source="zhv",
        identity=f"{problem_type}:zhv/{SAME_ID}:{osm_key or '-'}",
        **{**KONSTANZ, **fields},
    )


# --- map read model --------------------------------------------------------------------------------


def _build_map_features() -> dict[tuple[str, str], list[str]]:
    """Fill map_features as the import does; the problem pairs of each registry stop by (source, key)."""
    db.session.execute(text("DELETE FROM map_features"))
    for statement in map_features.insert_statements():
        db.session.execute(text(statement))
    rows = db.session.execute(
        text("SELECT source, key, problem_pairs FROM map_features WHERE kind = 'atlas'")
    )
    return {(row.source, row.key): list(row.problem_pairs) for row in rows}


def test_the_map_read_model_gives_a_stop_only_its_own_registrys_problem_pairs(app):
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_problem("unmatched", priority=1)
    assert _build_map_features() == {("atlas", SAME_ID): []}


def test_the_map_read_model_holds_both_registries_stops_with_one_id(app):
    # Keyed (kind, key) alone, the second stop broke the import's primary key: no snapshot published.
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    zhv_problem("unmatched", priority=1)
    assert _build_map_features() == {("atlas", SAME_ID): [], ("zhv", SAME_ID): ["unmatched:1"]}


# --- problems API ----------------------------------------------------------------------------------


def test_the_problem_list_filtered_by_stop_id_gives_only_that_registrys_problems(app, client):
    atlas = f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    p_atlas = f.problem("unmatched", stop_id=atlas.stop_id)
    p_zhv = zhv_problem("unmatched")

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/v1/problems?{query}")
        assert response.status_code == 200, response.get_json()
        return [p["identity"] for p in response.get_json()["problems"]]

    # The old name means ATLAS; an id two registries hold, without a source, too.
    assert listed(f"sloid={SAME_ID}") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}&source=atlas") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}&source=zhv") == [p_zhv.identity]


def test_the_problem_list_filtered_by_stop_id_alone_finds_the_one_registry_holding_it(app, client):
    zhv_stop()
    p_zhv = zhv_problem("unmatched")
    body = client.get(f"/api/v1/problems?stop_id={SAME_ID}").get_json()
    assert [p["identity"] for p in body["problems"]] == [p_zhv.identity]


# --- run-to-run changes ----------------------------------------------------------------------------


def _record_changes(*changes: tuple[str, str, str]) -> int:
    """A run with these (identity, problem type, change) rows; its id."""
    run = PipelineRun(run_uuid=str(uuid.uuid4()), trigger="cli", status="succeeded")
    db.session.add(run)
    db.session.flush()
    for identity, problem_type, change in changes:
        db.session.add(
            ProblemChange(
                run_id=run.id, problem_identity=identity, problem_type=problem_type, change=change, priority=1
            )
        )
    db.session.commit()
    return run.id


def josm_tags(url: str) -> dict[str, str]:
    """Tags of a JOSM "add" link as JOSM reads `addtags`."""
    args = dict(unquote(pair).partition("=")[::2] for pair in urlsplit(url).query.split("&"))
    return dict(tag.split("=", 1) for tag in args.get("addtags", "").split("|") if "=" in tag)


def test_the_change_list_names_and_links_each_registrys_own_stop(app, client):
    atlas = f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    # Mappers tag the stop id near Vaduz (so a new ATLAS stop carries it), not near Konstanz.
    f.osm_stop(
        lat=atlas.lat + 0.001, lon=atlas.lon, tags={"name": "Vaduz, Mühle", "ref:IFOPT": "ch:1:sloid:1"}
    )
    p_atlas = f.problem("unmatched", stop_id=SAME_ID, priority=1)
    p_zhv = zhv_problem("unmatched", priority=1)
    run_id = _record_changes(
        (p_atlas.identity, "unmatched", "appeared"), (p_zhv.identity, "unmatched", "appeared")
    )
    body = client.get(f"/api/v1/changes?run={run_id}").get_json()
    assert len(body["changes"]) == 2  # one row per change, not one per registry holding the id
    items = {c["problem_identity"]: c for c in body["changes"]}
    for identity, source, name, ifopt in (
        (p_atlas.identity, "atlas", "Vaduz, Post", SAME_ID),
        (p_zhv.identity, "zhv", "Konstanz Bf", None),
    ):
        item = items[identity]
        assert (item["source"], item["stop_id"], item["stop_name"]) == (source, SAME_ID, name)
        assert item["atlas_in_data"] is True
        (add,) = [k["url"] for k in item["links"] if (k["editor"], k["action"]) == ("josm", "add")]
        assert josm_tags(add)["name"] == name
        assert josm_tags(add).get("ref:IFOPT") == ifopt


def test_a_resolved_change_of_a_stop_gone_from_its_registry_is_not_found_in_another_registry(app, client):
    zhv_stop()  # the ATLAS stop with this id has left the data; zHV's is still there
    run_id = _record_changes((f"unmatched:{SAME_ID}:-", "unmatched", "resolved"))
    (item,) = client.get(f"/api/v1/changes?run={run_id}").get_json()["changes"]
    assert (item["source"], item["stop_id"]) == ("atlas", SAME_ID)
    assert item["atlas_in_data"] is False
    assert item["stop_name"] is None


# --- fix exports -----------------------------------------------------------------------------------


def _unmatched_details() -> dict:
    return {"side": "registry", "osm_objects_with_uic": 0, "nearest_osm": None, "nearest_osm_m": None}


def test_the_fix_export_creates_each_registrys_missing_stop_with_its_own_data(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post", dataset="service_point", modes="BUS")
    zhv_stop(dataset="csv", modes="BUS")
    f.problem("unmatched", stop_id=SAME_ID, priority=1, details=_unmatched_details())
    zhv_problem("unmatched", priority=1, details=_unmatched_details())
    report = client.get("/api/v1/fixes/osmchange.report.json?create=true").get_json()
    created = {(c["source"], c["stop_id"]): c for c in report["created"]}
    assert report["counts"]["created"] == 2, report
    assert created[("atlas", SAME_ID)]["tags"]["name"] == "Vaduz, Post"
    assert created[("zhv", SAME_ID)]["tags"]["name"] == "Konstanz Bf"
    assert created[("zhv", SAME_ID)]["lat"] == KONSTANZ["lat"]
    tasks = client.get("/api/v1/fixes/maproulette.geojson?create=true").get_data(as_text=True)
    assert f'"new/{SAME_ID}"' in tasks
    assert f'"new/zhv/{SAME_ID}"' in tasks


def test_the_fix_export_counts_only_its_own_registrys_matches_of_a_whole_stop(app, client):
    # The ATLAS whole stop has one OSM object: its stop id goes on it. zHV's stop with the same id has
    # two objects; counted together the ATLAS stop looked like a stop of three objects.
    atlas = f.atlas_stop(SAME_ID, name="Vaduz, Post", dataset="service_point", code="8500001")
    node = f.osm_stop(lat=atlas.lat + 0.0001, lon=atlas.lon, tags={"name": "Vaduz, Post"})
    f.match(SAME_ID, node.osm_key)
    zhv_stop()
    for east in (0.0001, 0.0002):
        other = f.osm_stop(lat=KONSTANZ["lat"], lon=KONSTANZ["lon"] + east)
        f.match(SAME_ID, other.osm_key, source="zhv")
    f.problem(
        "attributes",
        stop_id=SAME_ID,
        osm_key=node.osm_key,
        details={"mismatches": [{"attribute": "uic_ref", "registry": "8500001", "osm": None}]},
    )
    report = client.get("/api/v1/fixes/osmchange.report.json").get_json()
    (modified,) = report["modified"]
    assert modified["osm_key"] == node.osm_key
    assert modified["set_tags"].get("ref:IFOPT") == SAME_ID


# --- feed of new priority-1 problems ---------------------------------------------------------------


def test_the_problem_feed_gives_each_problem_once_with_its_own_registrys_stop(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post", region="LI")
    zhv_stop(region="BW")
    p_atlas = f.problem("unmatched", stop_id=SAME_ID, priority=1)
    p_zhv = zhv_problem("unmatched", priority=1)
    run_id = _record_changes(
        (p_atlas.identity, "unmatched", "appeared"), (p_zhv.identity, "unmatched", "appeared")
    )
    items = feeds.problems_appeared_in_run(run_id)
    assert sorted((i["identity"], i["name"], i["region"], feeds.stop_path(i)) for i in items) == [
        (p_atlas.identity, "Vaduz, Post", "LI", f"/stops/atlas/{SAME_ID}"),
        (p_zhv.identity, "Konstanz Bf", "BW", f"/stops/zhv/{SAME_ID}"),
    ]
    body = client.get("/feeds/problems.atom?region=BW").get_data(as_text=True)
    assert body.count("<entry>") == 1
    assert f"/stops/zhv/{SAME_ID}" in body


# --- manual links ----------------------------------------------------------------------------------


def test_the_manual_link_list_filtered_by_stop_id_gives_only_that_registrys_links(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    db.session.add_all(
        [
            ManualMatch(source="atlas", stop_id=SAME_ID, osm_key="node/91", action="unlink"),
            ManualMatch(source="zhv", stop_id=SAME_ID, osm_key="node/92", action="unlink"),
        ]
    )
    db.session.commit()

    def listed(query: str) -> list[tuple[str, str]]:
        response = client.get(f"/api/v1/manual-matches?{query}")
        assert response.status_code == 200, response.get_json()
        return [(m["source"], m["osm_key"]) for m in response.get_json()["manual_matches"]]

    assert listed(f"sloid={SAME_ID}") == [("atlas", "node/91")]
    assert listed(f"stop_id={SAME_ID}") == [("atlas", "node/91")]
    assert listed(f"stop_id={SAME_ID}&source=zhv") == [("zhv", "node/92")]


# --- lines -----------------------------------------------------------------------------------------


def test_a_relation_member_matched_only_to_another_registrys_stop_with_a_timetable_id_is_unknown(app, client):
    # The timetable names ATLAS stops A, B, C; the relation's third platform is matched to zHV's stop
    # with C's id only (on purpose), not to ATLAS's C.
    ids = [f"ch:1:sloid:{n}:0:1" for n in (7101, 7102, 7103)]
    stops = [
        f.atlas_stop(i, name=f"Zug, {c}", lat=47.17 + k * 0.001)
        for k, (i, c) in enumerate(zip(ids, "ABC", strict=True))
    ]
    nodes = [f.osm_stop(lat=s.lat + 0.0001, lon=s.lon, name=s.name) for s in stops]
    f.match(ids[0], nodes[0].osm_key)
    f.match(ids[1], nodes[1].osm_key)
    zhv_stop(ids[2])
    f.match(ids[2], nodes[2].osm_key, source="zhv")
    f.gtfs_route("R1", {"0": [(s.name, s.stop_id) for s in stops]}, short_name="1")
    f.osm_route(201, [n.osm_key for n in nodes], ref="1", name="Bus 1")
    body = client.get("/api/v1/routes/osm/201").get_json()
    relation = body["itineraries"][0]
    assert [(m["osm_key"], m["sloids"], m["status"]) for m in relation["stops"]] == [
        (nodes[0].osm_key, [ids[0]], "agree"),
        (nodes[1].osm_key, [ids[1]], "agree"),
        (nodes[2].osm_key, [], "unknown"),
    ]


def test_a_manual_link_is_not_applied_by_another_registrys_match_of_a_stop_with_its_id(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    node = f.osm_stop()
    f.match(SAME_ID, node.osm_key, method="manual")  # ATLAS's stop is linked to the object, zHV's not
    db.session.add(ManualMatch(source="zhv", stop_id=SAME_ID, osm_key=node.osm_key, action="link"))
    db.session.commit()
    # A successful run started after the link was saved: the link has had its chance to apply.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    db.session.add(
        PipelineRun(run_uuid=str(uuid.uuid4()), trigger="cli", status="succeeded", started_at=later)
    )
    db.session.commit()
    (link,) = client.get(f"/api/v1/manual-matches?stop_id={SAME_ID}&source=zhv").get_json()["manual_matches"]
    assert link["state"] == "not_applied"


# --- match export ----------------------------------------------------------------------------------


def test_the_match_export_tells_two_registries_matches_of_one_object_apart(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    node = f.osm_stop()
    f.match(SAME_ID, node.osm_key)
    f.match(SAME_ID, node.osm_key, source="zhv")
    body = client.get("/api/v1/exports/matches.geojson").get_json()
    found = {feature["id"]: feature["properties"] for feature in body["features"]}
    assert set(found) == {f"match:{SAME_ID}:{node.osm_key}", f"match:zhv/{SAME_ID}:{node.osm_key}"}
    assert found[f"match:{SAME_ID}:{node.osm_key}"]["atlas_name"] == "Vaduz, Post"
    assert found[f"match:zhv/{SAME_ID}:{node.osm_key}"]["atlas_name"] == "Konstanz Bf"
    assert found[f"match:zhv/{SAME_ID}:{node.osm_key}"]["source"] == "zhv"


# --- decision evidence -----------------------------------------------------------------------------


def test_a_decisions_evidence_never_takes_another_registrys_stop_with_the_id(app):
    # The ATLAS stop (and its problem) have left the data; zHV's stop with the same id is there.
    zhv_stop()
    node = f.osm_stop()
    found = capture_evidence(f"distance:{SAME_ID}:{node.osm_key}", "distance", SAME_ID, node.osm_key)
    assert found["atlas"] is None
    own = capture_evidence(f"distance:zhv/{SAME_ID}:{node.osm_key}", "distance", SAME_ID, node.osm_key)
    assert own["atlas"]["name"] == "Konstanz Bf"


# --- stop page map ---------------------------------------------------------------------------------


def _page_points(client, path: str) -> dict:
    import json
    import re

    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'<script type="application/json" id="stop-points">(.*?)</script>', page.text, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_stop_page_map_draws_each_registrys_match_from_its_own_stop(app, client):
    f.atlas_stop(SAME_ID, name="Vaduz, Post", lat=47.14, lon=9.52)
    zhv_stop()
    node = f.osm_stop(lat=47.40, lon=9.35)
    f.match(SAME_ID, node.osm_key)
    f.match(SAME_ID, node.osm_key, source="zhv")
    osm_type, osm_id = node.osm_key.split("/")
    points = _page_points(client, f"/stops/osm/{osm_type}/{osm_id}")
    starts = sorted(tuple(line[0]) for line in points["lines"])
    assert starts == [(47.14, 9.52), (KONSTANZ["lat"], KONSTANZ["lon"])]
    # On the zHV stop's page only that stop is the current one.
    points = _page_points(client, f"/stops/zhv/{SAME_ID}")
    current = [(p["source"], p["key"]) for p in points["atlas"] if p["current"]]
    assert current == [("zhv", SAME_ID)]
