"""OpenAPI paths of the review workflow (app/api/review.py): manual matches, candidates, fix exports,
the registry report, changes and trends. Merged into the document by `app.api.openapi`.

Response bodies are described by their top-level keys only; the route-coverage test keeps the set
of paths and methods true.
"""

from __future__ import annotations

from typing import Any

from app.api.openapi import (
    ANY_OBJECT,
    BOOL,
    CSV_BOM,
    PROBLEM_FILTERS,
    STR,
    array,
    csv_of,
    errors,
    json_response,
    limit_param,
    nullable,
    obj,
    operation,
    path_param,
    query,
)

MANUAL_MATCH = {
    "type": "object",
    "description": "A manual link or unlink with its history. `status` is what is stored (active, "
    "orphaned, deleted); `state` what it means now: `pending` (changed after the last successful run "
    "started: applies from the next one), `active` (applied), `not_applied` (read, but its OSM object "
    "went to another manual link), `orphaned`, `deleted`.",
}
OSM_ID = path_param("osm_id", {"type": "integer", "minimum": 1}, "OSM id.")
OSM_TYPE = path_param("osm_type", {"type": "string", "enum": ["node", "way", "relation"]}, "OSM type.")
MATCH_ID = path_param("match_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "Manual match id.")


def _attachment(media_type: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        # No schema: line-delimited GeoJSON and osmChange XML are not single JSON documents.
        "content": {media_type: {}},
        "headers": {"Content-Disposition": {"schema": STR}},
    }


FIX_OPTIONS = [
    query(
        "overwrite", {"type": "boolean"}, "Overwrite existing tag values (never another stop's identifier)."
    ),
    query(
        "create", {"type": "boolean"}, "Propose new nodes for registry stops missing in OSM (default true)."
    ),
]
MOVE_OPTION = query(
    "move",
    {"type": "boolean"},
    "Also move platform and station nodes (not in a way) to the registry position.",
)
FIXABLE_ONLY = query("fixable_only", {"type": "boolean"}, "Only problems with a fix (default true).")
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
FIX_REPORT = obj(
    {
        "generated_at": STR,
        "counts": ANY_OBJECT,
        "modified": array(ANY_OBJECT),
        "created": array(ANY_OBJECT),
        "refused": array(ANY_OBJECT),
        "moves_refused": array(ANY_OBJECT),
        "not_created": array(ANY_OBJECT),
        "addressed": array(STR),
        "skipped_ways": array(STR),
        "skipped_no_version": array(STR),
    }
)


def _fix_attachment(media_type: str, description: str) -> dict[str, Any]:
    response = _attachment(media_type, description)
    response["headers"] = {**response["headers"], **FIX_COUNT_HEADERS, "Link": {"schema": STR}}
    return response


def _nothing_to_write() -> dict[str, Any]:
    return {
        "description": "Nothing to write: the counts say what was withheld, X-StopSync-Reason why.",
        "headers": {**FIX_COUNT_HEADERS, "X-StopSync-Reason": {"schema": STR}, "Link": {"schema": STR}},
    }


def paths() -> dict[str, Any]:
    return {
        "/manual-matches": {
            "get": operation(
                "Manual links and unlinks, newest first",
                "review",
                {
                    "200": json_response(
                        "One page.",
                        obj({"manual_matches": array(MANUAL_MATCH), "next_cursor": nullable(STR)}),
                    ),
                    **errors(400),
                },
                parameters=[
                    query("stop_id", {"type": "string", "maxLength": 100}, "Of this registry stop."),
                    query("osm_key", {"type": "string", "maxLength": 40}, "Of this OSM object."),
                    query("status", csv_of(("active", "orphaned", "deleted")), "Default: active,orphaned."),
                    query(
                        "cursor", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "`next_cursor`."
                    ),
                    limit_param(100, 1000),
                ],
                operation_id="listManualMatches",
            ),
            "post": operation(
                "Link a registry stop to an OSM object, or forbid the pair",
                "review",
                {
                    "201": json_response("Created.", obj({"manual_match": MANUAL_MATCH, "created": BOOL})),
                    "200": json_response("Changed.", obj({"manual_match": MANUAL_MATCH, "created": BOOL})),
                    **errors(400, 401, 403, 404, 422),
                },
                body=obj(
                    {
                        "stop_id": {"type": "string", "maxLength": 100},
                        "osm_key": {"type": "string", "maxLength": 40},
                        "action": {"type": "string", "enum": ["link", "unlink"]},
                        "note": STR,
                    },
                    required=["stop_id", "osm_key", "action"],
                    additionalProperties=False,
                ),
                role="editor",
                description="Applied as the first matching stage from the next pipeline run on.",
                operation_id="saveManualMatch",
            ),
        },
        "/manual-matches/{match_id}": {
            "get": operation(
                "One manual match with its history",
                "review",
                {"200": json_response("The match.", obj({"manual_match": MANUAL_MATCH})), **errors(404)},
                parameters=[MATCH_ID],
                operation_id="getManualMatch",
            ),
            "delete": operation(
                "Stop applying a manual match (kept as history)",
                "review",
                {
                    "200": json_response("Deleted.", obj({"manual_match": MANUAL_MATCH})),
                    **errors(401, 403, 404),
                },
                parameters=[MATCH_ID],
                role="editor",
                operation_id="deleteManualMatch",
            ),
        },
        "/stops/atlas/{stop_id}/candidates": {
            "get": operation(
                "Why not matched: OSM objects near a registry stop, with the rule that rejected each",
                "review",
                {"200": json_response("Candidates.", ANY_OBJECT), **errors(400, 404)},
                parameters=[
                    path_param(
                        "stop_id",
                        {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$"},
                        "Registry id.",
                    )
                ],
                operation_id="getAtlasCandidates",
            )
        },
        "/stops/osm/{osm_type}/{osm_id}/candidates": {
            "get": operation(
                "Why not matched: registry stops near an OSM object, with the rule that rejected each",
                "review",
                {"200": json_response("Candidates.", ANY_OBJECT), **errors(400, 404)},
                parameters=[OSM_TYPE, OSM_ID],
                operation_id="getOsmCandidates",
            )
        },
        "/fixes/osmchange.osc": {
            "get": operation(
                "osmChange file (JOSM, osmium) with the fixes and new stops the filtered problems suggest",
                "review",
                {
                    "200": _fix_attachment("application/vnd.osm.osmchange+xml", "osmChange 0.6."),
                    "204": _nothing_to_write(),
                    **errors(400),
                },
                parameters=[*PROBLEM_FILTERS, *FIX_OPTIONS, MOVE_OPTION],
                operation_id="getOsmChange",
            )
        },
        "/fixes/osmchange.report.json": {
            "get": operation(
                "What the osmChange file writes, and what it refuses or leaves out and why",
                "review",
                {"200": json_response("The report.", FIX_REPORT), **errors(400)},
                parameters=[*PROBLEM_FILTERS, *FIX_OPTIONS, MOVE_OPTION],
                operation_id="getOsmChangeReport",
            )
        },
        "/fixes/maproulette.geojson": {
            "get": operation(
                "MapRoulette cooperative challenge (line-by-line GeoJSON, RFC 7464 records)",
                "review",
                {
                    "200": _fix_attachment("application/geo+json", "One task per line."),
                    "204": _nothing_to_write(),
                    **errors(400),
                },
                parameters=[*PROBLEM_FILTERS, *FIX_OPTIONS, FIXABLE_ONLY],
                operation_id="getMapRoulette",
            )
        },
        "/fixes/maproulette.report.json": {
            "get": operation(
                "What the MapRoulette file proposes, and what it refuses or leaves out and why",
                "review",
                {"200": json_response("The report.", FIX_REPORT), **errors(400)},
                parameters=[*PROBLEM_FILTERS, *FIX_OPTIONS, FIXABLE_ONLY],
                operation_id="getMapRouletteReport",
            )
        },
        "/reports/registry-errors.{fmt}": {
            "get": operation(
                "Suspected registry errors per operator, for the registry's stewards",
                "review",
                {
                    "200": {
                        "description": "The report.",
                        "content": {
                            "application/json": {"schema": ANY_OBJECT},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(400, 404),
                },
                parameters=[
                    path_param("fmt", {"type": "string", "enum": ["csv", "json"]}, "Format."),
                    query("operator", {"type": "string", "maxLength": 60}, "One operator abbreviation."),
                    CSV_BOM,
                ],
                description="`registry_url` links each stop's page in the registry (setting "
                "`REGISTRY_STOP_URL`, by default ATLAS's service-point directory by the stop's number).",
                operation_id="getRegistryErrors",
            )
        },
        "/changes": {
            "get": operation(
                "Problems a run made appear and resolved",
                "review",
                {"200": json_response("Changes of one run.", ANY_OBJECT), **errors(400, 404)},
                parameters=[
                    query(
                        "run",
                        {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        "Run id (default: latest).",
                    ),
                    query("change", {"type": "string", "enum": ["appeared", "resolved"]}, "Only this kind."),
                    query("type", array({"type": "string", "maxLength": 200}), "Problem types."),
                    query("operator", array({"type": "string", "maxLength": 200}), "Operators."),
                    query("priority", csv_of((1, 2, 3), "integer"), "Priorities."),
                    query("cursor", {"type": "integer", "minimum": 1}, "`next_cursor`."),
                    limit_param(200, 5000),
                ],
                operation_id="getChanges",
            )
        },
        "/trends": {
            "get": operation(
                "Appeared, resolved and open problems per run, by type or operator",
                "review",
                {"200": json_response("Series.", ANY_OBJECT), **errors(400)},
                parameters=[
                    query(
                        "by",
                        {"type": "string", "enum": ["type", "operator"], "default": "type"},
                        "Dimension.",
                    ),
                    query(
                        "runs",
                        {"type": "integer", "minimum": 1, "maximum": 365, "default": 30},
                        "Last N runs.",
                    ),
                    query(
                        "series", {"type": "integer", "minimum": 1, "maximum": 50, "default": 8}, "Series."
                    ),
                ],
                operation_id="getTrends",
            )
        },
    }
