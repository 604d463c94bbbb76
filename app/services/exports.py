"""Streamed CSV and GeoJSON exports of stops, matches and problems.

CSV is Excel-friendly by default: UTF-8 with a byte-order mark (without it Excel reads the file as
the local ANSI code page and shows "TrÃ¶xlegass" for "Tröxlegass") and CRLF line ends (RFC 4180).
The API's `bom=false` leaves the mark out for tools that do not expect one.

Each export is a generator over a server-side cursor (`yield_per`): memory stays flat whatever the
size, and the first bytes leave before the last row is read. Rows are written in chunks so the
WSGI server is not handed one tiny string per row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER, TEXT
from sqlalchemy.types import TypeEngine

from app.services import problems as problem_service
from app.services import stops as stop_service
from app.services.csv_safety import UTF8_BOM, safe_cell
from database import db
from pipeline.records import LEGACY_IDENTITY_SOURCE

ROWS_PER_CHUNK = 500

STOP_COLUMNS = (
    "kind",
    "key",
    "name",
    "operator",
    "status",
    "method",
    "partner_keys",
    "distance_m",
    "problem_types",
    "priority",
    "local_ref",
    "uic",
    "transports",
    "lon",
    "lat",
)
MATCH_COLUMNS = (
    "stop_id",
    "osm_key",
    "method",
    "distance_m",
    "name_score",
    "atlas_name",
    "osm_name",
    "operator",
    "uic",
    "atlas_lon",
    "atlas_lat",
    "osm_lon",
    "osm_lat",
)
PROBLEM_COLUMNS = (
    "identity",
    "problem_type",
    "priority",
    "stop_id",
    "osm_key",
    "operator",
    "distance_m",
    "message",
    "decision",
    "decision_status",
    "decision_note",
    "decision_author",
    "lon",
    "lat",
)


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        value = ";".join(str(item) for item in value)
    # OSM names, operators and notes are written by anyone: no cell may run as a formula.
    return safe_cell(value)


def csv_stream(columns: Sequence[str], rows: Iterable[dict[str, Any]], *, bom: bool = True) -> Iterator[str]:
    """CSV text in chunks: a header, then one line per row (lists joined by `;`); with `bom`, the
    UTF-8 byte-order mark first (see the module doc)."""
    buffer = io.StringIO()
    if bom:
        buffer.write(UTF8_BOM)
    # RFC 4180's CRLF: with "\n" alone the writer leaves a cell's lone CR unquoted, and a spreadsheet
    # breaks the row there (a CR in an OSM name would start a new, attacker-shaped row).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(row.get(column)) for column in columns])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def geojson_stream(features: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One FeatureCollection document in chunks, never the whole list in memory."""
    yield '{"type":"FeatureCollection","features":['
    chunk: list[str] = []
    first = True
    for feature in features:
        chunk.append(json.dumps(feature, separators=(",", ":"), ensure_ascii=False, default=str))
        if len(chunk) >= ROWS_PER_CHUNK:
            yield ("" if first else ",") + ",".join(chunk)
            first = False
            chunk = []
    if chunk:
        yield ("" if first else ",") + ",".join(chunk)
    yield "]}\n"


# --- stops -----------------------------------------------------------------------------------


def stop_rows(filters: stop_service.StopFilters) -> Iterator[dict[str, Any]]:
    """Stops as flat rows for CSV."""
    for feature in stop_service.iter_features(filters):
        lon, lat = feature["geometry"]["coordinates"]
        yield {**feature["properties"], "lon": lon, "lat": lat}


def stop_features(filters: stop_service.StopFilters) -> Iterator[dict[str, Any]]:
    """Stops as GeoJSON features."""
    return stop_service.iter_features(filters)


# --- matches ---------------------------------------------------------------------------------


def _match_statement(filters: stop_service.StopFilters):
    params: dict[str, Any] = {}
    where: list[str] = []
    if filters.bbox is not None:
        params.update(w=filters.bbox[0], s=filters.bbox[1], e=filters.bbox[2], n=filters.bbox[3])
        envelope = "ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
        where.append(f"(a.geom && {envelope} OR o.geom && {envelope})")
    if filters.methods:
        params["methods"] = list(filters.methods)
        where.append("m.method = ANY(:methods)")
    if filters.operators:
        params["operators"] = list(filters.operators)
        where.append("a.operator_code = ANY(:operators)")
    if filters.transports:
        params["transports"] = list(filters.transports)
        where.append(f"{stop_service.ATLAS_TRANSPORTS_SQL} && CAST(:transports AS text[])")
    if filters.problem_types or filters.priorities:
        parts = ["pf.source = m.source", "pf.stop_id = m.stop_id", "pf.osm_key = m.osm_key"]
        if filters.problem_types:
            params["problem_types"] = list(filters.problem_types)
            parts.append("pf.problem_type = ANY(:problem_types)")
        if filters.priorities:
            params["priorities"] = list(filters.priorities)
            parts.append("pf.priority = ANY(:priorities)")
        where.append(f"EXISTS (SELECT 1 FROM problems pf WHERE {' AND '.join(parts)})")
    sql = (
        "SELECT m.source, m.stop_id, m.osm_key, m.method, m.distance_m, m.name_score,"
        " a.name AS atlas_name, o.name AS osm_name, a.operator_code AS operator,"
        " a.code::text AS uic, a.lon AS atlas_lon, a.lat AS atlas_lat,"
        " o.lon AS osm_lon, o.lat AS osm_lat"
        " FROM matches m"
        " LEFT JOIN registry_stops a ON a.source = m.source AND a.stop_id = m.stop_id"
        " LEFT JOIN osm_stops o ON o.osm_key = m.osm_key"
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        " ORDER BY m.stop_id, m.source, m.osm_key"
    )
    types: dict[str, TypeEngine[Any]] = {
        "methods": ARRAY(TEXT),
        "operators": ARRAY(TEXT),
        "transports": ARRAY(TEXT),
        "problem_types": ARRAY(TEXT),
        "priorities": ARRAY(INTEGER),
    }
    return text(sql).bindparams(*(bindparam(n, type_=types[n]) for n in params if n in types)), params


def match_rows(filters: stop_service.StopFilters) -> Iterator[dict[str, Any]]:
    """Matches with both sides' names and positions, as flat rows."""
    statement, params = _match_statement(filters)
    for row in db.session.execute(statement.execution_options(yield_per=1000), params):
        out = dict(row._mapping)
        out["distance_m"] = round(out["distance_m"], 2)
        yield out


def match_features(filters: stop_service.StopFilters) -> Iterator[dict[str, Any]]:
    """Each match as a line from the registry position to the OSM position."""
    for row in match_rows(filters):
        coordinates = [[row["atlas_lon"], row["atlas_lat"]], [row["osm_lon"], row["osm_lat"]]]
        if None in coordinates[0] or None in coordinates[1]:
            geometry = None
        else:
            geometry = {"type": "LineString", "coordinates": coordinates}
        properties = {
            k: v for k, v in row.items() if k not in {"atlas_lon", "atlas_lat", "osm_lon", "osm_lat"}
        }
        # ATLAS's ids as before; another registry's name it, as problem identities do (two registries
        # may match stops with the same id to one object).
        stop = (
            row["stop_id"] if row["source"] == LEGACY_IDENTITY_SOURCE else f"{row['source']}/{row['stop_id']}"
        )
        yield {
            "type": "Feature",
            "id": f"match:{stop}:{row['osm_key']}",
            "geometry": geometry,
            "properties": properties,
        }


# --- problems --------------------------------------------------------------------------------


def problem_rows(filters: problem_service.ProblemFilters, sort: str) -> Iterator[dict[str, Any]]:
    """Problems with their decision, as flat rows."""
    for problem in problem_service.iter_problems(filters, sort=sort):
        decision = problem["decision"] or {}
        yield {
            **problem,
            "decision": decision.get("decision"),
            "decision_status": decision.get("status"),
            "decision_note": decision.get("note"),
            "decision_author": decision.get("author"),
        }


def problem_features(filters: problem_service.ProblemFilters, sort: str) -> Iterator[dict[str, Any]]:
    """Problems as Point features with their decision."""
    for problem in problem_service.iter_problems(filters, sort=sort):
        properties = {k: v for k, v in problem.items() if k not in {"lat", "lon"}}
        yield {
            "type": "Feature",
            "id": f"problem:{problem['identity']}",
            "geometry": {"type": "Point", "coordinates": [problem["lon"], problem["lat"]]},
            "properties": properties,
        }
