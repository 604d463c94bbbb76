"""Pipeline runs: live status, history, run requests (admin) and the live event stream (SSE)."""

from __future__ import annotations

import datetime as dt

import redis
from apscheduler.triggers.cron import CronTrigger
from flask import Response, current_app, g, jsonify, request

from app.api import bp, params
from app.auth import current_user, require_role
from app.config import Settings
from app.coordination import RunState, stale_after_s, stream_slot_lease_s
from app.errors import ApiError, json_error
from app.extensions import redis_client, run_trigger_limit
from app.services import pipeline_state, pipeline_stream, run_history, users

RUNS_PAGE_DEFAULT = 20
RUNS_PAGE_MAX = 100


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _next_scheduled_at(settings: Settings) -> str | None:
    try:
        trigger = CronTrigger.from_crontab(settings.PIPELINE_CRON, timezone=settings.PIPELINE_TIMEZONE)
        upcoming = trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC))
    except ValueError:
        return None
    return upcoming.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if upcoming else None


def _live_status() -> pipeline_state.StatusView:
    return pipeline_state.read_status(redis_client.client, stale_after_s(_settings().PIPELINE_HEARTBEAT_S))


def _reader_sees_details() -> bool:
    """Admins see who asked for a run and which process runs it; everyone else the public view
    (`app.services.run_view`)."""
    return users.has_role(current_user(), "admin")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/pipeline/status")
def pipeline_status():
    """The live run status from Redis: state, stage, progress, heartbeat, last error, queue.

    `state` is idle | queued | running | succeeded | failed | stale | unknown. `stale`: the run
    stopped sending heartbeats. `unknown`: Redis is unreachable (still a 200: the page shows it).
    `requested_by` and `owner` (host:pid) are filled for admins only.
    """
    params.reject_unknown(())
    body = _live_status().as_dict(detailed=_reader_sees_details())
    body["next_scheduled_at"] = _next_scheduled_at(_settings())
    return _no_store(jsonify(body))


@bp.get("/pipeline/runs")
def list_runs():
    """Finished and running runs from PostgreSQL, newest first: `?limit=20&cursor=<next_cursor>`.

    `requested_by` and full source locations for admins only; errors are a short message with an
    error id whose traceback is in the server log.
    """
    params.reject_unknown(("limit", "cursor"))
    limit = params.limit(RUNS_PAGE_DEFAULT, RUNS_PAGE_MAX)
    cursor = params.text("cursor")
    runs, next_cursor = run_history.list_runs(limit, cursor)
    status = _live_status()
    # A row left `running` by a dead process reads as stale; unknown live state changes nothing.
    if status.state is RunState.UNKNOWN:
        live = None
    elif status.state is RunState.RUNNING:
        live = status.run.get("run_uuid") or ""
    else:
        live = ""
    detailed = _reader_sees_details()
    return _no_store(
        jsonify(
            {
                "runs": [run_history.run_as_dict(run, live, detailed=detailed) for run in runs],
                "next_cursor": next_cursor,
            }
        )
    )


@bp.post("/pipeline/runs")
@require_role("admin")
@run_trigger_limit
def request_run():
    """Ask for a run now (admins). 202 with the request id; a scheduler starts it within seconds.

    Body (optional): `{"only_if_changed": false}`. 409 while a run is active or one is already
    queued; 503 when Redis is unreachable.
    """
    body = params.json_body(allowed=("only_if_changed",)) if request.get_data(cache=True) else {}
    only_if_changed = body.get("only_if_changed", False)
    if not isinstance(only_if_changed, bool):
        raise params.body_error("only_if_changed", "only_if_changed must be true or false")
    user = current_user()
    requested_by = user.username if user is not None else None
    client = redis_client.client
    try:
        result = pipeline_state.enqueue_request(client, requested_by, {"only_if_changed": only_if_changed})
        status = _live_status()
    except redis.RedisError as exc:
        raise ApiError(
            503, "coordination_unavailable", "Redis is unreachable; runs cannot be requested right now."
        ) from exc
    if not result.accepted:
        if result.reason == "running":
            message = "A pipeline run is already in progress."
            details = {"state": status.state.value, "run_uuid": result.holder}
        else:
            message = "A run has already been requested and is waiting for the scheduler."
            details = {"state": RunState.QUEUED.value, "request_id": (result.request or {}).get("id")}
        raise ApiError(409, "run_in_progress", message, details)
    request_body = result.request or {}
    payload = {
        "request_id": request_body.get("id"),
        "state": RunState.QUEUED.value,
        "requested_by": requested_by,
        "scheduler_alive": status.as_dict()["scheduler"]["alive"],
        "status_url": "/api/v1/pipeline/status",
        "stream_url": "/api/v1/pipeline/stream",
    }
    if not payload["scheduler_alive"]:
        payload["warning"] = "No scheduler has reported in the last minute; the run starts when one does."
    response = jsonify(payload)
    response.status_code = 202
    response.headers["Location"] = "/api/v1/pipeline/status"
    return response


@bp.get("/pipeline/stream")
def stream():
    """Server-Sent Events: `status` first, then `state`, `stage`, `progress` and `log` events.

    Each connection lasts at most PIPELINE_STREAM_MAX_S; EventSource reconnects by itself with
    `Last-Event-ID` and the stream resumes after it. Open connections are limited per client
    address and in total (STREAM_MAX_PER_CLIENT, STREAM_MAX_TOTAL): one more gets 429.
    """
    params.reject_unknown(("last_event_id",))
    settings = _settings()
    last_id = pipeline_stream.valid_last_event_id(
        request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    )
    limits = pipeline_stream.StreamLimits(
        per_client=settings.STREAM_MAX_PER_CLIENT,
        total=settings.STREAM_MAX_TOTAL,
        lease_s=stream_slot_lease_s(settings.PIPELINE_STREAM_KEEPALIVE_S),
        max_s=settings.PIPELINE_STREAM_MAX_S,
    )
    try:
        # remote_addr is the client as ProxyFix sees it: X-Forwarded-For counts only behind
        # TRUST_PROXY_HOPS trusted proxies, so a client cannot pick a new address per request.
        slot = pipeline_stream.take_slot(redis_client.client, request.remote_addr or "unknown", limits)
    except redis.RedisError:
        body = pipeline_stream.unavailable_events()
    else:
        if isinstance(slot, pipeline_stream.SlotRefused):
            return _stream_refused(slot)
        events = pipeline_stream.sse_events(
            redis_client.blocking_client,
            last_id,
            stale_after=stale_after_s(settings.PIPELINE_HEARTBEAT_S),
            max_s=settings.PIPELINE_STREAM_MAX_S,
            keepalive_s=settings.PIPELINE_STREAM_KEEPALIVE_S,
        )
        body = pipeline_stream.SlotHoldingStream(events, slot)
        pipeline_stream.bound_blocked_writes(request.environ, limits.lease_s)
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    # Tell nginx-style proxies not to buffer: events must reach the browser as they happen.
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _stream_refused(refused: pipeline_stream.SlotRefused) -> Response:
    """429 in the error shape; Retry-After is when the oldest counted stream ends by itself."""
    response = json_error(
        429,
        "too_many_requests",
        "Too many open live streams; retry later",
        {"limit": refused.setting, "maximum": refused.maximum},
    )
    g.retry_after_s = refused.retry_after_s  # kept over Flask-Limiter's own (see keep_retry_after_hints)
    response.headers["Retry-After"] = str(refused.retry_after_s)
    return response
