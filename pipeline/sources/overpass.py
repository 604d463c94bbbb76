"""The Overpass query for public-transport stops of the configured areas, and detection of Overpass failures.

The query covers the union of the areas in `OVERPASS_AREAS` (by default Switzerland and Liechtenstein,
the two countries of the ATLAS registry and of the boundary file). It returns, with `out meta` (version,
timestamp, changeset) and the centre of every way:
- the stop objects (nodes, ways and relations carrying a stop tag, see `pipeline.sources.osm.STOP_TAGS`);
- the `public_transport=stop_area` relations of the areas;
- the public-transport route relations (`type=route`, `route` in `TRANSIT_ROUTES`) and their route masters;
- every way that contains a stop node, as a skeleton (its node ids only), so the parser knows which stop
  nodes belong to a way (a road's stop position, a platform edge): those are never moved by a fix export.

Overpass answers 200 even when a query ran out of time or memory: the error is a `remark` in the
JSON (or a `<remark>` element in XML) and the data is silently truncated. Such a response is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pipeline.errors import SourceError

DEFAULT_AREAS = "ISO3166-1=CH,ISO3166-1=LI"
DEFAULT_TIMEOUT_S = 300
# Overpass's own default is 512 MiB; every stop, stop area and route of Switzerland with their
# metadata needs more than that on the server side.
DEFAULT_MAXSIZE_BYTES = 1_073_741_824
# Route relations the matcher can use as evidence: public transport, not hiking, bicycle or road routes.
TRANSIT_ROUTES = (
    "bus",
    "trolleybus",
    "tram",
    "train",
    "light_rail",
    "subway",
    "ferry",
    "aerialway",
    "funicular",
    "monorail",
)

# key=value (an area tag, e.g. ISO3166-1=CH) or a numeric Overpass area id (3600000000 + relation id).
# Values may be any text but what would end the quoted string or the filter (quote, backslash, ]).
_AREA_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9_:.-]*)=([^\"\\\[\];\x00-\x1f]+)$")
_AREA_ID = re.compile(r"^[0-9]{1,12}$")

_REMARK_ERROR = re.compile(r"runtime error|out of memory|timed out|Query timed out|Dispatcher", re.IGNORECASE)


def parse_areas(spec: str) -> list[str]:
    """The Overpass area statements of a comma-separated `OVERPASS_AREAS` value; raises ValueError."""
    statements: list[str] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        if _AREA_ID.match(item):
            statements.append(f"area({int(item)});")
            continue
        tag = _AREA_TAG.match(item)
        if tag is None:
            raise ValueError(
                f"{item!r} is neither key=value (e.g. ISO3166-1=CH) nor a numeric Overpass area id"
            )
        key, value = tag.group(1), tag.group(2).strip()
        statements.append(f'area["{key}"="{value}"];')
    if not statements:
        raise ValueError("no area given (e.g. ISO3166-1=CH,ISO3166-1=LI)")
    return statements


def _stop_filters() -> list[str]:
    """One Overpass tag filter per stop tag of the OSM parser, so the query and the parser never disagree."""
    from pipeline.sources.osm import STOP_TAGS  # the parser owns the list of stop tags

    filters = []
    for key, values in STOP_TAGS.items():
        if values is None:
            filters.append(f'["{key}"]')
        elif len(values) == 1:
            filters.append(f'["{key}"="{next(iter(values))}"]')
        else:
            filters.append(f'["{key}"~"^({"|".join(sorted(values))})$"]')
    return filters


def build_query(
    timeout_s: int = DEFAULT_TIMEOUT_S,
    areas: str | Sequence[str] = DEFAULT_AREAS,
    maxsize_bytes: int = DEFAULT_MAXSIZE_BYTES,
) -> str:
    """The Overpass QL text for the stops, stop areas and routes of `areas` (an OVERPASS_AREAS value)."""
    spec = areas if isinstance(areas, str) else ",".join(areas)
    area_lines = "\n".join(f"  {statement}" for statement in parse_areas(spec))
    stop_lines = "\n".join(f"  nwr(area.searchArea){f};" for f in _stop_filters())
    routes = "|".join(TRANSIT_ROUTES)
    return (
        f"[out:json][timeout:{int(timeout_s)}][maxsize:{int(maxsize_bytes)}];\n"
        f"(\n{area_lines}\n)->.searchArea;\n"
        f"(\n{stop_lines}\n)->.stops;\n"
        'rel(area.searchArea)["public_transport"="stop_area"]->.stopAreas;\n'
        f'rel(area.searchArea)["type"="route"]["route"~"^({routes})$"]->.routes;\n'
        'rel(br.routes)["type"="route_master"]->.masters;\n'
        "node.stops->.stopNodes;\n"
        "way(bn.stopNodes)->.stopWays;\n"
        "(.stops; .stopAreas; .routes; .masters;);\n"
        "out meta center qt;\n"
        ".stopWays out skel qt;\n"
    )


def check_remark(source: str, remark: Any, path: str | None = None) -> None:
    """Raise when an Overpass remark reports a failed (and therefore truncated) query."""
    if remark and _REMARK_ERROR.search(str(remark)):
        reason = f"Overpass reported an error, the data is incomplete: {str(remark).strip()[:300]}"
        raise SourceError(source, reason, path=path)
