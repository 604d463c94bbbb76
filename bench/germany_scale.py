"""A Germany-size pipeline: 850,000 registry stops and about 1,000,000 OSM objects, end to end into PostGIS.

    .venv/bin/python -m bench.germany_scale [--stops 850000] [--profile] [--keep]

No registry of that size is available offline, so one is DERIVED from the real registry files by
replication with offsets, from two real exports, run as one instance (PIPELINE_SOURCES=atlas,naptan,osm):
- NaPTAN (NAPTAN_SHARE of the stops, whole copies): the real export of Brighton and Hove (2022-12,
  1,195 stops kept) is copy 0; copy k is every StopPoint and StopArea of it moved on the British
  National Grid by a fixed offset per copy (NAPTAN_COPY_STEP_M, a grid north of Brighton: the copies
  lie in southern England, apart), its WGS84 position moved with it (so the grid and WGS84 positions
  still agree as in the real file), AtcoCode, NaptanCode and StopAreaCode suffixed `R<k>`;
- ATLAS (the rest): copy 0 is the real national service-point export (2025-08-02); copy k is every
  stop row shifted by a fixed offset per copy (a grid of COPY_STEP_DEG steps, so the copies tile an
  area of about Germany's size without overlapping), with the sloid rewritten (`<sloid>:r<k>`), the
  UIC number rewritten (`number + k * 10,000,000`) and the UIC country code 80 (DE); the last copy is
  cut so that the parser keeps the stated number of stops;
- the OSM side of the ATLAS stops is derived exactly as for the Swiss run (bench/pipeline_scale
  .derive_osm: jitter, moved far, stripped identifiers = name-only objects, abbreviated/shortened/
  replaced names, stop positions, duplicates, unrelated extras, dropped = missing objects), with the
  stop-position rate set so that about 1,000,000 objects result in all; the OSM side of each NaPTAN
  copy is derived exactly as for the UK end-to-end test (tests/naptan_derivation.derive_osm: present,
  with AtcoCode, name only, renamed, bare, moved, closed stops still mapped, stop-area relations,
  OSM-only stops), seeded per copy, its OSM ids moved into a range of its own.
The composition (stops and OSM objects per registry, copies, rates) is printed with the figures.

The generated inputs are written once to a cache folder keyed by a hash of the ATLAS file, this
module's and the derivation's source and the parameters (BENCH_CACHE_DIR, default
/tmp/stopsync-bench-cache), so the timed part is the pipeline, not the generation.

The same generator at one copy (the real Swiss registry, 50,399 stops) runs first through the same
pipeline: the growth factor of each stage is printed against n·log n.

Peak memory: every process of the run, sampled together every 0.25 s, the peak of their sum judged:
this process (the pipeline runs in it) with its child processes (resident set size; its own
ru_maxrss, exact, is printed beside) and PostgreSQL, the postmaster and every backend and auxiliary
process (proportional set size, so the shared buffers they all map count once).
Targets (issue 16): whole pipeline ≤ 5 minutes, peak memory ≤ 3 GiB, on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import inspect
import io
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import pipeline_scale
from bench.common import Figure, format_table, pipeline_database, say

ROOT = Path(__file__).resolve().parents[1]
TODAY = pipeline_scale.TODAY
SERVICE_POINTS = pipeline_scale.SERVICE_POINTS
GERMANY_STOPS = 850_000  # the German zHV's size
GERMANY_OSM_OBJECTS = 1_000_000
# Copies are laid on a grid of this step (degrees latitude, longitude): Switzerland spans about
# 2.0 x 4.7 degrees, so neighbouring copies never overlap and no copy's stop is near another's.
COPY_STEP_DEG = (2.2, 4.9)
GRID_COLUMNS = 6
NUMBER_STRIDE = 10_000_000
# Stop positions per ATLAS stop at the Swiss rate (0.35) would give 1.29 OSM objects per registry
# stop; 0.27 gives (1 - drop) * (1 + 0.27 + duplicate + unrelated) = 1.21, i.e. 927,000 for the
# 765,000 ATLAS stops, and the NaPTAN copies' derivation adds about 0.87 per NaPTAN stop (74,000):
# about 1,000,000 in all.
GERMANY_STOP_POSITION_RATE = 0.27
# NaPTAN: this share of the registry stops, as whole copies of the real Brighton and Hove export.
NAPTAN_XML = ROOT.parent / "shared/data/naptan_brighton_2022-12/NaPTAN149_brighton.xml"
NAPTAN_SHARE = 0.10
# Brighton and Hove spans about 17 km east-west and 11 km north-south on the British National Grid:
# copies step 20 km east and 15 km north, NAPTAN_GRID_COLUMNS a row, rows north of the real one (so
# every copy lies on land in southern England, from Hampshire to Kent and up to the Midlands).
NAPTAN_COPY_STEP_M = (20_000.0, 15_000.0)
NAPTAN_GRID_COLUMNS = 9
# A NaPTAN copy's derived OSM ids move by these strides (a copy has about 1,050 nodes, 40 relations).
NAPTAN_NODE_STRIDE = 100_000
NAPTAN_RELATION_STRIDE = 10_000
TARGET_SECONDS = 300.0
TARGET_MIB = 3 * 1024.0
CACHE_DIR = Path(os.environ.get("BENCH_CACHE_DIR", Path(tempfile.gettempdir()) / "stopsync-bench-cache"))


# --------------------------------------------------------------------------------------------
# Generation (cached by content hash)
# --------------------------------------------------------------------------------------------


def copy_offset(k: int) -> tuple[float, float]:
    """(Δlat, Δlon) of copy `k`: copy 0 stays, the others fill a grid northwards and eastwards."""
    row, col = divmod(k, GRID_COLUMNS)
    return row * COPY_STEP_DEG[0], col * COPY_STEP_DEG[1]


def replicate_row(row: list[str], col: dict[str, int], k: int) -> list[str]:
    """Copy `k` of one ATLAS service-point row: shifted position, rewritten sloid and number."""
    if k == 0:
        return row
    out = list(row)
    dlat, dlon = copy_offset(k)
    out[col["wgs84North"]] = f"{float(row[col['wgs84North']]) + dlat:.8f}"
    out[col["wgs84East"]] = f"{float(row[col['wgs84East']]) + dlon:.8f}"
    out[col["sloid"]] = f"{row[col['sloid']]}:r{k}"
    if row[col["number"]].isdigit():
        out[col["number"]] = str(int(row[col["number"]]) + k * NUMBER_STRIDE)
    out[col["uicCountryCode"]] = "80"
    out[col["isoCountryCode"]] = "DE"
    return out


def _kept_rows(zip_path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows the ATLAS parser keeps (a stop, valid on TODAY, with coordinates):
    replicating only those lets the generator hit an exact stop count."""
    with zipfile.ZipFile(zip_path) as archive:
        member = next(i for i in archive.infolist() if i.filename.lower().endswith(".csv"))
        with archive.open(member) as stream:
            reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), delimiter=";")
            header = next(reader)
            col = {name: i for i, name in enumerate(header)}
            rows = []
            for row in reader:
                if len(row) != len(header) or row[col["stopPoint"]].lower() != "true":
                    continue
                if not row[col["wgs84East"]] or not row[col["wgs84North"]] or not row[col["sloid"]]:
                    continue
                if row[col["validFrom"]] > TODAY or (row[col["validTo"]] and row[col["validTo"]] < TODAY):
                    continue
                rows.append(row)
    return header, rows


def write_registry(zip_path: Path, out: Path, stops: int) -> int:
    """Write the replicated service-point export (zipped CSV) with `stops` rows; returns the copies used."""
    header, rows = _kept_rows(zip_path)
    col = {name: i for i, name in enumerate(header)}
    stops = stops if stops > 0 else len(rows)  # 0: the real export once (the Swiss run)
    copies = math.ceil(stops / len(rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    written = 0
    for k in range(copies):
        for row in rows:
            if written == stops:
                break
            writer.writerow(replicate_row(row, col, k))
            written += 1
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("service_points.csv", "\ufeff" + buffer.getvalue())
    return copies


def naptan_copy_offset(k: int) -> tuple[float, float]:
    """(Δeasting, Δnorthing) in metres of NaPTAN copy `k`: copy 0 stays, the others fill rows north of it."""
    if k == 0:
        return 0.0, 0.0
    row, col = divmod(k - 1, NAPTAN_GRID_COLUMNS)
    return (col - NAPTAN_GRID_COLUMNS // 2) * NAPTAN_COPY_STEP_M[0], (row + 1) * NAPTAN_COPY_STEP_M[1]


def naptan_copy_code(code: str, k: int) -> str:
    """Copy `k` of an AtcoCode, NaptanCode or StopAreaCode (copy 0 keeps the real one)."""
    return f"{code}-r{k}" if k and code else code


def naptan_copy_of(code: str) -> int:
    """Which copy an identifier written by `naptan_copy_code` belongs to."""
    _, sep, tail = code.rpartition("-r")
    return int(tail) if sep and tail.isdigit() else 0


def write_naptan(xml_path: Path, out: Path, copies: int) -> None:
    """Write `copies` copies of the NaPTAN XML export (zipped, one document): every StopPoint and
    StopArea moved by `naptan_copy_offset` on the grid, its WGS84 position moved by the same
    displacement converted at that place (pyproj, EPSG:27700 → 4326), its codes made unique."""
    import numpy as np
    from lxml import etree
    from pyproj import Transformer

    raw = xml_path.read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(raw, parser)
    ns = root.nsmap[None]

    def q(name: str) -> str:
        return f"{{{ns}}}{name}"

    points, areas = root.find(q("StopPoints")), root.find(q("StopAreas"))
    elements = [*points, *areas]
    codes = [
        e
        for e in root.iter(
            q("AtcoCode"), q("NaptanCode"), q("StopAreaCode"), q("StopAreaRef"), q("ParentStopAreaRef")
        )
        if e.text and e.text.strip()
    ]
    code_text = [e.text.strip() for e in codes]
    holders = [e.getparent() for e in root.iter(q("Easting"))]
    east = np.array([float(h.findtext(q("Easting"))) for h in holders])
    north = np.array([float(h.findtext(q("Northing"))) for h in holders])
    lon_el = [h.find(q("Longitude")) for h in holders]
    lat_el = [h.find(q("Latitude")) for h in holders]
    lon0 = np.array([float(e.text) if e is not None else np.nan for e in lon_el])
    lat0 = np.array([float(e.text) if e is not None else np.nan for e in lat_el])
    to_wgs84 = Transformer.from_crs(27700, 4326, always_xy=True)
    grid_lon, grid_lat = to_wgs84.transform(east, north)
    head = raw[: raw.index(b"<StopPoints>") + len(b"<StopPoints>")] + b"\n"
    middle = b"    </StopPoints>\n    <StopAreas>\n"
    tail = b"    </StopAreas>\n" + raw[raw.index(b"</NaPTAN>") :]
    serialised: list[list[bytes]] = []  # per copy: its StopPoints, then its StopAreas
    for k in range(copies):
        if k:
            d_east, d_north = naptan_copy_offset(k)
            moved_lon, moved_lat = to_wgs84.transform(east + d_east, north + d_north)
            new_lon, new_lat = lon0 + (moved_lon - grid_lon), lat0 + (moved_lat - grid_lat)
            for i, holder in enumerate(holders):
                holder.find(q("Easting")).text = f"{east[i] + d_east:.0f}"
                holder.find(q("Northing")).text = f"{north[i] + d_north:.0f}"
                if lon_el[i] is not None:
                    lon_el[i].text = f"{new_lon[i]:.6f}"
                if lat_el[i] is not None:
                    lat_el[i].text = f"{new_lat[i]:.6f}"
            for element, text in zip(codes, code_text, strict=True):
                element.text = naptan_copy_code(text, k)
        serialised.append([etree.tostring(e, encoding="utf-8") for e in elements])
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("NaPTAN_replicated.xml", "w") as handle,
    ):
        handle.write(head)
        for chunk in serialised:
            handle.writelines(chunk[: len(points)])
        handle.write(middle)
        for chunk in serialised:
            handle.writelines(chunk[len(points) :])
        handle.write(tail)


def derive_naptan_osm(naptan_zip: Path, seed: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The OSM side of every NaPTAN copy, derived exactly as the UK end-to-end test derives it from
    the real file (tests/naptan_derivation.py), seeded per copy, with each copy's OSM ids moved into
    a range of their own; and how many objects of each kind were made."""
    from pipeline.sources.base import ParseOptions
    from pipeline.sources.naptan import NaptanSource, read_xml
    from tests import naptan_derivation

    records = NaptanSource().parse([naptan_zip], ParseOptions(uic_country_codes=None)).records
    made: dict[str, int] = {"registry_stops": len(records)}
    by_copy: dict[int, list[Any]] = {}
    for stop in records:
        by_copy.setdefault(naptan_copy_of(stop.stop_id), []).append(stop)
    inactive: dict[int, list[tuple[str, str, float, float]]] = {}
    with zipfile.ZipFile(naptan_zip) as archive, archive.open(archive.namelist()[0]) as stream:
        for row in read_xml(stream, naptan_zip.name, {}):
            if row.status != "active":
                inactive.setdefault(naptan_copy_of(row.atco_code), []).append(
                    (row.atco_code, row.common_name, float(row.latitude), float(row.longitude))
                )
    elements: list[dict[str, Any]] = []
    saved_seed = naptan_derivation.SEED
    try:
        for k in sorted(by_copy):
            naptan_derivation.SEED = saved_seed + seed + k  # each copy its own draw
            derived = naptan_derivation.derive_osm(by_copy[k], inactive.get(k, []))
            node_shift, relation_shift = k * NAPTAN_NODE_STRIDE, k * NAPTAN_RELATION_STRIDE
            for element in derived.elements:
                if element["type"] == "node":
                    element["id"] += node_shift
                elif element["type"] == "relation":
                    element["id"] += relation_shift
                    for member in element["members"]:
                        member["ref"] += node_shift
                else:  # the one road way of the copy
                    element["id"] += k
                    element["nodes"] = [ref + node_shift for ref in element["nodes"]]
            elements += derived.elements
            for group, members in derived.groups.items():
                made[group] = made.get(group, 0) + len(members)
            made["stop_area_relations"] = made.get("stop_area_relations", 0) + len(derived.stop_areas)
    finally:
        naptan_derivation.SEED = saved_seed
    return elements, made


@contextlib.contextmanager
def _rates(**overrides: float) -> Iterator[dict[str, float]]:
    """bench.pipeline_scale's derivation rates with `overrides` for the duration of the block."""
    saved = dict(pipeline_scale.RATES)
    pipeline_scale.RATES.update(overrides)
    try:
        yield dict(pipeline_scale.RATES)
    finally:
        pipeline_scale.RATES.clear()
        pipeline_scale.RATES.update(saved)


def naptan_copies(stops: int, naptan_share: float) -> int:
    """Whole copies of the real NaPTAN export (1,195 stops kept each) nearest to `naptan_share` of `stops`."""
    return round(stops * naptan_share / NAPTAN_KEPT_PER_COPY) if stops and naptan_share else 0


# Stops the NaPTAN parser keeps from the real Brighton and Hove export (active, not entrances).
NAPTAN_KEPT_PER_COPY = 1_195


def cache_key(zip_path: Path, stops: int, stop_position_rate: float, seed: int, naptan_share: float) -> str:
    """A hash of all the generated inputs depend on: the registry files, the generator, the derivations."""
    from tests import naptan_derivation

    digest = hashlib.sha256()
    digest.update(hashlib.sha256(zip_path.read_bytes()).digest())
    if naptan_share:
        digest.update(hashlib.sha256(NAPTAN_XML.read_bytes()).digest())
    # The generator's own functions (not this whole module: editing the measuring code keeps the cache).
    for obj in (
        copy_offset,
        replicate_row,
        _kept_rows,
        write_registry,
        naptan_copy_offset,
        naptan_copy_code,
        write_naptan,
        derive_naptan_osm,
        _generate,
        pipeline_scale.derive_osm,
        naptan_derivation,
    ):
        digest.update(inspect.getsource(obj).encode())
    params = [
        stops,
        stop_position_rate,
        seed,
        naptan_share,
        pipeline_scale.RATES,
        COPY_STEP_DEG,
        GRID_COLUMNS,
        NUMBER_STRIDE,
        NAPTAN_COPY_STEP_M,
        NAPTAN_GRID_COLUMNS,
        NAPTAN_NODE_STRIDE,
        NAPTAN_RELATION_STRIDE,
    ]
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def generate(
    stops: int, stop_position_rate: float, seed: int = 42, naptan_share: float = 0.0
) -> tuple[Path, dict[str, Any]]:
    """The source folder for a run of `stops` registry stops (generated once, then from the cache).

    Generation runs in a child process, so its memory is never billed to the pipeline's peak."""
    folder = _folder(stops, stop_position_rate, seed, naptan_share)
    if not (folder / "generated.json").exists():
        import subprocess

        argv = [sys.executable, "-m", "bench.germany_scale", "--generate-only", "--stops", str(stops)]
        argv += ["--seed", str(seed), "--stop-position-rate", str(stop_position_rate)]
        argv += ["--naptan-share", str(naptan_share)]
        subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return _generate(stops, stop_position_rate, seed, naptan_share)


def _atlas_zip() -> Path:
    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise SystemExit(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    return zips[0]


def _folder(stops: int, stop_position_rate: float, seed: int, naptan_share: float) -> Path:
    key = cache_key(_atlas_zip(), stops, stop_position_rate, seed, naptan_share)
    return CACHE_DIR / f"registry-{stops}-{key}"


def _generate(
    stops: int, stop_position_rate: float, seed: int, naptan_share: float
) -> tuple[Path, dict[str, Any]]:
    from pipeline.sources import ParseOptions, get_source

    folder = _folder(stops, stop_position_rate, seed, naptan_share)
    meta_file = folder / "generated.json"
    if meta_file.exists():
        say(f"generated inputs from the cache: {folder}")
        return folder / "sources", json.loads(meta_file.read_text())
    started = time.perf_counter()
    say(f"generating {stops or 'all'} registry stops and the derived OSM side into {folder}")
    sources = folder / "sources"
    shutil.rmtree(folder, ignore_errors=True)
    sources.mkdir(parents=True)
    n_naptan_copies = naptan_copies(stops, naptan_share)
    naptan_elements: list[dict[str, Any]] = []
    naptan_made: dict[str, int] = {}
    naptan_stops = 0
    if n_naptan_copies:
        if not NAPTAN_XML.exists():
            raise SystemExit(f"the NaPTAN export is missing: {NAPTAN_XML}")
        naptan_zip = sources / "naptan_replicated.xml.zip"
        write_naptan(NAPTAN_XML, naptan_zip, n_naptan_copies)
        naptan_elements, naptan_made = derive_naptan_osm(naptan_zip, seed)
        naptan_stops = naptan_made["registry_stops"]
    registry_file = sources / "atlas_service_points.csv.zip"
    atlas_target = stops - naptan_stops if stops else 0  # 0: the real export once (the Swiss run)
    copies = write_registry(_atlas_zip(), registry_file, atlas_target)
    options = ParseOptions(today=dt.date.fromisoformat(TODAY), uic_country_codes=None, boundary=None)
    registry = get_source("atlas").parse([registry_file], options).records
    with _rates(stop_position=stop_position_rate) as rates:
        payload, made = pipeline_scale.derive_osm(registry, seed)
    atlas_objects = len(payload["elements"])
    payload["elements"] += naptan_elements
    payload["generator"] = "StopSync bench/germany_scale.py (derived from ATLAS and NaPTAN, synthetic)"
    with (sources / "osm_derived.json").open("w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    kinds: dict[str, int] = {}
    for element in naptan_elements:
        kind = element["type"] if element["type"] != "node" or element["tags"] else "untagged node"
        kinds[kind] = kinds.get(kind, 0) + 1
    meta = {
        "registry_stops": len(registry) + naptan_stops,
        "atlas_stops": len(registry),
        "naptan_stops": naptan_stops,
        "naptan_copies": n_naptan_copies,
        "naptan_share": naptan_share,
        "osm_objects": len(payload["elements"]),
        "osm_from_atlas": atlas_objects,
        "osm_from_naptan": len(naptan_elements),
        "osm_from_naptan_kinds": kinds,
        "copies": copies,
        "rates": rates,
        "made": made,
        "naptan_made": naptan_made,
        "seed": seed,
        "generation_s": round(time.perf_counter() - started, 1),
    }
    meta_file.write_text(json.dumps(meta))
    return sources, meta


# --------------------------------------------------------------------------------------------
# Peak memory: this process and PostgreSQL's process tree
# --------------------------------------------------------------------------------------------


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cmdline_title(pid: int) -> str:
    """A PostgreSQL process's title ("postgres: user db host(port) CREATE INDEX"), shortened."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    return " ".join(w for w in title.split() if "(" not in w and not w.startswith("stopsync"))[:60]


class MemoryWatch:
    """Samples RSS of this process and its children and PSS of PostgreSQL's process tree; keeps peaks."""

    def __init__(self, postmaster_pid: int, interval_s: float = 0.25) -> None:
        self.postmaster_pid = postmaster_pid
        self.interval_s = interval_s
        self.peak_self_mib = self.peak_postgres_mib = self.peak_sum_mib = 0.0
        # Where the sum peaked: (stage, pipeline MiB, PostgreSQL MiB) of that sample.
        self.peak_at: tuple[str, float, float] = ("start", 0.0, 0.0)
        self.peak_backends: list[tuple[float, str]] = []
        self.stage = "start"  # set by the pipeline's progress callback
        self.by_stage: dict[str, tuple[float, float]] = {}  # stage: (peak pipeline MiB, peak PostgreSQL MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _postgres_pids(self) -> list[int]:
        from bench.common import descendants_of, own_tree

        table = own_tree(self.postmaster_pid, markers=())
        return [self.postmaster_pid, *descendants_of(self.postmaster_pid, table)]

    def sample(self) -> None:
        from bench.common import descendants_of, own_tree

        me = os.getpid()
        tree = [me, *descendants_of(me, own_tree(me, markers=()))]
        mine = sum(_kib(f"/proc/{pid}/status", "VmRSS:") for pid in tree) / 1024
        backends = [(pid, _kib(f"/proc/{pid}/smaps_rollup", "Pss:") / 1024) for pid in self._postgres_pids()]
        postgres = sum(pss for _pid, pss in backends)
        self.peak_self_mib = max(self.peak_self_mib, mine)
        self.peak_postgres_mib = max(self.peak_postgres_mib, postgres)
        if mine + postgres > self.peak_sum_mib:
            self.peak_sum_mib = mine + postgres
            self.peak_at = (self.stage, mine, postgres)
            # Which PostgreSQL processes held it: their titles name what they were doing
            # ("CREATE INDEX", "CREATE TABLE AS", "parallel worker", "checkpointer").
            self.peak_backends = sorted(
                ((pss, _cmdline_title(pid)) for pid, pss in backends if pss >= 1), reverse=True
            )[:6]
        was = self.by_stage.get(self.stage, (0.0, 0.0))
        self.by_stage[self.stage] = (max(was[0], mine), max(was[1], postgres))

    def progress(self, stage: str, done: int, total: int, message: str) -> None:
        """The pipeline's progress callback: memory peaks are kept per stage."""
        self.stage = stage

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> MemoryWatch:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# --------------------------------------------------------------------------------------------
# One run of the real pipeline on a fresh database
# --------------------------------------------------------------------------------------------


def _pipeline_api() -> tuple[Any, Any]:
    """RunOptions and run_pipeline, wherever this checkout keeps them (runs/ after issue 12)."""
    # Decided by this checkout's files, not by import success: an editable install elsewhere on
    # sys.path could otherwise lend a module from another tree.
    if (Path(__file__).resolve().parents[1] / "runs" / "stages.py").exists():
        from runs.stages import RunOptions, run_pipeline
    else:
        from pipeline.run import RunOptions, run_pipeline  # type: ignore[no-redef]
    return RunOptions, run_pipeline


def run_once(source_dir: Path, label: str, sources: str, profile_to: Path | None = None) -> dict[str, Any]:
    """First import of `source_dir` (PIPELINE_SOURCES=`sources`) into a fresh PostgreSQL+PostGIS:
    wall, stage seconds, memory."""
    run_options, run_pipeline = _pipeline_api()
    with pipeline_database(
        "stopsync-germany-", "stopsync_germany", label=label, PIPELINE_SOURCES=sources
    ) as database:
        say(f"{label}: pipeline run (first import; sources {sources})")
        options = run_options(source_dir=source_dir, offline=True, today=dt.date.fromisoformat(TODAY))
        with MemoryWatch(database.postmaster_pid) as memory:
            started = time.perf_counter()
            if profile_to is not None:
                import cProfile

                profiler = cProfile.Profile()
                summary = profiler.runcall(run_pipeline, options, memory.progress)
                profiler.dump_stats(profile_to)
            else:
                summary = run_pipeline(options, memory.progress)
            wall = time.perf_counter() - started
    if summary.status != "succeeded":
        raise RuntimeError(f"{label}: the pipeline run {summary.status}: {summary.error}")
    return {
        "wall_s": wall,
        "stage_seconds": dict(summary.stage_seconds),
        "counts": summary.counts,
        "peak_self_mib": memory.peak_self_mib,
        "peak_postgres_mib": memory.peak_postgres_mib,
        "peak_sum_mib": memory.peak_sum_mib,
        "peak_at": memory.peak_at,
        "peak_backends": memory.peak_backends,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "memory_by_stage": memory.by_stage,
    }


def nlogn_factor(small: int, large: int) -> float:
    """How much n·log n grows from `small` to `large`."""
    return (large * math.log(large)) / (small * math.log(small))


def print_hot_spots(profile: Path, top: int = 15) -> None:
    """The functions with the most own time (tottime) and the most time below them (cumtime)."""
    import pstats

    for key in ("tottime", "cumulative"):
        print(f"\nprofile, top {top} by {key}:")
        stream = io.StringIO()
        pstats.Stats(str(profile), stream=stream).sort_stats(key).print_stats(top)
        lines = stream.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
        print("\n".join(lines[start : start + top + 1]))


def describe_inputs(name: str, meta: dict[str, Any]) -> str:
    """The composition of one generated input: stops and OSM objects per registry, copies and rates."""
    lines = [
        f"{name} inputs: {meta['registry_stops']:,} registry stops, {meta['osm_objects']:,} OSM objects "
        f"(seed {meta['seed']}; generated in {meta['generation_s']} s, not timed)",
        f"  ATLAS: {meta.get('atlas_stops', meta['registry_stops']):,} stops ({meta['copies']} copies of the "
        f"real service-point export, {TODAY}, the last one cut) -> "
        f"{meta.get('osm_from_atlas', meta['osm_objects']):,} OSM objects derived at rates "
        + ", ".join(f"{k} {v:.1%}" for k, v in meta["rates"].items())
        + f"; made: {meta['made']}",
    ]
    if meta.get("naptan_copies"):
        share = meta["naptan_stops"] / meta["registry_stops"]
        lines.append(
            f"  NaPTAN: {meta['naptan_stops']:,} stops ({share:.1%} of the registry; {meta['naptan_copies']} "
            f"whole copies of the real Brighton and Hove export, 2022-12, moved on the British National "
            f"Grid) -> {meta['osm_from_naptan']:,} OSM elements {meta['osm_from_naptan_kinds']} derived "
            f"as in the UK end-to-end test (tests/naptan_derivation.py); made: {meta['naptan_made']}"
        )
    return "\n".join(lines)


def run(
    stops: int = GERMANY_STOPS, profile: bool = False, seed: int = 42, naptan_share: float = NAPTAN_SHARE
) -> list[Figure]:
    """The Swiss-size run, then the Germany-size run, through the same pipeline; figures."""
    swiss_dir, swiss_meta = generate(0, pipeline_scale.RATES["stop_position"], seed)  # 0: one copy, all
    big_dir, big_meta = generate(stops, GERMANY_STOP_POSITION_RATE, seed, naptan_share)
    for name, meta in (("Swiss", swiss_meta), ("Germany-size", big_meta)):
        print(describe_inputs(name, meta))
    swiss = run_once(swiss_dir, "Swiss", "atlas,osm")
    profile_file = Path(tempfile.gettempdir()) / f"stopsync-germany-{os.getpid()}.prof" if profile else None
    big_sources = "atlas,naptan,osm" if big_meta.get("naptan_copies") else "atlas,osm"
    big = run_once(big_dir, "Germany-size", big_sources, profile_file)
    n_small, n_large = swiss_meta["registry_stops"], big_meta["registry_stops"]
    expect = nlogn_factor(n_small, n_large)
    print(
        f"\ngrowth {n_small:,} → {n_large:,} registry stops (x{n_large / n_small:.1f}): "
        f"n·log n expects x{expect:.1f}"
    )
    print(f"{'stage':<10} {'Swiss s':>9} {'Germany s':>10} {'growth':>7} {'n·log n':>8}")
    figures: list[Figure] = []
    for stage, seconds in big["stage_seconds"].items():
        small = swiss["stage_seconds"].get(stage, 0.0)
        growth = seconds / small if small > 0.05 else None
        print(
            f"{stage:<10} {small:>9.2f} {seconds:>10.2f} "
            f"{(f'x{growth:.1f}' if growth else '-'):>7} {f'x{expect:.1f}':>8}"
        )
        figures.append(
            Figure(
                f"Germany-size: {stage}",
                seconds,
                "s",
                note=f"Swiss {small:.2f} s, growth x{growth:.1f} (n·log n x{expect:.1f})" if growth else "",
            )
        )
    print(
        "peak memory by stage (pipeline process RSS / PostgreSQL PSS, MiB): "
        + ", ".join(
            f"{stage} {mine:,.0f} / {pg:,.0f}" for stage, (mine, pg) in big["memory_by_stage"].items()
        )
    )
    stage_at, mine_at, pg_at = big["peak_at"]
    print(
        f"peak of the sum: {big['peak_sum_mib']:,.0f} MiB during {stage_at} "
        f"(pipeline {mine_at:,.0f} + PostgreSQL {pg_at:,.0f} MiB"
        + (": " + ", ".join(f"{title} {pss:,.0f}" for pss, title in big["peak_backends"]) if pg_at else "")
        + ")"
    )
    imp = big["counts"].get("import", {})
    for key, label in (
        ("load_seconds", "staging (COPY, indexes, derived tables)"),
        ("swap_seconds", "swap transaction"),
        ("locked_seconds", "tables locked in the swap"),
        ("cleanup_seconds", "cleanup after the swap"),
    ):
        if key in imp:
            figures.append(Figure(f"Germany-size: import {label}", imp[key], "s"))
    steps = imp.get("steps") or {}
    if steps:
        print(
            "import steps (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(steps.items(), key=lambda kv: -kv[1])[:12])
        )
    growth = big["wall_s"] / swiss["wall_s"]
    figures += [
        Figure(
            "Germany-size: whole pipeline",
            round(big["wall_s"], 1),
            "s",
            TARGET_SECONDS,
            note=f"{n_large:,} stops, {big_meta['osm_objects']:,} OSM objects; Swiss {swiss['wall_s']:.1f} s"
            f", growth x{growth:.1f} (n·log n x{expect:.1f})" + ("; under cProfile" if profile else ""),
        ),
        Figure(
            "Germany-size: growth over n·log n",
            round(growth / expect, 2),
            "",
            1.0,
            note="measured growth of the whole pipeline divided by n·log n's",
        ),
        Figure(
            "Germany-size: peak memory, pipeline + PostgreSQL",
            round(big["peak_sum_mib"]),
            "MiB",
            TARGET_MIB,
            note=f"peak during {big['peak_at'][0]}; pipeline process {big['ru_maxrss_mib']:.0f} MiB "
            f"(ru_maxrss), PostgreSQL {big['peak_postgres_mib']:.0f} MiB (PSS, sampled)",
        ),
        Figure("Swiss: whole pipeline (same run)", round(swiss["wall_s"], 1), "s"),
    ]
    c = big["counts"]
    print(
        f"Germany-size result: {c.get('matches', 0):,} matches {c.get('matches_by_method')}, "
        f"{c.get('unmatched_registry', 0):,} unmatched registry, "
        f"{c.get('unmatched_osm', 0):,} unmatched OSM, "
        f"{c.get('problems', 0):,} problems"
    )
    if profile_file is not None:
        print_hot_spots(profile_file)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stops", type=int, default=GERMANY_STOPS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="run the large pipeline under cProfile")
    parser.add_argument("--generate-only", action="store_true", help="write the inputs to the cache, stop")
    parser.add_argument("--stop-position-rate", type=float, default=GERMANY_STOP_POSITION_RATE)
    parser.add_argument("--naptan-share", type=float, default=NAPTAN_SHARE)
    args = parser.parse_args()
    if args.generate_only:
        _generate(args.stops, args.stop_position_rate, args.seed, args.naptan_share)
        return
    figures = run(args.stops, args.profile, args.seed, args.naptan_share)
    print(format_table(figures))
    sys.exit(0 if all(f.verdict != "MISS" for f in figures) else 1)


if __name__ == "__main__":
    main()
