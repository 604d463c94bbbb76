"""Nothing leaks to anonymous readers: after real pipeline runs whose webhooks, source URL, logs and
failure carry secrets, the run history, status, stats and live stream that anyone may read hold no
webhook URL, traceback, file path, credential, host:pid owner, account name or e-mail address;
admins see who asked and which process ran it, and the error id leads to the traceback in the log."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from app.coordination import EVENTS_KEY, STATUS_KEY
from app.services.webhook_signature import SIGNATURE_HEADER, verify
from database import db
from runs import guard
from runs.guard import run_guarded
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "zelda-ops"
EMAIL = "ops@example.org"
DEAD_HOOK = "http://127.0.0.1:9/services/T0SECRET/B0SECRET/xoxo"
HOOK_PATH = "/hooks/K3YSECRET"
TOKEN = "s3cr3t-token"
LEAKY_LINE = (
    "read /work/main/secret/settings.py from https://user:pw@mirror.example.org/a.csv?token="
    f"{TOKEN}; questions to {EMAIL}"
)


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver (POST) that is also the failing ATLAS download (GET answers 404)."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


def _leaky_pipeline(requested_by: str):
    """The real pipeline, after a log line of the kind a library may write (paths, URLs, e-mail)."""
    real = guard.pipeline_work("manual", requested_by, only_if_changed=False)

    def work(progress, run_uuid):
        logging.getLogger("pipeline.sources").warning(LEAKY_LINE)
        return real(progress, run_uuid)

    return work


def _leaks(text: str, hook_url: str) -> list[str]:
    """Every secret of this test found in `text`."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    needles = [
        DEAD_HOOK,
        "T0SECRET",
        hook_url + HOOK_PATH,
        "K3YSECRET",
        "Traceback",
        str(ROOT),
        "/work/",
        ".py",
        "user:pw@",
        TOKEN,
        owner,
        ACCOUNT,
        EMAIL,
    ]
    return [needle for needle in needles if needle in text]


def test_anonymous_readers_see_no_secrets_in_runs_status_stats_or_stream_and_admins_see_details(
    make_app, receiver, caplog
):
    hook_url, handler = receiver
    common = {
        "WEBHOOK_URLS": f"{DEAD_HOOK} {hook_url}{HOOK_PATH}",
        "WEBHOOK_SECRET": "s3",
        "WEBHOOK_TIMEOUT_S": 2,
        "PIPELINE_STREAM_MAX_S": 2,
        "PIPELINE_STREAM_KEEPALIVE_S": 1,
    }
    good = make_app(**common)
    # The second run downloads ATLAS from a URL with a token, which answers 404: a failed run.
    failing = make_app(**common, ATLAS_URL=f"{hook_url}/atlas.csv?token={TOKEN}", HTTP_RETRIES=0)
    with caplog.at_level(logging.WARNING):
        with good.app_context():
            first = run_guarded("manual", requested_by=ACCOUNT, work=_leaky_pipeline(ACCOUNT))
            db.session.remove()
        with failing.app_context():
            second = run_guarded("manual", requested_by=ACCOUNT, work=_leaky_pipeline(ACCOUNT))
            db.session.remove()
    assert first.ok, first.error
    assert not second.ok
    ((headers, body),) = handler.received
    assert verify("s3", headers[SIGNATURE_HEADER], body), "the live target got a signed delivery"

    anonymous = failing.test_client()
    runs = anonymous.get("/api/v1/pipeline/runs").get_json()["runs"]
    status = anonymous.get("/api/v1/pipeline/status").get_json()
    stats = anonymous.get("/api/v1/stats").get_json()
    whole_stream = anonymous.get("/api/v1/pipeline/stream?last_event_id=0-0").get_data(as_text=True)
    live_view = anonymous.get("/api/v1/pipeline/stream").get_data(as_text=True)
    for name, text in [
        ("runs", json.dumps(runs)),
        ("status", json.dumps(status)),
        ("stats", json.dumps(stats["last_run"]) + json.dumps(stats["last_successful_run"])),
        ("stream", whole_stream),
        ("stream backlog", live_view),
    ]:
        assert not _leaks(text, hook_url), f"{name} shows {_leaks(text, hook_url)}: {text[:3000]}"

    # What anyone may still read: the webhooks by host, the log lines scrubbed, the failure's reason.
    failed_run, good_run = runs
    assert [(w["target"], w["host"], w["error"]) for w in good_run["counts"]["review"]["webhooks"]] == [
        (1, "127.0.0.1:9", "ConnectionError"),
        (2, hook_url.removeprefix("http://"), None),
    ]
    assert "questions to <email>" in whole_stream
    assert '"state":"running"' in whole_stream
    error = failed_run["error"]
    match = re.fullmatch(
        r"source atlas: HTTP 404 Not Found from http://127\.0\.0\.1:\d+/… \(error id (\w{8})\)", error
    )
    assert match, error
    assert status["last_error"] == error
    assert (status["requested_by"], status["owner"]) == (None, None)
    # The id leads to the traceback in the server log, which has no token either.
    (report,) = [r.getMessage() for r in caplog.records if f"error id {match.group(1)}" in r.getMessage()]
    assert "Traceback (most recent call last)" in report
    assert "token=***" in report, "the server log keeps the URL, without its token"
    assert TOKEN not in report

    with good.app_context():
        admin_headers = f.bearer(f.api_token(f.create_user(role="admin")))
        db.session.remove()
    admin = failing.test_client()
    admin_runs = admin.get("/api/v1/pipeline/runs", headers=admin_headers).get_json()["runs"]
    admin_status = admin.get("/api/v1/pipeline/status", headers=admin_headers).get_json()
    assert admin_status["owner"] == f"{socket.gethostname()}:{os.getpid()}"
    assert admin_status["requested_by"] == ACCOUNT
    assert [run["requested_by"] for run in admin_runs] == [ACCOUNT, ACCOUNT]
    assert good_run["source_versions"]["atlas"]["origin"] == "file:<path>"
    assert admin_runs[1]["source_versions"]["atlas"]["origin"].endswith("data/demo")
    assert admin_runs[0]["error"] == error, "stored errors are the same short message for everyone"
    admin_text = json.dumps(admin_runs) + json.dumps(admin_status)
    assert "T0SECRET" not in admin_text, "webhooks are reported by host, to admins too"
    assert TOKEN not in admin_text


def test_events_stored_before_scrubbing_existed_are_scrubbed_when_served(make_app, redis_client):
    # As an older release wrote them during an upgrade: a traceback, a path, a URL with a token.
    leaky = {"level": "ERROR", "message": f"boom\nTraceback (most recent call last):\n  File {LEAKY_LINE}"}
    redis_client.xadd(EVENTS_KEY, {"type": "log", "run_uuid": "old", "data": json.dumps(leaky)})
    redis_client.xadd(EVENTS_KEY, {"type": "state", "run_uuid": "old", "data": json.dumps({"owner": "vm:1"})})
    redis_client.hset(STATUS_KEY, mapping={"state": "failed", "run_uuid": "old", "owner": "vm:1"})

    app = make_app(PIPELINE_STREAM_MAX_S=1, PIPELINE_STREAM_KEEPALIVE_S=1)
    text = app.test_client().get("/api/v1/pipeline/stream").get_data(as_text=True)

    assert '"message":"boom (details in the server log)"' in text
    assert not _leaks(text, "http://127.0.0.1:0")
    assert "vm:1" not in text
