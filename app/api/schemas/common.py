"""Models shared by several resources: the error shape, editor links, problems, decisions, runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.api.schemas.base import ResponseModel


class ErrorDetail(BaseModel):
    """The one error shape of the API."""

    status: int = Field(ge=400, le=599)
    code: str = Field(description="Machine-readable, e.g. `invalid_parameter`.")
    message: str = Field(description="For people.")
    details: dict[str, Any] = Field(
        description="What exactly was wrong: `parameter` (query or path), `field` (body), "
        "`request_id` (500), `required_role` (403), `max_bytes` (413)."
    )


class ErrorBody(BaseModel):
    """`{"error": {"status", "code", "message", "details"}}`."""

    error: ErrorDetail


class EditorLink(ResponseModel):
    """View or edit an OSM object (website, iD, JOSM), or add a missing stop in JOSM."""

    editor: Literal["osm", "id", "josm"]
    action: Literal["view", "edit", "area", "add"] = Field(
        description="`area` downloads the place into JOSM, `add` creates the missing stop there."
    )
    label: str
    title: str
    url: str = Field(description="Percent-encoded; JOSM links go to its remote control on 127.0.0.1:8111.")


class Decision(ResponseModel):
    """What a person decided about a problem."""

    id: int
    problem_identity: str
    problem_type: str
    stop_id: str | None
    osm_key: str | None
    decision: str
    note: str
    status: str
    author: str | None
    created_at: str | None
    updated_at: str | None


class DecisionEvent(ResponseModel):
    """One step of a decision's history."""

    id: int
    action: str = Field(description="created | updated | flagged | ...")
    decision: str | None
    note: str | None
    author: str | None
    run_id: int | None
    payload: dict[str, Any]
    created_at: str | None


class DecisionWithHistory(Decision):
    """A decision with its history (and, for `wrong_match`, the manual unlink it saved)."""

    history: list[DecisionEvent]
    manual_match: dict[str, Any] | None = Field(
        default=None, description="`wrong_match` only: the manual unlink it saved, with its `state`."
    )


class Problem(ResponseModel):
    """A disagreement between the registry and OSM, with the decision on it."""

    identity: str = Field(description="Stable across runs: `<type>:<stop_id|->:<osm key|->`.")
    problem_type: str
    priority: int = Field(ge=1)
    stop_id: str | None
    osm_key: str | None
    operator: str | None
    distance_m: float | None
    message: str
    details: dict[str, Any]
    lat: float
    lon: float
    decision: Decision | None


class ManualMatch(ResponseModel):
    """A manual link or unlink with its history. `status` is what is stored (active, orphaned,
    deleted); `state` what it means now: `pending` (applies from the next run), `active`,
    `not_applied` (its OSM object went to another manual link), `orphaned`, `deleted`."""

    id: int
    stop_id: str
    osm_key: str
    action: Literal["link", "unlink"]
    status: str
    state: str | None
    note: str | None
    author: str | None
    distance_m: float | None
    history: list[dict[str, Any]]
    created_at: str | None
    updated_at: str | None


class Run(ResponseModel):
    """A pipeline run. Anyone sees it without account names (`requested_by` is null), with URLs cut
    to their host and no file paths; admins see who asked and full source locations (credentials
    always redacted)."""

    id: int
    run_uuid: str
    trigger: str
    status: str
    started_at: str | None
    finished_at: str | None
    stage_seconds: dict[str, Any] | None
    counts: dict[str, Any] | None
    source_versions: dict[str, Any] | None
    error: str | None = Field(
        description="A short message with an error id; the traceback is in the server log."
    )


class Page(ResponseModel):
    """Keyset pagination: pass `next_cursor` back as `cursor` for the next page."""

    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
