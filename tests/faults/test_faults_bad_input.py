"""A corpus of bad input files: each is refused by a pipeline run with a clear error (source, line,
reason), and the last good data stays exactly as it was, still served by the API.

Good demo data is imported once for the module; every bad run then goes through `run_guarded` (the
code path of `flask pipeline run`, the scheduler and "Run now": lock, status, run record), and one
goes through the CLI itself. Nothing big is committed: the corpus is derived from `data/demo/` in a
temporary folder, the huge file is sparse and the huge download is streamed from a local server.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import _build_app, _reset_state
from tests.faults.conftest import ROOT

DEMO = ROOT / "data/demo"
ATLAS = "atlas_service_points_li.csv"
OSM = "osm_li.json"
LI_BBOX = "9.47,47.04,9.64,47.28"
SNAPSHOT_TABLES = ("registry_stops", "osm_stops", "matches", "problems")


# --- the corpus ----------------------------------------------------------------------------------


def _atlas_lines() -> list[str]:
    return (DEMO / ATLAS).read_text(encoding="utf-8-sig").splitlines()


def _write_atlas(folder: Path, content: bytes) -> None:
    (folder / ATLAS).write_bytes(content)


def truncated_mid_row(folder: Path) -> None:
    """A download cut off in the middle of a row."""
    data = (DEMO / ATLAS).read_bytes()
    cut = data.index(b"\n", len(data) // 2) - 40
    _write_atlas(folder, data[:cut])


def truncated_at_row_boundary(folder: Path) -> None:
    """A download cut off cleanly between rows: well-formed, but most stops are missing."""
    lines = _atlas_lines()
    _write_atlas(folder, ("\ufeff" + "\n".join(lines[:30]) + "\n").encode())


def latin1(folder: Path) -> None:
    """The export re-saved in Latin-1 (Tröxlegass, Speckibünt...)."""
    _write_atlas(folder, "\n".join(_atlas_lines()).encode("latin-1"))


def wrong_columns(folder: Path) -> None:
    """Another dataset's CSV in place of the stop export."""
    rows = ["id;name;x;y"] + [f"{i};Stop {i};9.5;47.1" for i in range(50)]
    _write_atlas(folder, "\n".join(rows).encode())


def missing_coordinate_columns(folder: Path) -> None:
    """The right export with its WGS84 columns dropped."""
    lines = [line.split(";") for line in _atlas_lines()]
    drop = {lines[0].index("wgs84East"), lines[0].index("wgs84North")}
    kept = [";".join(v for i, v in enumerate(row) if i not in drop) for row in lines]
    _write_atlas(folder, "\n".join(kept).encode())


def lv95_in_wgs84_columns(folder: Path) -> None:
    """Swiss LV95 metres (E 2'757'388, N 1'215'380) written into the WGS84 degree columns."""
    lines = [line.split(";") for line in _atlas_lines()]
    header = lines[0]
    east, north = header.index("wgs84East"), header.index("wgs84North")
    lv95_e, lv95_n = header.index("lv95East"), header.index("lv95North")
    for row in lines[1:]:
        row[east], row[north] = row[lv95_e], row[lv95_n]
    _write_atlas(folder, "\n".join(";".join(row) for row in lines).encode())


def html_error_page(folder: Path) -> None:
    """What a proxy or the portal sends when something is wrong, saved as if it were the data."""
    page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
    _write_atlas(folder, page.encode())


def zero_bytes(folder: Path) -> None:
    _write_atlas(folder, b"")


def huge_sparse(folder: Path) -> None:
    """A 4 GiB file: the real header, then a hole of NUL bytes (sparse, so it costs no disk)."""
    path = folder / ATLAS
    path.write_bytes((DEMO / ATLAS).read_bytes().splitlines(keepends=True)[0])
    with path.open("r+b") as handle:
        handle.truncate(4 * 1024**3)


def osm_truncated_json(folder: Path) -> None:
    data = (DEMO / OSM).read_bytes()
    (folder / OSM).write_bytes(data[: len(data) // 2])


def osm_overpass_runtime_error(folder: Path) -> None:
    """Overpass answers 200 with a remark when the query ran out of time: the extract is incomplete."""
    payload = json.loads((DEMO / OSM).read_text(encoding="utf-8"))
    payload["elements"] = payload["elements"][:100]
    payload["remark"] = 'runtime error: Query timed out in "query" at line 3 after 181 seconds.'
    (folder / OSM).write_text(json.dumps(payload), encoding="utf-8")


def osm_swapped_coordinates(folder: Path) -> None:
    """lat and lon swapped: every object lands in the Indian Ocean, none inside the boundary."""
    payload = json.loads((DEMO / OSM).read_text(encoding="utf-8"))
    for element in payload["elements"]:
        for point in (element, element.get("center") or {}):
            if "lat" in point:
                point["lat"], point["lon"] = point["lon"], point["lat"]
    (folder / OSM).write_text(json.dumps(payload), encoding="utf-8")


def osm_html_error_page(folder: Path) -> None:
    (folder / OSM).write_text("<html><body><h1>429 Too Many Requests</h1></body></html>", encoding="utf-8")


def osm_zero_bytes(folder: Path) -> None:
    (folder / OSM).write_bytes(b"")


@dataclass(frozen=True)
class BadInput:
    make: Callable[[Path], None]
    source: str  # the source the error must name
    reason: tuple[str, ...]  # any of these words must appear in the error (lower case)
    line: bool = False  # the error must name a line number


CORPUS = {
    "truncated mid-row": BadInput(truncated_mid_row, "atlas", ("truncated", "fields"), line=True),
    "truncated at a row boundary": BadInput(
        truncated_at_row_boundary, "registry_stops", ("drop", "refusing")
    ),
    "latin-1 encoding": BadInput(latin1, "atlas", ("utf-8", "encoding"), line=True),
    "wrong columns": BadInput(wrong_columns, "atlas", ("wrong columns",), line=True),
    "coordinate columns missing": BadInput(missing_coordinate_columns, "atlas", ("wgs84",), line=True),
    "LV95 numbers in WGS84 columns": BadInput(lv95_in_wgs84_columns, "atlas", ("lv95", "crs"), line=True),
    "HTML error page": BadInput(html_error_page, "atlas", ("html",)),
    "0 bytes": BadInput(zero_bytes, "atlas", ("empty",)),
    "huge sparse file": BadInput(huge_sparse, "atlas", ("size limit",)),
    "OSM truncated JSON": BadInput(osm_truncated_json, "osm", ("json",)),
    "OSM Overpass runtime error": BadInput(osm_overpass_runtime_error, "osm", ("overpass",)),
    "OSM lat/lon swapped": BadInput(osm_swapped_coordinates, "osm", ("inside", "coordinate system")),
    "OSM HTML error page": BadInput(osm_html_error_page, "osm", ("html",)),
    "OSM 0 bytes": BadInput(osm_zero_bytes, "osm", ("empty",)),
}


# --- the baseline and how to look at it ----------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    app: object
    counts: dict[str, int]
    served: tuple[int, dict]


def _counts(app) -> dict[str, int]:
    from database import db

    with app.app_context():
        counts = {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in SNAPSHOT_TABLES}
        hashes = db.session.scalar(
            text("SELECT md5(string_agg(row_hash, ',' ORDER BY stop_id)) FROM registry_stops")
        )
        db.session.remove()
    return {**counts, "atlas_hash": hashes}


def _served(app) -> tuple[int, dict]:
    client = app.test_client()
    stops = client.get(f"/api/v1/stops?bbox={LI_BBOX}&limit=10000")
    assert stops.status_code == 200, stops.get_data(as_text=True)
    stats = client.get("/api/v1/stats")
    assert stats.status_code == 200
    return stops.get_json()["count"], stats.get_json()["totals"]


def _run(app, source_dir: Path):
    from runs.guard import run_guarded

    with app.app_context():
        return run_guarded("cli", source_dir=str(source_dir), offline=True)


@pytest.fixture(scope="module")
def baseline(stack) -> Iterator[Baseline]:
    """The demo data imported once; every test checks that it is still exactly there."""
    app = _build_app(stack)
    _reset_state(stack)
    outcome = _run(app, DEMO)
    assert outcome.ok, outcome.error
    base = Baseline(app, _counts(app), _served(app))
    assert base.counts["registry_stops"] > 200
    yield base
    _reset_state(stack)


def _assert_last_good_data_kept(base: Baseline, app=None) -> None:
    app = app or base.app
    assert _counts(app) == base.counts, "the snapshot changed"
    assert _served(app) == base.served, "the API serves something else"


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
def test_bad_input_is_rejected_with_a_clear_error_and_the_last_good_data_kept(case, baseline, tmp_path):
    bad = CORPUS[case]
    folder = tmp_path / "sources"
    folder.mkdir()
    for name in (ATLAS, OSM):
        (folder / name).write_bytes((DEMO / name).read_bytes())
    bad.make(folder)

    outcome = _run(baseline.app, folder)

    assert not outcome.ok, f"{case}: the run succeeded"
    error = outcome.error or ""
    assert bad.source in error, f"{case}: the error does not name the source: {error}"
    assert any(word in error.lower() for word in bad.reason), f"{case}: unclear reason: {error}"
    if bad.line:
        assert " line " in error, f"{case}: the error does not name the line: {error}"
    assert "Traceback" not in error
    runs = baseline.app.test_client().get("/api/v1/pipeline/runs?limit=1").get_json()["runs"]
    assert runs[0]["status"] == "failed"
    assert runs[0]["error"], "the run record keeps the reason"
    _assert_last_good_data_kept(baseline)


def test_the_cli_exits_non_zero_and_prints_the_reason_for_a_bad_file(baseline, stack, tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / OSM).write_bytes((DEMO / OSM).read_bytes())
    truncated_mid_row(folder)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "pipeline", "run", "--source-dir", str(folder)],
        cwd=ROOT,
        env=stack.base_env(LOG_LEVEL="CRITICAL"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Error: "), last_line
    expected = r"source atlas \(atlas_service_points_li\.csv\) line \d+: .*truncated"
    assert re.search(expected, last_line), last_line
    _assert_last_good_data_kept(baseline)


class _StreamingHandler(http.server.BaseHTTPRequestHandler):
    """Streams `size` bytes of a CSV-looking body, generated on the fly, with or without a length."""

    size = 0
    declare_length = False

    def do_GET(self) -> None:
        header = (DEMO / ATLAS).read_bytes().splitlines(keepends=True)[0]
        row = b"1;85;ch:1:sloid:1;8500001;1;2020-01-01;9999-12-31;Stop;" + b"x" * 900 + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        if self.declare_length:
            self.send_header("Content-Length", str(self.size))
        self.end_headers()
        sent = 0
        try:
            self.wfile.write(header)
            sent += len(header)
            while sent < self.size:
                chunk = row * 64
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up at its limit: what we want

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("declare_length", [True, False], ids=["with Content-Length", "streamed"])
def test_a_download_over_the_size_limit_is_refused_and_the_last_good_data_kept(
    baseline, stack, tmp_path, declare_length
):
    limit = 2_000_000
    handler = type("Handler", (_StreamingHandler,), {"size": 50 * limit, "declare_length": declare_length})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = _build_app(
            stack,
            ATLAS_URL=f"http://127.0.0.1:{server.server_port}/atlas.csv",
            HTTP_MAX_BYTES=limit,
            HTTP_RETRIES=1,
            PIPELINE_CACHE_DIR=str(tmp_path / "cache"),
        )
        from runs.guard import run_guarded

        with app.app_context():
            outcome = run_guarded("cli", source_dir=str(DEMO))  # OSM from the folder, ATLAS downloaded
    finally:
        server.shutdown()
        server.server_close()
    assert not outcome.ok
    assert "atlas" in outcome.error
    assert "limit" in outcome.error.lower(), outcome.error
    assert not any((tmp_path / "cache").glob("atlas*")), "no partial download is kept as the last good copy"
    _assert_last_good_data_kept(baseline, app)


def test_the_huge_file_stays_sparse(tmp_path):
    """Guard for the corpus itself: the 4 GiB case must not fill the disk of whoever runs it."""
    huge_sparse(tmp_path)
    stat = os.stat(tmp_path / ATLAS)
    assert stat.st_size == 4 * 1024**3
    assert stat.st_blocks * 512 < 10 * 1024**2
