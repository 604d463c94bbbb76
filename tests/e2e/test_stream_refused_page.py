"""The pipeline page when the server refuses its live stream (429: too many streams open)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from app.coordination import STREAM_SLOTS_KEY


def test_a_refused_live_stream_says_so_and_the_page_keeps_showing_the_status(page: Any, redis_client):
    # Every slot taken (STREAM_MAX_TOTAL, default 100) by streams whose leases run for a minute.
    until_ms = int(time.time() * 1000) + 60_000
    redis_client.zadd(STREAM_SLOTS_KEY, {f"{until_ms}:elsewhere-{n}": until_ms for n in range(100)})

    page.goto("/pipeline")

    expect(page.locator("#live-connection")).to_contain_text("live updates paused")
    expect(page.locator("#run-state")).to_have_text("idle")
