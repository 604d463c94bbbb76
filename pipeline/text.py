"""Text from the outside world: what counts as an identifier, and what text can be stored and written.

Anyone can type anything into an OSM tag, and a registry export is only as clean as its producer.
Three rules keep such text from stopping a run or breaking an output:

- **Identifiers are ASCII.** A number is ASCII digits `0-9` only (`str.isdigit()` also accepts "²"
  and the Arabic-Indic one U+0661, which `int()` then refuses or reads as another number); a stop_id
  is ASCII letters, digits and `:._-`. Anything else is "not an identifier", never an exception.
- **Stored text is text PostgreSQL and UTF-8 can hold**: NUL removed, lone surrogates (only JSON
  `\\ud800` escapes produce them) replaced by U+FFFD. Sources clean every value they read, so
  matching, problems, the import and every output see the same, storable text. (A text longer than
  its column is cut to fit by the importer, which counts it.)
- **XML output holds only XML 1.0 characters**: the other control characters are dropped when a
  value is written into a feed or an osmChange file (`xml_safe`).
"""

from __future__ import annotations

import re
import unicodedata

# Nine digits always fit PostgreSQL `integer` (registry_stops.code); UIC numbers have seven.
MAX_NUMBER_DIGITS = 9
_ASCII_NUMBER = re.compile(r"[0-9]+")
# The stop_id grammar (ch:1:sloid:7000:1:2), shared by the ATLAS parser and the API's path check.
SLOID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9:._-]{0,99}"
_SLOID = re.compile(SLOID_PATTERN)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Everything outside XML 1.0's Char production (tab, LF and CR are the only controls it allows).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Unicode categories that never belong in an identifier: controls, format characters (bidi marks,
# zero-width joiners), surrogates, private use and unassigned code points.
_NOT_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def ascii_int(value: str | None, *, max_digits: int = MAX_NUMBER_DIGITS) -> int | None:
    """`value` as a non-negative integer when it is 1..max_digits ASCII digits (surrounding blanks
    ignored), else None: "8503000" → 8503000; "²", U+0661, "+1", "1_000", "8503000;8503001" → None."""
    if not value:
        return None
    value = value.strip()
    if len(value) > max_digits or not _ASCII_NUMBER.fullmatch(value):
        return None
    return int(value)


def is_sloid(value: str | None) -> bool:
    """Whether `value` has the shape of a stop_id (ASCII letters, digits and `:._-`, at most 100)."""
    return bool(value) and _SLOID.fullmatch(value) is not None  # type: ignore[arg-type]


def has_foreign_characters(value: str | None) -> bool:
    """Whether `value` holds a character no identifier (a platform code, a number) can hold: a digit
    other than ASCII 0-9 ("²", U+0661, fullwidth U+FF11), a control or format character (bidi marks,
    zero-width joiners)."""
    if not value or (value.isascii() and value.isprintable()):
        return False
    for ch in value:
        if ch.isascii():
            if not ch.isprintable():
                return True
        elif ch.isnumeric() or unicodedata.category(ch) in _NOT_IN_IDENTIFIERS:
            return True
    return False


def clean_text(value: str) -> str:
    """`value` without NUL and with lone surrogates replaced by U+FFFD: text PostgreSQL can store."""
    if value.isascii() and "\x00" not in value:
        return value
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def xml_safe(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry (controls other than tab/LF/CR, lone
    surrogates, U+FFFE/U+FFFF): writing them would make the whole document unreadable."""
    return _NOT_XML.sub("", value)
