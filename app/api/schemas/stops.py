"""Stops, search, problems, decisions, stats and exports: their query strings, bodies and answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from app.api.schemas.base import (
    BBOX_FIELD,
    INT4_MAX,
    OSM_KEY_FIELD,
    OSM_TYPES,
    STOP_ID_FIELD,
    BBoxParam,
    BodyModel,
    BodyText,
    OsmKeyParam,
    QueryBool,
    QueryChoice,
    QueryInt,
    QueryIntList,
    QueryList,
    QueryModel,
    QueryText,
    ResponseModel,
    StopIdParam,
)
from app.api.schemas.common import Decision, DecisionWithHistory, EditorLink, Page, Problem, Run
from app.services import vocabulary
from app.services.decisions import MAX_NOTE_LENGTH as MAX_DECISION_NOTE
from app.services.problems import SORTS, ProblemFilters
from app.services.stops import StopFilters
from pipeline.records import LEGACY_IDENTITY_SOURCE

MAX_OPERATORS = 50
MAX_IDENTITY_LENGTH = 300

# --- path parameters ------------------------------------------------------------------------

StopIdPath = Annotated[str, StopIdParam, STOP_ID_FIELD]
# A registry plug-in's name (`atlas`, `naptan`); an unknown one is a 404 (`app.api.stops`).
SourcePath = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# The registry of a `stop_id` filter: two registries may hold one id.
RegistrySourceQuery = Annotated[
    str | None,
    QueryText(40),
    Field(
        description="The registry of `stop_id` (`atlas`, `naptan`); default: the one registry "
        "holding the id, else `atlas`."
    ),
]
OsmTypePath = Annotated[str, QueryChoice(OSM_TYPES)]
OsmIdPath = Annotated[int, QueryInt(1, 10**18 - 1)]
PATH_DOCS = {
    "source": "The registry: `atlas`, `naptan`, ...",
    "stop_id": "Registry id, e.g. the ATLAS sloid `ch:1:sloid:7000:1:2`.",
    "osm_type": "OSM type.",
    "osm_id": "OSM id.",
}

# --- filters shared by lists and exports -------------------------------------------------------

Bbox = Annotated[list[float] | None, BBoxParam, BBOX_FIELD]
Priorities = Annotated[
    list[int],
    QueryIntList(1, max(vocabulary.PRIORITIES)),
    Field(description="Problem priorities (1 = most urgent)."),
]
Operators = Annotated[
    list[str],
    QueryList(max_items=MAX_OPERATORS),
    Field(
        description="Operator codes (registry), e.g. `SBB,PAG`. OSM objects match through their own "
        "`operator` tag or their registry partner's."
    ),
]


class MapFilterQuery(QueryModel):
    """The map's filters without a box: those of a vector tile (a tile is its own box)."""

    status: Annotated[
        list[str], QueryList(vocabulary.MATCH_STATUSES), Field(description="Match status.")
    ] = []
    side: Annotated[
        list[str], QueryList(vocabulary.SIDES), Field(description="Which side: registry and/or `osm`.")
    ] = []
    method: Annotated[
        list[str],
        QueryList(vocabulary.MATCH_METHODS),
        Field(description="Match methods (a stop matches if any of its matches does)."),
    ] = []
    problem_type: Annotated[
        list[str],
        QueryList(vocabulary.PROBLEM_TYPES),
        Field(description="Stops with a problem of these types."),
    ] = []
    priority: Priorities = []
    operator: Operators = []
    transport: Annotated[
        list[str],
        QueryList(vocabulary.TRANSPORTS, upper=True),
        Field(description="Means of transport (ATLAS vocabulary, case-insensitive)."),
    ] = []

    def filters(self) -> StopFilters:
        """The service's filter object."""
        return StopFilters(
            bbox=getattr(self, "bbox", None),
            statuses=self.status,
            sides=self.side,
            methods=self.method,
            problem_types=self.problem_type,
            priorities=self.priority,
            operators=self.operator,
            transports=self.transport,
        )


class StopFilterQuery(MapFilterQuery):
    """Filters of `GET /stops` and of the stop and match exports."""

    bbox: Bbox = None


class ProblemFilterQuery(QueryModel):
    """Filters and order of `GET /problems`, the problem export and the fix exports."""

    type: Annotated[list[str], QueryList(vocabulary.PROBLEM_TYPES), Field(description="Problem types.")] = []
    priority: Priorities = []
    decided: Annotated[
        bool | None,
        QueryBool,
        Field(
            description="`true`: problems with a standing decision; `false`: without one, or whose "
            "decision the pipeline flagged for review."
        ),
    ] = None
    needs_review: Annotated[
        bool | None,
        QueryBool,
        Field(
            description="`true`: only problems whose decision a re-import sent back to review; "
            "`false`: none of those."
        ),
    ] = None
    operator: Operators = []
    bbox: Bbox = None
    stop_id: Annotated[str | None, QueryText(100), Field(description="Problems of this registry stop.")] = (
        None
    )
    source: RegistrySourceQuery = None
    sloid: Annotated[
        str | None, QueryText(100), Field(description="Old name of `stop_id` (ATLAS), still accepted.")
    ] = None
    osm_key: Annotated[
        str | None, OsmKeyParam, OSM_KEY_FIELD, Field(description="Problems of this OSM object.")
    ] = None
    sort: Annotated[str, QueryChoice(SORTS), Field(description="Sort order.")] = "priority"

    def filters(self) -> ProblemFilters:
        """The service's filter object."""
        return ProblemFilters(
            problem_types=self.type,
            priorities=self.priority,
            decided=self.decided,
            needs_review=self.needs_review,
            operators=self.operator,
            bbox=self.bbox,
            stop_id=self.stop_id or self.sloid,
            # `sloid` is the old name of `stop_id` and means ATLAS.
            source=self.source or (LEGACY_IDENTITY_SOURCE if self.sloid and not self.stop_id else None),
            osm_key=self.osm_key,
        )


def limit_field(default: int, maximum: int) -> Any:
    """The `limit` parameter's metadata: 1..maximum."""
    return Field(description=f"At most this many items (default {default}, at most {maximum}).")


# --- /stops ---------------------------------------------------------------------------------

STOPS_DEFAULT_LIMIT = 2000
STOPS_MAX_LIMIT = 10000


class StopListQuery(StopFilterQuery):
    """`GET /stops`."""

    limit: Annotated[int, QueryInt(1, STOPS_MAX_LIMIT), limit_field(STOPS_DEFAULT_LIMIT, STOPS_MAX_LIMIT)] = (
        STOPS_DEFAULT_LIMIT
    )


class NoQuery(QueryModel):
    """No query parameters: any is a 400."""


class StopProperties(ResponseModel):
    """A stop on the map."""

    kind: str = Field(description="`osm`, or the registry's source name (`atlas`).")
    key: str = Field(description="Registry stop id or OSM key (`node/123`).")
    name: str | None
    operator: str | None
    status: Literal["matched", "unmatched"]
    method: str | None
    methods: list[str]
    partner_keys: list[str] = Field(description="Keys of the matched objects on the other side.")
    distance_m: float | None
    problem_types: list[str]
    priority: int | None
    local_ref: str | None
    uic: str | None
    transports: list[str]


class PointGeometry(ResponseModel):
    """A GeoJSON point."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2, description="[lon, lat]")


class StopFeature(ResponseModel):
    """A stop as a GeoJSON feature."""

    type: Literal["Feature"]
    id: str = Field(description="`<kind>:<key>`")
    geometry: PointGeometry
    properties: StopProperties


class StopCollection(ResponseModel):
    """Stops in the box as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[StopFeature]
    count: int
    truncated: bool = Field(description="More stops matched than `limit`.")


class RegistryStop(ResponseModel):
    """A stop of an official registry (ATLAS, NaPTAN), keyed by (source, stop_id)."""

    source: str = Field(default="atlas", description="The registry plug-in: `atlas`, `naptan`.")
    stop_id: str = Field(description="The registry's own id: ATLAS sloid, NaPTAN AtcoCode.")
    dataset: str | None = Field(default=None, description="Which of the source's files.")
    code: str | None = Field(description="Second public identifier: UIC number, NaptanCode.")
    platform_code: str | None
    name: str | None
    operator_code: str | None
    operator_name: str | None
    modes: str | None = Field(description='ATLAS vocabulary, e.g. "BUS|TRAIN".')
    country_code: str | None
    region: str | None = Field(description="ATLAS canton, NaPTAN administrative area.")
    parent_id: str | None
    valid_from: str | None = Field(json_schema_extra={"format": "date"})
    valid_to: str | None = Field(json_schema_extra={"format": "date"})
    lat: float
    lon: float


class OsmStop(ResponseModel):
    """An OSM stop object."""

    osm_key: str
    osm_type: str
    osm_id: int
    version: int | None
    name: str | None
    uic_ref: str | None
    uic_name: str | None
    ifopt: str | None
    local_ref: str | None
    operator: str | None
    network: str | None
    public_transport: str | None
    railway: str | None
    highway: str | None
    amenity: str | None
    aerialway: str | None
    tags: dict[str, str]
    lat: float
    lon: float
    url: str = Field(description="The object on openstreetmap.org.")
    links: list[EditorLink] = Field(description="View and edit this object (website, iD, JOSM).")


class Match(ResponseModel):
    """A registry stop paired with an OSM object."""

    stop_id: str
    osm_key: str
    method: str
    distance_m: float
    name_score: float | None
    evidence: dict[str, Any] | None


class LineAtStop(ResponseModel):
    """A line serving a stop."""

    id: str
    direction_id: str | None
    mode: str | None
    ref: str | None
    name: str | None
    operator: str | None
    to: str | None
    url: str


class LinesAtStop(ResponseModel):
    """Lines serving the stop: OSM relations with one of its OSM objects as a member, GTFS route
    directions whose main itinerary resolves to one of its registry stops."""

    osm: list[LineAtStop]
    gtfs: list[LineAtStop]


class StopDetail(ResponseModel):
    """One stop with its counterparts, matches, problems, decisions, manual matches and lines."""

    atlas: RegistryStop | None = Field(description="The registry stop (null on an OSM object's page).")
    atlas_partners: list[RegistryStop] = Field(description="Further registry partners of an OSM object.")
    osm: list[OsmStop]
    links: list[EditorLink] = Field(
        description="Editor links for the stop: its OSM objects, or (a registry stop without any) the "
        "place and a JOSM `add_node` with the proposed tags."
    )
    matches: list[Match]
    problems: list[Problem]
    decisions: list[DecisionWithHistory]
    manual_matches: list[dict[str, Any]] = Field(
        description="Manual links and unlinks of the stop and its counterparts (deleted ones too), each "
        "with its `state` and history."
    )
    lines: LinesAtStop


# --- /search --------------------------------------------------------------------------------


class SearchQuery(QueryModel):
    """`GET /search`."""

    q: Annotated[
        str,
        QueryText(100),
        Field(
            min_length=1,
            description="A name (prefix or fuzzy, accents ignored), a registry stop id, a UIC number, "
            "or an OSM id (`node/123`, `n123`, `123`).",
        ),
    ]
    limit: Annotated[int, QueryInt(1, 100), limit_field(20, 100)] = 20


class SearchResult(ResponseModel):
    """A stop that fits the query."""

    kind: str = Field(description="`osm`, or the registry's source name.")
    key: str
    name: str | None
    operator: str | None
    uic: str | None
    lat: float
    lon: float
    score: float = Field(description="Identifier hit 3, name prefix 2 + similarity, fuzzy 0..1.")
    url: str = Field(description="The stop page.")
    match: Literal["identifier", "exact", "prefix", "fuzzy"] | None = Field(
        description="How the query found it (null: an OSM object listed under its registry stop only)."
    )
    municipality: str | None = Field(description='From the registry name ("Schaan, Bahnhof").')
    osm: list[SearchResult] = Field(
        default_factory=list,
        description="Registry results: their matched OSM objects (at most 20), which then do not appear "
        "at the top level.",
    )
    registry: str | None = Field(default=None, description="OSM results: the matched registry stop id.")
    method: str | None = Field(default=None, description="OSM objects under a registry stop: match method.")
    distance_m: float | None = Field(default=None, description="OSM objects under a registry stop.")


class SearchResults(ResponseModel):
    """Best matches first."""

    query: str
    results: list[SearchResult]


# --- /problems ------------------------------------------------------------------------------


class ProblemListQuery(ProblemFilterQuery):
    """`GET /problems`."""

    cursor: Annotated[
        str | None, QueryText(500), Field(description="`next_cursor` of the previous page.")
    ] = None
    limit: Annotated[int, QueryInt(1, 500), limit_field(50, 500)] = 50


class ProblemPage(Page):
    """One page of the problem queue."""

    problems: list[Problem]


# --- /decisions -----------------------------------------------------------------------------


class DecisionListQuery(QueryModel):
    """`GET /decisions`."""

    problem_identity: Annotated[
        str | None,
        QueryText(MAX_IDENTITY_LENGTH),
        Field(description="The decision on this problem (a list of zero or one)."),
    ] = None
    decision: Annotated[
        list[str], QueryList(vocabulary.DECISIONS), Field(description="Only these decisions.")
    ] = []
    status: Annotated[
        list[str],
        QueryList(vocabulary.DECISION_STATUSES),
        Field(description="Only decisions in these states."),
    ] = []
    author: Annotated[str | None, QueryText(80), Field(description="Only decisions by this user.")] = None
    cursor: Annotated[int | None, QueryInt(1, INT4_MAX), Field(description="`next_cursor`.")] = None
    limit: Annotated[int, QueryInt(1, 500), limit_field(50, 500)] = 50


class DecisionPage(Page):
    """Decisions, newest first."""

    decisions: list[DecisionWithHistory]


class DecisionInput(BodyModel):
    """Create or change the decision on a problem."""

    problem_identity: Annotated[str, BodyText(MAX_IDENTITY_LENGTH, min_length=1)]
    decision: Literal[vocabulary.DECISIONS]  # type: ignore[valid-type]  # the one list of decisions
    note: Annotated[str, BodyText(MAX_DECISION_NOTE)] = ""


class DecisionResult(ResponseModel):
    """The decision as stored."""

    decision: Decision
    created: bool
    manual_match: dict[str, Any] | None = Field(
        default=None,
        description="`wrong_match` only: the manual unlink it saved, with its `state` (`pending` until "
        "the next run reads it).",
    )


# --- /stats ---------------------------------------------------------------------------------


class StatsTotals(ResponseModel):
    """Counts of the current snapshot."""

    registry_stops: int
    osm_stops: int
    matches: int
    matched_atlas: int
    unmatched_atlas: int
    matched_osm: int
    unmatched_osm: int
    problems: int
    decided: int
    undecided: int


class MethodCount(ResponseModel):
    """Matches of one method."""

    method: str
    count: int
    mean_distance_m: float | None
    median_distance_m: float | None


class DistanceBucket(ResponseModel):
    """Matches within a distance range."""

    min_m: float
    max_m: float | None
    count: int


class ProblemTypeCount(ResponseModel):
    """Problems of one type."""

    problem_type: str
    count: int
    decided: int
    undecided: int
    by_priority: dict[str, int]


class OperatorCount(ResponseModel):
    """One operator's figures."""

    operator: str | None
    registry_stops: int
    matched: int
    problems: int


class ModeCount(ResponseModel):
    """One means of transport's figures."""

    transport: str
    registry_stops: int
    matched: int


class DecisionCount(ResponseModel):
    """Decisions of one kind and state."""

    decision: str
    status: str
    count: int


class Stats(ResponseModel):
    """Counts per match method, problem type and priority, operator, means of transport; last runs."""

    totals: StatsTotals
    match_methods: list[MethodCount]
    distance_buckets: list[DistanceBucket]
    problem_types: list[ProblemTypeCount]
    operators: list[OperatorCount]
    modes: list[ModeCount]
    decisions: list[DecisionCount]
    last_run: Run | None
    last_successful_run: Run | None


# --- /exports -------------------------------------------------------------------------------


class ExportQuery(StopFilterQuery):
    """`GET /exports/{dataset}.{fmt}`: stops and matches take the filters of `GET /stops`, problems
    those of `GET /problems` (without paging). A filter of the other kind is a 400."""

    # The problem filters that `GET /stops` does not have (`priority`, `operator`, `bbox` are shared).
    type: Annotated[list[str], QueryList(vocabulary.PROBLEM_TYPES), Field(description="Problems only.")] = []
    decided: Annotated[bool | None, QueryBool, Field(description="Problems only.")] = None
    needs_review: Annotated[bool | None, QueryBool, Field(description="Problems only.")] = None
    stop_id: Annotated[str | None, QueryText(100), Field(description="Problems only.")] = None
    source: Annotated[
        str | None, QueryText(40), Field(description="Problems only (registry of `stop_id`).")
    ] = None
    sloid: Annotated[str | None, QueryText(100), Field(description="Problems only (old `stop_id`).")] = None
    osm_key: Annotated[str | None, OsmKeyParam, OSM_KEY_FIELD, Field(description="Problems only.")] = None
    sort: Annotated[str, QueryChoice(SORTS), Field(description="Problems only.")] = "priority"
    bom: Annotated[
        bool | None,
        QueryBool,
        Field(
            description="CSV only. By default a CSV is Excel-friendly: UTF-8 with a byte-order mark "
            '(without it Excel shows "TrÃ¶xlegass" for "Tröxlegass"). `false` leaves it out; with '
            "GeoJSON the parameter is a 400."
        ),
    ] = None

    def problem_query(self) -> ProblemFilterQuery:
        """The problem filters of this request."""
        # Already parsed: constructed, not validated again.
        return ProblemFilterQuery.model_construct(
            **{name: getattr(self, name) for name in ProblemFilterQuery.model_fields}
        )


PROBLEM_ONLY = frozenset(ExportQuery.model_fields) - frozenset(StopFilterQuery.model_fields) - {"bom"}
STOP_ONLY = frozenset(StopFilterQuery.model_fields) - frozenset(ProblemFilterQuery.model_fields)


class FeedQuery(QueryModel):
    """`GET /feeds/problems.atom` (a page route, but the same query rules)."""

    operator: Annotated[str | None, QueryText(60), Field(description="Only this operator's problems.")] = None
    region: Annotated[str | None, QueryText(4), Field(description="Only this region (canton).")] = None
    bbox: Bbox = None
