"""The pure parts of pipeline coordination: deriving the shown state, SSE frames, cursors, log tags."""

from __future__ import annotations

import json
import logging

import pytest

from app.config import ConfigError, load_settings
from app.coordination import RunState, stale_after_s
from app.errors import ApiError
from app.logging_setup import _install_record_factory, run_context
from app.services.pipeline_state import _status_view
from app.services.pipeline_stream import _frame, valid_last_event_id
from app.services.run_history import _decode_cursor, _encode_cursor

NOW = 1_800_000_000.0


def view(raw=None, pending=(), lock_pttl=-2, now=NOW, stale_after=30.0):
    return _status_view(raw or {}, list(pending), lock_pttl, None, stale_after, now)


def request(request_id="r1", at=NOW - 5):
    return json.dumps({"id": request_id, "requested_by": "ada", "requested_at": at, "options": {}})


def test_no_status_reads_as_idle():
    assert view().state is RunState.IDLE


def test_a_running_run_with_a_fresh_heartbeat_reads_as_running():
    shown = view({"state": "running", "heartbeat_at": str(NOW - 5), "run_uuid": "u"}, lock_pttl=90_000)
    assert shown.state is RunState.RUNNING
    assert shown.lock_held


def test_a_running_run_whose_heartbeat_stopped_reads_as_stale_not_running():
    assert view({"state": "running", "heartbeat_at": str(NOW - 31)}).state is RunState.STALE
    assert view({"state": "running"}).state is RunState.STALE, "no heartbeat at all is stale too"


def test_a_waiting_request_reads_as_queued_unless_a_run_is_running():
    assert view({"state": "succeeded"}, pending=[request()]).state is RunState.QUEUED
    assert view(pending=[request()]).queued["id"] == "r1"
    running = {"state": "running", "heartbeat_at": str(NOW)}
    assert view(running, pending=[request()]).state is RunState.RUNNING


def test_the_oldest_waiting_request_is_the_one_shown():
    shown = view(pending=[request("newest", NOW - 1), request("oldest", NOW - 9)])
    assert shown.queued["id"] == "oldest"


def test_a_state_we_do_not_know_reads_as_unknown():
    assert view({"state": "exploded"}).state is RunState.UNKNOWN


def test_stale_after_is_three_heartbeats():
    assert stale_after_s(10) == 30


def test_an_sse_frame_has_id_event_and_one_data_line():
    frame = _frame("log", {"message": "two\nlines"}, "1-2")
    assert frame == 'id: 1-2\nevent: log\ndata: {"message":"two\\nlines"}\n\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1700000000000-0", "1700000000000-0"),
        (" 5-1 ", "5-1"),
        ("$", None),
        ("1-2\nevent: x", None),
        (None, None),
    ],
)
def test_only_stream_ids_are_accepted_as_last_event_id(value, expected):
    assert valid_last_event_id(value) == expected


def test_a_cursor_round_trips_and_garbage_is_a_400():
    assert _decode_cursor(_encode_cursor(42)) == 42
    with pytest.raises(ApiError) as caught:
        _decode_cursor("not-a-cursor")
    assert caught.value.status == 400


def test_log_lines_written_inside_a_run_carry_its_id(caplog):
    _install_record_factory()
    with caplog.at_level(logging.INFO), run_context("1a2b3c4d-0000"):
        logging.getLogger("pipeline.test").info("inside")
    logging.getLogger("pipeline.test").info("outside")
    inside = next(r for r in caplog.records if r.getMessage() == "inside")
    assert inside.run_id == "1a2b3c4d-0000"
    assert inside.run_tag == " [run 1a2b3c4d]"


def test_stream_settings_must_be_positive():
    with pytest.raises(ConfigError, match="PIPELINE_STREAM_MAX_S"):
        load_settings({"SECRET_KEY": "s" * 40, "PIPELINE_STREAM_MAX_S": "0"})
