"""Production's live sources, end to end, against a local HTTP server serving the real formats.

The server stands in for opentransportdata.swiss (the ATLAS traffic-point CSV and the service-point
export as a zip behind a permalink without file ending) and for the Overpass API (the `out meta`
JSON of the production query, built from the real Liechtenstein extract by `tests/live_formats.py`),
or for an OSM mirror serving an .osm.pbf extract. It answers conditional requests with 304, can fail
first (503) and can serve an oversized answer. Every run goes through `run_pipeline`, and the
matches of a run from URLs must be identical to a run on the same bytes read from a folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from database import db
from database.models import Match, SourceState
from pipeline.errors import FetchError
from runs.stages import RunOptions, run_pipeline
from tests.live_formats import SUBSET_PBF, overpass_json_bytes

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2025, 8, 2)
TRAFFIC_CSV = (ROOT / "tests/data/sample_pair/sample_atlas.csv").read_bytes()
SERVICE_CSV = (ROOT / "data/demo/atlas_service_points_li.csv").read_bytes()


def zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(name, (2025, 8, 2, 0, 1, 0)), content)
    return buffer.getvalue()


SERVICE_ZIP = zipped("actual-date-swiss-service-point.csv", SERVICE_CSV)


@dataclass
class Resource:
    """One URL of the server: its current body and validators, failures to serve first, the log."""

    body: bytes
    content_type: str
    etag: str
    last_modified: str = "Sat, 02 Aug 2025 00:01:00 GMT"
    fail_first: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str, dict[str, str], bytes, int]] = field(
        default_factory=list
    )  # method, headers, body, status

    def statuses(self) -> list[int]:
        return [entry[3] for entry in self.log]


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Resource]]]:
    resources: dict[str, Resource] = {}

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            resource = resources[self.path]
            length = int(self.headers.get("Content-Length") or 0)
            sent = self.rfile.read(length) if length else b""
            headers = dict(self.headers)
            if resource.fail_first:
                status, extra = resource.fail_first.pop(0)
                body = b"busy, try again"
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **extra}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            elif (
                headers.get("If-None-Match") == resource.etag
                or headers.get("If-Modified-Since") == resource.last_modified
            ):
                status = 304
                self.send_response(304)
                self.send_header("ETag", resource.etag)
                self.end_headers()
            else:
                status = 200
                self.send_response(200)
                self.send_header("Content-Type", resource.content_type)
                self.send_header("Content-Length", str(len(resource.body)))
                self.send_header("ETag", resource.etag)
                self.send_header("Last-Modified", resource.last_modified)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(resource.body)  # the client may stop reading at its size limit
            resource.log.append((self.command, headers, sent, status))

        do_GET = _serve  # noqa: N815 - http.server's naming
        do_POST = _serve  # noqa: N815

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", resources
    finally:
        httpd.shutdown()
        httpd.server_close()


def snapshot() -> list[tuple[str, str, str, float]]:
    """The matches in the database, comparable across runs."""
    rows = db.session.execute(select(Match.stop_id, Match.osm_key, Match.method, Match.distance_m)).all()
    return sorted((stop_id, key, method, round(distance, 3)) for stop_id, key, method, distance in rows)


def live_app(make_app, base: str, cache: Path, osm_path: str, **overrides):
    """An app whose every source is a URL of the local server, with no source folder to fall back on."""
    return make_app(
        ATLAS_URL=f"{base}/atlas/actual-date-world-traffic-point.csv",
        ATLAS_SERVICE_POINTS_URL=f"{base}/atlas/service-point/permalink",
        OSM_URL=f"{base}{osm_path}",
        PIPELINE_SOURCE_DIR="",
        PIPELINE_CACHE_DIR=str(cache),
        HTTP_RETRIES=2,
        HTTP_TIMEOUT_S=10.0,
        **overrides,
    )


def serve_atlas(base_resources: dict[str, Resource]) -> None:
    base_resources["/atlas/actual-date-world-traffic-point.csv"] = Resource(
        TRAFFIC_CSV, "text/csv; charset=utf-8", '"traffic-v1"'
    )
    base_resources["/atlas/service-point/permalink"] = Resource(
        SERVICE_ZIP, "application/zip", '"service-v1"', fail_first=[(503, {"Retry-After": "0"})]
    )


def file_run(folder: Path, files: dict[str, bytes]) -> tuple[dict, list]:
    """The same bytes read from a folder (offline): the file-source run to compare with."""
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    summary = run_pipeline(RunOptions(source_dir=folder, offline=True, today=TODAY))
    assert summary.status == "succeeded", summary.error
    return summary.counts, snapshot()


def test_production_sources_over_http_match_the_file_run(server, make_app, tmp_path):
    base, resources = server
    serve_atlas(resources)
    overpass = overpass_json_bytes()
    resources["/api/interpreter"] = Resource(overpass, "application/json", '"overpass-v1"')
    cache = tmp_path / "cache"
    app = live_app(make_app, base, cache, "/api/interpreter", HTTP_MAX_BYTES=3 * len(overpass))

    with app.app_context():
        first = run_pipeline(RunOptions(trigger="cli", today=TODAY))
        assert first.status == "succeeded", first.error
        live_matches = snapshot()
        assert first.counts["osm_objects"] == 774
        assert first.counts["parse"]["atlas"]["traffic_point_rows"] > 0
        assert first.counts["parse"]["atlas"]["service_point_rows"] > 0
        assert set(first.source_versions) == {"atlas", "atlas.service_points", "osm"}
        assert {s.source for s in db.session.scalars(select(SourceState))} == {
            "atlas",
            "atlas.service_points",
            "osm",
        }

        # The Overpass API got the production query by POST: both countries, metadata, relations.
        method, _headers, body, _status = resources["/api/interpreter"].log[0]
        query = parse_qs(body.decode())["data"][0]
        assert method == "POST"
        assert 'area["ISO3166-1"="CH"]' in query
        assert 'area["ISO3166-1"="LI"]' in query
        assert "out meta center qt;" in query
        assert "[maxsize:" in query
        # The service-point export answered 503 first (Retry-After: 0) and was fetched again.
        assert resources["/atlas/service-point/permalink"].statuses() == [503, 200]

        # Second run: every source answers 304 to the conditional request, so nothing changed.
        second = run_pipeline(RunOptions(trigger="schedule", today=TODAY, only_if_changed=True))
        assert second.status == "skipped"
        for path, resource in resources.items():
            method, headers, _body, status = resource.log[-1]
            assert status == 304, path
            assert headers["If-None-Match"] == resource.etag
            assert headers["If-Modified-Since"] == resource.last_modified
        assert snapshot() == live_matches

        # The same bytes from a folder give exactly the same matches.
        counts, file_matches = file_run(
            tmp_path / "files",
            {
                "atlas_traffic_points.csv": TRAFFIC_CSV,
                "atlas_service_points.csv.zip": SERVICE_ZIP,
                "osm_overpass.json": overpass,
            },
        )
        assert file_matches == live_matches
        for key in ("registry_stops", "osm_objects", "matches", "matches_by_method", "problems_by_type"):
            assert counts[key] == first.counts[key], key

        # An oversized Overpass answer is refused: the run fails, the last good data stays.
        good_copy = (cache / "osm.json").read_bytes()
        resources["/api/interpreter"].body = overpass + b" " * (3 * len(overpass))
        resources["/api/interpreter"].etag = '"overpass-v2"'
        with pytest.raises(FetchError, match="exceeds the limit"):
            run_pipeline(RunOptions(trigger="cli", today=TODAY))
        assert snapshot() == live_matches
        assert (cache / "osm.json").read_bytes() == good_copy
        assert list(cache.glob(".part-*")) == []


def test_an_osm_pbf_extract_url_is_fetched_and_parsed_like_the_file(server, make_app, tmp_path):
    base, resources = server
    serve_atlas(resources)
    pbf = SUBSET_PBF.read_bytes()
    resources["/extracts/liechtenstein-latest.osm.pbf"] = Resource(
        pbf, "application/octet-stream", '"pbf-v1"'
    )
    cache = tmp_path / "cache"
    app = live_app(make_app, base, cache, "/extracts/liechtenstein-latest.osm.pbf")

    with app.app_context():
        first = run_pipeline(RunOptions(trigger="cli", today=TODAY))
        assert first.status == "succeeded", first.error
        live_matches = snapshot()
        method, _headers, body, status = resources["/extracts/liechtenstein-latest.osm.pbf"].log[0]
        assert (method, body, status) == ("GET", b"", 200)
        assert (cache / "osm.osm.pbf").read_bytes() == pbf
        assert first.counts["osm_objects"] == 774

        second = run_pipeline(RunOptions(trigger="schedule", today=TODAY, only_if_changed=True))
        assert second.status == "skipped"
        assert resources["/extracts/liechtenstein-latest.osm.pbf"].statuses()[-1] == 304

        counts, file_matches = file_run(
            tmp_path / "files",
            {
                "atlas_traffic_points.csv": TRAFFIC_CSV,
                "atlas_service_points.csv.zip": SERVICE_ZIP,
                "osm_li.osm.pbf": pbf,
            },
        )
        assert file_matches == live_matches
        assert counts["matches_by_method"] == first.counts["matches_by_method"]


def test_a_failed_second_download_leaves_no_partial_file(server, make_app, tmp_path):
    base, resources = server
    serve_atlas(resources)
    resources["/atlas/service-point/permalink"].fail_first = [(404, {})]
    resources["/api/interpreter"] = Resource(overpass_json_bytes(), "application/json", '"o"')
    cache = tmp_path / "cache"
    app = live_app(make_app, base, cache, "/api/interpreter")

    with app.app_context(), pytest.raises(FetchError, match="HTTP 404"):
        run_pipeline(RunOptions(trigger="cli", today=TODAY))
    # the traffic points had been downloaded already: discarded with the failed run, never promoted
    assert resources["/atlas/actual-date-world-traffic-point.csv"].statuses() == [200]
    assert list(cache.iterdir()) == []
