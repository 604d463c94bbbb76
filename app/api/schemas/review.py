"""The review workflow: manual matches, "why not matched", fix exports, registry report, changes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from app.api.schemas.base import (
    INT4_MAX,
    OSM_KEY_FIELD,
    OSM_KEY_PATTERN,
    STOP_ID_FIELD,
    STOP_ID_PATTERN,
    BodyMatch,
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
from app.api.schemas.common import EditorLink, ManualMatch, Page
from app.api.schemas.stops import ProblemFilterQuery, RegistrySourceQuery, limit_field
from app.services import changes as change_service
from app.services import manual_matches as manual_service

# --- manual matches -------------------------------------------------------------------------

MatchIdPath = Annotated[int, QueryInt(1, INT4_MAX)]


class ManualMatchListQuery(QueryModel):
    """`GET /manual-matches`."""

    stop_id: Annotated[
        str | None, StopIdParam, STOP_ID_FIELD, Field(description="Of this registry stop.")
    ] = None
    source: RegistrySourceQuery = None
    sloid: Annotated[
        str | None, StopIdParam, STOP_ID_FIELD, Field(description="Old name of `stop_id` (ATLAS).")
    ] = None
    osm_key: Annotated[str | None, OsmKeyParam, OSM_KEY_FIELD, Field(description="Of this OSM object.")] = (
        None
    )
    status: Annotated[
        list[str], QueryList(manual_service.STATUSES), Field(description="Default: active,orphaned.")
    ] = []
    cursor: Annotated[int | None, QueryInt(1, INT4_MAX), Field(description="`next_cursor`.")] = None
    limit: Annotated[int, QueryInt(1, 1000), limit_field(100, 1000)] = 100


class ManualMatchInput(BodyModel):
    """Link a registry stop to an OSM object (`link`), or forbid the pair (`unlink`). `sloid` is
    accepted as the old name of `stop_id` and means `source=atlas`."""

    source: Annotated[str | None, BodyText(40)] = None
    stop_id: Annotated[
        str, BodyText(100, min_length=1), BodyMatch(STOP_ID_PATTERN, "is not a valid registry stop id")
    ]
    osm_key: Annotated[
        str,
        BodyText(40, min_length=1),
        BodyMatch(OSM_KEY_PATTERN, "must look like node/123, way/45 or relation/6"),
    ]
    action: Literal["link", "unlink"]
    note: Annotated[str, BodyText(manual_service.MAX_NOTE_LENGTH)] = ""

    @model_validator(mode="before")
    @classmethod
    def _old_sloid(cls, data: Any) -> Any:
        if isinstance(data, dict) and "stop_id" not in data and "sloid" in data:
            rest = {k: v for k, v in data.items() if k != "sloid"}
            return {**rest, "stop_id": data["sloid"], "source": data.get("source") or "atlas"}
        return data


class ManualMatchOne(ResponseModel):
    """One manual match with its history."""

    manual_match: ManualMatch


class ManualMatchSaved(ManualMatchOne):
    """The link as stored; it applies from the next pipeline run."""

    created: bool
    applies: str


class ManualMatchPage(Page):
    """Manual links and unlinks, newest first."""

    manual_matches: list[ManualMatch]


# --- why not matched ------------------------------------------------------------------------


class CandidateSubject(ResponseModel):
    """The stop whose neighbours are explained."""

    kind: str
    key: str
    name: str | None
    lat: float
    lon: float
    links: list[EditorLink] = Field(default_factory=list)


class Candidate(ResponseModel):
    """A neighbour, with per-criterion evidence and the rule that rejected it (null: matched)."""

    rejected_by: str | None
    rejected_reason: str | None
    criteria: dict[str, Any]


class Candidates(ResponseModel):
    """Why not matched: the stops of the other side near this one."""

    subject: CandidateSubject
    matched: list[Any]
    radius_m: float
    candidates: list[Candidate]


# --- fix exports ----------------------------------------------------------------------------


class FixQuery(ProblemFilterQuery):
    """The problem filters plus the fix options of the osmChange file and its report."""

    overwrite: Annotated[
        bool | None, QueryBool, Field(description="Overwrite existing tag values (never another stop's id).")
    ] = None
    create: Annotated[
        bool | None,
        QueryBool,
        Field(description="Propose new nodes for registry stops missing in OSM (default true)."),
    ] = None
    move: Annotated[
        bool | None,
        QueryBool,
        Field(description="Also move platform and station nodes (not in a way) to the registry position."),
    ] = None


class MapRouletteQuery(ProblemFilterQuery):
    """The problem filters plus the options of the MapRoulette challenge and its report."""

    overwrite: Annotated[
        bool | None, QueryBool, Field(description="Overwrite existing tag values (never another stop's id).")
    ] = None
    create: Annotated[
        bool | None,
        QueryBool,
        Field(description="Propose new stops for registry stops missing in OSM (default true)."),
    ] = None
    fixable_only: Annotated[
        bool | None, QueryBool, Field(description="Only problems with a fix (default true).")
    ] = None


class FixCounts(ResponseModel):
    """What the file writes and withholds."""

    modified: int
    created: int
    refused: int
    moves_refused: int
    not_created: int
    addressed: int
    skipped_ways: int
    skipped_no_version: int


class FixReport(ResponseModel):
    """What the export with the same parameters writes, and what it withholds and why."""

    generated_at: str
    counts: FixCounts
    modified: list[dict[str, Any]]
    created: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    moves_refused: list[dict[str, Any]]
    not_created: list[dict[str, Any]]
    addressed: list[str]
    skipped_ways: list[str]
    skipped_no_version: list[str]


FIX_COUNT_HEADERS = {
    f"X-StopSync-{name}": {"schema": {"type": "integer"}, "description": description}
    for name, description in (
        ("Modified", "Objects modified."),
        ("Created", "New nodes."),
        ("Refused", "Pairs refused: an identifier names another registry stop or contradicts the registry."),
        ("Moves-Refused", "Moves withheld (stop positions, nodes of ways, membership unknown)."),
        ("Not-Created", "Missing stops not created (OSM has the number, a stop is near, no tagging)."),
        ("Addressed", "Problems the file removes entirely once applied."),
        ("Skipped-Ways", "Ways left out of the osmChange file (use MapRoulette)."),
        ("Skipped-No-Version", "Objects without a version left out."),
    )
}
_STRING = {"schema": {"type": "string"}}


def fix_file(media_type: str, description: str) -> dict[str, Any]:
    """An attachment with the fix counts in headers (no schema: osmChange XML, RFC 7464 lines)."""
    return {
        "description": description,
        "content": {media_type: {}},
        "headers": {"Content-Disposition": _STRING, **FIX_COUNT_HEADERS, "Link": _STRING},
    }


NOTHING_TO_WRITE = {
    "description": "Nothing to write: the counts say what was withheld, X-StopSync-Reason why.",
    "headers": {**FIX_COUNT_HEADERS, "X-StopSync-Reason": _STRING, "Link": _STRING},
}


# --- registry report ------------------------------------------------------------------------


class RegistryReportQuery(QueryModel):
    """`GET /reports/registry-errors.{fmt}`."""

    operator: Annotated[str | None, QueryText(60), Field(description="Only this operator's stops.")] = None
    bom: Annotated[
        bool | None, QueryBool, Field(description="CSV only: `false` leaves out the byte-order mark.")
    ] = None


class RegistryReportOperator(ResponseModel):
    """One operator's suspected registry errors."""

    operator_code: str | None
    count: int
    by_confidence: dict[str, int]
    items: list[dict[str, Any]]


class RegistryReport(ResponseModel):
    """Suspected registry errors per operator, with evidence and links."""

    generated_at: str
    operator: str | None
    count: int
    operators: list[RegistryReportOperator]


# --- changes and trends ---------------------------------------------------------------------


class ChangesQuery(QueryModel):
    """`GET /changes`."""

    run: Annotated[int | None, QueryInt(1, INT4_MAX), Field(description="Run id (default: latest).")] = None
    change: Annotated[
        str | None, QueryChoice(change_service.CHANGE_KINDS), Field(description="Only this kind.")
    ] = None
    type: Annotated[list[str], QueryList(), Field(description="Problem types.")] = []
    operator: Annotated[list[str], QueryList(), Field(description="Operators.")] = []
    priority: Annotated[list[int], QueryIntList(1, 3), Field(description="Priorities.")] = []
    cursor: Annotated[int | None, QueryInt(1, 2**62), Field(description="`next_cursor`.")] = None
    limit: Annotated[int, QueryInt(1, 5000), limit_field(200, 5000)] = 200


class RunChanges(Page):
    """The problems one run made appear and resolved."""

    run: dict[str, Any] | None
    previous_run_id: int | None
    totals: dict[str, Any]
    changes: list[dict[str, Any]]


class TrendsQuery(QueryModel):
    """`GET /trends`."""

    by: Annotated[str, QueryChoice(change_service.TREND_DIMENSIONS), Field(description="Dimension.")] = "type"
    runs: Annotated[int, QueryInt(1, 365), Field(description="Last N runs.")] = 30
    series: Annotated[int, QueryInt(1, 50), Field(description="At most this many series.")] = 8


class Trends(ResponseModel):
    """Appeared, resolved and open problems per run, by problem type or operator."""

    by: str
    runs: list[dict[str, Any]]
    series: list[dict[str, Any]]
    totals: dict[str, Any]
