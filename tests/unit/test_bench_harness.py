"""The benchmark harness's own arithmetic: percentiles, verdicts, the table, map viewports."""

from __future__ import annotations

import math

import pytest

from bench.api_load import viewport_bbox
from bench.common import Figure, format_table, percentile


def test_percentile_is_nearest_rank_on_sorted_values():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_a_figure_passes_or_misses_by_its_direction_and_reports_its_ratio():
    assert Figure("p99", 40.0, "ms", 50.0).verdict == "pass"
    assert Figure("p99", 60.0, "ms", 50.0).verdict == "MISS"
    assert Figure("rate", 210.0, "req/s", 200.0, lower_is_better=False).verdict == "pass"
    assert Figure("rate", 150.0, "req/s", 200.0, lower_is_better=False).verdict == "MISS"
    assert Figure("p99", 60.0, "ms", 50.0).ratio == pytest.approx(1.2)
    assert Figure("p99", None, "ms", 50.0).verdict == "n/a"
    assert Figure("info", 3.0, "s").verdict == ""


def test_the_table_shows_value_target_ratio_and_verdict():
    table = format_table([Figure("bbox p99", 42.0, "ms", 50.0, note="200/s"), Figure("rows", 1234.0, "")])
    header, rule, first, second = table.splitlines()
    assert header.split()[:4] == ["figure", "value", "target", "ratio"]
    assert set(rule) == {"-"}
    for part in ("42.0 ms", "≤ 50.0 ms", "0.84", "pass"):
        assert part in first
    assert first.endswith("200/s")
    assert "1,234" in second


@pytest.mark.parametrize("zoom", [13, 14, 15, 16])
def test_a_viewport_is_the_padded_web_mercator_view_around_its_centre(zoom):
    lat, lon = 47.3769, 8.5417  # Zürich HB
    west, south, east, north = (float(v) for v in viewport_bbox(lat, lon, zoom).split(","))
    assert west < lon < east
    assert south < lat < north
    assert (west + east) / 2 == pytest.approx(lon, abs=1e-6)
    width_px = (east - west) / (360 / (256 * 2**zoom))
    assert width_px == pytest.approx(1280 * 1.2, rel=1e-3)  # bounds.pad(0.1): 10 % on each side
    # Web mercator: a degree of latitude spans more pixels than a degree of longitude by 1/cos(lat).
    height_px = (north - south) / (360 / (256 * 2**zoom)) / math.cos(math.radians(lat))
    assert height_px == pytest.approx(800 * 1.2, rel=1e-3)


# --- Is a run comparable? (bench.common.comparability and the verdicts printed for it) ---------

from bench.common import (  # noqa: E402 - grouped with the tests that use them
    MAX_CALIBRATION_DRIFT,
    MAX_FOREIGN_CPU_SHARE,
    MAX_LOAD_PER_CPU_BEFORE,
    MachineState,
    comparability,
    descendants_of,
    foreign_cpu_share,
    judged_verdict,
)

QUIET = MachineState(load1=0.1, load5=0.2, calibration_s=0.45)


def test_a_quiet_run_with_a_steady_calibration_is_comparable():
    after = MachineState(load1=1.9, load5=1.0, calibration_s=0.47)  # our own server load shows after
    assert comparability(QUIET, after, cpus=2, foreign_cpu_share=0.02) is None


def test_a_busy_machine_before_the_run_is_not_comparable():
    busy = MachineState(load1=MAX_LOAD_PER_CPU_BEFORE * 2 + 0.3, load5=1.0, calibration_s=0.45)
    reason = comparability(busy, QUIET, cpus=2)
    assert reason is not None
    assert reason.startswith("NOT COMPARABLE: load average 1.30 before")


def test_a_calibration_that_drifted_during_the_run_is_not_comparable():
    slower = MachineState(0.1, 0.2, QUIET.calibration_s * (1 + MAX_CALIBRATION_DRIFT + 0.05))
    reason = comparability(QUIET, slower, cpus=2)
    assert reason is not None
    assert reason.startswith("NOT COMPARABLE: calibration 0.45 s before, 0.54 s after")
    steady = MachineState(0.1, 0.2, QUIET.calibration_s * (1 + MAX_CALIBRATION_DRIFT - 0.05))
    assert comparability(QUIET, steady, cpus=2) is None


def test_other_processes_using_the_cpus_during_the_run_make_it_not_comparable():
    reason = comparability(QUIET, QUIET, cpus=2, foreign_cpu_share=MAX_FOREIGN_CPU_SHARE + 0.2)
    assert reason is not None
    assert "other processes used 30% of the 2 CPUs" in reason
    assert comparability(QUIET, QUIET, cpus=2, foreign_cpu_share=None) is None  # unknown: not judged


def test_foreign_cpu_share_is_busy_time_not_ours_over_capacity():
    assert foreign_cpu_share(busy_ticks=150, own_ticks=100, capacity_ticks=200) == pytest.approx(0.25)
    assert foreign_cpu_share(busy_ticks=90, own_ticks=100, capacity_ticks=200) == 0.0  # sampling noise
    assert foreign_cpu_share(10, 0, 0) == 0.0


def test_descendants_are_found_through_every_generation():
    table = {1: (0, 0), 10: (1, 5), 11: (10, 5), 12: (11, 5), 20: (1, 5), 30: (99, 5)}
    assert descendants_of(10, table) == {11, 12}
    assert descendants_of(1, table) == {10, 11, 12, 20}


def test_a_disturbed_run_prints_no_pass_but_keeps_its_misses():
    reason = "NOT COMPARABLE: load average 3.00 before the run"
    met, missed = Figure("p99", 40.0, "ms", 50.0), Figure("p99", 60.0, "ms", 50.0)
    assert judged_verdict(met, reason) == "NOT COMPARABLE"
    assert judged_verdict(missed, reason) == "MISS"
    assert judged_verdict(met, None) == "pass"
    table = format_table([met, missed], not_comparable=reason)
    assert "pass" not in table
    assert "NOT COMPARABLE" in table
    assert "MISS" in table


# --- The map's session mix (bench.map_tiles) ---------------------------------------------------

from bench.map_tiles import position_of, sessions, tile_of, tile_paths, view_tiles  # noqa: E402


def test_tile_coordinates_round_trip_and_match_the_slippy_map_scheme():
    x, y = tile_of(47.3769, 8.5417, 16)  # Zürich HB
    assert (int(x), int(y)) == (34322, 22949)  # (lon + 180) / 360 * 2^z; 1 - ln(tan + sec) / pi, halved
    lat, lon = position_of(x, y, 16)
    assert lat == pytest.approx(47.3769, abs=1e-9)
    assert lon == pytest.approx(8.5417, abs=1e-9)


def test_a_view_asks_for_the_tiles_it_covers_nearest_the_centre_first():
    tiles = view_tiles(47.3769, 8.5417, 12, max_zoom=16)
    assert 5 * 4 <= len(tiles) <= 7 * 5  # 1280 x 800 px of 256 px tiles
    assert tiles[0] == (12, *(int(v) for v in tile_of(47.3769, 8.5417, 12)))
    assert len(set(tiles)) == len(tiles)


def test_beyond_the_deepest_zoom_a_view_reuses_the_deepest_tiles():
    deep = view_tiles(47.3769, 8.5417, 18, max_zoom=16)
    assert {z for z, _, _ in deep} == {16}
    assert len(deep) <= 4  # a 1280 x 800 view at zoom 18 spans about a quarter tile of zoom 16 each way


def test_sessions_are_seeded_zooms_8_to_16_and_never_repeat_a_tile_within_a_session():
    stops = [(47.0 + i / 100, 8.0 + i / 100) for i in range(50)]
    first, again = sessions(stops, 16, count=20), sessions(stops, 16, count=20)
    assert first == again
    for session in first:
        assert len(set(session)) == len(session)
        assert all(8 <= z <= 16 for z, _, _ in session)


def test_tile_paths_fill_the_tilejson_template_and_keep_its_query():
    template = "http://example.org/api/v1/tiles/12-ab/{z}/{x}/{y}.mvt?status=matched"
    assert tile_paths(template, [(14, 8594, 5747)]) == ["/api/v1/tiles/12-ab/14/8594/5747.mvt?status=matched"]


# --- The Germany-size registry (bench.germany_scale) -------------------------------------------

from bench.germany_scale import copy_offset, nlogn_factor, replicate_row  # noqa: E402


def test_a_registry_copy_is_shifted_and_gets_new_ids_while_copy_zero_is_the_real_row():
    header = ["sloid", "number", "uicCountryCode", "isoCountryCode", "wgs84East", "wgs84North", "x"]
    col = {name: i for i, name in enumerate(header)}
    row = ["ch:1:sloid:7000", "8507000", "85", "CH", "7.43911", "46.94881", "keep"]
    assert replicate_row(row, col, 0) == row
    copy = replicate_row(row, col, 7)
    dlat, dlon = copy_offset(7)
    assert (dlat, dlon) != (0, 0)
    assert copy[col["sloid"]] == "ch:1:sloid:7000:r7"
    assert copy[col["number"]] == str(8507000 + 7 * 10_000_000)
    assert float(copy[col["wgs84North"]]) == pytest.approx(46.94881 + dlat)
    assert float(copy[col["wgs84East"]]) == pytest.approx(7.43911 + dlon)
    assert copy[col["uicCountryCode"]] == "80"
    assert copy[-1] == "keep"


def test_copies_never_overlap_switzerland_sized_areas():
    offsets = {copy_offset(k) for k in range(17)}
    assert len(offsets) == 17
    for a in offsets:
        for b in offsets - {a}:
            assert abs(a[0] - b[0]) >= 2.2 - 1e-9 or abs(a[1] - b[1]) >= 4.9 - 1e-9


def test_n_log_n_growth_from_the_swiss_to_the_german_size():
    assert nlogn_factor(50_399, 850_000) == pytest.approx(21.26, abs=0.01)
    assert nlogn_factor(1000, 1000) == 1.0


def test_only_benchmark_folders_mark_a_daemon_as_ours_not_the_test_suites_servers():
    from bench.common import BENCH_DIR_MARKERS

    ours = "/usr/lib/postgresql/15/bin/postgres -D /tmp/stopsync-bench-ab12/postgres -p 5555"
    theirs = "/usr/lib/postgresql/15/bin/postgres -D /tmp/stopsync-test-wzgy57za/postgres -p 5556"
    cache = "python -m bench.germany_scale --generate-only"  # the input cache folder is not a server's
    assert any(m in ours for m in BENCH_DIR_MARKERS)
    assert not any(m in theirs for m in BENCH_DIR_MARKERS)
    assert not any(m in cache for m in BENCH_DIR_MARKERS)


def test_a_benchmark_waits_for_its_predecessors_load_to_settle_but_not_forever():
    from bench.common import wait_for_quiet

    loads = iter([1.8, 1.4, 1.1, 0.9, 0.5])
    slept: list[float] = []
    assert wait_for_quiet(2, load1=lambda: next(loads), sleep=slept.append, poll_s=5) == 15
    assert slept == [5, 5, 5]
    busy: list[float] = []
    # A machine that stays busy: the wait ends, and the run is then judged NOT COMPARABLE.
    assert wait_for_quiet(2, max_wait_s=20, poll_s=5, load1=lambda: 3.0, sleep=busy.append) == 20


def test_a_benchmark_disturbed_on_its_own_prints_no_pass_in_the_summary_table():
    from bench.common import Figure, format_table

    quiet = Figure("map | search p99", 12.0, "ms", target=30.0)
    disturbed = Figure("pipeline | whole", 16.9, "s", target=30.0, not_comparable="NOT COMPARABLE: x")
    table = format_table([quiet, disturbed])
    assert "pass" in next(line for line in table.splitlines() if "search p99" in line)
    assert "NOT COMPARABLE" in next(line for line in table.splitlines() if "pipeline | whole" in line)


def test_the_calibration_names_the_processes_that_competed_with_it():
    import subprocess
    import sys

    from bench.common import machine_state

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        state = machine_state()
    finally:
        busy.kill()
        busy.wait()
    assert state.others_share is not None
    assert state.others_share > 0
    named = {pid: cpu for cpu, pid, _cmd in state.others}
    assert busy.pid in named
    assert named[busy.pid] >= 0.05
    assert f"[{busy.pid}]" in state.describe()


def test_the_after_run_calibration_waits_for_the_benchmarks_own_busy_children():
    import subprocess
    import sys
    import time

    from bench.common import wait_for_own_processes

    # A child busy for about 1.5 s (a server still shutting down): the wait outlasts it.
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    )
    started = time.monotonic()
    waited, still_busy = wait_for_own_processes(max_wait_s=20, poll_s=0.3)
    child.wait()
    assert still_busy == []
    assert waited >= 1.0
    assert time.monotonic() - started >= 1.0
    # One that never stops is named when the wait runs out, and the wait is bounded.
    forever = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        waited, still_busy = wait_for_own_processes(max_wait_s=1.0, poll_s=0.3)
    finally:
        forever.kill()
        forever.wait()
    assert waited <= 1.5
    assert any(f"[{forever.pid}]" in entry for entry in still_busy)
    # Nothing of ours running: no wait worth naming.
    assert wait_for_own_processes(max_wait_s=5, poll_s=0.2) == (0.0, [])
