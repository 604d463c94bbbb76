"""Streamed exports: stops, matches and problems as CSV or GeoJSON, with the list filters."""

from __future__ import annotations

import datetime as dt

from flask import Response, stream_with_context

from app.api import bp, params
from app.api.filters import PROBLEM_FILTER_PARAMS, STOP_FILTER_PARAMS, problem_filters, stop_filters
from app.services import exports as export_service

FORMATS = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
# CSV only: `bom=false` leaves out the UTF-8 byte-order mark that makes Excel read the file as UTF-8.
CSV_PARAMS = ("bom",)


def csv_bom() -> bool:
    """The `bom` parameter of a CSV download: true (the default, Excel-friendly) or false."""
    return params.boolean("bom") is not False


@bp.get("/exports/<any(stops, matches, problems):dataset>.<any(csv, geojson):fmt>")
def export(dataset: str, fmt: str):
    """Stream a whole dataset (or its filtered part) without holding it in memory."""
    extra = CSV_PARAMS if fmt == "csv" else ()
    bom = csv_bom() if fmt == "csv" else False
    if dataset == "problems":
        params.reject_unknown((*PROBLEM_FILTER_PARAMS, *extra))
        filters, sort = problem_filters()
        if fmt == "csv":
            body = export_service.csv_stream(
                export_service.PROBLEM_COLUMNS, export_service.problem_rows(filters, sort), bom=bom
            )
        else:
            body = export_service.geojson_stream(export_service.problem_features(filters, sort))
    else:
        params.reject_unknown((*STOP_FILTER_PARAMS, *extra))
        stop_filter = stop_filters()
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
    response = Response(stream_with_context(body), mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Proxies (nginx) must pass the stream through rather than buffer it whole.
    response.headers["X-Accel-Buffering"] = "no"
    return response
