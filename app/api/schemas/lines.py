"""Lines (`/routes`), the registry steward's view (`/operators`), pipeline runs, users, the document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from app.api.schemas.base import (
    BodyModel,
    BodyText,
    QueryBool,
    QueryChoice,
    QueryInt,
    QueryModel,
    QueryText,
    ResponseModel,
)
from app.api.schemas.common import Page, Run
from app.api.schemas.stops import limit_field
from app.services import operators as operator_service
from app.services import routes as route_service
from app.services import users as user_service

# --- /routes --------------------------------------------------------------------------------

ROUTES_DEFAULT_LIMIT = 100
ROUTES_MAX_LIMIT = 1000
RouteSidePath = Annotated[str, QueryChoice(route_service.SIDES)]
RouteIdPath = Annotated[str, Field(min_length=1, max_length=255)]


class RouteListQuery(QueryModel):
    """`GET /routes`."""

    side: Annotated[str, QueryChoice(("osm", "gtfs", "both")), Field(description="Which side.")] = "both"
    matched: Annotated[
        bool | None,
        QueryBool,
        Field(description="`true`: lines with a partner on the other side; `false`: without."),
    ] = None
    operator: Annotated[
        str | None,
        QueryText(100),
        Field(description="Part of the operator (GTFS agency) name, case and accents ignored."),
    ] = None
    mode: Annotated[str | None, QueryChoice(route_service.MODES), Field(description="Mode of transport.")] = (
        None
    )
    q: Annotated[
        str | None, QueryText(100), Field(description="Part of the line ref, name or id (accents ignored).")
    ] = None
    cursor: Annotated[
        str | None, QueryText(500), Field(description="`next_cursor` of the previous page.")
    ] = None
    limit: Annotated[
        int, QueryInt(1, ROUTES_MAX_LIMIT), limit_field(ROUTES_DEFAULT_LIMIT, ROUTES_MAX_LIMIT)
    ] = ROUTES_DEFAULT_LIMIT


RouteSide = Literal["osm", "gtfs"]


class RoutePartner(ResponseModel):
    """A line of the other side paired with this one (several: variants, or a tie)."""

    side: RouteSide
    id: str
    direction_id: str | None
    ref: str | None
    name: str | None
    url: str = Field(description="Its route page.")


class RouteDirection(ResponseModel):
    """GTFS: one direction's main itinerary; OSM: the relation itself (`direction_id` null)."""

    direction_id: str | None
    from_: str | None = Field(alias="from")
    to: str | None
    stops: int
    partners: list[RoutePartner]


class Route(ResponseModel):
    """A line of one side."""

    side: RouteSide
    id: str = Field(description="OSM relation id or GTFS route_id.")
    ref: str | None
    name: str | None
    operator: str | None
    network: str | None
    mode: str | None = Field(description="OSM `route` value; GTFS route_type read as one.")
    gtfs_route_id: str | None
    route_master_id: int | None
    stops: int = Field(description="Stops (GTFS: of every direction) or stop and platform members.")
    matched: bool = Field(description="Has at least one partner on the other side.")
    directions: list[RouteDirection]
    url: str
    osm_url: str | None


class SideCounts(ResponseModel):
    """Lines of one side."""

    routes: int
    matched: int


class SidesCounts(ResponseModel):
    """Lines per side."""

    osm: SideCounts
    gtfs: SideCounts


class RoutePage(Page):
    """One page of lines by side, then line ref."""

    routes: list[Route]
    count: int = Field(description="Lines passing the filters.")
    sides: SidesCounts


StopStatus = Literal["agree", "only_here", "unknown", "no_partner"]


class OsmRouteStop(ResponseModel):
    """A stop or platform member of an OSM relation."""

    sequence: int
    role: str
    osm_key: str
    name: str | None
    known: bool = Field(description="A stop object of the snapshot.")
    url: str | None
    status: StopStatus


class GtfsRouteStop(ResponseModel):
    """A stop of a GTFS itinerary."""

    sequence: int
    stop_id: str = Field(description="The GTFS stop_id.")
    name: str | None
    registry_name: str | None
    osm_keys: list[str] = Field(description="OSM objects matched to its registry stop.")
    trips: int
    url: str | None
    status: StopStatus


class Itinerary(ResponseModel):
    """One itinerary in travel order, with where it agrees with its partners."""

    side: RouteSide
    id: str
    direction_id: str | None
    ref: str | None
    name: str | None
    from_: str | None = Field(alias="from")
    to: str | None
    url: str
    osm_url: str | None
    partners: list[RoutePartner]
    stops: list[OsmRouteStop | GtfsRouteStop] = Field(description="In travel order.")
    counts: dict[str, int]


class RouteDetail(ResponseModel):
    """The line and its itineraries, then its partners'."""

    route: Route
    itineraries: list[Itinerary]


# --- /operators -----------------------------------------------------------------------------


class OperatorQuery(QueryModel):
    """`GET /operators`."""

    q: Annotated[
        str | None,
        QueryText(100),
        Field(description="Only operators whose code or name contains this (case-insensitive)."),
    ] = None
    runs: Annotated[
        int,
        QueryInt(1, operator_service.MAX_TREND_RUNS),
        Field(description="How many of the last runs (that changed any problem) each trend covers."),
    ] = operator_service.DEFAULT_TREND_RUNS


class OpenUndecided(ResponseModel):
    """Open problems and the undecided among them."""

    open: int
    undecided: int


class OperatorProblems(OpenUndecided):
    """An operator's problems by type and by priority."""

    by_type: dict[str, OpenUndecided]
    by_priority: dict[str, OpenUndecided]


class OperatorDistances(ResponseModel):
    """Distances of an operator's matches."""

    matches: int
    median: float | None
    p90: float | None
    max: float | None


class TrendPoint(ResponseModel):
    """Open problems after one run."""

    run_id: int
    open: int
    appeared: int
    resolved: int


class AppearedResolved(ResponseModel):
    """Problems the last run made appear and resolved."""

    appeared: int
    resolved: int


class OperatorFigures(ResponseModel):
    """One registry operator. `operator` null: stops and problems without an operator; they have no
    `links`, since no filter selects them."""

    operator: str | None
    operator_name: str | None = None
    registry_stops: int
    matched: int
    unmatched: int | None = None
    matched_share: float | None
    problems: OperatorProblems
    distance_m: OperatorDistances
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    trend: list[TrendPoint]
    change_last_run: AppearedResolved
    links: dict[str, Any] | None


class OperatorRun(ResponseModel):
    """A run a trend point belongs to."""

    id: int
    finished_at: str | None = None
    started_at: str | None = None


class OperatorOverview(ResponseModel):
    """Operators, most registry stops first."""

    operators: list[OperatorFigures]
    count: int
    runs: list[OperatorRun]
    totals: dict[str, Any]


# --- /pipeline ------------------------------------------------------------------------------

RUNS_PAGE_DEFAULT = 20
RUNS_PAGE_MAX = 100


class RunListQuery(QueryModel):
    """`GET /pipeline/runs`."""

    limit: Annotated[int, QueryInt(1, RUNS_PAGE_MAX), limit_field(RUNS_PAGE_DEFAULT, RUNS_PAGE_MAX)] = (
        RUNS_PAGE_DEFAULT
    )
    cursor: Annotated[
        str | None, QueryText(200), Field(description="`next_cursor` of the previous page.")
    ] = None


class RunPage(Page):
    """One page of runs, newest first."""

    runs: list[Run]


class LockState(ResponseModel):
    """The run lock in Redis."""

    held: bool
    expires_in_s: float | None


class SchedulerState(ResponseModel):
    """Whether a scheduler reported in the last minute."""

    alive: bool
    last_seen_at: str | None


class PipelineStatus(ResponseModel):
    """Live run status from Redis; while a run is active it also carries its run id, stage, progress
    and heartbeat. `requested_by` and `owner` (host:pid) are null except for admins."""

    state: Literal["idle", "queued", "running", "succeeded", "failed", "stale", "unknown"]
    queued: dict[str, Any] | None
    lock: LockState
    scheduler: SchedulerState
    error: str | None
    next_scheduled_at: str | None


class RunRequestInput(BodyModel):
    """Optional body of a run request."""

    only_if_changed: bool = Field(default=False, description="Skip the run when no source changed.")


class RunRequestAccepted(ResponseModel):
    """Queued; a scheduler starts it within seconds."""

    request_id: str | None
    state: Literal["queued"]
    requested_by: str | None
    scheduler_alive: bool
    status_url: str
    stream_url: str
    warning: str | None = None


class StreamQuery(QueryModel):
    """`GET /pipeline/stream`."""

    last_event_id: Annotated[
        str | None, QueryText(64), Field(description="Resume after this event id (or `Last-Event-ID`).")
    ] = None


# --- /me, /users ----------------------------------------------------------------------------

Role = Literal[user_service.ROLES]  # type: ignore[valid-type]  # the one list of roles
UserIdPath = Annotated[int, QueryInt(1, 10**18)]


class MeUser(ResponseModel):
    """The signed-in user."""

    id: int
    username: str
    role: Role
    auth: Literal["session", "token"]


class Me(ResponseModel):
    """Who is signed in (null: nobody), and the CSRF token."""

    user: MeUser | None
    csrf_token: str = Field(description="Send as `X-CSRF-Token` with cookie-authenticated writes.")


class User(ResponseModel):
    """A user account (no secrets)."""

    id: int
    username: str
    role: Role
    is_active: bool
    auth_provider: Literal["local", "osm"]
    osm_uid: int | None
    has_api_token: bool
    created_at: str | None


class UserList(ResponseModel):
    """Users by name."""

    users: list[User]


class UserOne(ResponseModel):
    """One user."""

    user: User


class UserToken(UserOne):
    """The new API token, shown once: send it as `Authorization: Bearer <token>`."""

    token: str


class UserInput(BodyModel):
    """A new user."""

    username: Annotated[str, BodyText(user_service.MAX_USERNAME_LENGTH, min_length=1)]
    password: Annotated[str, BodyText(user_service.MAX_PASSWORD_LENGTH, min_length=1)]
    role: Role = "editor"


class UserPatch(BodyModel):
    """What to change of a user; absent fields stay."""

    role: Role | None = None
    is_active: bool | None = None
    password: Annotated[str | None, BodyText(user_service.MAX_PASSWORD_LENGTH)] = None


# --- /openapi.json --------------------------------------------------------------------------


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This API's OpenAPI 3.1 description."""


# --- /tiles ---------------------------------------------------------------------------------


class TileJson(ResponseModel):
    """TileJSON 3.0.0; `tiles` is the URL template of the published snapshot's tiles with the
    filters in canonical order."""

    tilejson: str
    tiles: list[str] = Field(min_length=1, max_length=1)
    minzoom: int | None = None
    maxzoom: int | None = None
    bounds: list[float] | None = Field(default=None, min_length=4, max_length=4)
    vector_layers: list[dict[str, Any]]
    snapshot: str
    stops_min_zoom: int
    filters: str | None = None
