"""What may leave the server: scrubbed text for everyone, redacted credentials for logs and admins,
failures as a short message with an error id (pipeline/redaction.py, app/services/run_view.py)."""

from __future__ import annotations

import logging
import re
import time

import pytest

from app.services import run_view
from pipeline.errors import FetchError, SourceError
from pipeline.redaction import redact_credentials, report_failure, scrub_text, url_host

LEAKS = re.compile(r"/work/|\.py\b|Traceback|user:pw@|s3cr3t|ops@example\.org|T0SECRET")


@pytest.mark.parametrize(
    ("text", "public"),
    [
        (
            "download from https://user:pw@data.example.org:8443/dl/a.csv?token=s3cr3t failed.",
            "download from https://data.example.org:8443/… failed.",
        ),
        ("webhook https://hooks.slack.com/services/T0SECRET/B0/x answered 500",
         "webhook https://hooks.slack.com/… answered 500"),
        ("origin file:/work/main/data/demo", "origin file:<path>"),
        ("wrote /work/main/pipeline/run.py and /tmp/x.csv", "wrote <path> and <path>"),
        ("50 km/h, 1/2, registry / OSM", "50 km/h, 1/2, registry / OSM"),
        ("ask ops@example.org", "ask <email>"),
        ("boom\nTraceback (most recent call last):\n  File \"/work/x.py\"",
         "boom (details in the server log)"),
        ("postgresql://stopsync:s3cr3t@db:5432/app", "postgresql://db:5432/…"),
        ("source atlas (atlas_service_points_li.csv) line 115: expected 55 fields",
         "source atlas (atlas_service_points_li.csv) line 115: expected 55 fields"),
    ],
)  # fmt: skip
def test_public_text_keeps_no_url_path_credential_email_or_traceback(text, public):
    assert scrub_text(text) == public
    assert scrub_text(public) == public, "scrubbing twice changes nothing"


def test_credentials_are_redacted_but_host_and_path_kept_for_logs_and_admins():
    text = "from https://user:pw@data.example.org/dl/a.csv?format=csv&api_key=s3cr3t&sig=x."
    assert (
        redact_credentials(text)
        == "from https://***@data.example.org/dl/a.csv?format=csv&api_key=***&sig=***."
    )
    assert redact_credentials("file:/work/main/data/demo") == "file:/work/main/data/demo"


def test_a_webhook_is_named_by_its_host_only():
    assert url_host("https://u:p@Hooks.Example:444/services/T0SECRET#region=ZH") == "hooks.example:444"
    assert url_host("not a url") == "?"


def test_a_failure_is_stored_as_a_short_message_and_an_error_id_with_the_traceback_in_the_log(caplog):
    log = logging.getLogger("tests.redaction")
    try:
        open("/work/nowhere/secret-file.py")  # noqa: SIM115 - an OSError whose text holds a path
    except OSError as exc:
        with caplog.at_level(logging.ERROR, logger="tests.redaction"):
            stored = report_failure(exc, log, "pipeline run r1")
            again = report_failure(exc, log, "pipeline run r1")
    match = re.fullmatch(r"unexpected FileNotFoundError \(error id ([0-9a-f]{8})\)", stored)
    assert match, stored
    assert again == stored, "one exception, one id"
    (record,) = caplog.records
    assert f"error id {match.group(1)}" in record.getMessage().splitlines()[0]
    assert "Traceback (most recent call last)" in record.getMessage(), "the traceback is in the server log"


def test_a_typed_pipeline_error_keeps_its_message_for_users_without_the_url_credentials(caplog):
    exc = FetchError("atlas", "HTTP 404 Not Found from https://user:pw@data.example.org/a.csv?token=s3cr3t")
    with caplog.at_level(logging.ERROR):
        stored = report_failure(exc, logging.getLogger("tests.redaction"), "pipeline run r2")
    assert re.fullmatch(
        r"source atlas: HTTP 404 Not Found from https://data\.example\.org/… \(error id [0-9a-f]{8}\)", stored
    ), stored
    assert "s3cr3t" not in caplog.text, "the server log gets the traceback, not the credentials"
    assert "user:pw@" not in caplog.text
    assert report_failure(
        SourceError("osm", "empty file", path="osm.json"), logging.getLogger("t"), "x"
    ).startswith("source osm (osm.json): empty file (error id ")


def test_the_public_view_of_a_run_names_no_account_and_scrubs_its_texts():
    full = {
        "id": 1,
        "requested_by": "ops@example.org",
        "error": "boom at /work/main/x.py",
        "counts": {"review": {"webhooks": [{"url": "https://hooks.example/T0SECRET", "status": 500}]}},
        "source_versions": {"atlas": {"origin": "https://user:pw@data.example.org/a.csv?token=s3cr3t"}},
    }
    public = run_view.run(full, detailed=False)
    assert public["requested_by"] is None
    assert not LEAKS.search(repr(public)), public
    admin = run_view.run(full, detailed=True)
    assert admin["requested_by"] == "ops@example.org"
    assert admin["source_versions"]["atlas"]["origin"] == "https://***@data.example.org/a.csv?token=***"


def test_the_public_status_has_no_owner_nor_requester_and_events_are_scrubbed():
    full = {
        "state": "running",
        "owner": "worker-7:4242",
        "requested_by": "ada",
        "message": "reading /work/main/data/demo/a.csv",
        "last_error": None,
        "queued": {"id": "q", "requested_by": "bob", "requested_at": "2026-01-01T00:00:00Z"},
    }
    public = run_view.status(full, detailed=False)
    assert (public["owner"], public["requested_by"], public["queued"]["requested_by"]) == (None, None, None)
    assert public["message"] == "reading <path>"
    assert run_view.status(full, detailed=True)["owner"] == "worker-7:4242"
    event = run_view.event_data(
        {"message": "POST https://hooks.example/T0SECRET by ops@example.org", "owner": "h:1"}
    )
    assert event == {"message": "POST https://hooks.example/… by <email>"}


@pytest.mark.parametrize("text", ["a." * 10_000, "a-" * 10_000, "x@y." * 5_000, "/a" * 10_000])
def test_scrubbing_a_long_hostile_text_takes_linear_time(text):
    # Patterns that retry inside a token (`a.a.a.…`) are quadratic: 20,000 characters took >1 s.
    started = time.perf_counter()
    scrub_text(text)
    redact_credentials(text)
    assert time.perf_counter() - started < 0.5
