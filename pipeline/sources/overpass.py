"""The Overpass query for Swiss public-transport stops, and detection of Overpass failures.

Overpass answers 200 even when a query ran out of time or memory: the error is a `remark` in the
JSON (or a `<remark>` element in XML) and the data is silently truncated. Such a response is refused.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.errors import SourceError

# Stop objects: nodes and ways (ways with their centre). Ways matter for platforms drawn as areas.
SWISS_STOPS_QUERY = """\
[out:json][timeout:{timeout}];
area["ISO3166-1"="CH"][admin_level=2]->.ch;
(
  nwr(area.ch)["public_transport"~"^(platform|stop_position|station|halt|stop)$"];
  nwr(area.ch)["highway"="bus_stop"];
  nwr(area.ch)["railway"~"^(station|halt|tram_stop|platform)$"];
  nwr(area.ch)["amenity"="ferry_terminal"];
  nwr(area.ch)["aerialway"="station"];
);
out tags center qt;
"""

_REMARK_ERROR = re.compile(r"runtime error|out of memory|timed out|Query timed out|Dispatcher", re.IGNORECASE)


def build_query(timeout_s: int = 300) -> str:
    """The Overpass QL text, with the server-side timeout in seconds."""
    return SWISS_STOPS_QUERY.format(timeout=int(timeout_s))


def check_remark(source: str, remark: Any, path: str | None = None) -> None:
    """Raise when an Overpass remark reports a failed (and therefore truncated) query."""
    if remark and _REMARK_ERROR.search(str(remark)):
        reason = f"Overpass reported an error, the data is incomplete: {str(remark).strip()[:300]}"
        raise SourceError(source, reason, path=path)
