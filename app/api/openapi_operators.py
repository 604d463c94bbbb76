"""OpenAPI paths of the registry steward's view (app/api/operators.py). Merged into the document by
`app.api.openapi`."""

from __future__ import annotations

from typing import Any

from app.api.openapi import (
    ANY_OBJECT,
    INT,
    NUM,
    STR,
    array,
    errors,
    json_response,
    nullable,
    obj,
    operation,
    query,
)
from app.services import operators as operator_service

_COUNTS = obj({"open": INT, "undecided": INT}, required=["open", "undecided"])

OPERATOR = obj(
    {
        "operator": nullable(STR),
        "operator_name": nullable(STR),
        "registry_stops": INT,
        "matched": INT,
        "unmatched": INT,
        "matched_share": nullable(NUM),
        "problems": obj(
            {
                "open": INT,
                "undecided": INT,
                "by_type": {"type": "object", "additionalProperties": _COUNTS},
                "by_priority": {"type": "object", "additionalProperties": _COUNTS},
            },
            required=["open", "undecided", "by_type", "by_priority"],
        ),
        "distance_m": obj(
            {"matches": INT, "median": nullable(NUM), "p90": nullable(NUM), "max": nullable(NUM)},
            required=["matches", "median", "p90", "max"],
        ),
        "bbox": nullable(array(NUM, minItems=4, maxItems=4)),
        "trend": array(
            obj(
                {"run_id": INT, "open": INT, "appeared": INT, "resolved": INT},
                required=["run_id", "open", "appeared", "resolved"],
            )
        ),
        "change_last_run": obj({"appeared": INT, "resolved": INT}, required=["appeared", "resolved"]),
        "links": nullable(ANY_OBJECT),
    },
    required=[
        "operator",
        "registry_stops",
        "matched",
        "matched_share",
        "problems",
        "distance_m",
        "trend",
        "change_last_run",
        "links",
    ],
    description="One registry operator. `operator` null: stops and problems without an operator "
    "(OSM objects nobody matched, for one); they have no `links`, since no filter selects them.",
)


def paths() -> dict[str, Any]:
    """GET /operators."""
    return {
        "/operators": {
            "get": operation(
                "Figures per registry operator, for the registry's stewards",
                "stats",
                {
                    "200": json_response(
                        "Operators, most registry stops first.",
                        obj(
                            {
                                "operators": array(OPERATOR),
                                "count": INT,
                                "runs": array(
                                    obj(
                                        {
                                            "id": INT,
                                            "finished_at": nullable(STR),
                                            "started_at": nullable(STR),
                                        },
                                        required=["id"],
                                    )
                                ),
                                "totals": ANY_OBJECT,
                            },
                            required=["operators", "count", "runs", "totals"],
                        ),
                    ),
                    **errors(400),
                },
                parameters=[
                    query(
                        "q",
                        {"type": "string", "maxLength": 100},
                        "Only operators whose abbreviation or name contains this (case-insensitive).",
                    ),
                    query(
                        "runs",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": operator_service.MAX_TREND_RUNS,
                            "default": operator_service.DEFAULT_TREND_RUNS,
                        },
                        "How many of the last runs (that changed any problem) each trend covers.",
                    ),
                ],
                description="Per operator of the registry: its stops, how many are matched, its "
                "problems by type and by priority (open = in the current data, undecided = no "
                "standing decision), the distances of its matches (median, 90th percentile, maximum), "
                "its open problems after each of the last `runs` runs (walked back from today's count "
                "through the problems each run made appear or resolved), and links that open exactly "
                "those stops: the map (filtered and framed), the review queue, the registry report and "
                "the exports.",
                operation_id="listOperators",
            )
        }
    }
