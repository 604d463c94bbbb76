"""`python -m bench` (`./dev bench`): every benchmark, then one table of figures, targets and ratios.

    python -m bench [--only api pipeline ...] [--skip quality ...] [--quick] [--json results.json]

Each benchmark runs in a child process of its own (`python -m bench --child NAME`): its peak memory
is its own, a crash in one does not lose the others' figures, and each has a time limit. Benchmarks
that need servers start their own throwaway PostgreSQL+PostGIS (normal durability) and Redis on
free loopback ports, and gunicorn as in production; nothing touches `./dev up`'s stack.

The figures are only as good as the machine is quiet: the load average before and after is printed
with the table, and a warning when other processes competed for the CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    ROOT,
    CpuWatch,
    Figure,
    comparability,
    cpu_model,
    format_table,
    judged_verdict,
    machine_state,
    say,
    wait_for_own_processes,
    wait_for_quiet,
)

MARKER = "BENCH-FIGURES "


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    what: str
    timeout_s: float
    quick_kwargs: tuple[tuple[str, Any], ...] = ()


# In the order they run; the whole list takes about 8 minutes on a quiet 2-core machine.
BENCHMARKS = (
    Benchmark(
        "pipeline",
        "bench.pipeline_scale",
        "whole pipeline at full-Switzerland scale: wall time per stage, swap, peak memory",
        420,
    ),
    Benchmark(
        "api",
        "bench.api_load",
        "API under load from a second process (bbox, search, detail, problems), re-import under load",
        900,
        (("quick", True),),
    ),
    Benchmark(
        "map",
        "bench.map_tiles",
        "map tiles (cold, warm, saturation), search and stop detail against a same-run calibration",
        900,
        (("quick", True),),
    ),
    Benchmark(
        "germany",
        "bench.germany_scale",
        "Germany-size pipeline (850,000 stops, 1,000,000 OSM objects): stages, memory, growth",
        1500,
    ),
    Benchmark("outages", "bench.outages", "PostgreSQL and Redis taken away under map reads", 240),
    Benchmark("coordination", "bench.coordination", "run requests, SSE latency, lock costs", 300),
    Benchmark("review", "bench.review_reconcile", "decision reconcile at national scale", 300),
    Benchmark(
        "quality",
        "bench.matching_quality",
        "matching precision/recall on two labelled real sets, identifiers and blind",
        120,
    ),
    Benchmark(
        "quality-national",
        "bench.matching_national",
        "blind matching precision among all real Swiss stop names (derived OSM side)",
        300,
    ),
    Benchmark(
        "gtfs",
        "bench.gtfs_scale",
        "GTFS timetable at national size (25 M stop_times derived from the Zug feed): time, peak memory",
        600,
        (("replicas", 20),),  # --quick: 3.3 M stop_times
    ),
)
BY_NAME = {b.name: b for b in BENCHMARKS}


def _child(name: str, quick: bool) -> int:
    """Run one benchmark in this process and print its figures as one JSON line."""
    bench = BY_NAME[name]
    module = importlib.import_module(bench.module)
    kwargs = dict(bench.quick_kwargs) if quick else {}
    # Each benchmark states its own machine, load and calibration, so its lines stand on their own.
    waited = wait_for_quiet(os.cpu_count() or 1)
    if waited:
        print(f"{name}: waited {waited:.0f} s for the load average to settle")
    before = machine_state()
    print(
        f"{name}: {platform.machine()} x {os.cpu_count()} CPUs ({cpu_model()}); before: {before.describe()}"
    )
    watch = CpuWatch().start()
    figures: list[Figure] = module.run(**kwargs)
    watch.stop()
    # The after-run calibration is taken once the benchmark's own processes have stopped or gone
    # idle and its dirty pages are written, so it measures the machine, not the benchmark's tail.
    waited, still_busy = wait_for_own_processes()
    if waited >= 1 or still_busy:
        print(
            f"{name}: waited {waited:.0f} s for its own processes to finish"
            + (f"; still busy: {', '.join(still_busy)}" if still_busy else "")
        )
    after = machine_state()
    foreign = watch.foreign_share()
    print(
        f"{name}: after: {after.describe()}; other processes' CPU during it: "
        + (f"{foreign:.0%} of the machine" if foreign is not None else "unknown")
    )
    verdict = comparability(before, after, os.cpu_count() or 1, foreign)
    if verdict:
        print(f"{name}: {verdict}")
        for figure in figures:  # the summary table withholds this benchmark's passes too
            figure.not_comparable = verdict
    print(MARKER + json.dumps([f.as_dict() for f in figures]), flush=True)
    return 0


def _from_dict(data: dict[str, Any]) -> Figure:
    return Figure(
        name=data["name"],
        value=data["value"],
        unit=data["unit"],
        target=data["target"],
        lower_is_better=data["lower_is_better"],
        note=data["note"],
        not_comparable=data.get("not_comparable"),
    )


def _run_child(bench: Benchmark, quick: bool) -> tuple[list[Figure], float]:
    """The figures of one benchmark, or one "n/a" figure saying why there are none."""
    argv = [PYTHON, "-m", "bench", "--child", bench.name] + (["--quick"] if quick else [])
    started = time.perf_counter()
    try:
        # stdout carries the child's own report lines and, last, our marker line; stderr is progress.
        result = subprocess.run(
            argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=bench.timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - started
        return [
            Figure(f"{bench.name}: did not finish", None, "", note=f"killed after {seconds:.0f} s")
        ], seconds
    seconds = time.perf_counter() - started
    lines = result.stdout.splitlines()
    for line in lines:
        if not line.startswith(MARKER):
            print(f"  {bench.name} | {line}", file=sys.stderr)
    payload = [line[len(MARKER) :] for line in lines if line.startswith(MARKER)]
    if result.returncode != 0 or not payload:
        note = f"exit {result.returncode}; see the log above"
        return [Figure(f"{bench.name}: failed", None, "", note=note)], seconds
    return [_from_dict(item) for item in json.loads(payload[-1])], seconds


def _load(state: Any) -> str:
    return f"{state.load1:.1f} (1 min), {state.load5:.1f} (5 min)"


def _git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return (result.stdout.strip() or "unknown") + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BY_NAME), help="run only these benchmarks")
    parser.add_argument("--skip", nargs="+", choices=list(BY_NAME), default=[], help="skip these")
    parser.add_argument("--quick", action="store_true", help="shorter load phases (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--child", choices=list(BY_NAME), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.quick)

    chosen = [b for b in BENCHMARKS if (not args.only or b.name in args.only) and b.name not in args.skip]
    cpus = os.cpu_count() or 1
    started_at = dt.datetime.now(dt.UTC)
    before = machine_state()
    load_before, calibration_before = _load(before), before.calibration_s
    say(f"{len(chosen)} benchmarks on {cpus} CPUs, {before.describe()}")
    watch = CpuWatch().start()
    figures: list[Figure] = []
    durations: dict[str, float] = {}
    failures: dict[str, bool] = {}
    for bench in chosen:
        say(f"== {bench.name}: {bench.what}")
        found, seconds = _run_child(bench, args.quick)
        durations[bench.name] = seconds
        failures[bench.name] = any(f.value is None and f.name.startswith(f"{bench.name}: ") for f in found)
        for figure in found:
            figure.name = f"{bench.name} | {figure.name}"
        figures += found
    watch.stop()
    after = machine_state()
    load_after, calibration_after = _load(after), after.calibration_s
    foreign = watch.foreign_share()
    not_comparable = comparability(before, after, cpus, foreign)

    verdicts = [judged_verdict(f, not_comparable) for f in figures]
    unmeasured = sum(1 for f in figures if f.value is None and f.target is not None)
    failed = [name for name, found in failures.items() if found]
    print()
    print(
        f"StopSync benchmarks, {started_at:%Y-%m-%d %H:%M} UTC, commit {_git_commit()}, "
        f"{platform.machine()} x {cpus} CPUs ({cpu_model()}), Python {platform.python_version()}"
    )
    print(f"load average before {load_before}, after {load_after}")
    print(
        f"calibration (one core, fixed workload: bench.common.calibration_s) before "
        f"{calibration_before:.2f} s, after {calibration_after:.2f} s"
    )
    print(
        "other processes' CPU during the run: "
        + (f"{foreign:.0%} of the machine" if foreign is not None else "unknown (no /proc)")
    )
    if not_comparable:
        print(not_comparable)
    print()
    print(format_table(figures, not_comparable))
    print()
    print(
        f"{verdicts.count('pass')} targets met, {verdicts.count('MISS')} missed, "
        f"{unmeasured} not measured, failed benchmarks: {', '.join(failed) or 'none'}; "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "started_at": started_at.isoformat(),
                    "commit": _git_commit(),
                    "cpus": cpus,
                    "load_before": load_before,
                    "load_after": load_after,
                    "calibration_s": {"before": calibration_before, "after": calibration_after},
                    "foreign_cpu_share": foreign,
                    "not_comparable": not_comparable,
                    "seconds": durations,
                    "figures": [f.as_dict() for f in figures],
                },
                indent=2,
            )
        )
    return 1 if "MISS" in verdicts or failed or not_comparable else 0


if __name__ == "__main__":
    sys.exit(main())
