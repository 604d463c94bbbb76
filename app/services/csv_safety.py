"""The one guard every CSV we write goes through: no cell a spreadsheet would run as a formula.

CSV (formula) injection: a spreadsheet treats a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return as a formula (OWASP's list), and ``=HYPERLINK(...)`` or ``=cmd|...`` in an OSM name,
an operator or a reviewer's note would run on the steward's machine. Some spreadsheets (Excel in
locales whose list separator is ``;``) split an unquoted cell on ``;``, and a cell holding ``,`` may be
split by a tool that ignores quoting, so every ``;``- or ``,``-separated part counts as a cell start.

A dangerous start gets a single quote in front of it (the spreadsheet convention for "this is text"):
``=1+1`` -> ``'=1+1``, ``Bern;=cmd`` -> ``Bern;'=cmd``. Numbers stay numbers: non-string values are
never touched, and a string (or part) that is a plain decimal number such as ``-3.5`` or ``+1e3`` is
one a spreadsheet reads as that number, not as a formula, so it is left as it is. A JSON cell stays
valid JSON: outside its strings a part can only start with a negative number (left alone), and a
quote added inside one of its strings is just another character of that string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# The UTF-8 byte-order mark every CSV we write starts with by default (the API's `bom=false` leaves it
# out): Excel reads a CSV as UTF-8 only when the file starts with it; without it "Tröxlegass" shows
# as "TrÃ¶xlegass".
UTF8_BOM = "\ufeff"
# OWASP "CSV Injection": the characters a spreadsheet starts a formula (or DDE call) with.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRIGGERS = frozenset(FORMULA_START)
# Blanks a spreadsheet skips before reading a cell or part (tab and CR are triggers themselves).
_BLANKS = " \n"
# What a cell must start with for its first part to matter at all (blanks may precede a trigger).
_MAYBE_START = _TRIGGERS | frozenset(_BLANKS)
# Split keeping the separators: [part, separator, part, separator, part, ...].
_SEPARATED = re.compile(r"([;,])")
# A plain decimal number, possibly closing a JSON array or object (`[1, -2.5]` in the evidence
# cell): nothing a spreadsheet could call or link.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[\]}\s]*")


def _runs(part: str) -> bool:
    lead = part.lstrip(_BLANKS)
    return bool(lead) and lead[0] in _TRIGGERS and not _NUMBER.fullmatch(lead)


def safe_cell(value: Any) -> Any:
    """`value` made harmless for a spreadsheet (see the module doc); non-strings are returned as is."""
    if not isinstance(value, str) or not value:
        return value
    if ";" not in value and "," not in value:
        # Most cells: one part, looked at only when its first character could begin a formula.
        return "'" + value if value[0] in _MAYBE_START and _runs(value) else value
    pieces = _SEPARATED.split(value)
    parts = pieces[0::2]
    if not any(_runs(part) for part in parts):
        return value
    # The quote goes right at the part's start (after its separator), so the cell a splitting
    # spreadsheet sees starts with it; a leading tab or CR stays behind the quote, where it is text.
    pieces[0::2] = ["'" + part if _runs(part) else part for part in parts]
    return "".join(pieces)


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through `safe_cell` (for `csv.writer.writerow`)."""
    return [safe_cell(value) for value in values]


def safe_dict_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a row through `safe_cell` (for `csv.DictWriter.writerow`)."""
    return {key: safe_cell(value) for key, value in row.items()}
