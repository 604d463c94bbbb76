"""Pipeline API: status, run history, run requests (admin, 409, rate limit) and the SSE stream."""

from __future__ import annotations

import json
import threading

from app.coordination import LOCK_KEY, REQUESTS_KEY, STATUS_KEY
from app.services import pipeline_state, run_history
from database import db
from database.models import PipelineRun
from runs.guard import run_guarded
from tests import factories as f


def _admin_headers(app) -> dict[str, str]:
    admin = f.create_user(role="admin")
    return f.bearer(f.api_token(admin))


def test_status_is_idle_before_any_run(client):
    body = client.get("/api/v1/pipeline/status").get_json()

    assert body["state"] == "idle"
    assert body["queued"] is None
    assert body["lock"]["held"] is False
    assert body["next_scheduled_at"].endswith("Z")


def test_status_shows_the_running_run_with_progress(app, client, redis_client):
    pipeline_state.start_status(redis_client, "run-1", trigger="manual", requested_by="ada")
    pipeline_state.update_status(redis_client, "run-1", stage="match", done=5, total=10, percent=50.0)
    redis_client.set(LOCK_KEY, "run-1", px=60_000)

    body = client.get("/api/v1/pipeline/status").get_json()

    assert body["state"] == "running"
    assert (body["stage"], body["done"], body["total"], body["percent"]) == ("match", 5, 10, 50.0)
    assert body["run_uuid"] == "run-1"
    assert body["requested_by"] is None, "account names are for admins"
    admin_view = client.get("/api/v1/pipeline/status", headers=_admin_headers(app)).get_json()
    assert admin_view["requested_by"] == "ada"
    assert body["lock"]["held"] is True
    assert body["heartbeat_at"].endswith("Z")


def test_status_is_unknown_and_still_200_when_redis_is_unreachable(make_app, stack):
    from devstack.services import free_port

    # Rate limits stay on the session's Redis: only the coordination client points at a dead port.
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", RATELIMIT_STORAGE_URL=stack.redis_url)

    response = app.test_client().get("/api/v1/pipeline/status")

    assert response.status_code == 200
    assert response.get_json()["state"] == "unknown"


def test_anonymous_and_editors_cannot_request_a_run(app, client, redis_client):
    assert client.post("/api/v1/pipeline/runs").status_code == 401
    editor = f.create_user(role="editor")
    response = client.post("/api/v1/pipeline/runs", headers=f.bearer(f.api_token(editor)))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert redis_client.llen(REQUESTS_KEY) == 0


def test_an_admin_requests_a_run_and_a_second_request_is_refused_while_queued(app, client, redis_client):
    headers = _admin_headers(app)

    first = client.post("/api/v1/pipeline/runs", headers=headers)
    second = client.post("/api/v1/pipeline/runs", headers=headers)

    assert first.status_code == 202
    request_id = first.get_json()["request_id"]
    assert first.get_json()["state"] == "queued"
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "run_in_progress"
    assert error["details"]["request_id"] == request_id
    status = client.get("/api/v1/pipeline/status").get_json()
    assert status["state"] == "queued"
    assert status["queued"]["id"] == request_id


def test_a_run_request_is_refused_with_409_while_a_run_holds_the_lock(app, client, redis_client):
    redis_client.set(LOCK_KEY, "busy-run", px=60_000)

    response = client.post("/api/v1/pipeline/runs", headers=_admin_headers(app))

    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["run_uuid"] == "busy-run"


def test_a_cookie_admin_needs_the_csrf_token_to_request_a_run(app, client):
    _, token = f.login_as(client, role="admin")

    assert client.post("/api/v1/pipeline/runs").status_code in (400, 403)
    assert client.post("/api/v1/pipeline/runs", headers={"X-CSRF-Token": token}).status_code == 202


def test_run_requests_are_rate_limited_with_the_json_error_shape(make_app):
    app = make_app(RATELIMIT_RUN_TRIGGER="2 per hour")
    with app.app_context():
        headers = _admin_headers(app)
        client = app.test_client()
        codes = [client.post("/api/v1/pipeline/runs", headers=headers).status_code for _ in range(3)]
        limited = client.post("/api/v1/pipeline/runs", headers=headers)

    assert codes[:2] == [202, 409]
    assert codes[2] == 429
    assert limited.status_code == 429
    assert limited.get_json()["error"]["status"] == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0


def test_run_history_is_paginated_with_a_cursor(app, client):
    for index in range(5):
        db.session.add(PipelineRun(run_uuid=f"run-{index}", trigger="scheduled", status="succeeded"))
    db.session.commit()

    first = client.get("/api/v1/pipeline/runs?limit=2").get_json()
    second = client.get(f"/api/v1/pipeline/runs?limit=2&cursor={first['next_cursor']}").get_json()
    third = client.get(f"/api/v1/pipeline/runs?limit=2&cursor={second['next_cursor']}").get_json()

    seen = [run["run_uuid"] for page in (first, second, third) for run in page["runs"]]
    assert seen == ["run-4", "run-3", "run-2", "run-1", "run-0"]
    assert third["next_cursor"] is None
    bad = client.get("/api/v1/pipeline/runs?cursor=garbage")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid_cursor"


def test_a_row_left_running_by_a_dead_run_reads_as_stale_in_the_history(app, client):
    db.session.add(PipelineRun(run_uuid="ghost", trigger="scheduled", status="running"))
    db.session.commit()

    runs = client.get("/api/v1/pipeline/runs").get_json()["runs"]

    assert runs[0]["status"] == "stale"


def _read_sse(response, stop_when, limit: int = 500) -> list[tuple[str, dict]]:
    """Parse SSE frames from a streamed test response until `stop_when(frames)` or the stream ends."""
    frames: list[tuple[str, dict]] = []
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            raw, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in raw.splitlines() if ": " in line and line[0] != ":")
            if "event" in fields:
                frames.append((fields["event"], json.loads(fields["data"])))
        if stop_when(frames) or len(frames) >= limit:
            break
    return frames


def test_the_event_stream_delivers_progress_of_a_live_run(make_app):
    app = make_app(PIPELINE_STREAM_MAX_S=20, PIPELINE_STREAM_KEEPALIVE_S=1)
    client = app.test_client()
    response = client.get("/api/v1/pipeline/stream", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    outcome: dict = {}

    def run() -> None:
        with app.app_context():
            outcome["run"] = run_guarded("manual")  # the real pipeline, on the demo data

    runner = threading.Thread(target=run)
    runner.start()
    frames = _read_sse(
        response,
        lambda frames: any(kind == "state" and data["state"] == "succeeded" for kind, data in frames),
    )
    runner.join(timeout=60)
    response.close()

    kinds = [kind for kind, _ in frames]
    assert kinds[0] == "status"
    stages = [data["stage"] for kind, data in frames if kind == "stage"]
    assert stages == ["fetch", "parse", "match", "problems", "import"]
    progress = [data for kind, data in frames if kind == "progress"]
    assert progress
    assert all(data["run_uuid"] == outcome["run"].run_uuid for data in progress)
    assert any(data["percent"] == 100.0 and data["stage"] == "import" for data in progress)
    with app.app_context():
        assert run_history.get_by_uuid(outcome["run"].run_uuid).status == "succeeded"


def test_a_reconnecting_stream_resumes_after_last_event_id(app, client, redis_client):
    first = pipeline_state.publish_event(redis_client, pipeline_state.EventType.LOG, "r", {"message": "one"})
    pipeline_state.publish_event(redis_client, pipeline_state.EventType.LOG, "r", {"message": "two"})
    redis_client.hset(STATUS_KEY, mapping={"state": "running", "run_uuid": "r", "heartbeat_at": 1})

    response = client.get("/api/v1/pipeline/stream", headers={"Last-Event-ID": first}, buffered=False)
    frames = _read_sse(response, lambda frames: any(kind == "log" for kind, _ in frames))
    response.close()

    assert [data["message"] for kind, data in frames if kind == "log"] == ["two"]


def test_a_stream_connection_ends_after_its_maximum_duration(make_app):
    app = make_app(PIPELINE_STREAM_MAX_S=1, PIPELINE_STREAM_KEEPALIVE_S=1)

    done = threading.Event()
    body: dict = {}

    def read() -> None:
        body["text"] = app.test_client().get("/api/v1/pipeline/stream").get_data(as_text=True)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout=15), "the stream did not end by itself"
    assert body["text"].startswith("retry: ")
    assert "event: status" in body["text"]
