"""Fix exports, the registry report, change over time, feeds and webhooks, and "why not matched", on the
real pipeline and PostGIS with tiny hand-built sources."""

from __future__ import annotations

import csv
import io
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import osmium
import pytest

from app.services import decisions as decision_service
from app.services.feeds import ATOM_NS
from app.services.webhook_signature import SIGNATURE_HEADER, verify
from database import db
from tests.integration.review_sources import Element, Platform, platform_tags, run, write_sources
from tests.osmchange_check import check_osmchange

A = f"{{{ATOM_NS}}}"

# A pair 30 m apart, identifiers present but no ref:IFOPT / uic_name: a P2 distance problem.
STOP = Platform("ch:1:sloid:7000:1:1", 8507000, "Bern, Zytglogge", platform_code="A")
NODE = Element("node", 101, east=30.0, version=3, tags=platform_tags("Bern, Zytglogge", "8507000", "A"))
# A platform mapped as a way, 40 m away: fixable only through MapRoulette.
WAY_STOP = Platform("ch:1:sloid:7002:1:1", 8507002, "Bern, Bärengraben", east=400.0, platform_code="B")
WAY = Element("way", 201, east=440.0, version=2, tags=platform_tags("Bern, Bärengraben", "8507002", "B"))
# Two registry rows with the same number and platform code: a registry duplicate (P2, "strong").
DUP_1 = Platform("ch:1:sloid:7003:1:1", 8507003, "Bern, Nydegg", east=-400.0, platform_code="C")
DUP_2 = Platform("ch:1:sloid:7003:1:2", 8507003, "Bern, Nydegg", east=-405.0, platform_code="C")
# Nothing in OSM anywhere near: P1 unmatched, in two cantons and for two operators.
LONELY_BE = Platform("ch:1:sloid:7009:1:1", 8507009, "Bern, Wankdorf Nord", north=2000.0, operator="PAG")
LONELY_ZH = Platform(
    "ch:1:sloid:7010:1:1", 8507010, "Zürich-Ecke", north=-2000.0, operator="VBZ", region="ZH"
)
# Platform code contradicts: a known non-match for "why not matched".
MISFIT_STOP = Platform("ch:1:sloid:7004:1:1", 8507004, "Bern, Casinoplatz", east=800.0, platform_code="1")
MISFIT = Element("node", 104, east=805.0, tags=platform_tags("Bern, Casinoplatz", local_ref="2"))

PLATFORMS = [STOP, WAY_STOP, DUP_1, DUP_2, LONELY_BE, LONELY_ZH, MISFIT_STOP]
ELEMENTS = [NODE, WAY, MISFIT]
ROADS = [[9001, 9002]]  # a road beside the stops: node 101 is not part of any way, so it may move


@pytest.fixture
def snapshot(app, tmp_path) -> Path:
    run(write_sources(tmp_path / "run1", PLATFORMS, ELEMENTS, ROADS))
    return tmp_path


def test_the_osmchange_export_validates_and_round_trips_through_pyosmium(snapshot, client):
    response = client.get("/api/v1/fixes/osmchange.osc?type=distance&move=true")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.osm.osmchange+xml"
    assert response.headers["X-StopSync-Skipped-Ways"] == "1"
    assert check_osmchange(response.data) == [("modify", "node", 101)]

    path = snapshot / "fixes.osc"
    path.write_bytes(response.data)
    ((osm_id, version, lat, lon, tags),) = [
        (o.id, o.version, o.location.lat, o.location.lon, dict(o.tags))
        for o in osmium.FileProcessor(str(path))
    ]
    assert (osm_id, version) == (101, 3)
    assert tags["ref:IFOPT"] == STOP.stop_id
    assert tags["uic_name"] == "Bern, Zytglogge"
    assert tags["highway"] == "bus_stop"  # the object's existing tags are all kept
    registry = db.session.execute(
        db.text("SELECT lat, lon FROM registry_stops WHERE stop_id = :s"), {"s": STOP.stop_id}
    ).one()
    assert (lat, lon) == pytest.approx((registry.lat, registry.lon), abs=1e-7)


def test_a_problem_decided_against_proposes_no_fix(snapshot, client):
    decision_service.record_decision(f"distance:{STOP.stop_id}:node/101", "atlas_wrong", "", None)
    db.session.commit()
    response = client.get("/api/v1/fixes/osmchange.osc?type=distance")
    assert response.status_code == 204  # nothing left to write: said so, not an empty file
    assert response.headers["X-StopSync-Modified"] == "0"
    assert "nothing to write" in response.headers["X-StopSync-Reason"]


def test_the_maproulette_file_has_one_cooperative_task_per_fixable_problem(snapshot, client):
    response = client.get("/api/v1/fixes/maproulette.geojson?type=distance")
    assert response.status_code == 200
    # split("\n"), not splitlines(): that one also splits at the record separator itself.
    lines = [line for line in response.get_data(as_text=True).split("\n") if line]
    assert all(line.startswith("\x1e") for line in lines)  # RFC 7464 records
    tasks = [json.loads(line[1:]) for line in lines]
    by_object = {t["cooperativeWork"]["operations"][0]["data"]["id"]: t for t in tasks}
    assert set(by_object) == {"node/101", "way/201"}
    way_task = by_object["way/201"]
    assert way_task["type"] == "FeatureCollection"
    assert way_task["cooperativeWork"]["meta"] == {"version": 2, "type": 1}
    operation = way_task["cooperativeWork"]["operations"][0]
    assert operation["operationType"] == "modifyElement"
    assert operation["data"]["operations"][0]["data"]["ref:IFOPT"] == WAY_STOP.stop_id
    assert way_task["features"][0]["properties"]["stopsync_url"].endswith(f"/stops/atlas/{WAY_STOP.stop_id}")

    everything = client.get("/api/v1/fixes/maproulette.geojson?fixable_only=false").get_data(as_text=True)
    assert everything.count("\x1e") > len(tasks)


def test_the_registry_error_report_lists_suspects_per_operator_with_evidence(snapshot, client):
    decision_service.record_decision(
        f"distance:{STOP.stop_id}:node/101", "atlas_wrong", "pole moved 2019", None
    )
    db.session.commit()
    report = client.get("/api/v1/reports/registry-errors.json").get_json()
    items = {(i["stop_id"], i["problem_type"]): i for group in report["operators"] for i in group["items"]}
    confirmed = items[(STOP.stop_id, "distance")]
    assert confirmed["confidence"] == "confirmed"
    assert confirmed["decision_note"] == "pole moved 2019"
    assert confirmed["osm_url"] == "https://www.openstreetmap.org/node/101"
    assert items[(DUP_1.stop_id, "duplicates")]["confidence"] == "strong"
    assert items[(LONELY_BE.stop_id, "unmatched")]["confidence"] == "possible"
    assert {g["operator_code"] for g in report["operators"]} >= {"BERNMOBIL", "PAG", "VBZ"}

    only_pag = client.get("/api/v1/reports/registry-errors.csv?operator=PAG")
    assert only_pag.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(only_pag.get_data(as_text=True))))
    assert [r["stop_id"] for r in rows] == [LONELY_BE.stop_id]
    assert json.loads(rows[0]["evidence"])["message"]


def test_why_not_matched_explains_a_platform_code_contradiction(snapshot, client):
    response = client.get(f"/api/v1/stops/atlas/{MISFIT_STOP.stop_id}/candidates")
    assert response.status_code == 200
    data = response.get_json()
    assert data["matched"] == []
    (candidate,) = [c for c in data["candidates"] if c["key"] == "node/104"]
    assert candidate["rejected_by"] == "local_ref_contradicts_designation"
    assert "contradicts" in candidate["rejected_reason"]
    criteria = candidate["criteria"]
    assert criteria["platform_code"] == {
        "same": False,
        "registry": "1",
        "osm": "2",
        "normalised": ["1", "2"],
    }
    assert criteria["name"]["score"] == 100.0
    assert criteria["distance"]["m"] == pytest.approx(5.0, abs=0.5)
    assert criteria["mode"]["osm"] == ["BUS"]

    from_osm = client.get("/api/v1/stops/osm/node/104/candidates").get_json()
    assert from_osm["candidates"][0]["key"] == MISFIT_STOP.stop_id
    assert from_osm["candidates"][0]["rejected_by"] == "local_ref_contradicts_designation"
    assert client.get("/api/v1/stops/atlas/ch:1:sloid:404/candidates").status_code == 404


def test_the_stop_page_carries_the_why_not_matched_section(snapshot, client):
    page = client.get(f"/stops/atlas/{MISFIT_STOP.stop_id}").get_data(as_text=True)
    assert 'id="why-not-matched"' in page
    assert f'data-candidates-url="/api/v1/stops/atlas/{MISFIT_STOP.stop_id}/candidates"' in page
    assert "js/why_not_matched.js" in page


def test_changes_and_trends_show_what_a_run_made_appear_and_resolved(snapshot, client):
    # Run 2: the misfit node gets the right platform code (its unmatched problems resolve) and the
    # lonely Bern stop gets an OSM object 500 m away (still unmatched, nothing changes there).
    fixed = Element("node", 104, east=805.0, tags=platform_tags("Bern, Casinoplatz", local_ref="1"))
    summary = run(write_sources(snapshot / "run2", PLATFORMS, [NODE, WAY, fixed]))

    changes = client.get(f"/api/v1/changes?run={summary.run_id}").get_json()
    assert changes["run"]["id"] == summary.run_id
    assert changes["previous_run_id"] == summary.run_id - 1
    resolved = {c["problem_identity"] for c in changes["changes"] if c["change"] == "resolved"}
    assert f"unmatched:{MISFIT_STOP.stop_id}:-" in resolved
    assert "unmatched:-:node/104" in resolved
    assert changes["totals"]["resolved"]["total"] == len(resolved)
    assert client.get("/api/v1/changes").get_json()["run"]["id"] == summary.run_id

    trends = client.get("/api/v1/trends?by=type").get_json()
    assert [r["id"] for r in trends["runs"]] == [summary.run_id - 1, summary.run_id]
    unmatched = next(s for s in trends["series"] if s["key"] == "unmatched")
    assert unmatched["open"][1] == unmatched["open"][0] - 2
    assert unmatched["resolved"] == [0, 2]
    by_operator = client.get("/api/v1/trends?by=operator").get_json()
    assert sum(s["open"][-1] for s in by_operator["series"]) == trends["totals"]["open"][-1]

    page = client.get("/changes")
    assert page.status_code == 200
    assert "js/changes.js" in page.get_data(as_text=True)


def test_the_feed_is_valid_atom_with_filters(snapshot, client):
    response = client.get("/feeds/problems.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # noqa: S314 - our own output
    assert feed.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert feed.findtext(f"{A}{name}"), name
    assert feed.find(f"{A}link[@rel='self']").get("href").endswith("/feeds/problems.atom")
    entries = feed.findall(f"{A}entry")
    assert {e.findtext(f"{A}category") or e.find(f"{A}category").get("term") for e in entries} == {
        "unmatched"
    }
    links = {e.find(f"{A}link").get("href") for e in entries}
    assert any(link.endswith(f"/stops/atlas/{LONELY_BE.stop_id}") for link in links)
    for entry in entries:
        for name in ("id", "title", "updated", "summary"):
            assert entry.findtext(f"{A}{name}"), name

    zurich = ET.fromstring(client.get("/feeds/problems.atom?region=ZH").data)  # noqa: S314
    titles = [e.findtext(f"{A}title") for e in zurich.findall(f"{A}entry")]
    assert titles == ["P1 unmatched: Zürich-Ecke"]
    pag = ET.fromstring(client.get("/feeds/problems.atom?operator=PAG").data)  # noqa: S314
    assert [e.findtext(f"{A}title") for e in pag.findall(f"{A}entry")] == [
        "P1 unmatched: Bern, Wankdorf Nord"
    ]
    far_away = ET.fromstring(client.get("/feeds/problems.atom?bbox=9.0,47.0,9.1,47.1").data)  # noqa: S314
    assert far_away.findall(f"{A}entry") == []
    assert client.get("/feeds/problems.atom?colour=red").status_code == 400


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/stopsync", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_run_posts_its_new_p1_problems_to_the_webhook_signed(make_app, hook_server, tmp_path):
    url, handler = hook_server
    app = make_app(WEBHOOK_URLS=f"{url}#region=ZH http://127.0.0.1:9/nobody-listens", WEBHOOK_SECRET="s3")
    with app.app_context():
        summary = run(write_sources(tmp_path / "run1", PLATFORMS, ELEMENTS))
        db.session.remove()
    ((headers, body),) = handler.received
    assert verify("s3", headers[SIGNATURE_HEADER], body, tolerance_s=300)
    payload = json.loads(body)
    assert payload["run_id"] == summary.run_id
    assert [(p["source"], p["stop_id"]) for p in payload["problems"]] == [("atlas", LONELY_ZH.stop_id)]
    # Reported by position in WEBHOOK_URLS and host: a webhook URL is a secret in itself.
    webhooks = {w["target"]: w for w in summary.counts["review"]["webhooks"]}
    assert webhooks[1]["host"] == url.split("/")[2]
    assert webhooks[1]["status"] == 204
    assert (webhooks[2]["host"], webhooks[2]["status"], webhooks[2]["error"]) == (
        "127.0.0.1:9",
        None,
        "ConnectionError",
    )
    assert "url" not in webhooks[2]
    assert "nobody-listens" not in json.dumps(summary.counts)
