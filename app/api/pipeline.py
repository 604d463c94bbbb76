"""Pipeline runs: live status, history, run requests (admin) and the live event stream (SSE)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from apscheduler.triggers.cron import CronTrigger
from flask import Response, current_app, g, request

from app.api import bp
from app.api.schemas.endpoint import endpoint
from app.api.schemas.lines import (
    PipelineStatus,
    RunListQuery,
    RunPage,
    RunRequestAccepted,
    RunRequestInput,
    StreamQuery,
)
from app.api.schemas.stops import NoQuery
from app.auth import current_user, require_role
from app.config import Settings
from app.coordination import RunState, stale_after_s, stream_slot_lease_s
from app.errors import ApiError, json_error
from app.extensions import redis_client, run_trigger_limit
from app.services import pipeline_state, pipeline_stream, run_history, users

NO_STORE = {"Cache-Control": "no-store"}


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


@bp.get("/pipeline/status")
@endpoint("getPipelineStatus", "pipeline", ok=PipelineStatus)
def pipeline_status(query: NoQuery) -> tuple[dict[str, Any], dict[str, str]]:
    """Live pipeline status

    The live run status from Redis: state, stage, progress, heartbeat, last error, queue. `state` is
    idle | queued | running | succeeded | failed | stale | unknown. `stale`: the run stopped sending
    heartbeats. `unknown`: Redis is unreachable (still a 200: the page shows it). `requested_by`
    and `owner` (host:pid) are filled for admins only.
    """
    body = _live_status().as_dict(detailed=_reader_sees_details())
    body["next_scheduled_at"] = _next_scheduled_at(_settings())
    return body, NO_STORE


@bp.get("/pipeline/runs")
@endpoint("listRuns", "pipeline", ok=RunPage)
def list_runs(query: RunListQuery) -> tuple[dict[str, Any], dict[str, str]]:
    """Pipeline run history, newest first

    Finished and running runs from PostgreSQL. `requested_by` and full source locations for admins
    only; errors are a short message with an error id whose traceback is in the server log.
    """
    runs, next_cursor = run_history.list_runs(query.limit, query.cursor)
    status = _live_status()
    # A row left `running` by a dead process reads as stale; unknown live state changes nothing.
    if status.state is RunState.UNKNOWN:
        live = None
    elif status.state is RunState.RUNNING:
        live = status.run.get("run_uuid") or ""
    else:
        live = ""
    detailed = _reader_sees_details()
    body = {
        "runs": [run_history.run_as_dict(run, live, detailed=detailed) for run in runs],
        "next_cursor": next_cursor,
    }
    return body, NO_STORE


@bp.post("/pipeline/runs")
@require_role("admin")
@run_trigger_limit
@endpoint(
    "requestRun",
    "pipeline",
    ok=RunRequestAccepted,
    status=202,
    errors=(401, 403, 409, 503),
    role="admin",
    body_required=False,
    headers={202: {"Location": {"schema": {"type": "string"}}}},
)
def request_run(json: RunRequestInput) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Request a pipeline run now

    202 with the request id; a scheduler starts it within seconds. The body is optional. 409 while
    a run is active or one is already queued; 503 when Redis is unreachable. Rate limited
    (RATELIMIT_RUN_TRIGGER).
    """
    user = current_user()
    requested_by = user.username if user is not None else None
    client = redis_client.client
    try:
        result = pipeline_state.enqueue_request(
            client, requested_by, {"only_if_changed": json.only_if_changed}
        )
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
    payload: dict[str, Any] = {
        "request_id": request_body.get("id"),
        "state": RunState.QUEUED.value,
        "requested_by": requested_by,
        "scheduler_alive": status.as_dict()["scheduler"]["alive"],
        "status_url": "/api/v1/pipeline/status",
        "stream_url": "/api/v1/pipeline/stream",
    }
    if not payload["scheduler_alive"]:
        payload["warning"] = "No scheduler has reported in the last minute; the run starts when one does."
    return payload, 202, {"Location": "/api/v1/pipeline/status"}


EVENT_STREAM = {
    "description": "`status`, `state`, `stage`, `progress` and `log` events; reconnect with "
    "`Last-Event-ID` to resume.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
LAST_EVENT_ID_HEADER = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 64},
    "description": "Sent by EventSource on reconnect.",
}


@bp.get("/pipeline/stream")
@endpoint(
    "streamPipeline",
    "pipeline",
    responses={200: EVENT_STREAM},
    parameters=[LAST_EVENT_ID_HEADER],
)
def stream(query: StreamQuery) -> Response:
    """Live run events (Server-Sent Events)

    `status` first, then `state`, `stage`, `progress` and `log` events. Each connection lasts at
    most PIPELINE_STREAM_MAX_S; EventSource reconnects by itself with `Last-Event-ID` and the stream
    resumes after it. Open connections are limited per client address and in total
    (STREAM_MAX_PER_CLIENT, STREAM_MAX_TOTAL): one more gets 429, `details.limit` naming the
    setting, `Retry-After` when the oldest open stream ends.
    """
    settings = _settings()
    last_id = pipeline_stream.valid_last_event_id(request.headers.get("Last-Event-ID") or query.last_event_id)
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
