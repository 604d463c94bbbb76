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
