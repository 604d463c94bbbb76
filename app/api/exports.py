"""Streamed exports: stops, matches and problems as CSV or GeoJSON, with the list filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask import Response, stream_with_context

from app.api import bp
from app.api.schemas.endpoint import endpoint, invalid_parameter
from app.api.schemas.stops import PROBLEM_ONLY, STOP_ONLY, ExportQuery
from app.services import exports as export_service

FORMATS = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
STREAMED_EXPORT = {
    "description": "The export, streamed (no Content-Length); served as an attachment.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/geo+json": {"schema": {"type": "object"}},
    },
    "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
}


def refuse_filters(query: ExportQuery, names: Iterable[str], why: str) -> None:
    """A filter that does not apply to this export is a 400 rather than silently ignored."""
    given = sorted(set(names) & query.model_fields_set)
    if given:
        raise invalid_parameter(given[0], f"{given[0]} {why}", unknown=given)


@bp.get("/exports/<any(stops, matches, problems):dataset>.<any(csv, geojson):fmt>")
@endpoint(
    "export",
    "exports",
    errors=(404,),
    responses={200: STREAMED_EXPORT},
    path_docs={"dataset": "What.", "fmt": "Format."},
)
def export(dataset: str, fmt: str, query: ExportQuery) -> Response:
    """Streamed export of stops, matches or problems

    Stream a whole dataset (or its filtered part) without holding it in memory. Stops and matches
    take the filters of `GET /stops`; problems those of `GET /problems` (without paging). A filter
    of the other kind is a 400. Matches as GeoJSON are lines from the registry position to the OSM
    position.
    """
    if fmt != "csv":
        refuse_filters(query, ("bom",), "applies to CSV only")
    bom = query.bom is not False
    if dataset == "problems":
        refuse_filters(query, STOP_ONLY, "is not a filter of the problem export")
        problems = query.problem_query()
        filters, sort = problems.filters(), problems.sort
        if fmt == "csv":
            body = export_service.csv_stream(
                export_service.PROBLEM_COLUMNS, export_service.problem_rows(filters, sort), bom=bom
            )
        else:
            body = export_service.geojson_stream(export_service.problem_features(filters, sort))
    else:
        refuse_filters(query, PROBLEM_ONLY, f"is not a filter of the {dataset} export")
        stop_filter = query.filters()
        if dataset == "stops":
            if fmt == "csv":
                body = export_service.csv_stream(
                    export_service.STOP_COLUMNS, export_service.stop_rows(stop_filter), bom=bom
                )
            else:
                body = export_service.geojson_stream(export_service.stop_features(stop_filter))
        elif fmt == "csv":
            body = export_service.csv_stream(
                export_service.MATCH_COLUMNS, export_service.match_rows(stop_filter), bom=bom
            )
        else:
            body = export_service.geojson_stream(export_service.match_features(stop_filter))
    filename = f"stopsync-{dataset}-{dt.date.today().isoformat()}.{fmt}"
    # content_type, not mimetype: werkzeug would add a second `charset` to "text/csv; charset=utf-8".
    response = Response(stream_with_context(body), content_type=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Proxies (nginx) must pass the stream through rather than buffer it whole.
    response.headers["X-Accel-Buffering"] = "no"
    return response
