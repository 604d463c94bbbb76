"""The review workflow's API: manual matches, "why not matched", fix exports, registry report, changes.

| method | path                                              | who    |
|--------|---------------------------------------------------|--------|
| POST   | /manual-matches                                   | editor |
| GET    | /manual-matches, /manual-matches/<id>             | anyone |
| DELETE | /manual-matches/<id>                              | editor |
| GET    | /stops/<source>/<stop_id>/candidates              | anyone |
| GET    | /stops/osm/<type>/<id>/candidates                 | anyone |
| GET    | /fixes/osmchange.osc, /fixes/maproulette.geojson  | anyone |
| GET    | /fixes/{osmchange,maproulette}.report.json        | anyone |
| GET    | /reports/registry-errors.<csv|json>               | anyone |
| GET    | /changes, /trends                                 | anyone |
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Response, current_app, jsonify, request, stream_with_context

from app.api import bp
from app.api.schemas.endpoint import endpoint, invalid_parameter, validation_failed
from app.api.schemas.review import (
    NOTHING_TO_WRITE,
    Candidates,
    ChangesQuery,
    FixQuery,
    FixReport,
    ManualMatchInput,
    ManualMatchListQuery,
    ManualMatchOne,
    ManualMatchPage,
    ManualMatchSaved,
    MapRouletteQuery,
    MatchIdPath,
    RegistryReport,
    RegistryReportQuery,
    RunChanges,
    Trends,
    TrendsQuery,
    fix_file,
)
from app.api.schemas.stops import (
    PATH_DOCS,
    NoQuery,
    OsmIdPath,
    OsmTypePath,
    ProblemFilterQuery,
    SourcePath,
    StopIdPath,
)
from app.api.stops import require_registry
from app.auth import current_user, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import candidates as candidate_service
from app.services import changes as change_service
from app.services import fix_exports
from app.services import manual_matches as manual_service
from app.services import problems as problem_service
from app.services.problems import ProblemFilters
from pipeline.records import LEGACY_IDENTITY_SOURCE


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


def _base_url() -> str:
    # Configured, never the request's Host / X-Forwarded-Host: a forged header must not put an
    # attacker's links into a report or a MapRoulette challenge that others download.
    return current_app.config["SETTINGS"].PUBLIC_BASE_URL.rstrip("/")


def _attachment(body: Any, mimetype: str, filename: str, **headers: str) -> Response:
    # content_type, not mimetype: werkzeug would add a second `charset` to "text/csv; charset=utf-8".
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    for name, value in headers.items():
        response.headers[name] = value
    return response


MATCH_PATH = {"match_id": MatchIdPath}
MATCH_DOCS = {"match_id": "Manual match id."}

# ---------------------------------------------------------------------------------------------
# Manual matches
# ---------------------------------------------------------------------------------------------


@bp.post("/manual-matches")
@require_role("editor")
@limiter.limit(_write_limit)
@endpoint(
    "saveManualMatch",
    "review",
    ok=ManualMatchSaved,
    also={201: ManualMatchSaved},
    errors=(401, 403, 404),
    role="editor",
)
def save_manual_match(json: ManualMatchInput) -> tuple[dict[str, Any], int]:
    """Link a registry stop to an OSM object, or forbid the pair

    `source` (the registry, e.g. `atlas`) may be left out when the id names one stop; `sloid` is the
    old name of `stop_id` and means `source=atlas`. Applied as the first matching stage from the next
    pipeline run on.
    """
    try:
        row, created = manual_service.save_manual_match(
            json.stop_id, json.osm_key, json.action, json.note.strip(), current_user(), source=json.source
        )
    except manual_service.ManualMatchNotFoundError as exc:
        raise ApiError(
            404,
            "not_found",
            "The stop or object is not in the current data.",
            {"missing": str(exc).split(", ")},
        ) from None
    except manual_service.ManualMatchError as exc:
        raise validation_failed("action", str(exc)) from None
    db.session.commit()
    (payload,) = manual_service.as_dicts([row])
    body = {"manual_match": payload, "created": created, "applies": "from the next pipeline run"}
    return body, 201 if created else 200


@bp.get("/manual-matches")
@endpoint("listManualMatches", "review", ok=ManualMatchPage)
def list_manual_matches(query: ManualMatchListQuery) -> dict[str, Any]:
    """Manual links and unlinks, newest first

    `status` defaults to active,orphaned.
    """
    rows, next_before = manual_service.list_manual_matches(
        stop_id=query.stop_id or query.sloid,
        # `sloid` is the old name of `stop_id` and means ATLAS.
        source=query.source or (LEGACY_IDENTITY_SOURCE if query.sloid and not query.stop_id else None),
        osm_key=query.osm_key,
        statuses=query.status or ["active", "orphaned"],
        limit=query.limit,
        before_id=query.cursor,
    )
    return {
        "manual_matches": manual_service.as_dicts(rows),
        "next_cursor": str(next_before) if next_before else None,
    }


@bp.get("/manual-matches/<int:match_id>")
@endpoint("getManualMatch", "review", ok=ManualMatchOne, errors=(404,), path=MATCH_PATH, path_docs=MATCH_DOCS)
def get_manual_match(match_id: int, query: NoQuery) -> dict[str, Any]:
    """One manual match with its history"""
    try:
        row = manual_service.get_manual_match(match_id)
    except manual_service.ManualMatchNotFoundError:
        raise ApiError(404, "not_found", f"No manual match {match_id}.") from None
    (payload,) = manual_service.as_dicts([row])
    return {"manual_match": payload}


@bp.delete("/manual-matches/<int:match_id>")
@require_role("editor")
@limiter.limit(_write_limit)
@endpoint(
    "deleteManualMatch",
    "review",
    ok=ManualMatchOne,
    errors=(401, 403, 404),
    role="editor",
    path=MATCH_PATH,
    path_docs=MATCH_DOCS,
)
def delete_manual_match(match_id: int) -> dict[str, Any]:
    """Stop applying a manual match (kept as history)

    From the next run on; the row stays, with status `deleted`.
    """
    try:
        row = manual_service.delete_manual_match(match_id, current_user())
    except manual_service.ManualMatchNotFoundError:
        raise ApiError(404, "not_found", f"No manual match {match_id}.") from None
    db.session.commit()
    (payload,) = manual_service.as_dicts([row])
    return {"manual_match": payload}


# ---------------------------------------------------------------------------------------------
# Why not matched
# ---------------------------------------------------------------------------------------------


@bp.get("/stops/<source>/<path:stop_id>/candidates")
@endpoint(
    "getRegistryCandidates",
    "review",
    ok=Candidates,
    errors=(404,),
    path={"source": SourcePath, "stop_id": StopIdPath},
    path_docs=PATH_DOCS,
)
def registry_candidates(source: str, stop_id: str, query: NoQuery) -> dict[str, Any]:
    """Why not matched: OSM objects near a registry stop, with the rule that rejected each"""
    require_registry(source)
    found = candidate_service.candidates_for_registry(stop_id, source=source)
    if found is None:
        raise ApiError(404, "not_found", f"No registry stop {stop_id}.")
    return found


@bp.get("/stops/osm/<osm_type>/<osm_id>/candidates")
@endpoint(
    "getOsmCandidates",
    "review",
    ok=Candidates,
    errors=(404,),
    path={"osm_type": OsmTypePath, "osm_id": OsmIdPath},
    path_docs=PATH_DOCS,
)
def osm_candidates(osm_type: str, osm_id: int, query: NoQuery) -> dict[str, Any]:
    """Why not matched: registry stops near an OSM object, with the rule that rejected each"""
    key = f"{osm_type}/{osm_id}"
    found = candidate_service.candidates_for_osm(key)
    if found is None:
        raise ApiError(404, "not_found", f"No OSM object {key}.")
    return found


# ---------------------------------------------------------------------------------------------
# Exports that fix data
# ---------------------------------------------------------------------------------------------

REPORT_LINKS = {
    "osmchange": "/api/v1/fixes/osmchange.report.json",
    "maproulette": "/api/v1/fixes/maproulette.report.json",
}


def _fix_plan(query: ProblemFilterQuery, *, move: bool, overwrite: bool, create: bool) -> fix_exports.FixPlan:
    """The plan of the filtered problems with the export options of this request."""
    problems = problem_service.iter_problems(query.filters(), sort=query.sort)
    return fix_exports.plan_fixes(problems, move=move, overwrite=overwrite, create=create)


def _osmchange_plan(query: FixQuery) -> fix_exports.FixPlan:
    # New stops are proposed unless the caller says create=false.
    return _fix_plan(
        query, move=bool(query.move), overwrite=bool(query.overwrite), create=query.create is not False
    )


def _maproulette_plan(query: MapRouletteQuery) -> fix_exports.FixPlan:
    return _fix_plan(query, move=False, overwrite=bool(query.overwrite), create=query.create is not False)


def _count_headers(report: dict[str, Any]) -> dict[str, str]:
    counts = report["counts"]
    return {
        "X-StopSync-Modified": str(counts["modified"]),
        "X-StopSync-Created": str(counts["created"]),
        "X-StopSync-Refused": str(counts["refused"]),
        "X-StopSync-Moves-Refused": str(counts["moves_refused"]),
        "X-StopSync-Not-Created": str(counts["not_created"]),
        "X-StopSync-Addressed": str(counts["addressed"]),
        "X-StopSync-Skipped-Ways": str(counts["skipped_ways"]),
        "X-StopSync-Skipped-No-Version": str(counts["skipped_no_version"]),
    }


def _report_link(export: str) -> str:
    query = request.query_string.decode("ascii", "replace")
    url = REPORT_LINKS[export] + (f"?{query}" if query else "")
    return f'<{url}>; rel="describedby"; type="application/json"'


def _nothing_to_write(export: str, report: dict[str, Any]) -> Response:
    """204 with the counts and a sentence saying why, instead of a silent empty file."""
    counts = report["counts"]
    withheld = ", ".join(
        f"{counts[k]} {label}"
        for k, label in (
            ("refused", "refused (identifier conflicts)"),
            ("moves_refused", "moves refused"),
            ("not_created", "stops not created"),
            ("skipped_ways", "ways (MapRoulette only)"),
            ("skipped_no_version", "objects without a version"),
        )
        if counts[k]
    )
    reason = "nothing to write for these problems" + (f"; withheld: {withheld}" if withheld else "")
    response = Response(status=204)
    response.headers.update(_count_headers(report))
    response.headers["X-StopSync-Reason"] = reason
    response.headers["Link"] = _report_link(export)
    return response


@bp.get("/fixes/osmchange.osc")
@endpoint(
    "getOsmChange",
    "review",
    responses={
        200: fix_file("application/vnd.osm.osmchange+xml", "osmChange 0.6."),
        204: NOTHING_TO_WRITE,
    },
)
def osmchange(query: FixQuery) -> Response:
    """osmChange file (JOSM, osmium) with the fixes and new stops the filtered problems suggest

    Tag fixes and, with `move=true`, position fixes of platform and station nodes as `<modify>`
    with the current version; new nodes for registry stops missing in OSM as `<create>` (negative
    ids; `create=false` leaves them out); never a delete. Counts in `X-StopSync-*` headers, every
    refusal with its reason in the report linked by `Link` (`/fixes/osmchange.report.json`, same
    parameters); 204 with the counts when nothing is left.
    """
    plan = _osmchange_plan(query)
    change = fix_exports.build_osmchange(plan.fixes, plan.creates, refused=plan.refused)
    report = fix_exports.plan_report(plan, change)
    if change.empty:
        return _nothing_to_write("osmchange", report)
    return _attachment(
        change.xml,
        "application/vnd.osm.osmchange+xml",
        f"stopsync-fixes-{dt.date.today().isoformat()}.osc",
        **_count_headers(report),
        Link=_report_link("osmchange"),
    )


@bp.get("/fixes/osmchange.report.json")
@endpoint("getOsmChangeReport", "review", ok=FixReport)
def osmchange_report(query: FixQuery) -> dict[str, Any]:
    """What the osmChange file writes, and what it refuses or leaves out and why"""
    plan = _osmchange_plan(query)
    change = fix_exports.build_osmchange(plan.fixes, plan.creates, refused=plan.refused)
    return fix_exports.plan_report(plan, change)


@bp.get("/fixes/maproulette.geojson")
@endpoint(
    "getMapRoulette",
    "review",
    responses={200: fix_file("application/geo+json", "One task per line."), 204: NOTHING_TO_WRITE},
)
def maproulette(query: MapRouletteQuery) -> Response:
    """MapRoulette cooperative challenge (line-by-line GeoJSON, RFC 7464 records)

    One tag-fix task (type 1, `setTags`) per OSM object, one osmChange task (type 2) per new stop.
    `fixable_only=false` also lists problems without a fix; `create=false` leaves new stops out.
    Refusals as for the osmChange file (`/fixes/maproulette.report.json`).
    """
    plan = _maproulette_plan(query)
    report = fix_exports.plan_report(plan)
    base = _base_url()
    tasks = list(
        fix_exports.maproulette_tasks(
            plan, lambda p: fix_exports.stop_url(base, p), fixable_only=query.fixable_only is not False
        )
    )
    if not tasks:
        return _nothing_to_write("maproulette", report)
    return _attachment(
        stream_with_context(fix_exports.maproulette_lines(tasks)),
        "application/geo+json",
        f"stopsync-maproulette-{dt.date.today().isoformat()}.geojson",
        **_count_headers(report),
        **{"X-StopSync-Tasks": str(len(tasks)), "Link": _report_link("maproulette")},
    )


@bp.get("/fixes/maproulette.report.json")
@endpoint("getMapRouletteReport", "review", ok=FixReport)
def maproulette_report(query: MapRouletteQuery) -> dict[str, Any]:
    """What the MapRoulette file proposes, and what it refuses or leaves out and why"""
    return fix_exports.plan_report(_maproulette_plan(query))


@bp.get("/reports/registry-errors.<any(csv, json):fmt>")
@endpoint(
    "getRegistryErrors",
    "review",
    ok=RegistryReport,
    errors=(404,),
    headers={200: {"Content-Disposition": {"schema": {"type": "string"}}}},
    media={200: {"text/csv": {"schema": {"type": "string"}}}},
    path_docs={"fmt": "`json` or `csv`."},
)
def registry_errors(fmt: str, query: RegistryReportQuery) -> Response:
    """Suspected registry errors per operator, with evidence and links, for the registry's stewards

    As JSON (the 200 schema) or CSV (`text/csv`, one row per stop; `bom=false` leaves out the
    byte-order mark).
    """
    if fmt != "csv" and "bom" in query.model_fields_set:
        raise invalid_parameter("bom", "bom applies to CSV only", unknown=["bom"])
    operator = query.operator
    settings = current_app.config["SETTINGS"]
    rows = fix_exports.registry_error_rows(
        problem_service.iter_problems(ProblemFilters(operators=[operator] if operator else [])),
        base_url=_base_url(),
        registry_url_template=settings.REGISTRY_STOP_URL,
    )
    stamp = dt.date.today().isoformat()
    # The operator goes into a header (the file name): only characters that are safe there.
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", operator)[:40] if operator else ""
    suffix = f"-{safe}" if safe else ""
    if fmt == "json":
        response = jsonify(fix_exports.report_json(rows, operator))
        response.headers["Content-Disposition"] = (
            f'inline; filename="stopsync-registry-errors{suffix}-{stamp}.json"'
        )
        return response
    return _attachment(
        fix_exports.report_csv(rows, bom=query.bom is not False),
        "text/csv; charset=utf-8",
        f"stopsync-registry-errors{suffix}-{stamp}.csv",
    )


# ---------------------------------------------------------------------------------------------
# Change over time
# ---------------------------------------------------------------------------------------------


@bp.get("/changes")
@endpoint("getChanges", "review", ok=RunChanges, errors=(404,))
def changes(query: ChangesQuery) -> dict[str, Any]:
    """Problems a run made appear and resolved

    Default: the latest run that changed anything.
    """
    run_id = query.run
    if run_id is None:
        run_id = change_service.latest_run_with_changes()
        if run_id is None:
            return {"run": None, "previous_run_id": None, "totals": {}, "changes": [], "next_cursor": None}
    found = change_service.run_changes(
        run_id,
        change=query.change,
        problem_types=query.type,
        operators=query.operator,
        priorities=query.priority,
        limit=query.limit,
        after_id=query.cursor,
    )
    if found is None:
        raise ApiError(404, "not_found", f"No pipeline run {run_id}.")
    found["next_cursor"] = str(found.pop("next_after")) if found.get("next_after") else None
    return found


@bp.get("/trends")
@endpoint("getTrends", "review", ok=Trends)
def trends(query: TrendsQuery) -> dict[str, Any]:
    """Appeared, resolved and open problems per run, by type or operator"""
    return change_service.trends(query.by, runs=query.runs, series_limit=query.series)
