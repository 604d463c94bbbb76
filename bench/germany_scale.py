"""A Germany-size pipeline: 850,000 registry stops and about 1,000,000 OSM objects, end to end into PostGIS.

    .venv/bin/python -m bench.germany_scale [--stops 850000] [--profile] [--keep]

No registry of that size is available offline, so one is DERIVED from the real national ATLAS
service-point export (2025-08-02) by replication with offsets:
- copy 0 is the real export; copy k (k = 1, 2, ...) is every stop row shifted by a fixed offset per
  copy (a grid of COPY_STEP_DEG steps, so the copies tile an area of about Germany's size without
  overlapping), with the sloid rewritten (`<sloid>:r<k>`), the UIC number rewritten
  (`number + k * 10,000,000`) and the UIC country code 80 (DE); the last copy is cut so that the
  parser keeps `--stops` stops;
- the OSM side is derived from the parsed registry exactly as for the Swiss run
  (bench/pipeline_scale.derive_osm: jitter, moved far, stripped identifiers = name-only objects,
  abbreviated/shortened/replaced names, stop positions, duplicates, unrelated extras, dropped =
  missing objects), with the stop-position rate set so that about 1,000,000 objects result.
The NaPTAN export is not replicated here yet (pipeline/sources/naptan.py did not exist when this was
written); the registry is ATLAS-only.

The generated inputs are written once to a cache folder keyed by a hash of the ATLAS file, this
module's and the derivation's source and the parameters (BENCH_CACHE_DIR, default
/tmp/stopsync-bench-cache), so the timed part is the pipeline, not the generation.

The same generator at one copy (the real Swiss registry, 50,399 stops) runs first through the same
pipeline: the growth factor of each stage is printed against n·log n.

Peak memory: this process (the pipeline runs in it; ru_maxrss, exact) and PostgreSQL (the
postmaster's process tree, proportional set size so shared buffers count once), sampled every
0.25 s; their sum is judged.
Targets: whole pipeline ≤ 5 minutes, peak memory ≤ 3 GiB, on this machine.
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
from bench.common import Figure, format_table, say
from devstack.services import LocalPostgres, free_port

TODAY = pipeline_scale.TODAY
SERVICE_POINTS = pipeline_scale.SERVICE_POINTS
GERMANY_STOPS = 850_000  # the German zHV's size
GERMANY_OSM_OBJECTS = 1_000_000
# Copies are laid on a grid of this step (degrees latitude, longitude): Switzerland spans about
# 2.0 x 4.7 degrees, so neighbouring copies never overlap and no copy's stop is near another's.
COPY_STEP_DEG = (2.2, 4.9)
GRID_COLUMNS = 6
NUMBER_STRIDE = 10_000_000
# Stop positions per stop at the Swiss rate (0.35) would give 1.29 OSM objects per registry stop;
# 0.225 gives (1 - drop) * (1 + 0.225 + duplicate) + unrelated = 1.176, i.e. 1,000,000 for 850,000.
GERMANY_STOP_POSITION_RATE = 0.225
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


def cache_key(zip_path: Path, stops: int, stop_position_rate: float, seed: int) -> str:
    """A hash of everything the generated inputs depend on: the ATLAS file, this generator, the derivation."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(zip_path.read_bytes()).digest())
    # The generator's own functions (not this whole module: editing the measuring code keeps the cache).
    for obj in (copy_offset, replicate_row, _kept_rows, write_registry, _generate, pipeline_scale.derive_osm):
        digest.update(inspect.getsource(obj).encode())
    params = [
        stops,
        stop_position_rate,
        seed,
        pipeline_scale.RATES,
        COPY_STEP_DEG,
        GRID_COLUMNS,
        NUMBER_STRIDE,
    ]
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def generate(stops: int, stop_position_rate: float, seed: int = 42) -> tuple[Path, dict[str, Any]]:
    """The source folder for a run of `stops` registry stops (generated once, then from the cache).

    Generation runs in a child process, so its memory is never billed to the pipeline's peak."""
    folder = _folder(stops, stop_position_rate, seed)
    if not (folder / "generated.json").exists():
        import subprocess

        argv = [sys.executable, "-m", "bench.germany_scale", "--generate-only", "--stops", str(stops)]
        argv += ["--seed", str(seed), "--stop-position-rate", str(stop_position_rate)]
        subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL)
    return _generate(stops, stop_position_rate, seed)


def _folder(stops: int, stop_position_rate: float, seed: int) -> Path:
    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise SystemExit(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    return CACHE_DIR / f"registry-{stops}-{cache_key(zips[0], stops, stop_position_rate, seed)}"


def _generate(stops: int, stop_position_rate: float, seed: int) -> tuple[Path, dict[str, Any]]:
    from pipeline.sources import ParseOptions, get_source

    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        raise SystemExit(f"the ATLAS service-point export is missing: {SERVICE_POINTS}")
    folder = _folder(stops, stop_position_rate, seed)
    meta_file = folder / "generated.json"
    if meta_file.exists():
        say(f"generated inputs from the cache: {folder}")
        return folder / "sources", json.loads(meta_file.read_text())
    started = time.perf_counter()
    say(f"generating {stops or 'all'} registry stops and the derived OSM side into {folder}")
    sources = folder / "sources"
    shutil.rmtree(folder, ignore_errors=True)
    sources.mkdir(parents=True)
    registry_file = sources / "atlas_service_points.csv.zip"
    copies = write_registry(zips[0], registry_file, stops)
    options = ParseOptions(today=dt.date.fromisoformat(TODAY), uic_country_codes=None, boundary=None)
    registry = get_source("atlas").parse([registry_file], options).records
    with _rates(stop_position=stop_position_rate) as rates:
        payload, made = pipeline_scale.derive_osm(registry, seed)
    with (sources / "osm_derived.json").open("w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    meta = {
        "registry_stops": len(registry),
        "osm_objects": len(payload["elements"]),
        "copies": copies,
        "rates": rates,
        "made": made,
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


class MemoryWatch:
    """Samples RSS of this process and its children and PSS of PostgreSQL's process tree; keeps peaks."""

    def __init__(self, postmaster_pid: int, interval_s: float = 0.25) -> None:
        self.postmaster_pid = postmaster_pid
        self.interval_s = interval_s
        self.peak_self_mib = self.peak_postgres_mib = self.peak_sum_mib = 0.0
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
        postgres = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in self._postgres_pids()) / 1024
        self.peak_self_mib = max(self.peak_self_mib, mine)
        self.peak_postgres_mib = max(self.peak_postgres_mib, postgres)
        self.peak_sum_mib = max(self.peak_sum_mib, mine + postgres)
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


def _postmaster_pid(postgres: LocalPostgres) -> int:
    return int((Path(postgres.data_dir) / "postmaster.pid").read_text().splitlines()[0])


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


def run_once(source_dir: Path, label: str, profile_to: Path | None = None) -> dict[str, Any]:
    """First import of `source_dir` into a fresh PostgreSQL+PostGIS: wall, stage seconds, memory."""
    import flask_migrate
    from sqlalchemy import create_engine, text

    from app import create_app

    run_options, run_pipeline = _pipeline_api()
    work = Path(tempfile.mkdtemp(prefix="stopsync-germany-"))
    work.chmod(0o755)
    postgres = LocalPostgres(work / "postgres", free_port())
    say(f"{label}: PostgreSQL on port {postgres.port}")
    postgres.start()
    try:
        postgres.create_database("stopsync_germany")
        url = postgres.url("stopsync_germany")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        app = create_app(
            {
                "STOPSYNC_ENV": "development",
                "DATABASE_URL": url,
                "REDIS_URL": "redis://127.0.0.1:1/0",  # not used by the pipeline itself
                "LOG_LEVEL": "WARNING",
                "PIPELINE_UIC_COUNTRY_CODES": "",
                "PIPELINE_BOUNDARY_FILE": "",
                "PIPELINE_MIN_ROW_RATIO": 0.0,
            }
        )
        with app.app_context():
            flask_migrate.upgrade()
            say(f"{label}: pipeline run (first import)")
            options = run_options(source_dir=source_dir, offline=True, today=dt.date.fromisoformat(TODAY))
            with MemoryWatch(_postmaster_pid(postgres)) as memory:
                started = time.perf_counter()
                if profile_to is not None:
                    import cProfile

                    profiler = cProfile.Profile()
                    summary = profiler.runcall(run_pipeline, options, memory.progress)
                    profiler.dump_stats(profile_to)
                else:
                    summary = run_pipeline(options, memory.progress)
                wall = time.perf_counter() - started
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    if summary.status != "succeeded":
        raise RuntimeError(f"{label}: the pipeline run {summary.status}: {summary.error}")
    return {
        "wall_s": wall,
        "stage_seconds": dict(summary.stage_seconds),
        "counts": summary.counts,
        "peak_self_mib": memory.peak_self_mib,
        "peak_postgres_mib": memory.peak_postgres_mib,
        "peak_sum_mib": memory.peak_sum_mib,
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


def run(stops: int = GERMANY_STOPS, profile: bool = False, seed: int = 42) -> list[Figure]:
    """The Swiss-size run, then the Germany-size run, through the same pipeline; figures."""
    swiss_dir, swiss_meta = generate(0, pipeline_scale.RATES["stop_position"], seed)  # 0: one copy, all
    big_dir, big_meta = generate(stops, GERMANY_STOP_POSITION_RATE, seed)
    for name, meta in (("Swiss", swiss_meta), ("Germany-size", big_meta)):
        print(
            f"{name} inputs: {meta['registry_stops']:,} registry stops ({meta['copies']} copies of the real "
            f"ATLAS stops), {meta['osm_objects']:,} OSM objects (seed {meta['seed']}); rates "
            + ", ".join(f"{k} {v:.1%}" for k, v in meta["rates"].items())
            + f"; made: {meta['made']}; generated in {meta['generation_s']} s (not timed)"
        )
    swiss = run_once(swiss_dir, "Swiss")
    profile_file = Path(tempfile.gettempdir()) / f"stopsync-germany-{os.getpid()}.prof" if profile else None
    big = run_once(big_dir, "Germany-size", profile_file)
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
            note=f"pipeline process {big['ru_maxrss_mib']:.0f} MiB (ru_maxrss), PostgreSQL "
            f"{big['peak_postgres_mib']:.0f} MiB (PSS, sampled)",
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
    args = parser.parse_args()
    if args.generate_only:
        _generate(args.stops, args.stop_position_rate, args.seed)
        return
    figures = run(args.stops, args.profile, args.seed)
    print(format_table(figures))
    sys.exit(0 if all(f.verdict != "MISS" for f in figures) else 1)


if __name__ == "__main__":
    main()
