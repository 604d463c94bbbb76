"""The shared CSV-injection guard: what it neutralises and what it leaves alone."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from app.services import exports, fix_exports
from app.services.csv_safety import safe_cell, safe_dict_row, safe_row


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("  =1+1", "'  =1+1"),
        ("-", "'-"),
    ],
)
def test_a_cell_starting_with_a_formula_character_gets_a_quote(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bern;=cmd", "Bern;'=cmd"),
        ("Bern; @SUM(1)", "Bern;' @SUM(1)"),
        ("Bern, +1+2", "Bern,' +1+2"),
        ("a;b;\t-x", "a;b;'\t-x"),
        ("=a;=b", "'=a;'=b"),
    ],
)
def test_a_part_after_a_semicolon_or_comma_starting_a_formula_gets_a_quote(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize("value", ["-3.5", "+1e3", "-0.1278", "47.1410", "1;-2;+3", "9.5, -7"])
def test_numeric_strings_and_number_lists_stay_numbers(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [-3.5, 0, 12, None, True, "", "Zürich-Ecke", "a@b.ch", "Bern, Zytglogge"])
def test_non_strings_and_harmless_text_are_left_alone(value):
    assert safe_cell(value) == value


def test_rows_and_dict_rows_go_through_the_same_guard():
    assert safe_row(["=x", -1.5, "ok"]) == ["'=x", -1.5, "ok"]
    assert safe_dict_row({"note": "@x", "lon": -0.5}) == {"note": "'@x", "lon": -0.5}


def test_the_export_writer_guards_lists_joined_by_semicolons_and_quotes_a_lone_cr():
    body = "".join(exports.csv_stream(["name", "keys"], [{"name": "a\r=b", "keys": ["node/1", "=evil"]}]))
    (row,) = list(csv.reader(io.StringIO(body)))[1:]
    assert row == ["a\r=b", "node/1;'=evil"]


def test_the_registry_report_writer_guards_every_text_field():
    rows = [
        {
            "operator_code": "=op",
            "name": "+name",
            "platform_code": "-x",
            "decision_note": "fine; @then-not",
            "evidence": {"message": "m"},
            "registry_lat": 47.0,
            "registry_lon": -0.5,
        }
    ]
    (row,) = csv.DictReader(io.StringIO("".join(fix_exports.report_csv(rows, bom=False))))
    assert row["operator_code"] == "'=op"
    assert row["name"] == "'+name"
    assert row["platform_code"] == "'-x"
    assert row["decision_note"] == "fine;' @then-not"
    assert row["registry_lon"] == "-0.5"


def test_every_module_that_writes_csv_goes_through_the_guard():
    """A CSV writer added later without the guard fails here, not in a steward's spreadsheet."""
    root = Path(__file__).resolve().parents[2]
    writers = [
        path
        for folder in ("app", "pipeline", "scheduler", "database", "migrator")
        for path in (root / folder).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    ]
    assert writers, "the exports write CSV: the search itself is broken"
    for path in writers:
        text = path.read_text(encoding="utf-8")
        assert "from app.services.csv_safety import" in text, f"{path.relative_to(root)} writes unguarded CSV"


def test_a_json_cell_stays_valid_json_with_negative_numbers_and_hostile_strings():
    evidence = {"offsets": [-2.5, -3, 4], "note": "x; =cmd|' /C calc'!A0", "tag": "@evil", "n": -1}
    guarded = safe_cell(json.dumps(evidence, ensure_ascii=False, sort_keys=True))
    parsed = json.loads(guarded)
    assert parsed["offsets"] == [-2.5, -3, 4]
    assert parsed["n"] == -1
    assert parsed["note"] == "x;' =cmd|' /C calc'!A0"
    assert parsed["tag"] == "@evil"  # inside the cell, after `"`: not a cell or part start
