"""Nothing from the outside world stops a run or a page: hostile source values through the whole
pipeline (parse → match → problems → import) and out through every page, API answer, export and feed,
against the real PostGIS and Redis; plus hostile path parameters and request bodies.

The property test builds its records with hypothesis (tests/hostile_data.py) and runs the real
pipeline once per example, so its example count is kept small; the cheap pure-level properties run
many more examples in tests/unit/test_hostile_values.py.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from database import db
from database.models import OsmStop, PipelineRun, Problem, RegistryStopRow
from pipeline.errors import SourceError
from runs.stages import RunOptions, run_pipeline
from tests import factories as f
from tests import hostile_data as hd

# Each example is a full pipeline run plus ~60 requests (~1 s); 15 examples cover every strategy branch
# many times over, and the pure-level properties run hundreds more.
MAX_EXAMPLES = 15
PAGES = ("/", "/review", "/stats", "/login", "/changes", "/pipeline", "/api/docs")
API_GETS = (
    "/api/v1/stops?bbox=9.4,47.0,9.7,47.3",
    "/api/v1/problems",
    "/api/v1/problems?sort=priority&limit=500",
    "/api/v1/decisions",
    "/api/v1/manual-matches",
    "/api/v1/me",
    "/api/v1/openapi.json",
    "/api/v1/pipeline/runs",
    "/api/v1/pipeline/status",
    "/api/v1/stats",
    "/api/v1/changes",
    "/api/v1/trends",
    "/api/v1/users",
)


def _no_constants(name: str) -> None:
    raise AssertionError(f"JSON must not hold {name}")


def strict_json(text: str):
    """Parse as JSON proper: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=_no_constants)


def assert_csv_round_trips(text: str) -> list[list[str]]:
    """Parse the CSV and write it again the way our writers do: the same text, every row as wide as
    the header. Returns the data rows."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows, "no header"
    assert all(len(row) == len(rows[0]) for row in rows), "a row with another number of fields"
    again = io.StringIO()
    csv.writer(again, lineterminator="\r\n").writerows(rows)
    assert again.getvalue() == text
    return rows[1:]


def assert_xml(body: bytes) -> ET.Element:
    """Well-formed XML (expat refuses every character XML 1.0 does not allow)."""
    return ET.fromstring(body)  # noqa: S314 - our own output, parsed to prove it well-formed


@dataclass
class Hostile:
    client: FlaskClient
    headers: dict[str, str]  # an admin's token: the admin-only lists are outputs too
    folder: Path

    def run(self, registry: list[dict[str, str]] | None = None, osm: list[dict[str, str]] | None = None):
        """One pipeline run on the base data with these overrides, in a fresh folder."""
        sources = hd.write_sources(Path(tempfile.mkdtemp(dir=self.folder)), registry, osm)
        return run_pipeline(RunOptions(source_dir=sources, offline=True, today=hd.TODAY))


@pytest.fixture
def hostile(make_app, tmp_path) -> Iterator[Hostile]:
    """An app without a practical rate limit (every example makes dozens of requests and a write), in
    its context."""
    app: Flask = make_app(RATELIMIT_DEFAULT="100000 per minute", RATELIMIT_WRITE="100000 per minute")
    with app.app_context():
        token = f.api_token(f.create_user("hostile-admin", role="admin"))
        yield Hostile(app.test_client(), f.bearer(token), tmp_path)
        db.session.remove()


def check_every_output(client: FlaskClient, headers: dict[str, str]) -> None:
    """Every page, API answer, export and feed of the current snapshot answers 200 and is well-formed."""
    sloids = db.session.scalars(select(RegistryStopRow.stop_id)).all()
    osm_keys = db.session.scalars(select(OsmStop.osm_key)).all()
    names = [
        *db.session.scalars(select(RegistryStopRow.name)).all(),
        *db.session.scalars(select(OsmStop.name)).all(),
    ]
    db.session.rollback()  # end the read transaction: the next run's import must not wait for it

    def get(path: str, ok: tuple[int, ...] = (200,)):
        response = client.get(path, headers=headers)
        failure = (path, response.status_code, response.get_data(as_text=True)[:300])
        assert response.status_code in ok, failure
        return response

    for path in (*PAGES, *(f"/stops/atlas/{s}" for s in sloids), *(f"/stops/osm/{k}" for k in osm_keys)):
        assert get(path).mimetype == "text/html"

    searches = [" ".join(n.split())[:100] for n in names if n and n.strip()]
    api = [
        *API_GETS,
        *(f"/api/v1/stops/atlas/{s}{tail}" for s in sloids for tail in ("", "/candidates")),
        *(f"/api/v1/stops/osm/{k}{tail}" for k in osm_keys for tail in ("", "/candidates")),
        *(f"/api/v1/search?q={quote(q)}" for q in searches if q),
        "/api/v1/reports/registry-errors.json",
        "/api/v1/fixes/osmchange.report.json",
        "/api/v1/fixes/maproulette.report.json",
    ]
    for path in api:
        response = get(path)
        assert response.mimetype == "application/json", path
        strict_json(response.get_data(as_text=True))

    for dataset in ("stops", "matches", "problems"):
        rows = assert_csv_round_trips(get(f"/api/v1/exports/{dataset}.csv").get_data(as_text=True))
        collection = strict_json(get(f"/api/v1/exports/{dataset}.geojson").get_data(as_text=True))
        assert collection["type"] == "FeatureCollection"
        assert len(collection["features"]) == len(rows), dataset
    assert_csv_round_trips(get("/api/v1/reports/registry-errors.csv").get_data(as_text=True))

    # 204 when there is nothing to fix (the counts travel in headers).
    for query in ("", "?move=true&overwrite=true"):
        response = get(f"/api/v1/fixes/osmchange.osc{query}", ok=(200, 204))
        if response.status_code == 200:
            assert_xml(response.data)
    lines = get("/api/v1/fixes/maproulette.geojson", ok=(200, 204)).get_data(as_text=True).split("\n")
    for line in lines:
        if line.strip("\x1e"):  # line-delimited, or RFC 7464 records (RS before each)
            strict_json(line.lstrip("\x1e"))
    feed = assert_xml(get("/feeds/problems.atom").data)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"


@given(registry=hd.registry_overrides(), osm=hd.osm_overrides(), note=hd.hostile_text(surrogates=False))
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one app and admin for all examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
def test_hostile_source_values_never_fail_a_run_a_page_or_an_output(hostile, registry, osm, note):
    summary = hostile.run(registry, osm)
    assert summary.status == "succeeded", summary.error
    assert db.session.get(PipelineRun, summary.run_id).status == "succeeded"
    # A reviewer's note is outside input too, and decisions carry source values into later runs'
    # reconciliation (examples share the database, so the next run reconciles this one).
    identity = db.session.scalar(select(Problem.identity).order_by(Problem.identity).limit(1))
    db.session.rollback()
    if identity is not None:
        body = {"problem_identity": identity, "decision": "needs_survey", "note": note[:5000]}
        response = hostile.client.post("/api/v1/decisions", json=body, headers=hostile.headers)
        assert response.status_code in (200, 201, 422), response.get_data(as_text=True)[:300]
    check_every_output(hostile.client, hostile.headers)


def test_every_output_of_the_clean_base_snapshot_is_well_formed(hostile):
    """The same checks on the unmodified base data: the baseline the property test perturbs."""
    summary = hostile.run()
    assert summary.counts["problems_by_type"].keys() >= {"attributes", "distance", "duplicates", "unmatched"}
    check_every_output(hostile.client, hostile.headers)


def test_one_osm_edit_with_a_superscript_digit_no_longer_fails_the_run(hostile):
    # The worst case: "²" passes str.isdigit() and failed int() in every run until OSM was fixed.
    osm = [{"uic_ref": "859000\u00b2"}, *[{} for _ in hd.BASE_OBJECTS[1:]]]
    summary = hostile.run(osm=osm)
    assert summary.status == "succeeded"
    problems = strict_json(hostile.client.get("/api/v1/problems?osm_key=node/1").get_data(as_text=True))
    messages = " ".join(p["message"] for p in problems["problems"])
    assert "uic_ref (malformed)" in messages or "not a UIC number" in messages


def test_overlong_texts_are_cut_to_their_column_and_counted(hostile):
    registry = [{"designationOfficial": "Vaduz " + "x" * 10_000, "designation": "1" * 500}, {}, {}, {}, {}]
    osm = [{"name": "y" * 10_000, "uic_ref": "8" * 10_000}, *[{} for _ in hd.BASE_OBJECTS[1:]]]
    summary = hostile.run(registry, osm)
    assert summary.status == "succeeded"
    cut = summary.counts["import"]["texts_cut_to_column_length"]
    assert cut["registry_stops.name"] == 1
    assert cut["osm_stops.name"] == 1
    assert cut["osm_stops.uic_ref"] == 1
    stop = db.session.get(RegistryStopRow, ("atlas", hd.BASE_STOPS[0][0]))
    assert len(stop.name) == 200
    obj = db.session.get(OsmStop, "node/1")
    assert obj.tags["name"] == "y" * 10_000  # the tags keep the whole value (JSONB has no length)


def test_nul_in_source_values_is_removed_and_counted_not_fatal(hostile):
    registry = [{"designationOfficial": "Va\x00duz, Post"}, {}, {}, {}, {}]
    osm = [{"name": "Po\x00st", "note\x00": "\x00"}, *[{} for _ in hd.BASE_OBJECTS[1:]]]
    summary = hostile.run(registry, osm)
    assert summary.status == "succeeded"
    assert summary.counts["parse"]["atlas"]["text_cleaned"] == 1
    assert summary.counts["parse"]["osm"]["text_cleaned"] == 1
    assert db.session.get(RegistryStopRow, ("atlas", hd.BASE_STOPS[0][0])).name == "Vaduz, Post"
    assert db.session.get(OsmStop, "node/1").tags["note"] == ""


# -- path parameters and bodies ---------------------------------------------------------------------

BAD_PATHS = (
    "/stops/atlas/%00",
    "/stops/atlas/ch:1:sloid:1%00",
    "/stops/atlas/%FF%FE",
    "/stops/atlas/a%0Ab",
    "/stops/osm/node/%00",
    "/%00",
    "/static/%00",
    "/vendor/%00",
    "/feeds/problems.atom%00",
    "/api/v1/stops/atlas/%00",
    "/api/v1/stops/atlas/%00/candidates",
    "/api/v1/stops/atlas/%FF",
    "/api/v1/stops/osm/node/%00",
    "/api/v1/stops/osm/%00/1/candidates",
    "/api/v1/exports/stops.csv%00",
    "/api/v1/manual-matches/%00",
)


@pytest.mark.parametrize("path", BAD_PATHS)
def test_nul_or_invalid_utf8_in_a_path_is_a_404_never_a_500(client, path):
    response = client.get(path)
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "not_found"
    else:
        assert response.mimetype == "text/html"


@pytest.mark.parametrize("query", ["\u00b2", "\u0661\u0662", "8" * 50, "\uff18\uff15"])
def test_search_for_non_ascii_digits_is_a_name_search(client, query):
    response = client.get(f"/api/v1/search?q={quote(query)}")
    assert response.status_code == 200
    assert response.get_json()["results"] == []


def test_lone_surrogate_in_a_json_body_is_a_422(app, client):
    stop, node, _ = f.matched_pair()
    problem = f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key)
    token = f.api_token(f.create_user("surrogate-editor", role="editor"))
    # Raw JSON text: the \ud800 escape is valid JSON syntax but half a UTF-16 pair.
    body = json.dumps({"problem_identity": problem.identity, "decision": "needs_survey", "note": "x"})
    body = body.replace('"x"', '"x\\ud800y"')
    response = client.post(
        "/api/v1/decisions", data=body, content_type="application/json", headers=f.bearer(token)
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["details"]["field"] == "note"


@pytest.mark.parametrize("query", ["priority=%D9%A1", "limit=1_0", "limit=%EF%BC%95", "priority=1,%C2%B2"])
def test_integer_query_parameters_take_ascii_digits_only(client, query):
    response = client.get(f"/api/v1/problems?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_a_refusal_quoting_nul_or_a_lone_surrogate_from_the_source_is_recorded(hostile):
    # The Overpass remark is quoted in the run's error; PostgreSQL could not store it, so the run
    # could not even be recorded as failed.
    path = hd.write_sources(hostile.folder / "remark") / hd.OSM_FILE
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["remark"] = "runtime error: Query timed out \x00 in \ud800 query"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(SourceError, match="runtime error"):
        run_pipeline(RunOptions(source_dir=path.parent, offline=True, today=hd.TODAY))
    run = db.session.scalars(select(PipelineRun).order_by(PipelineRun.id.desc())).first()
    assert run.status == "failed"
    assert "runtime error: Query timed out  in \ufffd query" in run.error
