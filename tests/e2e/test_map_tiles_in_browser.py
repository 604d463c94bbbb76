"""The map draws the vector tiles: the whole demo country counted, cells opened with the keyboard,
no bounding-box request."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from database import db
from tests.e2e.helpers import load_demo_data


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


def test_country_view_counts_every_stop_from_tiles_without_a_cap(demo, page):
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/" in request.url else None)
    page.goto("/")
    page.wait_for_selector("#map[data-loaded]")
    # The first view fits the data: its counted cells hold every stop of both sides, none cut.
    total = db.session.scalar(text("SELECT count(*) FROM map_features"))
    expect(page.locator("#map")).to_have_attribute("data-loaded", str(total))
    counts = page.locator(".stop-cell span").all_inner_texts()
    assert sum(int(c) for c in counts) == total
    assert any("/api/v1/tiles.json" in url for url in asked)
    assert any(re.search(r"/api/v1/tiles/[0-9a-f-]+/\d+/\d+/\d+\.mvt", url) for url in asked)
    assert not any("/api/v1/stops?" in url for url in asked)
    page.problems.assert_none()


def test_a_counted_cell_is_focusable_and_enter_zooms_in_on_it(demo, page):
    page.goto("/")
    page.wait_for_selector("#map[data-loaded]")
    zoom_before = int(re.search(r"#map=(\d+)", page.url).group(1))
    cell = page.locator(".stop-cell").first
    expect(cell).to_have_attribute("tabindex", "0")
    expect(cell).to_have_attribute("role", "button")
    expect(cell).to_have_attribute("title", re.compile(r"\d+ stops: \d+ matched, \d+ unmatched"))
    cell.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "before => { const m = /#map=(\\d+)/.exec(location.hash); return m && Number(m[1]) > before; }",
        arg=zoom_before,
    )
    page.wait_for_selector("#map:not(.is-loading)[data-loaded]")
    page.problems.assert_none()


def test_a_focused_stop_marker_opens_its_popup_with_enter(demo, page):
    node = db.session.scalars(
        text(
            "SELECT o.osm_key FROM osm_stops o JOIN matches m ON m.osm_key = o.osm_key"
            " WHERE o.osm_key LIKE 'node/%' AND o.name IS NOT NULL ORDER BY o.osm_key LIMIT 1"
        )
    ).one()
    lat, lon, name = db.session.execute(
        text("SELECT lat, lon, name FROM osm_stops WHERE osm_key = :k"), {"k": node}
    ).one()
    page.goto(f"/#map=18/{lat}/{lon}")
    page.wait_for_selector("#map:not(.is-loading)[data-loaded]")
    marker = page.locator(f'.leaflet-marker-icon.stop-icon[title="{name} (OSM)"]').first
    marker.focus()
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(name)
    expect(page.locator("#map")).to_have_attribute("data-selected", re.compile(r"^osm:node/"))
    page.problems.assert_none()
