"""What a source is: a name, a kind, where its data comes from, and a parser to plain records.

A new registry (NaPTAN, zHV, ...) is a new module with a `Source` subclass and one
`register_source(...)` line in `pipeline/sources/__init__.py`; the matcher never changes.

A registry source also sets `declaration = RegistryDeclaration(...)` (the dataclasses live in
`pipeline/declarations.py` and are re-exported here): its identifiers and the OSM tags that carry
them, its name / platform-code / operator tags, its problem policy, its stop URL template and its
country boundary. See `pipeline.sources.atlas.ATLAS` for a complete example.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from pipeline.declarations import (  # noqa: F401 - re-exported: a plug-in imports them from here
    Identifier,
    RegistryDeclaration,
    decimal_number,
    default_distance_priority,
    strip_value,
)
from pipeline.errors import SourceError
from pipeline.geo import Boundary, load_boundary
from pipeline.records import OsmObject, OsmStructure, RegistryStop

R = TypeVar("R", RegistryStop, OsmObject)


class SourceKind(StrEnum):
    REGISTRY = "registry"
    OSM = "osm"
    TIMETABLE = "timetable"  # route evidence for the matcher (GTFS); optional


@dataclass(frozen=True)
class ParseOptions:
    """Filters applied while parsing. `None` switches a filter off (benchmarks, foreign registries)."""

    today: dt.date = field(default_factory=dt.date.today)
    uic_country_codes: frozenset[str] | None = frozenset({"85"})
    boundary: Boundary | None = None
    # The most bytes a source may read, unzipped content included (HTTP_MAX_BYTES); None = no limit.
    max_bytes: int | None = None
    # A timetable's unzipped files (GTFS stop_times is 2.5 GB nationally; GTFS_MAX_UNZIPPED_BYTES) and
    # the memory cap of the engine that reads them (GTFS_DUCKDB_MEMORY_LIMIT, e.g. "768MB").
    timetable_max_bytes: int | None = None
    timetable_memory_limit: str | None = None
    # Each source's own parse settings, by source name (`Source.parse_settings`; NaPTAN: the
    # position-mismatch tolerance). A source missing here parses with its defaults.
    source_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class ParseResult(Generic[R]):
    """Records of one source, what the filters dropped (reason → count) and, for OSM, its relations."""

    records: list[R]
    stats: dict[str, int] = field(default_factory=dict)
    # OSM sources: the stop_area and transit route relations (and route masters) read with the stops.
    structure: OsmStructure | None = None


@dataclass(frozen=True)
class HttpRequest:
    """How to download a source: a GET of `url`, or a POST of `body` (Overpass)."""

    url: str
    method: str = "GET"
    body: bytes | None = None
    content_type: str | None = None
    suffix: str = ""  # file name suffix of the cached copy (".csv", ".zip", ".json")
    # Which of the source's downloads this is, when it has several (ATLAS: traffic and service points):
    # names the cached copy and the `source_states` row. Empty for the source's main download.
    feed: str = ""

    def key(self, source: str) -> str:
        """Name of its cached copy and `source_states` row: `atlas`, `atlas.service_points`."""
        return f"{source}.{self.feed}" if self.feed else source


class Source:
    """Base class of every source. Subclasses set `name`, `kind`, `file_patterns` and implement `parse`.

    `parse` returns text PostgreSQL can store (every value through `pipeline.text.clean_text`) and
    numbers parsed with `pipeline.text.ascii_int`: a bad value is dropped or counted, never fatal.
    """

    name: str = ""
    kind: SourceKind = SourceKind.REGISTRY
    # Shell patterns of the files this source reads from a source directory (first match wins).
    file_patterns: tuple[str, ...] = ()
    # The settings holding this source's download URLs. All of them empty: the source is read from
    # PIPELINE_SOURCE_DIR, or, without one, it is disabled (a required source refuses to start).
    url_settings: tuple[str, ...] = ()
    required: bool = True  # the matcher cannot run without it
    # Registry sources: what the core needs to know about the registry (None for OSM and timetables).
    declaration: RegistryDeclaration | None = None

    def parse_options(self, settings: Any, base: ParseOptions) -> ParseOptions:
        """The parse options of this source: `base` (the run's) with its own settings
        (`parse_settings`) and its own boundary when `<NAME>_BOUNDARY` is set (ATLAS_BOUNDARY,
        NAPTAN_BOUNDARY; empty: PIPELINE_BOUNDARY_FILE's)."""
        options = replace(
            base, source_settings={**base.source_settings, self.name: self.parse_settings(settings)}
        )
        path = getattr(settings, f"{self.name.upper()}_BOUNDARY", "") or ""
        return replace(options, boundary=load_boundary(path)) if path else options

    def parse_settings(self, settings: Any) -> dict[str, Any]:
        """This source's own parse settings read from the app settings, handed back to `parse` as
        `options.source_settings[self.name]` (the core never needs to know their names)."""
        return {}

    def http_request(self, settings: Any) -> HttpRequest | None:
        """The live download for these settings, or None when no URL is configured."""
        return None

    def http_requests(self, settings: Any) -> list[HttpRequest]:
        """Every live download of this source (several files are parsed together); empty: none configured."""
        request = self.http_request(settings)
        return [request] if request is not None else []

    def find_files(self, directory: Path) -> list[Path]:
        """The files of this source in `directory`, sorted; raises when there are none."""
        found: list[Path] = []
        for pattern in self.file_patterns:
            found.extend(p for p in sorted(directory.glob(pattern)) if p.is_file() and p not in found)
        if not found:
            raise SourceError(
                self.name, f"no input file in {directory} (looked for {', '.join(self.file_patterns)})"
            )
        return found

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[Any]:
        raise NotImplementedError


def sniff(source: str, path: Path, head: bytes) -> None:
    """Refuse files that are obviously not data: empty, or an HTML error page."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SourceError(source, "empty file", path=path.name)
    lowered = stripped[:200].lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        raise SourceError(
            source, "got an HTML page instead of data (an error page from the server?)", path=path.name
        )


def file_sha256(paths: Sequence[Path]) -> str:
    """One SHA-256 over the content of all files, in order (the source's content fingerprint)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
