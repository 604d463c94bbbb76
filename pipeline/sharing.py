"""One object per distinct value while a source is parsed, so a million records do not carry a
million copies of "node", "bus_stop", an operator's name or a validity date.

A parser reads every field into a new object (the JSON decoder, the CSV reader and string slicing
each allocate afresh); at Germany size (850,000 registry stops, 1,000,000 OSM objects) the repeated
values alone cost several hundred MiB. `Shared` is a per-parse memo (freed with the parser, unlike
`sys.intern`'s table) that hands back the first equal object it saw. Values are immutable (str, date),
so sharing them changes no result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable


class Shared:
    """A memo of the values seen in one parse: `text` for strings, `date` for ISO dates."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._dates: dict[str, dt.date | None] = {}

    def text(self, value: str | None) -> str | None:
        """`value` itself the first time, the earlier equal string after that; "" and None → None."""
        if not value:
            return None
        return self._texts.setdefault(value, value)

    def same(self, value: str) -> str:
        """`value` or the earlier equal string (empty text stays empty text)."""
        return self._texts.setdefault(value, value)

    def date(self, value: str, parse: Callable[[str], dt.date | None]) -> dt.date | None:
        """`parse(value)` computed once per distinct text (a registry has few distinct dates)."""
        try:
            return self._dates[value]
        except KeyError:
            parsed = self._dates[value] = parse(value)
            return parsed
