"""Filters shared by the list endpoints and the exports, parsed and validated from the query string."""

from __future__ import annotations

from app.api import params
from app.services import vocabulary
from app.services.problems import SORTS, ProblemFilters
from app.services.stops import StopFilters

STOP_FILTER_PARAMS = ("bbox", "status", "side", "method", "problem_type", "priority", "operator", "transport")
PROBLEM_FILTER_PARAMS = (
    "type",
    "priority",
    "decided",
    "needs_review",
    "operator",
    "bbox",
    "stop_id",
    "osm_key",
    "sort",
)
# The bounding box of the problem filter is optional; a whole-country box is fine, but not the planet
# at a time for the map (that is what the exports are for).
MAX_OPERATORS = 50


def _transports() -> list[str]:
    values = [value.upper() for value in params.choices("transport")]
    unknown = [value for value in values if value not in vocabulary.TRANSPORTS]
    if unknown:
        raise params.invalid(
            "transport",
            f"transport must be a comma-separated list of {', '.join(vocabulary.TRANSPORTS)}",
            unknown=unknown,
            allowed=list(vocabulary.TRANSPORTS),
        )
    return values


def _operators() -> list[str]:
    values = params.choices("operator")
    if len(values) > MAX_OPERATORS:
        raise params.invalid("operator", f"at most {MAX_OPERATORS} operators at once")
    return values


def stop_filters() -> StopFilters:
    """Filters of GET /stops and the stop/match exports."""
    box = params.bbox()
    return StopFilters(
        bbox=box.as_list() if box else None,
        statuses=params.choices("status", vocabulary.MATCH_STATUSES),
        sides=params.choices("side", vocabulary.SIDES),
        methods=params.choices("method", vocabulary.MATCH_METHODS),
        problem_types=params.choices("problem_type", vocabulary.PROBLEM_TYPES),
        priorities=params.integers("priority", minimum=1, maximum=max(vocabulary.PRIORITIES)),
        operators=_operators(),
        transports=_transports(),
    )


def problem_filters() -> tuple[ProblemFilters, str]:
    """Filters and sort order of GET /problems and the problem export."""
    box = params.bbox()
    osm_key = params.text("osm_key", max_length=40)
    filters = ProblemFilters(
        problem_types=params.choices("type", vocabulary.PROBLEM_TYPES),
        priorities=params.integers("priority", minimum=1, maximum=max(vocabulary.PRIORITIES)),
        decided=params.boolean("decided"),
        needs_review=params.boolean("needs_review"),
        operators=_operators(),
        bbox=box.as_list() if box else None,
        stop_id=params.text("stop_id", max_length=100),
        osm_key=params.osm_key(osm_key) if osm_key else None,
    )
    sort = params.choice("sort", SORTS, default="priority")
    assert sort is not None
    return filters, sort
