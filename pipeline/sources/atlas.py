"""ATLAS, the Swiss official stop registry: the traffic-point and the service-point CSV exports.

Both are `;`-separated UTF-8 (with BOM) CSV, plain or zipped. The format is recognised by its header:
- traffic points (platforms; `trafficPointElementType`): kept when BOARDING_PLATFORM;
- service points (whole stops; `isoCountryCode`, `stopPoint`): kept when `stopPoint` is true.
Both: valid today (validFrom ≤ today ≤ validTo, ISO dates), with WGS84 coordinates, UIC country code in
`ParseOptions.uic_country_codes`, inside `ParseOptions.boundary`. When both exports are given, a service
point whose platforms are in the traffic-point export is replaced by them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import logging
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from pipeline.declarations import (
    Identifier,
    RegistryDeclaration,
    decimal_number,
    default_distance_priority,
)
from pipeline.errors import SourceError
from pipeline.geo import coordinate_problem, in_sanity_bbox
from pipeline.records import RegistryStop
from pipeline.sharing import Shared
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind, sniff
from pipeline.text import ascii_int, clean_text, is_sloid

logger = logging.getLogger(__name__)

# Rows whose values cannot be used (not numbers, impossible dates, far outside the country) that a
# file may hold and still be imported, as a share of its rows: real exports carry a handful of such
# mistakes; a systematic error (wrong coordinate system, swapped columns) touches most rows.
MAX_BAD_ROW_SHARE = 0.01

TRAFFIC_POINT = "traffic_point"
SERVICE_POINT = "service_point"

COMMON_COLUMNS = (
    "sloid",
    "number",
    "uicCountryCode",
    "validFrom",
    "validTo",
    "designationOfficial",
    "wgs84East",
    "wgs84North",
)
TRAFFIC_COLUMNS = (
    *COMMON_COLUMNS,
    "designation",
    "trafficPointElementType",
    "parentSloidServicePoint",
    "servicePointBusinessOrganisationAbbreviationEn",
)
SERVICE_COLUMNS = (
    *COMMON_COLUMNS,
    "stopPoint",
    "isoCountryCode",
    "meansOfTransport",
    "businessOrganisationAbbreviationEn",
)
SWISS_UIC_COUNTRY = "85"


def _detect_format(header: list[str]) -> str:
    if "trafficPointElementType" in header:
        return TRAFFIC_POINT
    if "stopPoint" in header and "isoCountryCode" in header:
        return SERVICE_POINT
    raise ValueError(
        "wrong columns: neither the traffic-point export (trafficPointElementType) nor the service-point "
        f"export (stopPoint, isoCountryCode); got {', '.join(header[:8])}{'...' if len(header) > 8 else ''}"
    )


# An ATLAS row is about 1 KB. A longer "line" is not CSV (or a zip bomb without newlines), and reading
# it whole would hold all of it in memory before the CSV reader could refuse it.
MAX_LINE_CHARS = 1 << 20


def _bounded_lines(text: io.TextIOBase, path: Path) -> Iterator[str]:
    """The lines of `text`, refusing one longer than MAX_LINE_CHARS before it is read whole."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise SourceError(
                "atlas",
                f"a line longer than {MAX_LINE_CHARS:,} characters: not CSV",
                line=number,
                path=path.name,
            )
        yield line


@contextmanager
def _open_text(path: Path, max_bytes: int | None = None) -> Iterator[Iterator[str]]:
    """The CSV lines of a plain or zipped export (the first .csv member of a zip), the zip member
    read with at most `max_bytes` unzipped (a plain file's size was checked when it was fetched)."""
    with path.open("rb") as raw:
        head = raw.read(4096)
    sniff("atlas", path, head)
    if head.startswith(b"PK"):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise SourceError("atlas", f"broken zip archive: {exc}", path=path.name) from None
        with archive:
            members = [i for i in archive.infolist() if i.filename.lower().endswith(".csv")]
            if not members:
                raise SourceError("atlas", "zip archive holds no .csv file", path=path.name)
            member = members[0]
            # The declared size is a real bound: zipfile never inflates past it (a member that holds
            # more fails its CRC check), so a bomb cannot claim 1 KB and unzip to 1 GB.
            if max_bytes is not None and member.file_size > max_bytes:
                raise SourceError(
                    "atlas",
                    f"{member.filename} unzips to {member.file_size:,} bytes, over the size limit of "
                    f"{max_bytes:,} (HTTP_MAX_BYTES)",
                    path=path.name,
                )
            with archive.open(member) as stream:
                yield _bounded_lines(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), path)
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield _bounded_lines(handle, path)


def _float(value: str) -> float:
    return float(value) if value else float("nan")


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# Large stations: the registry places an SBB railway platform at its middle, OSM often at one end,
# so positions are legitimately farther apart: a distance problem of an SBB stop is never above P3.
MAJOR_OPERATOR = "SBB"


def atlas_distance_priority(distance_m: float, stop: RegistryStop) -> int | None:
    """ATLAS's distance policy: the default thresholds, an SBB stop's problem at most priority 3."""
    priority = default_distance_priority(distance_m, stop)
    if priority is not None and (stop.operator_code or "").upper() == MAJOR_OPERATOR:
        return 3
    return priority


ATLAS = RegistryDeclaration(
    name="atlas",
    display_name="ATLAS",
    # The sloid is Switzerland's IFOPT id: mappers write it to `ref:IFOPT` (the standard key, proposed)
    # or `ref:sloid`.
    stop_id=Identifier("stop_id", ("ref:IFOPT", "ref:sloid"), label="sloid"),
    # The UIC number: `uic_ref`; several platforms share it, told apart by `local_ref` (platform_code).
    code=Identifier("code", ("uic_ref",), normalise=decimal_number, label="UIC number"),
    # The official name goes to `name` and `uic_name` (the name the UIC number stands for).
    name_tags=("name", "uic_name"),
    # A stop_area relation's `uic_ref` is the UIC number of the stop it groups (its platforms share it).
    stop_area=Identifier("code", ("uic_ref",), normalise=decimal_number, label="UIC number"),
    distance_priority=atlas_distance_priority,
    stop_url="https://atlas.app.sbb.ch/service-point-directory/service-points/{code}/traffic-point-elements",
    publisher="opentransportdata.swiss",
    publisher_url="https://opentransportdata.swiss/",
    boundary="data/boundary/ch_li.geojson",
    # Swiss LV95: within 0.1 % of ground distances across CH+LI.
    projection="EPSG:2056",
    foreign_tags=frozenset({"naptan:AtcoCode", "naptan:NaptanCode"}),
)


class AtlasSource(Source):
    name = "atlas"
    kind = SourceKind.REGISTRY
    declaration = ATLAS
    file_patterns = ("atlas*.csv", "atlas*.csv.zip", "atlas*.zip")
    url_settings = ("ATLAS_URL", "ATLAS_SERVICE_POINTS_URL")

    def http_request(self, settings: Any) -> HttpRequest | None:
        """The traffic-point export (ATLAS_URL), or None when it is not configured."""
        requests = self.http_requests(settings)
        return requests[0] if requests and not requests[0].feed else None

    def http_requests(self, settings: Any) -> list[HttpRequest]:
        """The traffic-point export (ATLAS_URL) and the service-point export (ATLAS_SERVICE_POINTS_URL),
        each when configured; both are parsed together (`_detect_format` tells them apart by header)."""
        out = []
        for setting, feed in (("ATLAS_URL", ""), ("ATLAS_SERVICE_POINTS_URL", "service_points")):
            url = getattr(settings, setting, "")
            if url:
                suffix = ".zip" if urlsplit(url).path.lower().endswith(".zip") else ".csv"
                out.append(HttpRequest(url=url, suffix=suffix, feed=feed))
        return out

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[RegistryStop]:
        stats: dict[str, int] = {}
        by_format: dict[str, list[RegistryStop]] = {TRAFFIC_POINT: [], SERVICE_POINT: []}
        for path in paths:
            fmt, records = self._parse_file(path, options, stats)
            by_format[fmt].extend(records)
        traffic, service = by_format[TRAFFIC_POINT], by_format[SERVICE_POINT]
        if traffic and service:
            covered = {r.parent_id for r in traffic if r.parent_id}
            kept = [r for r in service if r.stop_id not in covered]
            stats["service_points_replaced_by_platforms"] = len(service) - len(kept)
            service = kept
        records = self._filter_boundary(traffic + service, options, stats)
        seen: set[str] = set()
        unique: list[RegistryStop] = []
        for record in records:
            if record.stop_id in seen:
                stats["duplicate_sloid"] = stats.get("duplicate_sloid", 0) + 1
                continue
            seen.add(record.stop_id)
            unique.append(record)
        stats["kept"] = len(unique)
        return ParseResult(unique, stats)

    def _filter_boundary(
        self, records: list[RegistryStop], options: ParseOptions, stats: dict[str, int]
    ) -> list[RegistryStop]:
        if options.boundary is None or not records:
            return records
        inside = options.boundary.contains(
            np.array([r.lat for r in records]), np.array([r.lon for r in records])
        )
        stats["outside_boundary"] = int((~inside).sum())
        return [r for r, keep in zip(records, inside.tolist(), strict=True) if keep]

    def _parse_file(
        self, path: Path, options: ParseOptions, stats: dict[str, int]
    ) -> tuple[str, list[RegistryStop]]:
        def fail(reason: str, line: int | None = None) -> SourceError:
            return SourceError(self.name, reason, line=line, path=path.name)

        def drop(reason: str) -> None:
            stats[reason] = stats.get(reason, 0) + 1

        records: list[RegistryStop] = []
        bad_rows: list[SourceError] = []
        today = options.today.isoformat()
        codes = options.uic_country_codes
        shared = Shared()  # one object per repeated operator, mode, date... (850,000 rows: ~300 MiB less)
        line = 1
        with _open_text(path, options.max_bytes) as text:
            reader = csv.reader(text, delimiter=";", strict=True)
            try:
                header = next(reader, None)
                if not header:
                    raise fail("empty file")
                header = [h.strip() for h in header]
                try:
                    fmt = _detect_format(header)
                except ValueError as exc:
                    raise fail(str(exc), line=1) from None
                required = TRAFFIC_COLUMNS if fmt == TRAFFIC_POINT else SERVICE_COLUMNS
                missing = [c for c in required if c not in header]
                if missing:
                    raise fail(f"wrong columns: missing {', '.join(missing)}", line=1)
                col = {name: i for i, name in enumerate(header)}
                width = len(header)
                get = self._getter(fmt, col)
                for row in reader:
                    line = reader.line_num
                    if len(row) != width:
                        if len(row) == 1 and not row[0].strip():
                            continue  # a blank line
                        raise fail(
                            f"expected {width} fields, got {len(row)} (truncated or malformed row)", line
                        )
                    stats["rows"] = stats.get("rows", 0) + 1
                    try:
                        record = self._row(
                            row, get, fmt, today, codes, drop, functools.partial(fail, line=line), shared
                        )
                    except SourceError as exc:
                        bad_rows.append(exc)  # a value the row cannot carry: judged below, by share
                        continue
                    if record is not None:
                        records.append(record)
            except UnicodeDecodeError as exc:
                raise fail(f"not UTF-8 text ({exc.reason}); wrong encoding?", line + 1) from None
            except csv.Error as exc:
                raise fail(f"malformed CSV: {exc}", reader.line_num) from None
            except (zipfile.BadZipFile, EOFError) as exc:
                raise fail(f"broken zip archive: {exc}", line) from None
        if stats.get("rows", 0) == 0:
            raise fail("no data rows after the header")
        self._judge_bad_rows(bad_rows, stats)
        stats[f"{fmt}_rows"] = stats.get(f"{fmt}_rows", 0) + len(records)
        return fmt, records

    def _judge_bad_rows(self, bad_rows: list[SourceError], stats: dict[str, int]) -> None:
        """Drop a few rows whose values cannot be used; refuse the file when they are too many.

        One stop with an impossible date or a position outside the country is the registry's error
        about that stop, not a reason to stop every run: the row is dropped, counted and logged with
        its line. Beyond `MAX_BAD_ROW_SHARE` of the rows the file itself is suspect (LV95 metres in
        the WGS84 columns, swapped columns, a changed date format), and the whole file is refused
        with the first row's reason, so the last good data stays.
        """
        if not bad_rows:
            return
        if len(bad_rows) > MAX_BAD_ROW_SHARE * stats.get("rows", 0):
            first = bad_rows[0]
            more = f" (and {len(bad_rows) - 1:,} more such rows)" if len(bad_rows) > 1 else ""
            raise SourceError(self.name, first.reason + more, line=first.line, path=first.path)
        stats["invalid_values"] = stats.get("invalid_values", 0) + len(bad_rows)
        for exc in bad_rows[:20]:
            logger.warning("%s: row dropped", exc)

    @staticmethod
    def _getter(fmt: str, col: dict[str, int]) -> dict[str, int | None]:
        def c(*names: str) -> int | None:
            for name in names:
                if name in col:
                    return col[name]
            return None

        prefix = "servicePointBusinessOrganisation" if fmt == TRAFFIC_POINT else "businessOrganisation"
        return {
            "sloid": c("sloid"),
            "number": c("number"),
            "country": c("uicCountryCode"),
            "valid_from": c("validFrom"),
            "valid_to": c("validTo"),
            "official": c("designationOfficial"),
            "designation": c("designation") if fmt == TRAFFIC_POINT else None,
            "east": c("wgs84East"),
            "north": c("wgs84North"),
            "type": c("trafficPointElementType"),
            "stop_point": c("stopPoint"),
            "iso": c("isoCountryCode"),
            "means": c("meansOfTransport"),
            "canton": c("cantonAbbreviation"),
            "parent": c("parentSloidServicePoint", "parentSloid") if fmt == TRAFFIC_POINT else None,
            "abbr": c(f"{prefix}AbbreviationEn", f"{prefix}AbbreviationDe"),
            "abbr_de": c(f"{prefix}AbbreviationDe"),
            "org_name": c(f"{prefix}DescriptionEn", f"{prefix}DescriptionDe"),
        }

    def _row(
        self,
        row: list[str],
        get: dict[str, int | None],
        fmt: str,
        today: str,
        codes: frozenset[str] | None,
        drop: Callable[[str], None],
        fail: Callable[[str], SourceError],
        shared: Shared,
    ) -> RegistryStop | None:
        cleaned: set[str] = set()

        def v(key: str) -> str:
            i = get[key]
            if i is None:
                return ""
            raw = row[i].strip()
            value = clean_text(raw)
            if value != raw:
                cleaned.add(key)  # NUL removed: counted once per row below, never fatal
            return value

        if fmt == TRAFFIC_POINT and v("type") != "BOARDING_PLATFORM":
            drop("not_boarding_platform")
            return None
        if fmt == SERVICE_POINT and v("stop_point").lower() != "true":
            drop("not_a_stop")
            return None
        valid_from, valid_to = v("valid_from"), v("valid_to")
        if (valid_from and valid_from > today) or (valid_to and valid_to < today):
            drop("not_valid_today")
            return None
        sloid = v("sloid")
        if not sloid:
            drop("no_sloid")
            return None
        if not is_sloid(sloid):
            # Not an identifier: no page, API path or OSM tag could name this stop.
            drop("invalid_sloid")
            return None
        country = v("country")
        if codes is not None and country not in codes:
            drop("other_country")
            return None
        east, north = v("east"), v("north")
        if not east or not north:
            drop("no_coordinates")
            return None
        try:
            lon, lat = float(east), float(north)
        except ValueError:
            raise fail(f"coordinates {east!r}, {north!r} are not numbers") from None
        problem = coordinate_problem(lat, lon)
        if problem:
            raise fail(problem)
        if country == SWISS_UIC_COUNTRY and not in_sanity_bbox(lat, lon):
            raise fail(
                f"Swiss stop {sloid} at lat={lat} lon={lon} lies far outside Switzerland (swapped columns?)"
            )
        number = v("number")
        try:
            from_date, to_date = shared.date(valid_from, _date), shared.date(valid_to, _date)
        except ValueError:
            raise fail(f"invalid date {valid_from!r} / {valid_to!r}") from None
        parent = v("parent")
        values = (
            sloid,
            number,
            v("designation"),
            v("official"),
            v("abbr"),
            east,
            north,
            valid_from,
            valid_to,
        )
        if cleaned:
            drop("text_cleaned")
        uic_number = ascii_int(number)
        return RegistryStop(
            source=self.name,
            stop_id=sloid,
            dataset=fmt,
            # The UIC number as decimal text (leading zeros and blanks dropped), as OSM's uic_ref is compared.
            code=str(uic_number) if uic_number is not None else None,
            platform_code=shared.text(v("designation")),
            name=shared.text(v("official")),
            operator_code=shared.text(v("abbr") or v("abbr_de")),
            operator_name=shared.text(v("org_name")),
            modes=shared.text(v("means")),
            country_code=shared.text(v("iso"))
            or ("CH" if country == SWISS_UIC_COUNTRY and fmt == TRAFFIC_POINT else None),
            region=shared.text(v("canton")),
            parent_id=parent if is_sloid(parent) else None,
            valid_from=from_date,
            valid_to=to_date,
            lat=lat,
            lon=lon,
            row_hash=hashlib.sha256("\x1f".join(values).encode()).hexdigest(),
        )
