"""The review workflow's API: manual matches, "why not matched", fix exports, registry report, changes.

| method | path                                              | who    |
|--------|---------------------------------------------------|--------|
| POST   | /manual-matches                                   | editor |
| GET    | /manual-matches, /manual-matches/<id>             | anyone |
| DELETE | /manual-matches/<id>                              | editor |
| GET    | /stops/atlas/<stop_id>/candidates                   | anyone |
| GET    | /stops/osm/<type>/<id>/candidates                 | anyone |
| GET    | /fixes/osmchange.osc, /fixes/maproulette.geojson  | anyone |
| GET    | /fixes/{osmchange,maproulette}.report.json        | anyone |
| GET    | /reports/registry-errors.<csv|json>               | anyone |
| GET    | /changes, /trends                                 | anyone |
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Response, current_app, jsonify, request, stream_with_context

from app.api import bp, params
from app.api.exports import csv_bom
from app.api.filters import PROBLEM_FILTER_PARAMS, problem_filters
from app.api.stops import SLOID_RE, registry_sources
from app.auth import current_user, require_role
from app.errors import ApiError
from app.extensions import db, limiter
from app.services import candidates as candidate_service
from app.services import changes as change_service
from app.services import fix_exports
from app.services import manual_matches as manual_service
from app.services import problems as problem_service
from app.services.problems import ProblemFilters

MAX_NOTE_LENGTH = manual_service.MAX_NOTE_LENGTH


def _write_limit() -> str:
    return current_app.config["SETTINGS"].RATELIMIT_WRITE


def _sloid(value: str, name: str = "stop_id") -> str:
    if not SLOID_RE.match(value):
        raise params.invalid(name, "Not a valid stop_id.", value=value[:100])
    return value


def _base_url() -> str:
    # Configured, never the request's Host / X-Forwarded-Host: a forged header must not put an
    # attacker's links into a report or a MapRoulette challenge that others download.
    return current_app.config["SETTINGS"].PUBLIC_BASE_URL.rstrip("/")


def _attachment(body, mimetype: str, filename: str, **headers: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    for name, value in headers.items():
        response.headers[name] = value
    return response


# ---------------------------------------------------------------------------------------------
# Manual matches
# ---------------------------------------------------------------------------------------------


@bp.post("/manual-matches")
@require_role("editor")
@limiter.limit(_write_limit)
def save_manual_match():
    """Link a registry stop to an OSM object (or forbid the pair): `{source, stop_id, osm_key, action, note}`.

    `source` (the registry, e.g. `atlas`) may be left out when the id names one stop; `sloid` is the
    old name of `stop_id` and means `source=atlas`. Applied as the first matching stage from the next
    pipeline run on.
    """
    body = params.json_body(
        required=("osm_key", "action"), allowed=("source", "stop_id", "sloid", "osm_key", "action", "note")
    )
    if "stop_id" not in body and "sloid" in body:
        body = {**body, "stop_id": body["sloid"], "source": body.get("source") or "atlas"}
    stop_id = params.body_str(body, "stop_id", max_length=100, required=True) or ""
    source = params.body_str(body, "source", max_length=40)
    osm_key = params.body_str(body, "osm_key", max_length=40, required=True) or ""
    action = params.body_str(body, "action", max_length=10, required=True) or ""
    note = (params.body_str(body, "note", max_length=MAX_NOTE_LENGTH) or "").strip()
    if not SLOID_RE.match(stop_id):
        raise params.body_error("stop_id", "Not a valid stop_id.")
    if not params.is_osm_key(osm_key):
        raise params.body_error("osm_key", "osm_key must look like node/123, way/45 or relation/6")
    if action not in manual_service.ACTIONS:
        raise params.body_error(
            "action",
            f"action must be one of {', '.join(manual_service.ACTIONS)}",
            allowed=list(manual_service.ACTIONS),
        )
    try:
        row, created = manual_service.save_manual_match(
            stop_id, osm_key, action, note, current_user(), source=source
        )
    except manual_service.ManualMatchNotFoundError as exc:
        raise ApiError(
            404,
            "not_found",
            "The stop or object is not in the current data.",
            {"missing": str(exc).split(", ")},
        ) from None
    except manual_service.ManualMatchError as exc:
        raise params.body_error("action", str(exc)) from None
    db.session.commit()
    (payload,) = manual_service.as_dicts([row])
    return jsonify({"manual_match": payload, "created": created, "applies": "from the next pipeline run"}), (
        201 if created else 200
    )


@bp.get("/manual-matches")
def list_manual_matches():
    """Manual links and unlinks, newest first; `status` defaults to active,orphaned."""
    params.reject_unknown(("stop_id", "osm_key", "status", "cursor", "limit"))
    stop_id = params.text("stop_id", max_length=100)
    osm_key = params.text("osm_key", max_length=40)
    statuses = params.choices("status", manual_service.STATUSES) or ["active", "orphaned"]
    rows, next_before = manual_service.list_manual_matches(
        stop_id=_sloid(stop_id) if stop_id else None,
        osm_key=params.osm_key(osm_key) if osm_key else None,
        statuses=statuses,
        limit=params.limit(100, 1000),
        before_id=params.integer("cursor", None, minimum=1, maximum=2**31 - 1),
    )
    return jsonify(
        {
            "manual_matches": manual_service.as_dicts(rows),
            "next_cursor": str(next_before) if next_before else None,
        }
    )


@bp.get("/manual-matches/<int:match_id>")
def get_manual_match(match_id: int):
    """One manual match with its history."""
    try:
        row = manual_service.get_manual_match(match_id)
    except manual_service.ManualMatchNotFoundError:
        raise ApiError(404, "not_found", f"No manual match {match_id}.") from None
    (payload,) = manual_service.as_dicts([row])
    return jsonify({"manual_match": payload})


@bp.delete("/manual-matches/<int:match_id>")
@require_role("editor")
@limiter.limit(_write_limit)
def delete_manual_match(match_id: int):
    """Stop applying a manual match from the next run (kept, with status `deleted`, as history)."""
    try:
        row = manual_service.delete_manual_match(match_id, current_user())
    except manual_service.ManualMatchNotFoundError:
        raise ApiError(404, "not_found", f"No manual match {match_id}.") from None
    db.session.commit()
    (payload,) = manual_service.as_dicts([row])
    return jsonify({"manual_match": payload})


# ---------------------------------------------------------------------------------------------
# Why not matched
# ---------------------------------------------------------------------------------------------


@bp.get("/stops/<source>/<path:stop_id>/candidates")
def registry_candidates(source: str, stop_id: str):
    """The OSM objects near a registry stop, with per-criterion evidence and the rule that rejected each."""
    params.reject_unknown(())
    if source not in registry_sources():
        raise ApiError(404, "not_found", f"No registry named {source[:40]!r}.")
    found = candidate_service.candidates_for_registry(_sloid(stop_id), source=source)
    if found is None:
        raise ApiError(404, "not_found", f"No registry stop {stop_id}.")
    return jsonify(found)


@bp.get("/stops/osm/<osm_type>/<osm_id>/candidates")
def osm_candidates(osm_type: str, osm_id: str):
    """The registry stops near an OSM object, each with per-criterion evidence and the rejecting rule."""
    params.reject_unknown(())
    key = params.osm_key(f"{osm_type}/{osm_id}", name="osm_id")
    found = candidate_service.candidates_for_osm(key)
    if found is None:
        raise ApiError(404, "not_found", f"No OSM object {key}.")
    return jsonify(found)


# ---------------------------------------------------------------------------------------------
# Exports that fix data
# ---------------------------------------------------------------------------------------------


def _filtered_problems():
    filters, sort = problem_filters()
    return problem_service.iter_problems(filters, sort=sort)


FIX_PARAMS = ("move", "overwrite", "create")
REPORT_LINKS = {
    "osmchange": "/api/v1/fixes/osmchange.report.json",
    "maproulette": "/api/v1/fixes/maproulette.report.json",
}


def _fix_plan(*, allow_move: bool) -> fix_exports.FixPlan:
    """The plan of the filtered problems with the export options of this request."""
    extra = FIX_PARAMS if allow_move else ("overwrite", "create", "fixable_only")
    params.reject_unknown((*PROBLEM_FILTER_PARAMS, *extra))
    return fix_exports.plan_fixes(
        _filtered_problems(),
        move=bool(allow_move and params.boolean("move")),
        overwrite=params.boolean("overwrite") or False,
        # New stops are proposed unless the caller says create=false.
        create=params.boolean("create") is not False,
    )


def _count_headers(report: dict) -> dict[str, str]:
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


def _nothing_to_write(export: str, report: dict) -> Response:
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
def osmchange():
    """An osmChange 0.6 file (JOSM, `osmium apply-changes`): tag fixes and, with `move=true`, position
    fixes of platform and station nodes as `<modify>` with the current version; new nodes for registry
    stops missing in OSM as `<create>` (negative ids; `create=false` leaves them out); never a delete.
    Counts in `X-StopSync-*` headers, every refusal with its reason in the report linked by `Link`
    (`/fixes/osmchange.report.json`, same parameters); 204 with the counts when nothing is left."""
    plan = _fix_plan(allow_move=True)
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
def osmchange_report():
    """What the osmChange file with the same parameters writes, and what it withholds and why."""
    plan = _fix_plan(allow_move=True)
    change = fix_exports.build_osmchange(plan.fixes, plan.creates, refused=plan.refused)
    return jsonify(fix_exports.plan_report(plan, change))


@bp.get("/fixes/maproulette.geojson")
def maproulette():
    """A MapRoulette cooperative challenge, line-by-line GeoJSON (each line RS + FeatureCollection):
    one tag-fix task (type 1, `setTags`) per OSM object, one osmChange task (type 2) per new stop.
    `fixable_only=false` also lists problems without a fix; `create=false` leaves new stops out.
    Refusals as for the osmChange file (`/fixes/maproulette.report.json`)."""
    plan = _fix_plan(allow_move=False)
    report = fix_exports.plan_report(plan)
    base = _base_url()
    fixable_only = params.boolean("fixable_only") is not False
    tasks = list(
        fix_exports.maproulette_tasks(
            plan, lambda p: fix_exports.stop_url(base, p), fixable_only=fixable_only
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
def maproulette_report():
    """What the MapRoulette file with the same parameters proposes, and what it withholds and why."""
    plan = _fix_plan(allow_move=False)
    return jsonify(fix_exports.plan_report(plan))


@bp.get("/reports/registry-errors.<any(csv, json):fmt>")
def registry_errors(fmt: str):
    """Suspected registry errors per operator, with evidence and links, for the registry's stewards."""
    params.reject_unknown(("operator", "bom") if fmt == "csv" else ("operator",))
    operator = params.text("operator", max_length=60)
    bom = csv_bom() if fmt == "csv" else False
    filters = ProblemFilters(operators=[operator] if operator else [])
    settings = current_app.config["SETTINGS"]
    rows = fix_exports.registry_error_rows(
        problem_service.iter_problems(filters),
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
        fix_exports.report_csv(rows, bom=bom),
        "text/csv; charset=utf-8",
        f"stopsync-registry-errors{suffix}-{stamp}.csv",
    )


# ---------------------------------------------------------------------------------------------
# Change over time
# ---------------------------------------------------------------------------------------------


@bp.get("/changes")
def changes():
    """The problems a run made appear and resolved (default: the latest run that changed anything)."""
    params.reject_unknown(("run", "change", "type", "operator", "priority", "cursor", "limit"))
    run_id = params.integer("run", None, minimum=1, maximum=2**31 - 1)
    if run_id is None:
        run_id = change_service.latest_run_with_changes()
        if run_id is None:
            return jsonify(
                {"run": None, "previous_run_id": None, "totals": {}, "changes": [], "next_after": None}
            )
    found = change_service.run_changes(
        run_id,
        change=params.choice("change", change_service.CHANGE_KINDS),
        problem_types=params.choices("type"),
        operators=params.choices("operator"),
        priorities=params.integers("priority", minimum=1, maximum=3),
        limit=params.limit(200, 5000),
        after_id=params.integer("cursor", None, minimum=1, maximum=2**62),
    )
    if found is None:
        raise ApiError(404, "not_found", f"No pipeline run {run_id}.")
    found["next_cursor"] = str(found.pop("next_after")) if found.get("next_after") else None
    return jsonify(found)


@bp.get("/trends")
def trends():
    """Series per run of appeared, resolved and open problems, by problem type or by operator."""
    params.reject_unknown(("by", "runs", "series"))
    by = params.choice("by", change_service.TREND_DIMENSIONS, default="type")
    assert by is not None
    runs = params.integer("runs", 30, minimum=1, maximum=365) or 30
    series = params.integer("series", 8, minimum=1, maximum=50) or 8
    return jsonify(change_service.trends(by, runs=runs, series_limit=series))
