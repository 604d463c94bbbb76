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
