"""Feed ids and links, report and MapRoulette URLs come from PUBLIC_BASE_URL, never from the request's
Host or X-Forwarded-Host (even behind a trusted proxy), and a feed entry's id never changes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from flask import Flask

from app.services.feeds import ATOM_NS
from database import db
from database.models import PipelineRun, ProblemChange
from tests import factories as f

A = f"{{{ATOM_NS}}}"
PUBLIC = "https://stopsync.example.org"
# What a client (or a proxy passing the client's header on) can send.
SPOOFED = {"Host": "evil.example", "X-Forwarded-Host": "evil-forwarded.example", "X-Forwarded-Proto": "http"}


@pytest.fixture
def public_app(make_app) -> Iterator[Flask]:
    """An app behind one trusted proxy (its X-Forwarded-* are honoured) with a public address."""
    app = make_app(PUBLIC_BASE_URL=PUBLIC, TRUST_PROXY_HOPS=1)
    with app.app_context():
        yield app
        db.session.remove()


def _appeared(identity: str, stop_id: str, run: PipelineRun, change_id: int | None = None) -> ProblemChange:
    change = ProblemChange(
        id=change_id,
        run_id=run.id,
        problem_identity=identity,
        problem_type="unmatched",
        change="appeared",
        priority=1,
        operator_code="LIEmobil",
    )
    db.session.add(change)
    db.session.commit()
    return change


@pytest.fixture
def new_p1(public_app) -> tuple[str, str]:
    """A priority-1 problem that the latest run made appear, on a registry stop."""
    stop = f.atlas_stop()
    problem = f.problem("unmatched", stop_id=stop.stop_id, priority=1)
    run = PipelineRun(run_uuid="r1", trigger="cli", status="succeeded", finished_at=dt.datetime.now(dt.UTC))
    db.session.add(run)
    db.session.commit()
    _appeared(problem.identity, stop.stop_id, run)
    return problem.identity, stop.stop_id


def _feed(app: Flask, headers: dict[str, str]) -> ET.Element:
    response = app.test_client().get("/feeds/problems.atom", headers=headers)
    assert response.status_code == 200
    assert b"evil" not in response.data
    return ET.fromstring(response.data)  # noqa: S314 - our own output


def test_feed_ids_and_links_ignore_a_spoofed_host_and_forwarded_host(public_app, new_p1):
    _, stop_id = new_p1
    feed = _feed(public_app, SPOOFED)
    assert feed.findtext(f"{A}id").startswith("tag:stopsync.example.org,2024:")
    hrefs = [link.get("href") for link in feed.iter(f"{A}link")]
    assert hrefs
    assert all(href.startswith(PUBLIC + "/") for href in hrefs)
    (entry,) = feed.findall(f"{A}entry")
    assert entry.findtext(f"{A}id").startswith("tag:stopsync.example.org,2024:problem/")
    assert entry.find(f"{A}link").get("href") == f"{PUBLIC}/stops/atlas/{stop_id}"


def test_a_feed_entry_keeps_its_id_whatever_host_asked(public_app, new_p1):
    first = _feed(public_app, {"Host": "one.example"}).find(f"{A}entry").findtext(f"{A}id")
    second = _feed(public_app, SPOOFED).find(f"{A}entry").findtext(f"{A}id")
    assert first == second


def test_a_rewound_change_counter_never_gives_a_new_entry_an_old_entrys_id(public_app, new_p1):
    """After a restore from backup the change rows' serial numbers start again where the backup was:
    a problem appearing then must not reuse the id a reader already saw for another problem."""
    _identity, _ = new_p1
    old = _feed(public_app, {}).find(f"{A}entry").findtext(f"{A}id")
    (change,) = db.session.query(ProblemChange).all()
    old_change_id = change.id
    db.session.delete(change)
    db.session.commit()
    other_stop = f.atlas_stop()
    other = f.problem("unmatched", stop_id=other_stop.stop_id, priority=1)
    run = db.session.query(PipelineRun).one()
    _appeared(other.identity, other_stop.stop_id, run, change_id=old_change_id)
    entries = _feed(public_app, {}).findall(f"{A}entry")
    new_ids = {e.findtext(f"{A}id") for e in entries}
    assert len(new_ids) == 1
    assert old not in new_ids


def test_registry_report_and_maproulette_links_use_the_public_base_url(public_app, new_p1):
    identity, stop_id = new_p1
    f.decision(identity, "atlas_wrong", note="gone")
    client = public_app.test_client()
    report = client.get("/api/v1/reports/registry-errors.json", headers=SPOOFED).get_json()
    (item,) = [i for group in report["operators"] for i in group["items"]]
    assert item["stopsync_url"] == f"{PUBLIC}/stops/atlas/{stop_id}"
    body = client.get("/api/v1/reports/registry-errors.csv", headers=SPOOFED).get_data(as_text=True)
    assert "evil" not in body
    (row,) = csv.DictReader(io.StringIO(body))
    assert row["stopsync_url"] == f"{PUBLIC}/stops/atlas/{stop_id}"
    tasks = client.get("/api/v1/fixes/maproulette.geojson?fixable_only=false", headers=SPOOFED)
    assert tasks.status_code == 200, tasks.get_data(as_text=True)
    text = tasks.get_data(as_text=True)
    assert "evil" not in text
    assert f"{PUBLIC}/stops/atlas/{stop_id}" in text


def test_webhook_payload_links_use_the_configured_base_url():
    from runs.webhooks import webhook_payload

    item = {
        "identity": "unmatched:ch:1:sloid:1:-",
        "problem_type": "unmatched",
        "priority": 1,
        "message": "m",
        "stop_id": "ch:1:sloid:1",
        "lat": 47.0,
        "lon": 9.5,
    }
    (problem,) = webhook_payload(1, [item], PUBLIC + "/")["problems"]
    assert problem["url"] == f"{PUBLIC}/stops/atlas/ch:1:sloid:1"
    json.dumps(problem)
