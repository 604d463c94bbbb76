"""GTFS timetable: the registry side of route evidence (stage 4 of matching).

Reads `stops.txt`, `routes.txt`, `trips.txt`, `stop_times.txt` (and `agency.txt` when present) from a
GTFS zip, on disk (`gtfs*.zip` in the source folder) or downloaded from GTFS_URL (`{year}` in the URL
is replaced by the current year: the Swiss permalink changes every timetable year).

`stop_times` is the big one (26.7 million rows, 2.5 GB in the Swiss national feed). It is processed
by DuckDB, columnar and streaming, never by a Python loop over rows:

1. the four files are unzipped (streamed, each bounded by `ParseOptions.timetable_max_bytes`) into a
   temporary folder: DuckDB reads CSV files, not zip members;
2. pass one over `stop_times` groups by trip: first stop, last stop, and an order-independent pattern
   key (`bit_xor` of a hash of each call's stop and position), so trips calling at the same stops in
   the same positions share one key without any list being built;
3. pass two keeps the distinct (pattern, stop_sequence, stop_id): one row per stop call of each
   distinct itinerary, a few hundred thousand rows nationally instead of 26.7 million.

Why DuckDB and not polars: both passes on the 25.0 million stop_times of `bench/gtfs_scale.py`
(same results, 4,298,408 pattern stop calls) took 10.0 s of CPU and peaked at 797 MiB with DuckDB
(memory capped, spills to disk beyond the cap), 9.6 s of CPU and 1,469 MiB with polars 2.1's
streaming engine, which has no memory cap: the same speed, half the memory, and a hard bound.

Only these small results reach Python: the stops, the routes, each route's itineraries (distinct stop
patterns with their trip counts) and, per (stop, route, direction, first stop, last stop), one service.
DuckDB's memory is capped (GTFS_DUCKDB_MEMORY_LIMIT; it spills to the temporary folder beyond it).

Then, pure functions: `resolve_stops` maps each GTFS `stop_id` to a registry stop (rules below) and
`registry_services` gives the (route, direction) services of every registry stop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import SourceError
from pipeline.matching.context import registry_projection
from pipeline.matching.normalize import normalise_ref
from pipeline.matching.route import RouteService
from pipeline.records import RegistryStop
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind, sniff
from pipeline.text import ascii_int, clean_text

NAME = "gtfs"
REQUIRED_FILES = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
OPTIONAL_FILES = ("agency.txt",)
REQUIRED_COLUMNS = {
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence"),
}
# Default memory cap of DuckDB while it reads stop_times (GTFS_DUCKDB_MEMORY_LIMIT).
DEFAULT_MEMORY_LIMIT = "768MB"
POSITION_TOLERANCE_M = 0.5  # a GTFS stop this close to exactly one registry stop of its number is it

# Swiss stop_ids: "8503000:0:31" (UIC number, 0, platform), "8503000" or "8503000P" / "Parent8503000"
# (the whole stop), and in newer feeds the sloid itself ("ch:1:sloid:3000:0:731").
_SWISS_ID = re.compile(r"^(?:Parent)?(?P<uic>[0-9]{7})P?(?::[0-9A-Za-z]*:(?P<platform>[^:]+))?$")
_SLOID_IN_ID = re.compile(r"ch:1:sloid:[0-9]+(?::[0-9A-Za-z]+)*")
# Platform codes the timetable writes as numbers of its own (the reference's `10000 → 1`, `10001 → 2`).
SPECIAL_PLATFORMS = {"10000": "1", "10001": "2"}


@dataclass(frozen=True, slots=True)
class GtfsStop:
    """One row of stops.txt."""

    stop_id: str
    name: str | None
    lat: float | None
    lon: float | None
    location_type: str | None
    parent_station: str | None
    original_stop_id: str | None = None


@dataclass(frozen=True, slots=True)
class GtfsRoute:
    """One row of routes.txt, with its agency's name."""

    route_id: str
    agency_id: str | None
    agency_name: str | None
    short_name: str | None
    long_name: str | None
    route_type: str | None


@dataclass(frozen=True, slots=True)
class GtfsItinerary:
    """The most frequent stop pattern of one route in one direction (what a route page shows)."""

    route_id: str
    direction_id: str
    trips: int  # trips following exactly this pattern
    stop_ids: tuple[str, ...]  # in travel order


@dataclass(frozen=True, slots=True)
class GtfsCall:
    """A route serving a GTFS stop in one direction, between two terminus stops."""

    stop_id: str
    route_id: str
    direction_id: str
    first_stop_id: str
    last_stop_id: str


@dataclass
class GtfsTimetable:
    """What the route stage needs of a GTFS feed (see the module docstring).

    Calls are stored compactly (nationally over a million (stop, service) pairs): `services` holds
    each distinct (route_id, direction_id, first stop_id, last stop_id) once, and the call k is
    stop `call_stop_ids[k]` served by `services[call_services[k]]`.
    """

    stops: list[GtfsStop]
    routes: dict[str, GtfsRoute]
    itineraries: list[GtfsItinerary]
    services: list[tuple[str, str, str, str]] = field(default_factory=list)
    call_stop_ids: Sequence[str] = ()
    call_services: Sequence[int] = ()
    stats: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: unzip, pass1, pass2, results

    def stop_names(self) -> dict[str, str]:
        return {s.stop_id: s.name for s in self.stops if s.name}

    @property
    def calls(self) -> list[GtfsCall]:
        """Every (stop, route, direction, termini) as records (for small feeds and tests)."""
        return [
            GtfsCall(stop_id, *self.services[int(k)])
            for stop_id, k in zip(self.call_stop_ids, self.call_services, strict=True)
        ]

    def called_stop_ids(self) -> set[str]:
        return set(self.call_stop_ids)


def expand_url(url: str, today: dt.date | None = None) -> str:
    """GTFS_URL with `{year}` replaced by the current year (the Swiss permalink is per timetable year)."""
    year = (today or dt.datetime.now(dt.UTC).date()).year
    return url.replace("{year}", str(year))


class GtfsSource(Source):
    """The GTFS timetable (optional: without it the route stage has no evidence)."""

    name = NAME
    kind = SourceKind.TIMETABLE
    file_patterns = ("gtfs*.zip",)
    url_settings = ("GTFS_URL",)
    required = False

    def http_request(self, settings: Any) -> HttpRequest | None:
        url = getattr(settings, "GTFS_URL", "")
        return HttpRequest(url=expand_url(url), suffix=".zip") if url else None

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[Any]:
        """One `GtfsTimetable` (the first zip of `paths`), or no record when there is no file."""
        if not paths:
            return ParseResult([], {})
        timetable = read_gtfs(
            paths[0],
            max_bytes=options.timetable_max_bytes,
            memory_limit=options.timetable_memory_limit or DEFAULT_MEMORY_LIMIT,
        )
        return ParseResult([timetable], dict(timetable.stats))


# --------------------------------------------------------------------------------------------
# Reading the feed
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _unzipped(path: Path, max_bytes: int | None) -> Iterator[Path]:
    """The feed's files in a temporary folder (deleted afterwards); a folder is used as it is."""
    if path.is_dir():
        yield path
        return
    with path.open("rb") as raw:
        sniff(NAME, path, raw.read(4096))
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SourceError(NAME, f"broken zip archive: {exc}", path=path.name) from None
    folder = Path(tempfile.mkdtemp(prefix="stopsync-gtfs-"))
    try:
        with archive:
            # Members may sit in a subfolder of the archive; their base name is what counts.
            members = {Path(i.filename).name: i for i in archive.infolist() if not i.is_dir()}
            missing = [name for name in REQUIRED_FILES if name not in members]
            if missing:
                raise SourceError(NAME, f"not a GTFS feed: {', '.join(missing)} missing", path=path.name)
            for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
                info = members.get(name)
                if info is None:
                    continue
                # zipfile never inflates past the declared size (the CRC check fails), so this bounds it.
                if max_bytes is not None and info.file_size > max_bytes:
                    raise SourceError(
                        NAME,
                        f"{name} unzips to {info.file_size:,} bytes, over the limit of {max_bytes:,} "
                        "(GTFS_MAX_UNZIPPED_BYTES)",
                        path=path.name,
                    )
                with archive.open(info) as src, (folder / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        yield folder
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SourceError(NAME, f"cannot unzip: {exc}", path=path.name) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _csv(folder: Path, name: str) -> str:
    """A DuckDB table expression reading one GTFS file: every column text, header from the file."""
    file = str(folder / name).replace("'", "''")
    return f"read_csv('{file}', header=true, all_varchar=true, auto_detect=true, strict_mode=false)"


def _columns(con: Any, folder: Path, name: str) -> set[str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {_csv(folder, name)}").fetchall()
    return {str(r[0]).strip().lstrip("\ufeff") for r in rows}


def _col(columns: set[str], name: str) -> str:
    """A column reference, or NULL when the optional column is absent."""
    return f'"{name}"' if name in columns else "NULL"


def read_gtfs(
    path: Path, max_bytes: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> GtfsTimetable:
    """Read a GTFS zip (or an unzipped folder) into a `GtfsTimetable`; SourceError when it is not one."""
    import duckdb  # imported here: only a run with a timetable needs it

    started = time.perf_counter()
    with _unzipped(path, max_bytes) as folder:
        unzipped = time.perf_counter() - started
        spill = Path(tempfile.mkdtemp(prefix="stopsync-duckdb-"))
        con = duckdb.connect(config={"threads": 2, "memory_limit": memory_limit})
        try:
            con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
            con.execute("SET preserve_insertion_order = false")
            timetable = _read(con, folder, path.name)
            timetable.seconds = {"unzip": round(unzipped, 2), **timetable.seconds}
            return timetable
        except duckdb.Error as exc:
            # DuckDB names the file and line of a malformed CSV; the message is about the data.
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(NAME, f"cannot read the feed: {first_line[:300]}", path=path.name) from None
        finally:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)


def _read(con: Any, folder: Path, label: str) -> GtfsTimetable:
    cols = {name: _columns(con, folder, name) for name in REQUIRED_FILES}
    for name, required in REQUIRED_COLUMNS.items():
        missing = [c for c in required if c not in cols[name]]
        if missing:
            raise SourceError(NAME, f"{name} lacks the column(s) {', '.join(missing)}", path=label)
    stats: dict[str, int] = {}

    s = cols["stops.txt"]
    stop_rows = con.execute(
        f"""SELECT stop_id, {_col(s, "stop_name")}, TRY_CAST({_col(s, "stop_lat")} AS DOUBLE),
                   TRY_CAST({_col(s, "stop_lon")} AS DOUBLE), {_col(s, "location_type")},
                   {_col(s, "parent_station")}, {_col(s, "original_stop_id")}
              FROM {_csv(folder, "stops.txt")} WHERE stop_id IS NOT NULL"""
    ).fetchall()
    stops = [
        GtfsStop(
            stop_id=clean_text(r[0]),
            name=clean_text(r[1]) if r[1] else None,
            lat=r[2],
            lon=r[3],
            location_type=r[4] or None,
            parent_station=clean_text(r[5]) if r[5] else None,
            original_stop_id=clean_text(r[6]) if r[6] else None,
        )
        for r in stop_rows
    ]
    stats["stops"] = len(stops)

    agencies: dict[str, str] = {}
    if (folder / "agency.txt").exists():
        a = _columns(con, folder, "agency.txt")
        if "agency_name" in a:
            rows = con.execute(
                f"SELECT {_col(a, 'agency_id')}, agency_name FROM {_csv(folder, 'agency.txt')}"
            ).fetchall()
            agencies = {(r[0] or ""): clean_text(r[1]) for r in rows if r[1]}
    r_cols = cols["routes.txt"]
    route_rows = con.execute(
        f"""SELECT route_id, {_col(r_cols, "agency_id")}, {_col(r_cols, "route_short_name")},
                   {_col(r_cols, "route_long_name")}, {_col(r_cols, "route_type")}
              FROM {_csv(folder, "routes.txt")} WHERE route_id IS NOT NULL"""
    ).fetchall()
    # A feed with one agency may leave routes.agency_id empty (GTFS allows it).
    only_agency = next(iter(agencies.values())) if len(agencies) == 1 else None
    routes = {
        clean_text(r[0]): GtfsRoute(
            route_id=clean_text(r[0]),
            agency_id=r[1] or None,
            agency_name=agencies.get(r[1] or "", only_agency),
            short_name=clean_text(r[2]).strip() if r[2] and r[2].strip() else None,
            long_name=clean_text(r[3]).strip() if r[3] and r[3].strip() else None,
            route_type=r[4] or None,
        )
        for r in route_rows
    }
    stats["routes"] = len(routes)

    t = cols["trips.txt"]
    con.execute(
        f"""CREATE TEMP TABLE trips AS
            SELECT trip_id, route_id,
                   coalesce(nullif(trim({_col(t, "direction_id")}), ''), '') AS direction_id
              FROM {_csv(folder, "trips.txt")} WHERE trip_id IS NOT NULL AND route_id IS NOT NULL"""
    )
    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = round(now - clock[0], 2)
        clock[0] = now

    stop_times = f"""(SELECT trip_id, stop_id, TRY_CAST(stop_sequence AS INTEGER) AS seq
                        FROM {_csv(folder, "stop_times.txt")}
                       WHERE trip_id IS NOT NULL AND stop_id IS NOT NULL)"""
    # Pass 1: one row per trip. The pattern key is order-independent (bit_xor) but each call's hash
    # includes its position, so it needs no ordered list per trip: memory stays proportional to the
    # trips. (The position is mixed in before hashing: DuckDB's hash(a, b) combines its arguments
    # order-independently, so a trip and its reverse would share a key.)
    con.execute(
        f"""CREATE TEMP TABLE trip_agg AS
            SELECT trip_id, count(*) AS calls, arg_min(stop_id, seq) AS first_stop,
                   arg_max(stop_id, seq) AS last_stop,
                   bit_xor(hash((hash(stop_id) >> 1) + coalesce(seq, 0))) AS pattern
              FROM {stop_times} GROUP BY trip_id"""
    )
    lap("pass1")
    # Pass 2: the stop calls of each distinct pattern.
    con.execute(
        f"""CREATE TEMP TABLE pattern_stops AS
            SELECT DISTINCT a.pattern, s.seq, s.stop_id
              FROM {stop_times} s JOIN trip_agg a USING (trip_id)"""
    )
    lap("pass2")
    stats["stop_times"] = int(con.execute("SELECT sum(calls) FROM trip_agg").fetchone()[0] or 0)
    stats["trips"] = int(con.execute("SELECT count(*) FROM trip_agg").fetchone()[0])
    con.execute(
        """CREATE TEMP TABLE itineraries AS
           SELECT t.route_id, t.direction_id, a.pattern, any_value(a.first_stop) AS first_stop,
                  any_value(a.last_stop) AS last_stop, any_value(a.calls) AS calls, count(*) AS trips
             FROM trip_agg a JOIN trips t USING (trip_id)
            GROUP BY t.route_id, t.direction_id, a.pattern"""
    )
    stats["itineraries"] = int(con.execute("SELECT count(*) FROM itineraries").fetchone()[0])
    con.execute(
        """CREATE TEMP TABLE services AS
           SELECT (row_number() OVER (ORDER BY route_id, direction_id, first_stop, last_stop) - 1)::INTEGER
                  AS service, route_id, direction_id, first_stop, last_stop
             FROM (SELECT DISTINCT route_id, direction_id, first_stop, last_stop FROM itineraries)"""
    )
    services = [
        (clean_text(r[1]), clean_text(r[2]), clean_text(r[3]), clean_text(r[4]))
        for r in con.execute("SELECT * FROM services ORDER BY service").fetchall()
    ]
    pairs = con.execute(
        """SELECT DISTINCT p.stop_id, s.service
             FROM pattern_stops p
             JOIN itineraries i USING (pattern)
             JOIN services s USING (route_id, direction_id, first_stop, last_stop)"""
    ).fetchnumpy()
    call_stop_ids, call_services = pairs["stop_id"], pairs["service"]
    stats["stop_route_directions"] = len(call_stop_ids)
    # The itinerary shown for a route and direction: most trips, then most stops, then the key.
    best_rows = con.execute(
        """WITH ranked AS (
               SELECT route_id, direction_id, pattern, trips,
                      row_number() OVER (PARTITION BY route_id, direction_id
                                         ORDER BY trips DESC, calls DESC, pattern) AS rank
                 FROM itineraries)
           SELECT r.route_id, r.direction_id, r.trips, list(p.stop_id ORDER BY p.seq)
             FROM ranked r JOIN pattern_stops p USING (pattern)
            WHERE r.rank = 1
            GROUP BY r.route_id, r.direction_id, r.trips
            ORDER BY r.route_id, r.direction_id"""
    ).fetchall()
    # Text that PostgreSQL can store (no NUL): these rows go into gtfs_route_stops as they are.
    itineraries = [
        GtfsItinerary(clean_text(r[0]), clean_text(r[1]), int(r[2]), tuple(clean_text(x) for x in r[3]))
        for r in best_rows
    ]
    lap("results")
    return GtfsTimetable(
        stops=stops,
        routes=routes,
        itineraries=itineraries,
        services=services,
        call_stop_ids=call_stop_ids,
        call_services=call_services,
        stats=stats,
        seconds=seconds,
    )


# --------------------------------------------------------------------------------------------
# Resolving GTFS stop_ids to registry stops (pure)
# --------------------------------------------------------------------------------------------

RULES = ("sloid", "uic_platform", "position", "unique_number")


@dataclass
class StopResolution:
    """GTFS stop_id → registry sloid, the rule that decided each, and why the others are unresolved."""

    sloid_of: dict[str, str]
    rule_of: dict[str, str]
    unresolved: dict[str, str]  # stop_id → reason

    def counts(self) -> dict[str, int]:
        out = Counter(self.rule_of.values())
        out.update(f"unresolved_{reason}" for reason in self.unresolved.values())
        return dict(sorted(out.items()))

    def share(self, stop_ids: Sequence[str] | None = None) -> float:
        ids = list(stop_ids) if stop_ids is not None else [*self.sloid_of, *self.unresolved]
        return sum(1 for i in ids if i in self.sloid_of) / len(ids) if ids else 0.0


def parse_stop_id(stop_id: str) -> tuple[int | None, str | None]:
    """The UIC number and platform code of a Swiss stop_id ("8503000:0:31" → (8503000, "31"))."""
    m = _SWISS_ID.match(stop_id.strip())
    if m is None:
        return None, None
    platform = m.group("platform")
    platform = SPECIAL_PLATFORMS.get(platform, platform) if platform else None
    return ascii_int(m.group("uic")), platform


def sloid_in(value: str | None) -> str | None:
    """The sloid written inside a stop id ("ch:1:sloid:3000:0:731"), or None."""
    if not value:
        return None
    m = _SLOID_IN_ID.search(value)
    return m.group(0) if m else None


def resolve_stops(stops: Sequence[GtfsStop], registry: Sequence[RegistryStop]) -> StopResolution:
    """Resolve each GTFS stop to one registry stop, by the first rule that names exactly one:

    1. `sloid`: a sloid inside `stop_id` or `original_stop_id` that the registry has (a platform's
       sloid that it lacks falls back to its stop's sloid, `ch:1:sloid:N`, when a registry of whole
       stops has that);
    2. `uic_platform`: the UIC number and platform code of the stop_id equal one registry stop's
       number and platform_code (platform code);
    3. `position`: exactly one registry stop of that number (or, for a stop_id without a number,
       of any number) lies within POSITION_TOLERANCE_M;
    4. `unique_number`: the registry has exactly one stop with that number.
    Anything else stays unresolved with its reason: never a guess between several.
    """
    by_sloid = {s.stop_id: s for s in registry}
    by_number: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(registry):
        if s.code_number is not None:
            by_number[s.code_number].append(i)
    refs = [normalise_ref(s.platform_code) for s in registry]
    tree = None
    # The registry's declared planar projection (its national grid), for metre tolerances.
    projection = registry_projection(registry)
    if registry:
        from scipy.spatial import cKDTree

        xy = projection.project(np.array([s.lat for s in registry]), np.array([s.lon for s in registry]))
        tree = cKDTree(xy)

    sloid_of: dict[str, str] = {}
    rule_of: dict[str, str] = {}
    unresolved: dict[str, str] = {}

    def done(stop_id: str, sloid: str, rule: str) -> None:
        sloid_of[stop_id] = sloid
        rule_of[stop_id] = rule

    # Registry stops within the tolerance of every located GTFS stop, in one KD-tree query.
    near_of: dict[str, list[int]] = {}
    located = [s for s in stops if s.lat is not None and s.lon is not None]
    if located and tree is not None:
        pts = projection.project(np.array([s.lat for s in located]), np.array([s.lon for s in located]))
        near_all = tree.query_ball_point(pts, r=POSITION_TOLERANCE_M)
        near_of = {s.stop_id: near for s, near in zip(located, near_all, strict=True) if near}

    for stop in stops:
        sloid = sloid_in(stop.stop_id) or sloid_in(stop.original_stop_id)
        if sloid is not None:
            whole = ":".join(sloid.split(":")[:4])
            if sloid in by_sloid:
                done(stop.stop_id, sloid, "sloid")
                continue
            if whole in by_sloid:
                done(stop.stop_id, whole, "sloid")
                continue
        number, platform = parse_stop_id(stop.stop_id)
        if number is None and stop.original_stop_id:
            number, platform = parse_stop_id(stop.original_stop_id)
        same_number = by_number.get(number, []) if number is not None else []
        if platform is not None and same_number:
            ref = normalise_ref(platform)
            hits = [i for i in same_number if refs[i] is not None and refs[i] == ref]
            if len(hits) == 1:
                done(stop.stop_id, registry[hits[0]].stop_id, "uic_platform")
                continue
        near = near_of.get(stop.stop_id, [])
        if number is not None:  # a numbered stop is only ever a registry stop of its number
            near = [i for i in near if registry[i].code_number == number]
        if len(near) == 1:
            done(stop.stop_id, registry[near[0]].stop_id, "position")
            continue
        if len(same_number) == 1:
            done(stop.stop_id, registry[same_number[0]].stop_id, "unique_number")
            continue
        if number is None:
            unresolved[stop.stop_id] = "no_number"
        elif not same_number:
            unresolved[stop.stop_id] = "number_not_in_registry"
        else:
            unresolved[stop.stop_id] = "number_not_unique"
    return StopResolution(sloid_of=sloid_of, rule_of=rule_of, unresolved=unresolved)


def registry_services(
    timetable: GtfsTimetable, resolution: StopResolution
) -> dict[str, frozenset[RouteService]]:
    """The services (route, direction, termini) of every registry stop a resolved GTFS stop calls at."""
    names = timetable.stop_names()
    objects: list[RouteService] = []  # one object per distinct service, shared by its stops
    for route_id, direction_id, first, last in timetable.services:
        route = timetable.routes.get(route_id)
        objects.append(
            RouteService(
                route_id=route_id,
                operator=route.agency_name if route else None,
                line=route.short_name if route else None,
                origin=names.get(first),
                destination=names.get(last),
                direction_id=direction_id or None,
            )
        )
    out: dict[str, set[RouteService]] = defaultdict(set)
    sloid_of = resolution.sloid_of
    for stop_id, k in zip(timetable.call_stop_ids, np.asarray(timetable.call_services).tolist(), strict=True):
        sloid = sloid_of.get(stop_id)
        if sloid is not None:
            out[sloid].add(objects[k])
    return {sloid: frozenset(services) for sloid, services in out.items()}


def touched_share(services: Mapping[str, object], registry: Sequence[RegistryStop]) -> float:
    """The share of `registry` stops served by at least one route."""
    return sum(1 for s in registry if s.stop_id in services) / len(registry) if registry else 0.0
