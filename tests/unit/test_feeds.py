"""Atom documents and webhook targets, signatures and delivery (to a local http.server). No database."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from app.services.feeds import (
    ATOM_NS,
    AtomEntry,
    FeedFilter,
    WebhookTarget,
    build_atom,
    parse_webhook_targets,
    tag_uri,
)
from app.services.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from runs.webhooks import deliver_webhooks

A = f"{{{ATOM_NS}}}"


def atom(entries: list[AtomEntry]) -> ET.Element:
    body = build_atom(
        feed_id=tag_uri("example.org:5001", "feeds/problems"),
        title="New P1 problems",
        self_url="http://example.org/feeds/problems.atom",
        alternate_url="http://example.org/review",
        updated=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        entries=entries,
    )
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(body)  # noqa: S314 - our own output


def entry(n: int) -> AtomEntry:
    return AtomEntry(
        id=tag_uri("example.org", f"problem-change:{n}"),
        title=f"P1 distance <{n}> & more",
        updated=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        link=f"http://example.org/stops/atlas/ch:1:sloid:{n}",
        summary="far apart",
        category="distance",
        lat=47.1,
        lon=9.5,
    )


def test_the_feed_has_every_element_atom_requires():
    feed = atom([entry(1), entry(2)])
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}id") == "tag:example.org,2024:feeds/problems"
    assert feed.findtext(f"{A}title") == "New P1 problems"
    assert feed.findtext(f"{A}updated") == "2026-01-02T03:04:05Z"
    assert feed.find(f"{A}author/{A}name") is not None
    rels = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert rels["self"] == "http://example.org/feeds/problems.atom"
    entries = feed.findall(f"{A}entry")
    assert len(entries) == 2
    for item in entries:
        for name in ("id", "title", "updated", "summary"):
            assert item.findtext(f"{A}{name}"), name
        assert item.find(f"{A}link").get("href").startswith("http://example.org/stops/")
    assert entries[0].findtext(f"{A}title") == "P1 distance <1> & more"
    ids = [item.findtext(f"{A}id") for item in entries]
    assert len(set(ids)) == len(ids)


def test_an_empty_feed_is_still_valid():
    feed = atom([])
    assert feed.findall(f"{A}entry") == []
    assert feed.findtext(f"{A}updated")


def test_webhook_targets_carry_their_filters_in_the_fragment():
    (plain, filtered) = parse_webhook_targets(
        "http://127.0.0.1:9/a ; https://hooks.example/b?x=1#operator=PAG&bbox=9.4,47.0,9.7,47.3"
    )
    assert plain == WebhookTarget("http://127.0.0.1:9/a", FeedFilter())
    assert filtered.url == "https://hooks.example/b?x=1"
    assert filtered.filter == FeedFilter("PAG", None, (9.4, 47.0, 9.7, 47.3))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ftp://x/y", "not an http"),
        ("http://x/#colour=red", "unknown filter"),
        ("http://x/#bbox=1,2", "bbox"),
    ],
)
def test_a_bad_webhook_target_is_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_webhook_targets(spec)


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_body():
    body = b'{"a": 1}'
    expected = hmac.new(b"k", b"1764464400." + body, hashlib.sha256).hexdigest()
    assert sign("k", body, 1764464400) == f"t=1764464400,v1={expected}"


def test_the_verifier_accepts_a_fresh_signature_of_the_same_body():
    body = b'{"event": "problems.appeared"}'
    header = sign("s3cret", body, 1_000_000)
    assert verify("s3cret", header, body, tolerance_s=300, now=1_000_000 + 299)
    # Several v1 values (a secret being rotated): one match is enough.
    assert verify("s3cret", f"t=1000000,v1={'0' * 64},{header.split(',')[1]}", body, now=1_000_000)


@pytest.mark.parametrize(
    ("case", "secret", "header", "body", "now"),
    [
        ("replayed after the tolerance", "k", sign("k", b"{}", 1_000_000), b"{}", 1_000_000 + 301),
        ("timestamp from the future", "k", sign("k", b"{}", 1_000_000), b"{}", 1_000_000 - 301),
        ("body changed", "k", sign("k", b"{}", 1_000_000), b'{"x":1}', 1_000_000),
        ("timestamp changed", "k", sign("k", b"{}", 1_000_000).replace("t=1000000", "t=1000001"), b"{}",
         1_000_000),
        ("other secret", "other", sign("k", b"{}", 1_000_000), b"{}", 1_000_000),
        ("old sha256= header", "k", "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest(), b"{}",
         1_000_000),
        ("no timestamp", "k", "v1=" + sign("k", b"{}", 1_000_000).split("v1=")[1], b"{}", 1_000_000),
        ("empty header", "k", "", b"{}", 1_000_000),
        ("garbage", "k", "t=abc,v1=,,=", b"{}", 1_000_000),
        ("a superscript digit in the time", "k", "t=\u00b2,v1=00", b"{}", 2),
    ],
)  # fmt: skip
def test_the_verifier_refuses_replays_tampering_and_malformed_headers(case, secret, header, body, now):
    assert not verify(secret, header, body, tolerance_s=300, now=now), case


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"received": [], "status": 204})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


ITEMS = [
    {"identity": "a", "problem_type": "distance", "priority": 1, "message": "m", "stop_id": "s1",
     "operator_code": "PAG", "region": "SG", "lat": 47.1, "lon": 9.5},
    {"identity": "b", "problem_type": "unmatched", "priority": 1, "message": "m", "osm_key": "node/2",
     "operator_code": "SBB", "region": None, "lat": 46.0, "lon": 7.0},
]  # fmt: skip


def test_a_webhook_receives_its_filtered_problems_signed(receiver):
    url, handler = receiver
    targets = parse_webhook_targets(f"{url}#operator=pag")
    results = deliver_webhooks(9, ITEMS, targets, secret="s3cret", timeout_s=5, base_url="http://app")
    assert [(r.count, r.status, r.error) for r in results] == [(1, 204, None)]
    ((headers, body),) = handler.received
    assert verify("s3cret", headers[SIGNATURE_HEADER], body, tolerance_s=60)
    assert headers[SIGNATURE_HEADER].startswith(f"t={headers[TIMESTAMP_HEADER]},v1=")
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60
    payload = json.loads(body)
    assert payload["run_id"] == 9
    assert [p["identity"] for p in payload["problems"]] == ["a"]
    assert payload["problems"][0]["url"] == "http://app/stops/atlas/s1"


def test_a_failing_webhook_is_reported_not_raised(receiver):
    url, handler = receiver
    handler.status = 500
    closed = "http://127.0.0.1:9/nothing-listens-here"
    results = deliver_webhooks(
        1, ITEMS, parse_webhook_targets(f"{url} {closed}"), secret="", timeout_s=2, base_url="http://app"
    )
    assert results[0].status == 500
    assert results[0].error == "status"
    assert results[1].status is None
    assert results[1].error == "ConnectionError"
    assert SIGNATURE_HEADER not in handler.received[0][0]


def test_webhook_deliveries_are_reported_and_logged_by_target_position_and_host_only(receiver, caplog):
    url, handler = receiver
    handler.status = 500
    secret_path = "http://127.0.0.1:9/services/T0SECRET/B0SECRET/xoxo"
    with caplog.at_level("WARNING", logger="app.services.feeds"):
        results = deliver_webhooks(
            1,
            ITEMS,
            parse_webhook_targets(f"{url} {secret_path}"),
            secret="",
            timeout_s=2,
            base_url="http://a",
        )
    port = url.split(":")[2].split("/")[0]
    assert [(r.target, r.host) for r in results] == [(1, f"127.0.0.1:{port}"), (2, "127.0.0.1:9")]
    assert not any(hasattr(r, "url") for r in results)
    assert "T0SECRET" not in caplog.text
    assert "/hook" not in caplog.text
    assert "webhook target 2 (127.0.0.1:9) failed: ConnectionError" in caplog.text


def test_settings_refuse_bad_webhook_targets_and_expiry_fields():
    from app.config import ConfigError, load_settings

    base = {"SECRET_KEY": "s" * 40}
    with pytest.raises(ConfigError, match="WEBHOOK_URLS"):
        load_settings({**base, "WEBHOOK_URLS": "ftp://x/y"})
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings({**base, "WEBHOOK_URLS": "https://hooks.example/x"})
    with pytest.raises(ConfigError, match="DECISION_EXPIRE_FIELDS"):
        load_settings({**base, "DECISION_EXPIRE_FIELDS": "position,colour"})
    settings = load_settings({**base, "WEBHOOK_URLS": "https://h.example/x", "WEBHOOK_SECRET": "k"})
    assert settings.DECISION_MOVE_THRESHOLD_M == 10.0
