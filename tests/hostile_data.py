"""Source files full of what anyone can type into OSM or a registry field, for property-based tests.

A small, fixed Vaduz-like snapshot (an ATLAS traffic-point CSV and an Overpass JSON) that covers every
problem type: identifier matches, a name match, a distance problem, unmatched stops on both sides and
OSM duplicates. Hypothesis then overwrites some of its text fields with hostile values: non-ASCII
digits, controls, NUL, bidi marks, lone surrogates (OSM JSON only: a UTF-8 CSV cannot hold them),
10,000-character values, empty strings, XML and CSV syntax. Dates and coordinates stay valid: a
registry file whose coordinates are not numbers is refused as a whole, by design.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

TODAY = dt.date(2025, 8, 2)
BASE_LAT, BASE_LON = 47.14, 9.52  # Vaduz: inside the CH+LI boundary the pipeline filters by
M_PER_DEG_LAT = 111_195.0
ATLAS_FILE = "atlas_traffic_points_hostile.csv"
OSM_FILE = "osm_hostile.json"

ATLAS_HEADER = (
    "sloid",
    "number",
    "uicCountryCode",
    "validFrom",
    "validTo",
    "designationOfficial",
    "designation",
    "trafficPointElementType",
    "parentSloidServicePoint",
    "servicePointBusinessOrganisationAbbreviationEn",
    "servicePointBusinessOrganisationDescriptionEn",
    "cantonAbbreviation",
    "wgs84East",
    "wgs84North",
)
# The registry fields hypothesis may overwrite (never dates, coordinates or the element type).
REGISTRY_FIELDS = (
    "sloid",
    "number",
    "designationOfficial",
    "designation",
    "parentSloidServicePoint",
    "servicePointBusinessOrganisationAbbreviationEn",
    "servicePointBusinessOrganisationDescriptionEn",
    "cantonAbbreviation",
)
# The OSM tags the pipeline reads; any other key (hostile ones included) is stored and shown too.
OSM_TAGS = (
    "name",
    "uic_ref",
    "uic_name",
    "local_ref",
    "ref",
    "ref:IFOPT",
    "ref:sloid",
    "operator",
    "network",
    "official_name",
    "gtfs:name",
)

LONG = 10_000
SPECIAL_VALUES: tuple[str, ...] = (
    "\u00b2",  # superscript two: str.isdigit() is True, int() refuses it
    "\u0661\u0662\u0663",  # Arabic-Indic digits: int() reads them as 123
    "\uff18\uff15\uff19\uff10\uff10\uff10\uff11",  # fullwidth 8590001
    "\u202e8590001",  # right-to-left override in front of a real number
    "8590001\u200b",  # zero-width space after it
    "\x00",
    "85\x0090001",
    "",
    " ",
    "x" * LONG,
    "8" * LONG,  # int() refuses more than 4,300 digits
    "8590001" * 3,  # 21 digits: no PostgreSQL integer holds it
    "\x0b\x0c\x1b\x7f",
    "\ufffe\uffff",
    "]]><!--",
    "<tag>&amp;</tag>",
    "--",
    "\r\n",
    "\r",
    '=HYPERLINK("http://x")',
    "-1",
    "'\"",
    ";",
    "8590001;8590002",
    "ch:1:sloid:90001:1:1",
    "ch:1:sloid:90001:1:1\n",
    "../../etc/passwd",
    "%00",
    "\U0001f68f",  # a bus stop emoji (outside the BMP)
)


def hostile_text(*, surrogates: bool) -> st.SearchStrategy[str]:
    """Hostile values; `surrogates` adds lone UTF-16 surrogates (only JSON can carry them)."""
    options = [
        st.sampled_from(SPECIAL_VALUES),
        st.text(max_size=40),
        st.text(st.characters(categories=("Cc", "Cf", "Nd", "No", "Nl", "Zs", "Zl")), max_size=12),
    ]
    if surrogates:
        options.append(
            st.text(st.characters(categories=("Cs",), codec=None), min_size=1, max_size=3).map(
                lambda s: f"85{s}90001"
            )
        )
    return st.one_of(*options)


def registry_overrides() -> st.SearchStrategy[list[dict[str, str]]]:
    """Per base registry stop, the fields to overwrite with hostile values."""
    one = st.dictionaries(st.sampled_from(REGISTRY_FIELDS), hostile_text(surrogates=False), max_size=3)
    return st.lists(one, min_size=len(BASE_STOPS), max_size=len(BASE_STOPS))


def osm_overrides() -> st.SearchStrategy[list[dict[str, str]]]:
    """Per base OSM object, tags to set to hostile values (known tags, or hostile keys)."""
    key = st.one_of(st.sampled_from(OSM_TAGS), hostile_text(surrogates=True).filter(bool))
    one = st.dictionaries(key, hostile_text(surrogates=True), max_size=4)
    return st.lists(one, min_size=len(BASE_OBJECTS), max_size=len(BASE_OBJECTS))


def _at(east_m: float, north_m: float) -> tuple[float, float]:
    lat = BASE_LAT + north_m / M_PER_DEG_LAT
    lon = BASE_LON + east_m / (M_PER_DEG_LAT * math.cos(math.radians(BASE_LAT)))
    return round(lat, 7), round(lon, 7)


# (stop_id, number, official name, platform_code, operator, east_m, north_m)
BASE_STOPS: tuple[tuple[str, str, str, str, str, float, float], ...] = (
    ("ch:1:sloid:90001:1:1", "8590001", "Vaduz, Post", "1", "VLM", 0, 0),
    ("ch:1:sloid:90001:1:2", "8590001", "Vaduz, Post", "2", "VLM", 30, 0),
    ("ch:1:sloid:90002:0:1", "8590002", "Vaduz, \u00c4ule", "", "VLM", 0, 400),
    ("ch:1:sloid:90003:0:1", "8590003", "Vaduz, M\u00fchleholz", "A", "SBB", 0, 800),
    ("ch:1:sloid:90004:0:1", "8590004", "Vaduz, Schule", "", "VLM", 600, 0),
)
# (type, id, tags, east_m, north_m)
BASE_OBJECTS: tuple[tuple[str, int, dict[str, str], float, float], ...] = (
    ("node", 1, {"uic_ref": "8590001", "local_ref": "1", "name": "Vaduz, Post", "highway": "bus_stop"}, 5, 0),
    (
        "node",
        2,
        {"uic_ref": "8590001", "local_ref": "2", "name": "Vaduz, Post", "highway": "bus_stop"},
        30,
        45,
    ),
    ("node", 3, {"name": "Vaduz \u00c4ule", "public_transport": "platform", "operator": "PostAuto"}, 8, 405),
    ("node", 4, {"uic_ref": "8599999", "name": "Nowhere", "public_transport": "platform"}, 3000, 3000),
    ("way", 5, {"ref:IFOPT": "ch:1:sloid:77777", "public_transport": "platform", "name": "Dup"}, -400, 0),
    ("node", 6, {"ref:IFOPT": "ch:1:sloid:77777", "public_transport": "platform", "name": "Dup"}, -405, 0),
    ("node", 7, {"ref:sloid": "ch:1:sloid:90004:0:1", "public_transport": "platform"}, 600, 5),
)


def atlas_rows(overrides: list[dict[str, str]]) -> list[dict[str, str]]:
    """The registry rows, base values overwritten by `overrides` (one dict per base stop)."""
    rows = []
    for (stop_id, number, name, platform_code, operator, east, north), extra in zip(
        BASE_STOPS, overrides, strict=True
    ):
        lat, lon = _at(east, north)
        row = {
            "sloid": stop_id,
            "number": number,
            "uicCountryCode": "85",
            "validFrom": "2020-01-01",
            "validTo": "9999-12-31",
            "designationOfficial": name,
            "designation": platform_code,
            "trafficPointElementType": "BOARDING_PLATFORM",
            "parentSloidServicePoint": stop_id.rsplit(":", 2)[0],
            "servicePointBusinessOrganisationAbbreviationEn": operator,
            "servicePointBusinessOrganisationDescriptionEn": f"{operator} AG",
            "cantonAbbreviation": "LI",
            "wgs84East": str(lon),
            "wgs84North": str(lat),
        }
        row.update(extra)
        rows.append(row)
    return rows


def osm_elements(overrides: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The Overpass elements, base tags updated by `overrides` (one dict per base object)."""
    elements = []
    for (kind, osm_id, tags, east, north), extra in zip(BASE_OBJECTS, overrides, strict=True):
        lat, lon = _at(east, north)
        element: dict[str, Any] = {"type": kind, "id": osm_id, "version": 3, "tags": {**tags, **extra}}
        if kind == "node":
            element.update(lat=lat, lon=lon)
        else:
            element["center"] = {"lat": lat, "lon": lon}
        elements.append(element)
    return elements


def write_sources(
    folder: Path, registry: list[dict[str, str]] | None = None, osm: list[dict[str, str]] | None = None
) -> Path:
    """Write both source files into `folder` (created); returns it. No overrides: the clean base."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = atlas_rows(registry or [{} for _ in BASE_STOPS])
    with (folder / ATLAS_FILE).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ATLAS_HEADER, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    payload = {"version": 0.6, "elements": osm_elements(osm or [{} for _ in BASE_OBJECTS])}
    # ensure_ascii: lone surrogates travel as \ud800 escapes, exactly as a JSON producer may send them.
    (folder / OSM_FILE).write_text(json.dumps(payload, ensure_ascii=True), encoding="utf-8")
    return folder
