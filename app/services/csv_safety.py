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

# OWASP "CSV Injection": the characters a spreadsheet starts a formula (or DDE call) with.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A part starts after the cell's start or after a `;`/`,`, then optional blanks, then a trigger.
_DANGEROUS_PART = re.compile(r"(^|[;,])([ \t\r\n]*)(?=[=+\-@\t\r])")
# A plain decimal number, possibly closing a JSON array or object (`[1, -2.5]` in the evidence
# cell): nothing a spreadsheet could call or link.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[\]}\s]*")
# A part: everything up to the next separator (or the end).
_PART_AFTER = re.compile(r"[^;,]*")


def safe_cell(value: Any) -> Any:
    """`value` made harmless for a spreadsheet (see the module doc); non-strings are returned as is."""
    if not isinstance(value, str) or not value:
        return value

    def neutralise(match: re.Match[str]) -> str:
        separator, blanks = match.group(1), match.group(2)
        part = _PART_AFTER.match(value, match.end()).group(0)  # type: ignore[union-attr]
        if _NUMBER.fullmatch(part):
            return match.group(0)
        # The quote goes right after the separator, so the part a splitting spreadsheet sees
        # starts with it; a leading tab or CR itself is kept after the quote, where it is text.
        return f"{separator}'{blanks}"

    return _DANGEROUS_PART.sub(neutralise, value)


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through `safe_cell` (for `csv.writer.writerow`)."""
    return [safe_cell(value) for value in values]


def safe_dict_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a row through `safe_cell` (for `csv.DictWriter.writerow`)."""
    return {key: safe_cell(value) for key, value in row.items()}
