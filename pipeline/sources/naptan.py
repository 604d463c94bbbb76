"""NaPTAN, Great Britain's official stop registry (DfT): the schema 2.x XML export and the CSV layout.

Inputs (either, plain or zipped by the download):
- XML (`NaPTAN*.xml`, schema 2.4): `StopPoints/StopPoint` and `StopAreas/StopArea`, read as a stream
  (lxml `iterparse`, each element dropped once read: memory stays flat at national size);
- CSV: `Stops.csv` (ATCOCode, NaptanCode, CommonName, Indicator, Easting, Northing, Longitude, Latitude,
  StopType, Status, AdministrativeAreaCode, ...), with the optional `StopsInArea.csv` (AtcoCode ↔
  StopAreaCode), `StopAreas.csv` (StopAreaCode, Name, StopAreaType, ...) and `AreaHierarchy.csv`
  (ParentStopAreaCode, ChildStopAreaCode) beside it.

Rules (each a decision; the reasons are in the comments where they are applied):
- Status: only `active` stops are registry stops. `inactive` (deleted or suspended) ones stay out of
  matching and are counted (`stats["inactive"]`).
- Stop types map to the ATLAS modes vocabulary (`STOP_TYPE_MODES`). Entrances (RSE, TMU, BCE, FTD, LCE,
  AIR) and taxi ranks stay out: OSM maps them as entrances or taxi stands, never as stop objects, so
  matching them could only pair an entrance with its station or report it unmatched forever.
- Indicator: a stop letter or bay ("Stop A", "Bay 3", "Stand C", a bare "A") is the platform code, the
  code OSM carries as `local_ref`; a relative position ("opp", "o/s", "adj", "nr", "N-bound") is not a
  code (both sides of a road would have the same one) and goes to `attributes["indicator_position"]` in
  one canonical spelling ("outside" → "o/s").
- StopAreas group stops: `parent_id` is the stop's first active StopAreaRef, so the stop-area matching
  stage sees the stops of one area (the two sides of a road, a bus station's bays) as one stop's
  platforms. The area's name, type and parent area are in `attributes`.
- Positions: a stop has an OSGB36 grid position (Easting/Northing, EPSG:27700; EPSG:29903 for the
  Irish grid) and a WGS84 one. Both are read; the grid one is projected with pyproj and the distance
  between them stored (`attributes["position_disagreement_m"]`). Beyond the tolerance
  (NAPTAN_POSITION_MISMATCH_M, default 25 m, handed in as `ParseOptions.source_settings["naptan"]`)
  the stop is a registry problem (`registry_position_mismatch`); a stop with only a grid position
  takes its WGS84 position from it.
- Matching (the declaration `NAPTAN`): AtcoCode ↔ `naptan:AtcoCode` (exclusive: an object still tagged
  with a closed stop's code is never paired with a neighbour), NaptanCode ↔ `naptan:NaptanCode`, stop
  letter ↔ `local_ref`; stop points are platforms (access areas whole stations); names are not unique.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from sys import intern
from typing import IO, Any

import numpy as np
from lxml import etree
from pyproj import Transformer

from pipeline.declarations import Identifier, RegistryDeclaration
from pipeline.errors import SourceError
from pipeline.geo import coordinate_problem, haversine_m
from pipeline.records import RegistryStop
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind, sniff
from pipeline.text import clean_text

logger = logging.getLogger(__name__)

NAME = "naptan"
NS = "{http://www.naptan.org.uk/}"

# Disagreement between a stop's grid and WGS84 positions above which the registry contradicts itself.
# NaPTAN's two positions are the same point in two systems: on the Brighton export they differ by
# 0.75-1.40 m (pyproj's Helmert transformation without the OSTN15 grid, plus whole-metre eastings),
# so 25 m leaves a wide margin for the transformation and still catches a stop moved in one system only.
DEFAULT_POSITION_MISMATCH_M = 25.0

# Rows whose values cannot be used (a position that is not a number): dropped and counted while they
# are few; above this share of the rows the file itself is suspect and refused whole.
MAX_BAD_ROW_SHARE = 0.01

# StopType → modes in the ATLAS vocabulary (app/services/vocabulary.py). NaPTAN 2.4 types; a metro/tram
# platform (PLT) and access area (MET) do not say which of the two, so both.
STOP_TYPE_MODES: dict[str, str] = {
    "BCT": "BUS",  # on-street bus/coach/trolley stop
    "BCS": "BUS",  # bus/coach station bay, stand or stance
    "BCQ": "BUS",  # bus/coach station variable bay
    "BST": "BUS",  # bus/coach station access area
    "RLY": "TRAIN",  # rail station access area
    "RPL": "TRAIN",  # rail platform
    "MET": "METRO|TRAM",  # metro/tram station access area
    "PLT": "METRO|TRAM",  # metro/tram platform
    "FER": "BOAT",  # ferry or port berth
    "FBT": "BOAT",  # ferry berth
    "LCB": "CABLE_CAR",  # lift or cable car access area
    "LPL": "CABLE_CAR",  # lift or cable car platform
}
# Ways in (and an airport's airside area), not places where a vehicle stops; and taxi ranks, which
# OSM does not map as stops.
ENTRANCE_TYPES = frozenset({"RSE", "TMU", "BCE", "FTD", "LCE", "AIR", "GAT"})
# Access areas: a whole station (OSM `public_transport=station`), not one of its platforms or bays.
ACCESS_AREA_TYPES = frozenset({"RLY", "MET", "BST", "LCB"})
NOT_TRANSIT_TYPES = frozenset({"TXR", "STR"})

# NaPTAN GridType → the CRS of Easting/Northing.
GRID_CRS: dict[str, str] = {"UKOS": "EPSG:27700", "": "EPSG:27700", "IRISHOS": "EPSG:29903"}

# -- indicators -------------------------------------------------------------------------------------

# "Stop A", "Stand 4", "Bay C2", "Stance 12", "Platform 1", "Stop AA": a code; the word is dropped.
_CODE_WORDS = r"(?:stop|stand|stance|bay|platform|plat\.?|pier|berth|gate)"
_CODED = re.compile(
    rf"^{_CODE_WORDS}\s*[:.\-]?\s*([a-z]{{1,2}}[0-9]{{0,2}}|[0-9]{{1,3}}[a-z]?)$", re.IGNORECASE
)
# A bare code, written in capitals or digits ("A", "B2", "12"): a lowercase "in" or "at" is a word.
_BARE_CODE = re.compile(r"^(?:[A-Z]{1,2}[0-9]{0,2}|[0-9]{1,3}[A-Z]?)$")
# Relative positions, in NaPTAN's own abbreviations (the spelling OSM's `naptan:Indicator` copies).
_POSITIONS: dict[str, str] = {
    "opp": "opp",
    "opposite": "opp",
    "o/s": "o/s",
    "os": "o/s",
    "outside": "o/s",
    "adj": "adj",
    "adjacent": "adj",
    "nr": "nr",
    "near": "nr",
    "before": "before",
    "just before": "before",
    "after": "after",
    "just after": "after",
    "at": "at",
    "in": "in",
    "inside": "in",
    "on": "on",
    "by": "by",
    "o/side": "o/s",
    "corner": "corner",
    "cnr": "corner",
}
_BOUND = re.compile(
    r"^(n|s|e|w|ne|nw|se|sw)\s*-?\s*bound$|^(north|south|east|west)\s*-?\s*bound$", re.IGNORECASE
)
_ABBREV_DOT = re.compile(r"(?<=[a-z])\.(?=\s|$)", re.IGNORECASE)


def normalise_indicator(indicator: str | None) -> tuple[str | None, str | None]:
    """(platform code, relative position) of a NaPTAN Indicator.

    "Stop A" → ("A", None); "Bay 12" → ("12", None); "A" → ("A", None); "opp" / "Opp." / "opposite" →
    (None, "opp"); "o/s 253" → (None, "o/s"); "N-bound" / "northbound" → (None, "N-bound");
    "entrance", "N/A", "" → (None, None).
    """
    if not indicator:
        return None, None
    text = " ".join(indicator.split())
    coded = _CODED.match(text)
    if coded:
        return coded.group(1).upper(), None
    if _BARE_CODE.match(text):
        return text, None
    words = _ABBREV_DOT.sub("", text).lower()
    bound = _BOUND.match(words)
    if bound:
        direction = bound.group(1) or bound.group(2)[0]
        return None, f"{direction.upper()}-bound"
    if words in _POSITIONS:
        return None, _POSITIONS[words]
    # "o/s 253", "opp no 12", "nr Tesco": the leading position word counts, the rest is a landmark.
    for length in (2, 1):
        head = " ".join(words.split()[:length])
        if len(words.split()) > length and head in _POSITIONS:
            return None, _POSITIONS[head]
    return None, None


# -- records as read --------------------------------------------------------------------------------


@dataclass(slots=True)
class StopPointRow:
    """One NaPTAN StopPoint as read, before the status/type filters and the position check."""

    atco_code: str
    naptan_code: str = ""
    common_name: str = ""
    short_name: str = ""
    landmark: str = ""
    street: str = ""
    indicator: str = ""
    locality: str = ""
    grid: str = ""
    easting: str = ""
    northing: str = ""
    longitude: str = ""
    latitude: str = ""
    stop_type: str = ""
    bus_stop_type: str = ""
    bearing: str = ""
    admin_area: str = ""
    status: str = "active"
    modified: str = ""
    stop_areas: list[str] = field(default_factory=list)
    line: int | None = None
    dataset: str = "xml"  # which layout it came from: `xml` or `csv`


@dataclass(frozen=True, slots=True)
class StopAreaRow:
    """One NaPTAN StopArea: a group of stops (a bus stop pair or cluster, a bus or rail station)."""

    code: str
    name: str
    area_type: str
    parent: str
    status: str


@dataclass
class _Read:
    """What the files say about stop areas (the stops themselves are streamed)."""

    areas: dict[str, StopAreaRow] = field(default_factory=dict)
    memberships: dict[str, list[str]] = field(default_factory=dict)  # CSV: AtcoCode → StopAreaCodes
    area_parents: dict[str, str] = field(default_factory=dict)  # CSV: StopAreaCode → parent StopAreaCode


def _local(tag: Any) -> str:
    """An element's name without its namespace; "" for a comment or processing instruction."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(elem: etree._Element | None) -> str:
    return clean_text(elem.text.strip()) if elem is not None and elem.text else ""


# -- XML ------------------------------------------------------------------------------------------


def _tags(*names: str) -> tuple[str, ...]:
    return tuple(f"{NS}{n}" for n in names)


# Qualified names compared as whole strings: no namespace split per element on the hot path.
(_ATCO, _NAPTAN_CODE, _DESCRIPTOR, _PLACE, _CLASSIFICATION, _AREAS, _ADMIN) = _tags(
    "AtcoCode",
    "NaptanCode",
    "Descriptor",
    "Place",
    "StopClassification",
    "StopAreas",
    "AdministrativeAreaRef",
)
(_COMMON, _SHORT, _LANDMARK, _STREET, _INDICATOR) = _tags(
    "CommonName", "ShortCommonName", "Landmark", "Street", "Indicator"
)
(_GRID, _EAST, _NORTH, _LON, _LAT, _TRANSLATION) = _tags(
    "GridType", "Easting", "Northing", "Longitude", "Latitude", "Translation"
)
(_LOCALITY, _LOCATION, _STOP_TYPE, _BUS_STOP_TYPE, _COMPASS, _AREA_REF) = _tags(
    "NptgLocalityRef", "Location", "StopType", "BusStopType", "CompassPoint", "StopAreaRef"
)
_DESCRIPTOR_FIELDS = {_COMMON: "common_name", _SHORT: "short_name", _LANDMARK: "landmark",
                      _STREET: "street", _INDICATOR: "indicator"}  # fmt: skip
_LOCATION_FIELDS = {_GRID: "grid", _EAST: "easting", _NORTH: "northing", _LON: "longitude", _LAT: "latitude"}


def _read_location(location: etree._Element, row: StopPointRow) -> None:
    # Schema 2.4 with LocationSystem="WGS84" nests the values in a Translation; "Grid" files put them
    # directly under Location. Either way only the stop's own Location is read, never the start or end
    # point of a hail-and-ride section.
    holder = location.find(_TRANSLATION)
    if holder is None:
        holder = location
    for child in holder:
        attr = _LOCATION_FIELDS.get(child.tag)
        if attr is not None:
            setattr(row, attr, _text(child))


def _read_stop_point(elem: etree._Element) -> StopPointRow:
    row = StopPointRow(atco_code="", status=(elem.get("Status") or "active").strip().lower())
    row.modified = elem.get("ModificationDateTime") or ""
    for child in elem:
        tag = child.tag
        if tag == _ATCO:
            row.atco_code = _text(child)
        elif tag == _NAPTAN_CODE:
            row.naptan_code = _text(child)
        elif tag == _DESCRIPTOR:
            for part in child:
                attr = _DESCRIPTOR_FIELDS.get(part.tag)
                if attr is not None:
                    setattr(row, attr, _text(part))
        elif tag == _PLACE:
            row.locality = _text(child.find(_LOCALITY))
            location = child.find(_LOCATION)
            if location is not None:
                _read_location(location, row)
        elif tag == _CLASSIFICATION:
            row.stop_type = _text(child.find(_STOP_TYPE)).upper()
            row.bus_stop_type = _text(next(child.iter(_BUS_STOP_TYPE), None))
            row.bearing = _text(next(child.iter(_COMPASS), None))
        elif tag == _AREAS:
            row.stop_areas = [
                code
                for ref in child
                if ref.tag == _AREA_REF
                and (ref.get("Status") or "active") == "active"
                and (code := _text(ref))
            ]
        elif tag == _ADMIN:
            row.admin_area = _text(child)
    return row


def _read_stop_area(elem: etree._Element) -> StopAreaRow:
    values = {_local(c.tag): _text(c) for c in elem if len(c) == 0}
    return StopAreaRow(
        code=values.get("StopAreaCode", ""),
        name=values.get("Name", ""),
        area_type=values.get("StopAreaType", ""),
        parent=values.get("ParentStopAreaRef", ""),
        status=(elem.get("Status") or "active").strip().lower(),
    )


def read_xml(stream: IO[bytes], name: str, areas: dict[str, StopAreaRow]) -> Iterator[StopPointRow]:
    """The StopPoints of a NaPTAN XML document, one at a time; its StopAreas go into `areas`.

    lxml's iterparse hands over only the StopPoint and StopArea elements (libxml2 builds the rest
    without a Python event per element: ~5x ElementTree's speed); each is deleted with the siblings
    read before it, so the tree never holds more than one and memory does not grow with the file.
    No entity is resolved and nothing is fetched: a DTD or external entity cannot reach out or expand.
    """
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=(f"{NS}StopPoint", f"{NS}StopArea"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        for _event, elem in context:
            if elem.tag == f"{NS}StopPoint":
                yield _read_stop_point(elem)
            else:
                area = _read_stop_area(elem)
                if area.code:
                    areas[area.code] = area
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise SourceError(NAME, f"invalid XML: {exc.msg}", line=line, path=name) from None
    root = context.root
    if root is None:
        raise SourceError(NAME, "empty XML document", path=name)
    if _local(root.tag) != "NaPTAN":
        raise SourceError(NAME, f"not a NaPTAN document (root element {_local(root.tag)!r})", path=name)


# -- CSV ------------------------------------------------------------------------------------------

STOPS_COLUMNS = ("ATCOCode", "CommonName", "StopType", "Status")
_CSV_FIELDS = {
    "NaptanCode": "naptan_code",
    "CommonName": "common_name",
    "ShortCommonName": "short_name",
    "Landmark": "landmark",
    "Street": "street",
    "Indicator": "indicator",
    "NptgLocalityCode": "locality",
    "GridType": "grid",
    "Easting": "easting",
    "Northing": "northing",
    "Longitude": "longitude",
    "Latitude": "latitude",
    "StopType": "stop_type",
    "BusStopType": "bus_stop_type",
    "Bearing": "bearing",
    "AdministrativeAreaCode": "admin_area",
    "Status": "status",
    "ModificationDateTime": "modified",
}


def _csv_rows(stream: IO[bytes], name: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise SourceError(NAME, "empty file", path=name)
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise SourceError(NAME, f"wrong columns: missing {', '.join(missing)}", line=1, path=name)
        width = len(header)
        for row in reader:
            if len(row) != width:
                if len(row) == 1 and not row[0].strip():
                    continue
                raise SourceError(
                    NAME, f"expected {width} fields, got {len(row)} (truncated or malformed row)",
                    line=reader.line_num, path=name,
                )  # fmt: skip
            yield reader.line_num, {h: clean_text(v.strip()) for h, v in zip(header, row, strict=True)}
    except UnicodeDecodeError as exc:
        raise SourceError(NAME, f"not UTF-8 text ({exc.reason}); wrong encoding?", path=name) from None
    except csv.Error as exc:
        raise SourceError(NAME, f"malformed CSV: {exc}", line=reader.line_num, path=name) from None


def read_stops_csv(stream: IO[bytes], name: str) -> Iterator[StopPointRow]:
    """The rows of Stops.csv, one at a time."""
    for line, values in _csv_rows(stream, name, STOPS_COLUMNS):
        row = StopPointRow(atco_code=values["ATCOCode"], line=line, dataset="csv")
        for column, attr in _CSV_FIELDS.items():
            if column in values:
                setattr(row, attr, values[column])
        row.status = (row.status or "active").lower()
        row.stop_type = row.stop_type.upper()
        yield row


def read_stops_in_area_csv(stream: IO[bytes], name: str, out: _Read) -> None:
    """StopsInArea.csv: which stops belong to which StopArea."""
    for _line, values in _csv_rows(stream, name, ("StopAreaCode", "AtcoCode")):
        if values["AtcoCode"] and values["StopAreaCode"]:
            out.memberships.setdefault(values["AtcoCode"], []).append(values["StopAreaCode"])


def read_stop_areas_csv(stream: IO[bytes], name: str, out: _Read) -> None:
    """StopAreas.csv: each StopArea's name, type and parent."""
    for _line, values in _csv_rows(stream, name, ("StopAreaCode", "Name", "StopAreaType")):
        area = StopAreaRow(
            code=values["StopAreaCode"],
            name=values["Name"],
            area_type=values["StopAreaType"],
            parent=values.get("ParentStopAreaRef", ""),
            status=(values.get("Status") or "active").lower(),
        )
        if area.code:
            out.areas[area.code] = area


def read_area_hierarchy_csv(stream: IO[bytes], name: str, out: _Read) -> None:
    """AreaHierarchy.csv: a StopArea's parent area (a bus stop cluster inside a rail station's area)."""
    for _line, values in _csv_rows(stream, name, ("ParentStopAreaCode", "ChildStopAreaCode")):
        if values["ParentStopAreaCode"] and values["ChildStopAreaCode"]:
            out.area_parents[values["ChildStopAreaCode"]] = values["ParentStopAreaCode"]


def _csv_kind(name: str) -> str | None:
    lowered = name.lower().rsplit("/", 1)[-1]
    if not lowered.endswith(".csv"):
        return None
    if "areahierarchy" in lowered:
        return "area_hierarchy"
    if "stopsinarea" in lowered:
        return "stops_in_area"
    if "stopareas" in lowered:
        return "stop_areas"
    if "stops" in lowered:
        return "stops"
    return None


# The CSV files beside Stops.csv: read before it, so each stop's areas are known when it is read.
_SIDE_READERS: dict[str, Callable[[IO[bytes], str, _Read], None]] = {
    "stops_in_area": read_stops_in_area_csv,
    "stop_areas": read_stop_areas_csv,
    "area_hierarchy": read_area_hierarchy_csv,
}


@contextmanager
def _members(path: Path, max_bytes: int | None) -> Iterator[list[tuple[str, IO[bytes]]]]:
    """(name, binary stream) of a plain file, or of the .xml/.csv members of a zip archive."""
    with path.open("rb") as raw:
        head = raw.read(4096)
    sniff(NAME, path, head)
    if not head.startswith(b"PK"):
        with path.open("rb") as handle:
            yield [(path.name, handle)]
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SourceError(NAME, f"broken zip archive: {exc}", path=path.name) from None
    with archive:
        infos = [i for i in archive.infolist() if i.filename.lower().endswith((".xml", ".csv"))]
        if not infos:
            raise SourceError(NAME, "zip archive holds no .xml or .csv file", path=path.name)
        total = sum(i.file_size for i in infos)
        # zipfile never inflates past a member's declared size (CRC check), so the sum is a real bound.
        if max_bytes is not None and total > max_bytes:
            raise SourceError(
                NAME, f"unzips to {total:,} bytes, over the size limit of {max_bytes:,} (HTTP_MAX_BYTES)",
                path=path.name,
            )  # fmt: skip
        streams = [(i.filename, archive.open(i)) for i in infos]
        try:
            yield streams
        finally:
            for _name, stream in streams:
                stream.close()


def _read_side_files(paths: Sequence[Path], options: ParseOptions, side: _Read) -> None:
    """StopsInArea.csv, StopAreas.csv and AreaHierarchy.csv of `paths` (plain or in a zip) into `side`."""
    for path in paths:
        with _members(path, options.max_bytes) as members:
            for name, stream in members:
                kind = _csv_kind(name)
                if kind is None and not name.lower().endswith(".xml"):
                    raise SourceError(
                        NAME,
                        "a CSV file that is none of Stops, StopsInArea, StopAreas, AreaHierarchy",
                        path=name,
                    )
                if kind in _SIDE_READERS:
                    try:
                        _SIDE_READERS[kind](stream, name, side)
                    except zipfile.BadZipFile as exc:
                        raise SourceError(NAME, f"broken zip archive: {exc}", path=path.name) from None


def _stop_point_rows(paths: Sequence[Path], options: ParseOptions, side: _Read) -> Iterator[StopPointRow]:
    """Every StopPoint of the XML documents and Stops.csv files of `paths`, one at a time (the XML
    documents' StopAreas go into `side.areas` as they are met)."""
    for path in paths:
        with _members(path, options.max_bytes) as members:
            for name, stream in members:
                try:
                    if name.lower().endswith(".xml"):
                        yield from read_xml(stream, name, side.areas)
                    elif _csv_kind(name) == "stops":
                        yield from read_stops_csv(stream, name)
                except zipfile.BadZipFile as exc:
                    raise SourceError(NAME, f"broken zip archive: {exc}", path=path.name) from None


# -- positions ------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def grid_transformer(crs: str) -> Transformer:
    """Grid CRS (EPSG:27700 OSGB36 / British National Grid) → WGS84 lon/lat."""
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _number(value: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


@dataclass
class _Position:
    lat: float
    lon: float
    easting: float | None
    northing: float | None
    crs: str
    grid_lat: float = math.nan
    grid_lon: float = math.nan


def _positions(rows: list[StopPointRow], fail: Callable[[StopPointRow, str], None]) -> list[_Position | None]:
    """Each row's WGS84 position and grid position, the grid one projected to WGS84 (one vectorised
    pyproj call per grid); None for a row with no usable position (reported through `fail`)."""
    out: list[_Position | None] = []
    for row in rows:
        try:
            lat, lon = _number(row.latitude), _number(row.longitude)
            east, north = _number(row.easting), _number(row.northing)
        except ValueError as exc:
            fail(row, f"stop {row.atco_code}: position {exc}")
            out.append(None)
            continue
        crs = GRID_CRS.get(row.grid.upper())
        if crs is None:
            fail(row, f"stop {row.atco_code}: unknown GridType {row.grid!r}")
            out.append(None)
            continue
        if east is None or north is None:
            east = north = None  # half a grid position is none
        if lat is None or lon is None:
            if east is None:
                out.append(None)
                continue
            lat = lon = math.nan  # taken from the grid position below
        out.append(_Position(lat, lon, east, north, crs))
    by_crs: dict[str, list[_Position]] = {}
    for pos in out:
        if pos is not None and pos.easting is not None:
            by_crs.setdefault(pos.crs, []).append(pos)
    for crs, group in by_crs.items():
        lon, lat = grid_transformer(crs).transform(
            np.array([p.easting for p in group]), np.array([p.northing for p in group])
        )
        for pos, glat, glon in zip(group, lat.tolist(), lon.tolist(), strict=True):
            pos.grid_lat, pos.grid_lon = glat, glon
    return out


# -- the source -----------------------------------------------------------------------------------


def _row_hash(values: Iterable[str]) -> str:
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()


# Rows converted to records at a time: one vectorised projection per chunk, and no more rows as read
# held at once than this (a national export has ~435,000 stop points).
CHUNK_ROWS = 5000


def _left_out(row: StopPointRow, seen: set[str]) -> str | None:
    """Why this row is not a registry stop (the stats key), or None when it is one."""
    if not row.atco_code:
        return "no_atco_code"
    if row.status != "active":
        # Deleted or suspended: OSM should not have it, so matching it could only pull a live OSM
        # stop onto a dead record, or report it as missing from OSM for ever.
        return "inactive"
    if row.stop_type in ENTRANCE_TYPES:
        return "entrance"
    if row.stop_type in NOT_TRANSIT_TYPES:
        return "not_a_transit_stop"
    if row.atco_code in seen:
        return "duplicate_atco_code"
    seen.add(row.atco_code)
    return None


class _Batch:
    """Rows waiting for their positions to be projected, and the records made of the rows before."""

    def __init__(self, source: NaptanSource, side: _Read, tolerance: float, stats: dict[str, int]) -> None:
        self.source, self.side, self.tolerance, self.stats = source, side, tolerance, stats
        self.rows: list[StopPointRow] = []
        self.records: list[RegistryStop] = []
        self.bad: list[str] = []  # rows dropped for an unusable value, with the reason
        self.disagreements: list[float] = []

    def add(self, row: StopPointRow) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def _count(self, reason: str) -> None:
        self.stats[reason] = self.stats.get(reason, 0) + 1

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        failed: set[int] = set()

        def fail(row: StopPointRow, reason: str) -> None:
            failed.add(id(row))
            self.bad.append(reason + (f" (line {row.line})" if row.line else ""))

        for row, pos in zip(rows, _positions(rows, fail), strict=True):
            if pos is None:
                if id(row) not in failed:
                    self._count("no_coordinates")
                continue
            if pos.easting is not None and not (math.isfinite(pos.grid_lat) and math.isfinite(pos.grid_lon)):
                # pyproj gives inf far outside the grid: a value no position (and no JSON) can carry.
                grid = f"Easting/Northing {pos.easting:g}, {pos.northing:g}"
                fail(row, f"stop {row.atco_code}: {grid} lie outside {pos.crs}")
                continue
            lat, lon = pos.lat, pos.lon
            disagreement: float | None = None
            if math.isnan(lat):
                lat, lon = pos.grid_lat, pos.grid_lon
                self._count("position_from_grid")
            elif pos.easting is not None:
                disagreement = haversine_m(lat, lon, pos.grid_lat, pos.grid_lon)
                self.disagreements.append(disagreement)
            problem = coordinate_problem(lat, lon)
            if problem:
                fail(row, f"stop {row.atco_code}: {problem}")
                continue
            self.records.append(
                self.source._record(row, pos, lat, lon, disagreement, self.tolerance, self.side)
            )
            if disagreement is not None and disagreement > self.tolerance:
                self._count("position_mismatch")


def _describe_areas(records: list[RegistryStop], side: _Read) -> None:
    """Add each stop's area name, type and parent area (an XML document lists its StopAreas after its
    StopPoints, so only now are they all known)."""
    for record in records:
        area = side.areas.get(record.parent_id) if record.parent_id else None
        if area is None:
            continue
        if area.name:
            record.attributes["stop_area_name"] = area.name
        if area.area_type:
            record.attributes["stop_area_type"] = intern(area.area_type)
        area_parent = area.parent or side.area_parents.get(area.code)
        if area_parent:
            record.attributes["parent_stop_area"] = area_parent


def _is_platform_level(stop: RegistryStop) -> bool:
    # Rows and fix-export views of a stop carry `attributes` too; a view without them is a platform.
    attributes = getattr(stop, "attributes", None) or {}
    return attributes.get("stop_type") not in ACCESS_AREA_TYPES


NAPTAN = RegistryDeclaration(
    name=NAME,
    display_name="NaPTAN",
    # OSM's NaPTAN import wrote both public identifiers as `naptan:*` tags; mappers keep them.
    # AtcoCodes are never reused and the export leaves closed stops out (Status="inactive"): an object
    # still tagged with a closed stop's code is that stop, never a neighbour of the same name.
    stop_id=Identifier("stop_id", ("naptan:AtcoCode",), label="AtcoCode", exclusive=True),
    code=Identifier("code", ("naptan:NaptanCode",), label="NaptanCode"),
    # Only `name`, and a fix never writes it: the import-era `naptan:CommonName` copy is not kept up
    # to date by mappers, and naming is local practice.
    name_tags=("name",),
    # A stop letter ("Stop A" → "A") is `local_ref` in OSM, as the import wrote it.
    platform_tag="local_ref",
    # A stop_area relation names its NaPTAN StopArea in `naptan:StopAreaCode`: the stops' parent_id.
    stop_area=Identifier("parent_id", ("naptan:StopAreaCode",), label="StopAreaCode"),
    # NaPTAN names no operator: nothing to compare or write.
    operator_tag=None,
    publisher="Department for Transport",
    publisher_url="https://naptan.api.dft.gov.uk/",
    boundary="data/boundary/gb.geojson",
    # British National Grid: within 0.04 % of ground distances across Great Britain (LV95 is off by
    # 0.4 % in Brighton and 3.1 % in Lerwick).
    projection="EPSG:27700",
    # Every stop point is one place where vehicles stop (a bus stop, a bay, a platform), except the
    # access areas, which stand for a whole station.
    platform_level=_is_platform_level,
    # CommonNames repeat: both sides of a road, and "Church Road" in every town.
    unique_names=False,
    foreign_tags=frozenset({"uic_ref", "uic_name", "ref:IFOPT", "ref:sloid"}),
)


class NaptanSource(Source):
    """NaPTAN stop points as registry stops (`source="naptan"`, `stop_id` = AtcoCode)."""

    name = NAME
    kind = SourceKind.REGISTRY
    declaration = NAPTAN
    file_patterns = ("naptan*.xml", "NaPTAN*.xml", "naptan*.zip", "NaPTAN*.zip", "Stops.csv",
                     "StopsInArea.csv", "StopAreas.csv", "AreaHierarchy.csv", "naptan*.csv")  # fmt: skip
    url_settings = ("NAPTAN_URL",)
    # Chosen with PIPELINE_SOURCES; never needed by a Swiss instance.
    required = False

    def parse_settings(self, settings: Any) -> dict[str, Any]:
        """NAPTAN_POSITION_MISMATCH_M: the metres by which a stop's grid and WGS84 positions may differ."""
        return {
            "position_mismatch_m": float(
                getattr(settings, "NAPTAN_POSITION_MISMATCH_M", DEFAULT_POSITION_MISMATCH_M)
            )
        }

    def http_request(self, settings: Any) -> HttpRequest | None:
        """The NaPTAN export (NAPTAN_URL: the DfT access-nodes API, XML or CSV), or None."""
        url = getattr(settings, "NAPTAN_URL", "")
        if not url:
            return None
        lowered = url.lower()
        suffix = ".zip" if ".zip" in lowered else ".csv" if "csv" in lowered else ".xml"
        return HttpRequest(url=url, suffix=suffix)

    def find_files(self, directory: Path) -> list[Path]:
        """The NaPTAN files of `directory` (case-insensitive names, each once)."""
        found = super().find_files(directory)
        unique: dict[Path, None] = dict.fromkeys(found)
        return list(unique)

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[RegistryStop]:
        """Registry stops of the NaPTAN files in `paths` (XML and/or CSV), filtered and checked.

        Stops are converted in chunks of CHUNK_ROWS as they are read (positions projected once per
        chunk), so only the records, never all rows as read, are held at once.
        """
        stats: dict[str, int] = {}
        side = _Read()
        _read_side_files(paths, options, side)
        tolerance = float(_setting(options, "position_mismatch_m", DEFAULT_POSITION_MISMATCH_M))
        batch = _Batch(self, side, tolerance, stats)
        seen: set[str] = set()
        rows = 0
        for row in _stop_point_rows(paths, options, side):
            rows += 1
            reason = _left_out(row, seen)
            if reason:
                stats[reason] = stats.get(reason, 0) + 1
                continue
            batch.add(row)
        batch.flush()
        if rows == 0:
            raise SourceError(NAME, "no StopPoint in the input (a NaPTAN export lists thousands)")
        stats["rows"] = rows
        stats["stop_areas"] = len(side.areas)
        self._judge_bad_rows(batch.bad, stats)
        _describe_areas(batch.records, side)
        records = self._filter_boundary(batch.records, options, stats)
        stats["kept"] = len(records)
        if batch.disagreements:
            values = np.array(batch.disagreements)
            stats["position_disagreement_median_cm"] = round(float(np.median(values)) * 100)
            stats["position_disagreement_max_cm"] = round(float(values.max()) * 100)
        return ParseResult(records, stats)

    def _record(
        self,
        row: StopPointRow,
        pos: _Position,
        lat: float,
        lon: float,
        disagreement: float | None,
        tolerance: float,
        side: _Read,
    ) -> RegistryStop:
        platform_code, position = normalise_indicator(row.indicator)
        areas = [a for a in row.stop_areas or side.memberships.get(row.atco_code, []) if a]
        active_areas = [a for a in areas if a not in side.areas or side.areas[a].status == "active"]
        parent = active_areas[0] if active_areas else None
        attributes: dict[str, Any] = {
            "stop_type": intern(row.stop_type) or None,
            "status": intern(row.status),
        }
        optional = {
            "indicator": row.indicator,
            "indicator_position": position,
            "short_name": row.short_name,
            "landmark": row.landmark,
            "street": row.street,
            "locality": intern(row.locality),
            "bus_stop_type": intern(row.bus_stop_type),
            "bearing": intern(row.bearing),
            "modified": row.modified,
        }
        attributes.update({k: v for k, v in optional.items() if v})
        if pos.easting is not None:
            attributes["grid_crs"] = pos.crs
            attributes["easting"] = pos.easting
            attributes["northing"] = pos.northing
        if disagreement is not None:
            attributes["position_disagreement_m"] = round(disagreement, 2)
            if disagreement > tolerance:
                # Read by the `registry_position_mismatch` problem type (pipeline/problems/).
                attributes["position_mismatch"] = {
                    "distance_m": round(disagreement, 1),
                    "tolerance_m": tolerance,
                    "other_lat": round(pos.grid_lat, 7),
                    "other_lon": round(pos.grid_lon, 7),
                    "other_crs": f"{pos.crs} (Easting {pos.easting:g}, Northing {pos.northing:g})",
                }
        if len(active_areas) > 1:
            attributes["stop_areas"] = active_areas
        values = (
            *(row.atco_code, row.naptan_code, row.common_name, row.indicator, row.latitude, row.longitude),
            *(row.easting, row.northing, row.stop_type, row.admin_area, parent or "", row.status),
        )
        return RegistryStop(
            source=NAME,
            stop_id=row.atco_code,
            dataset=row.dataset,
            code=row.naptan_code or None,
            platform_code=platform_code,
            name=row.common_name or None,
            operator_code=None,
            operator_name=None,
            modes=STOP_TYPE_MODES.get(row.stop_type),
            country_code="GB",
            region=intern(row.admin_area) or None,
            parent_id=parent,
            valid_from=None,
            valid_to=None,
            lat=lat,
            lon=lon,
            row_hash=_row_hash(values),
            attributes=attributes,
        )

    def _judge_bad_rows(self, bad: list[str], stats: dict[str, int]) -> None:
        """A few stops with unusable positions are dropped and logged; too many refuse the file."""
        if not bad:
            return
        if len(bad) > MAX_BAD_ROW_SHARE * stats.get("rows", 0):
            more = f" (and {len(bad) - 1:,} more such stops)" if len(bad) > 1 else ""
            raise SourceError(NAME, bad[0] + more)
        stats["invalid_values"] = len(bad)
        for reason in bad[:20]:
            logger.warning("naptan: stop dropped: %s", reason)

    @staticmethod
    def _filter_boundary(
        records: list[RegistryStop], options: ParseOptions, stats: dict[str, int]
    ) -> list[RegistryStop]:
        if options.boundary is None or not records:
            return records
        inside = options.boundary.contains(
            np.array([r.lat for r in records]), np.array([r.lon for r in records])
        )
        stats["outside_boundary"] = int((~inside).sum())
        return [r for r, keep in zip(records, inside.tolist(), strict=True) if keep]


def _setting(options: ParseOptions, key: str, default: Any) -> Any:
    """One of this source's settings handed in by the run (`NaptanSource.parse_settings`), or the default."""
    return options.source_settings.get(NAME, {}).get(key, default)
