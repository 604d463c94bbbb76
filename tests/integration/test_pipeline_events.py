"""What the pipeline page's log is made of: every event carries the time it happened (also when the
stream replays it to a page opened later), and log lines read as words, never as a Python repr."""

from __future__ import annotations

import datetime as dt
import json
import logging

from app.coordination import EVENTS_KEY, EventType, RunState
from app.services import pipeline_state
from app.services.pipeline_stream import sse_events
from runs.guard import run_guarded
from tests.integration.coordination_helpers import quick_work


def _stored_events(redis_client) -> list[dict]:
    entries = redis_client.xrange(EVENTS_KEY)
    return [{"id": i, "type": f["type"], **json.loads(f["data"])} for i, f in entries]


def _parse(at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00"))


def _replayed(redis_client) -> list[dict]:
    """The frames a page opened now receives (status snapshot, then the run's backlog)."""
    frames = []
    for frame in sse_events(redis_client, None, stale_after=60, max_s=0.05, keepalive_s=10, block_ms=10):
        lines = dict(line.split(": ", 1) for line in frame.strip().splitlines() if ": " in line)
        if "event" in lines and lines["event"] != "status":
            frames.append({"id": lines.get("id"), "type": lines["event"], **json.loads(lines["data"])})
    return frames


def test_every_event_carries_the_time_it_happened_and_a_replay_keeps_that_time(app, redis_client):
    def work(progress, run_uuid):
        logging.getLogger("pipeline.test").warning("matching %d stops", 3)
        return quick_work(progress, run_uuid)

    before = dt.datetime.now(dt.UTC)
    outcome = run_guarded("cli", work=work)
    after = dt.datetime.now(dt.UTC)
    assert outcome.state is RunState.SUCCEEDED

    stored = _stored_events(redis_client)
    assert {e["type"] for e in stored} >= {"state", "stage", "progress", "log"}
    times = [_parse(e["at"]) for e in stored]
    assert all(before - dt.timedelta(seconds=1) <= t <= after + dt.timedelta(seconds=1) for t in times)
    assert times == sorted(times), "events are stamped in the order they happened"
    (log,) = [e for e in stored if e["type"] == "log" and e["message"] == "matching 3 stops"]
    assert log["at"].endswith("Z")

    replayed = _replayed(redis_client)
    assert [e["id"] for e in replayed] == [e["id"] for e in stored]
    assert [e["at"] for e in replayed] == [e["at"] for e in stored], "the replay keeps the original times"


def test_an_event_published_with_a_unix_time_is_stamped_with_that_time(app, redis_client):
    pipeline_state.publish_event(redis_client, EventType.LOG, "r", {"message": "x", "at": 1_700_000_000.25})
    pipeline_state.publish_event(redis_client, EventType.STAGE, "r", {"stage": "fetch"})
    first, second = _stored_events(redis_client)
    assert first["at"] == "2023-11-14T22:13:20.250Z"
    assert abs(_parse(second["at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_log_lines_with_dict_and_list_arguments_read_as_words(app, redis_client):
    def work(progress, run_uuid):
        log = logging.getLogger("pipeline.test")
        log.warning("import: %s rows, swap %.3f s", {"registry_stops": 3, "osm_stops": 5}, 0.25)
        log.warning("reconcile run %s: %s", 7, {"decisions": 2, "kinds": {"unchanged": 2}})
        log.warning("texts cut: %s", {"name": 1})  # logging unwraps a lone dict argument
        log.warning("sources %s", ["atlas", "osm"])
        return quick_work(progress, run_uuid)

    run_guarded("cli", work=work)
    lines = [e["message"] for e in _stored_events(redis_client) if e["type"] == "log"]
    assert "import: registry_stops 3, osm_stops 5 rows, swap 0.250 s" in lines
    assert "reconcile run 7: decisions 2, kinds (unchanged 2)" in lines
    assert "texts cut: name 1" in lines
    assert "sources atlas, osm" in lines
    assert not [line for line in lines if "{" in line or "[" in line], lines
