"""The live fetch against a local HTTP server serving real-format files (no internet)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.errors import FetchError
from pipeline.fetch import HttpPolicy, PreviousState, fetch_http
from pipeline.sources import ParseOptions, get_source
from pipeline.sources.base import HttpRequest

ROOT = Path(__file__).resolve().parents[2]
ATLAS_CSV = (ROOT / "data/demo/atlas_service_points_li.csv").read_bytes()
OSM_JSON = (ROOT / "data/demo/osm_li.json").read_bytes()
ETAG = '"v1-atlas"'
LAST_MODIFIED = "Sat, 02 Aug 2025 00:01:00 GMT"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    """Replies served in order (the last one repeats), and the requests received."""

    replies: list[Reply]
    requests: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def next(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Script]]]:
    scripts: dict[str, Script] = {}

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            script = scripts[self.path]
            script.requests.append(dict(self.headers))
            length = int(self.headers.get("Content-Length") or 0)
            script.bodies.append(self.rfile.read(length) if length else b"")
            reply = script.next()
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if reply.body and reply.status != 304:
                self.wfile.write(reply.body)

        do_GET = _serve  # noqa: N815 - http.server's naming
        do_POST = _serve  # noqa: N815

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", scripts
    finally:
        httpd.shutdown()
        httpd.server_close()


NO_WAIT = HttpPolicy(timeout_s=5, retries=3, max_bytes=10_000_000, backoff_base_s=0.01, sleep=lambda _s: None)
atlas = get_source("atlas")
osm = get_source("osm")


def csv_reply(**headers: str) -> Reply:
    return Reply(200, ATLAS_CSV, {"Content-Type": "text/csv; charset=utf-8", **headers})


def test_download_hashes_and_promotes_only_when_asked(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script([csv_reply(ETag=ETAG, **{"Last-Modified": LAST_MODIFIED})])
    fetched = fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, NO_WAIT)
    assert fetched.changed
    assert fetched.http_status == 200
    assert fetched.etag == ETAG
    assert fetched.last_modified == LAST_MODIFIED
    assert fetched.size_bytes == len(ATLAS_CSV)
    assert not (tmp_path / "atlas.csv").exists()  # not promoted before validation
    assert len(atlas.parse(fetched.paths, ParseOptions(uic_country_codes=None)).records) > 200
    fetched.promote()
    assert (tmp_path / "atlas.csv").read_bytes() == ATLAS_CSV
    assert list(tmp_path.glob(".part-*")) == []


def test_not_modified_reuses_the_cached_file(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script([csv_reply(ETag=ETAG, **{"Last-Modified": LAST_MODIFIED}), Reply(304)])
    request = HttpRequest(f"{base}/atlas.csv", suffix=".csv")
    first = fetch_http(atlas, request, tmp_path, None, NO_WAIT)
    first.promote()
    previous = PreviousState(etag=first.etag, last_modified=first.last_modified, sha256=first.sha256)

    second = fetch_http(atlas, request, tmp_path, previous, NO_WAIT)
    sent = scripts["/atlas.csv"].requests[-1]
    assert sent["If-None-Match"] == ETAG
    assert sent["If-Modified-Since"] == LAST_MODIFIED
    assert second.http_status == 304
    assert second.changed is False
    assert second.paths == [tmp_path / "atlas.csv"]
    assert second.sha256 == first.sha256


def test_same_content_without_validators_counts_as_unchanged(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script([csv_reply()])
    request = HttpRequest(f"{base}/atlas.csv", suffix=".csv")
    first = fetch_http(atlas, request, tmp_path, None, NO_WAIT)
    first.promote()
    second = fetch_http(atlas, request, tmp_path, PreviousState(sha256=first.sha256), NO_WAIT)
    assert "If-None-Match" not in scripts["/atlas.csv"].requests[-1]
    assert second.changed is False
    second.discard()


def test_retries_after_503_honouring_retry_after(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script(
        [Reply(503, b"busy", {"Retry-After": "7"}), Reply(429, b"slow down"), csv_reply()]
    )
    waits: list[float] = []
    policy = HttpPolicy(timeout_s=5, retries=3, max_bytes=10_000_000, backoff_base_s=0.5, sleep=waits.append)
    fetched = fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, policy)
    assert fetched.http_status == 200
    assert waits == [7.0, 1.0]  # Retry-After, then exponential backoff (0.5 * 2**1)
    assert len(scripts["/atlas.csv"].requests) == 3


def test_gives_up_after_the_last_retry(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script([Reply(502, b"bad gateway")])
    with pytest.raises(FetchError, match="failed after 4 attempts: HTTP 502"):
        fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, NO_WAIT)
    assert list(tmp_path.iterdir()) == []


def test_client_errors_are_not_retried(server, tmp_path):
    base, scripts = server
    scripts["/atlas.csv"] = Script([Reply(404, b"not found")])
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, NO_WAIT)
    assert len(scripts["/atlas.csv"].requests) == 1


def test_size_limit_stops_the_download_and_keeps_the_last_good_file(server, tmp_path):
    base, scripts = server
    (tmp_path / "atlas.csv").write_bytes(b"last good copy")
    scripts["/atlas.csv"] = Script([csv_reply()])
    small = HttpPolicy(timeout_s=5, retries=0, max_bytes=1000, sleep=lambda _s: None)
    with pytest.raises(FetchError, match="exceeds the limit"):
        fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, small)
    assert (tmp_path / "atlas.csv").read_bytes() == b"last good copy"
    assert list(tmp_path.glob(".part-*")) == []


def test_html_error_page_is_rejected(server, tmp_path):
    base, scripts = server
    page = b"<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>"
    scripts["/page"] = Script([Reply(200, page, {"Content-Type": "text/html; charset=utf-8"})])
    scripts["/disguised"] = Script([Reply(200, page, {"Content-Type": "text/csv"})])
    with pytest.raises(FetchError, match="HTML page"):
        fetch_http(atlas, HttpRequest(f"{base}/page", suffix=".csv"), tmp_path, None, NO_WAIT)
    with pytest.raises(Exception, match="HTML page"):
        fetch_http(atlas, HttpRequest(f"{base}/disguised", suffix=".csv"), tmp_path, None, NO_WAIT)
    assert list(tmp_path.iterdir()) == []


def test_overpass_is_queried_by_post_and_its_json_parses(server, tmp_path):
    base, scripts = server
    scripts["/api/interpreter"] = Script([Reply(200, OSM_JSON, {"Content-Type": "application/json"})])

    class Settings:
        OSM_URL = f"{base}/api/interpreter"
        OVERPASS_QUERY_TIMEOUT_S = 90

    request = osm.http_request(Settings())
    fetched = fetch_http(osm, request, tmp_path, None, NO_WAIT)
    body = scripts["/api/interpreter"].bodies[0].decode()
    assert body.startswith("data=")
    assert "timeout%3A90" in body
    assert len(osm.parse(fetched.paths, ParseOptions()).records) == 773


def test_headers_with_non_ascii_digits_are_ignored_not_fatal(server, tmp_path):
    # "²" (sent as Latin-1 byte 0xB2) passes str.isdigit(), and int()/float() refused it mid-fetch.
    base, scripts = server
    scripts["/atlas.csv"] = Script(
        [Reply(503, b"busy", {"Retry-After": "\u00b2"}), csv_reply(**{"Content-Length": "\u00b2"})]
    )
    waits: list[float] = []
    policy = HttpPolicy(timeout_s=5, retries=3, max_bytes=10_000_000, backoff_base_s=0.01, sleep=waits.append)
    fetched = fetch_http(atlas, HttpRequest(f"{base}/atlas.csv", suffix=".csv"), tmp_path, None, policy)
    assert fetched.size_bytes == len(ATLAS_CSV)
    assert waits == [0.01]  # the exponential backoff, not the header
