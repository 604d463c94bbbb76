"""Every page at a desktop window (1400 x 900) and a touch phone (390 x 844), and the map's selection.

Issue 15: on a phone every popup vanished 0.7 s after opening (its auto-pan reloaded the markers and
the redraw dropped it), a search jump opened nothing, tables widened pages to 590-690 px, the header
showed only "Map", the review problem started 1,030 px down, and markers were 14 px targets.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from database import db
from database.models import Match, OsmStop, RegistryStopRow
from tests import factories as f
from tests.e2e.helpers import load_demo_data, sign_in

# WCAG 2.2 (2.5.8): the smallest touch target.
MIN_TARGET_PX = 24


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


def matched_node() -> OsmStop:
    """An OSM node matched by UIC number (the same one click_a_matched_osm_node picks)."""
    osm_key = db.session.scalar(
        select(Match.osm_key).where(Match.method == "exact_uic").order_by(Match.osm_key).limit(1)
    )
    return db.session.get(OsmStop, osm_key)


def every_page() -> list[str]:
    """Every page of the site, two stop pages of the demo data included."""
    stop_id = db.session.scalar(select(Match.stop_id).order_by(Match.stop_id).limit(1))
    node = matched_node()
    unmatched = db.session.scalar(
        select(RegistryStopRow.stop_id)
        .where(~RegistryStopRow.stop_id.in_(select(Match.stop_id)))
        .order_by(RegistryStopRow.stop_id)
        .limit(1)
    )
    return [
        "/",
        "/review",
        "/stats",
        "/operators",
        "/changes",
        "/pipeline",
        "/downloads",
        "/api/docs",
        "/login",
        f"/stops/atlas/{stop_id}",
        f"/stops/atlas/{unmatched}",
        f"/stops/{node.osm_key}".replace("/stops/", "/stops/osm/"),
    ]


def settle(page: Any, path: str) -> None:
    """Open a page and wait until its script has filled it (no spinner text, map loaded)."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    if path == "/":
        page.wait_for_selector("#map[data-loaded]")


def without_live_stream(page: Any) -> None:
    """Refuse the pipeline page's event stream, as a blocked host: these tests look at layout only, and
    a stream the server is still serving after the test would race the wipe of the database."""
    page.route("**/api/v1/pipeline/stream*", lambda route: route.abort("blockedbyclient"))


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing sticks out)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def open_tables(page: Any) -> None:
    """Unfold every <details> (the tables behind "Table" on the stats and changes pages, stop tags)."""
    page.evaluate("document.querySelectorAll('details').forEach(function (d) { d.open = true; })")


# ---- layout: every page at both viewports ------------------------------------------------------------


def test_no_page_is_wider_than_the_screen_signed_in_as_admin(demo, any_page):
    admin = f.create_user("wide-admin", role="admin")
    sign_in(any_page, admin.username, "/stats")
    without_live_stream(any_page)
    for path in every_page():
        settle(any_page, path)
        open_tables(any_page)
        assert horizontal_overflow(any_page) <= 0, f"{path} at {any_page.viewport_name} scrolls sideways"
    any_page.problems.assert_none()


def test_no_page_is_wider_than_the_screen_for_a_visitor(demo, any_page):
    without_live_stream(any_page)
    for path in every_page():
        settle(any_page, path)
        open_tables(any_page)
        assert horizontal_overflow(any_page) <= 0, f"{path} at {any_page.viewport_name} scrolls sideways"
    any_page.problems.assert_none()


def test_a_wide_table_scrolls_in_its_box_on_a_phone(demo, phone_page):
    settle(phone_page, "/api/docs")
    boxes = phone_page.locator(".table-scroll")
    assert boxes.count() >= 1
    # The table keeps its columns readable; its box, not the page, scrolls.
    widths = boxes.evaluate_all(
        "bs => bs.map(b => [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX])"
    )
    assert all(style == "auto" for _, _, style in widths)
    assert any(scroll > client for scroll, client, _ in widths)
    assert horizontal_overflow(phone_page) <= 0


def test_header_menu_on_a_phone_reaches_every_page_and_the_account(demo, phone_page):
    editor = f.create_user("menu-editor", role="editor")
    sign_in(phone_page, editor.username, "/stats")
    nav = phone_page.get_by_role("navigation", name="Main")
    toggle = phone_page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for name in ("Map", "Review", "Stats", "Operators", "Changes", "Pipeline", "Downloads", "API docs"):
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["height"] >= MIN_TARGET_PX
        assert box["x"] + box["width"] <= 390
    expect(phone_page.get_by_text(editor.username)).to_be_visible()
    expect(phone_page.get_by_role("button", name="Log out")).to_be_visible()
    nav.get_by_role("link", name="Review", exact=True).click()
    phone_page.wait_for_url(re.compile(r"/review$"))
    # Escape closes an open menu again.
    phone_page.get_by_role("button", name="Menu").click()
    expect(phone_page.get_by_role("navigation", name="Main")).to_be_visible()
    phone_page.keyboard.press("Escape")
    expect(phone_page.get_by_role("navigation", name="Main")).to_be_hidden()
    phone_page.problems.assert_none()


def test_header_shows_every_link_inline_on_a_desktop(demo, desktop_page):
    admin = f.create_user("inline-admin", role="admin")
    sign_in(desktop_page, admin.username, "/stats")
    expect(desktop_page.get_by_role("button", name="Menu")).to_be_hidden()
    nav = desktop_page.get_by_role("navigation", name="Main")
    for name in ("Map", "Review", "Stats", "Operators", "Changes", "Pipeline", "Downloads", "API docs"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
    expect(desktop_page.get_by_role("button", name="Log out")).to_be_in_viewport()
    desktop_page.problems.assert_none()


def test_review_problem_comes_first_on_a_phone_and_the_queue_is_one_tap_away(demo, phone_page):
    settle(phone_page, "/review")
    phone_page.wait_for_selector("#review[data-current]")
    problem = phone_page.locator("#problem")
    queue = phone_page.locator("#queue")
    assert problem.bounding_box()["y"] < queue.bounding_box()["y"]
    expect(phone_page.locator("#problem-type")).to_be_in_viewport()  # on the first screen, not 1,030 px down
    phone_page.get_by_role("link", name="Queue").click()
    expect(phone_page.locator(".queue-item").first).to_be_in_viewport()
    # Tapping another problem in the queue brings that problem into view.
    second = phone_page.locator(".queue-item").nth(1)
    second.tap()
    expect(phone_page.locator("#review")).to_have_attribute(
        "data-current", second.get_attribute("data-identity")
    )
    expect(phone_page.locator("#problem-type")).to_be_in_viewport()
    phone_page.problems.assert_none()


def test_review_queue_stays_beside_the_problem_on_a_desktop(demo, desktop_page):
    settle(desktop_page, "/review")
    desktop_page.wait_for_selector("#review[data-current]")
    queue = desktop_page.locator("#queue").bounding_box()
    problem = desktop_page.locator("#problem").bounding_box()
    assert queue["x"] < problem["x"]
    assert abs(queue["y"] - problem["y"]) < 2
    expect(desktop_page.get_by_role("link", name="Queue")).to_be_hidden()
    desktop_page.problems.assert_none()


# ---- the map: touch targets, the selected stop -----------------------------------------------------


def open_map_on(page: Any, lat: float, lon: float, zoom: int = 18) -> None:
    page.goto(f"/#map={zoom}/{lat}/{lon}")
    page.wait_for_selector("#map[data-loaded]")
    expect(page.locator("#map")).not_to_have_class(re.compile(r"is-loading"))


def marker_of(page: Any, node: OsmStop) -> Any:
    return page.locator(f'.leaflet-marker-icon.method-exact_uic[title="{node.name} (OSM)"]').first


def selected_stop(page: Any) -> Any:
    """Where the selected stop shows: the bottom sheet on a phone, the popup on a desktop."""
    if page.viewport_name == "phone":
        return page.locator("#stop-sheet")
    return page.locator(".leaflet-popup-content")


def test_map_markers_are_touch_targets_of_at_least_24_px(demo, any_page):
    node = matched_node()
    open_map_on(any_page, node.lat, node.lon)
    boxes = any_page.locator(".leaflet-marker-icon.stop-icon").evaluate_all(
        "ms => ms.map(m => { const r = m.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert boxes
    assert all(w >= MIN_TARGET_PX and h >= MIN_TARGET_PX for w, h in boxes), boxes
    any_page.problems.assert_none()


def test_selected_stop_is_still_shown_two_seconds_after_opening_and_after_a_pan(demo, any_page):
    node = matched_node()
    open_map_on(any_page, node.lat, node.lon)
    marker_of(any_page, node).click()
    shown = selected_stop(any_page)
    expect(shown).to_contain_text(node.name)
    expect(shown.get_by_role("link", name="Edit in iD")).to_be_visible()
    any_page.wait_for_timeout(2000)  # the bug closed it after about 0.7 s: two seconds is the test
    expect(shown).to_be_visible()
    expect(shown).to_contain_text(node.name)
    # A pan beyond the loaded tiles asks for new ones and redraws every marker: twice a zoom-16
    # tile's width (the map draws zoom 18 from zoom-16 tiles, 1,024 px wide here), in drags.
    # Grabbed where neither the popup (above the stop) nor a phone's sheet (the lower half) lies.
    box = any_page.locator("#map").bounding_box()
    phone = any_page.viewport_name == "phone"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * (0.25 if phone else 0.75)
    with any_page.expect_response(re.compile(r"/api/v1/tiles/.*\.mvt")):
        for _ in range(int(2048 // (box["width"] * 0.4)) + 1):
            any_page.mouse.move(x, y)
            any_page.mouse.down()
            any_page.mouse.move(x - box["width"] * 0.4, y, steps=8)
            any_page.mouse.up()
    expect(any_page.locator("#map")).not_to_have_class(re.compile(r"is-loading"))
    expect(shown).to_be_visible()
    expect(shown).to_contain_text(node.name)
    any_page.problems.assert_none()


def test_phone_shows_the_selected_stop_in_a_bottom_sheet_that_closes_on_request(demo, phone_page):
    node = matched_node()
    open_map_on(phone_page, node.lat, node.lon)
    marker = marker_of(phone_page, node)
    marker.tap()
    sheet = phone_page.get_by_role("region", name="Selected stop")
    expect(sheet).to_contain_text(node.name)
    expect(phone_page.locator(".leaflet-popup")).to_have_count(0)  # no popup to pan the small map
    expect(marker).to_have_class(re.compile(r"is-selected"))
    sheet_box = sheet.bounding_box()
    assert sheet_box["y"] + sheet_box["height"] <= 844 + 1
    assert sheet_box["width"] <= 390
    # The selected stop stays in sight above the sheet (the map pans once when the sheet would hide it).
    chosen = phone_page.locator(".leaflet-marker-icon.is-selected")
    phone_page.wait_for_function(
        "top => { const m = document.querySelector('.leaflet-marker-icon.is-selected');"
        " return m && m.getBoundingClientRect().bottom <= top; }",
        arg=sheet_box["y"],
    )
    assert chosen.bounding_box()["y"] >= phone_page.locator("#map").bounding_box()["y"]
    close = phone_page.get_by_role("button", name="Close the selected stop")
    close_box = close.bounding_box()
    assert close_box["width"] >= MIN_TARGET_PX
    assert close_box["height"] >= MIN_TARGET_PX
    close.tap()
    expect(sheet).to_be_hidden()
    expect(marker_of(phone_page, node)).not_to_have_class(re.compile(r"is-selected"))
    phone_page.problems.assert_none()


def lat_below(lat: float, pixels: float, zoom: int) -> float:
    """The latitude `pixels` screen pixels south of `lat` at `zoom` (Web Mercator, 256 px tiles)."""
    world = 256 * 2**zoom
    y = (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2 * world + pixels
    return math.degrees(2 * math.atan(math.exp((1 - 2 * y / world) * math.pi)) - math.pi / 2)


def test_desktop_popup_of_a_marker_near_the_top_edge_survives_its_auto_pan(demo, desktop_page):
    node = matched_node()
    desktop_page.goto("/stats")  # any page: the map's height is the viewport less the header
    header = desktop_page.locator(".site-header").bounding_box()["height"]
    map_height = 900 - header
    # The view's centre lies so far south that the marker sits 20 px below the map's top edge.
    open_map_on(desktop_page, lat_below(node.lat, map_height / 2 - 20, 18), node.lon)
    # Its own marker (other nodes share its name): the one at the top edge, in the middle.
    map_box = desktop_page.locator("#map").bounding_box()
    centres = desktop_page.locator(".leaflet-marker-icon.stop-icon").evaluate_all(
        "ms => ms.map(m => { const r = m.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })"
    )
    middle = map_box["x"] + map_box["width"] / 2
    x, y = min(centres, key=lambda c: abs(c[0] - middle) + abs(c[1] - map_box["y"] - 20))
    assert y < map_box["y"] + 40
    # Its popup pans the map down: beyond the tiles loaded, a reload that redraws every marker (the
    # map draws zoom 18 from zoom-16 tiles, so a short pan may stay inside them: no reload then).
    desktop_page.mouse.click(x, y)
    popup = desktop_page.locator(".leaflet-popup-content")
    key = popup.locator(".popup-kind code").inner_text()  # whichever stop lies on top there
    expect(desktop_page.locator("#map")).not_to_have_class(re.compile(r"is-loading"))
    desktop_page.wait_for_timeout(1000)
    expect(popup.locator(".popup-kind code")).to_have_text(key)
    expect(popup).to_be_in_viewport()
    desktop_page.problems.assert_none()


# ---- search -------------------------------------------------------------------------------------------


def search_for(page: Any, text: str) -> Any:
    page.get_by_role("searchbox", name="Search stops").fill(text)
    results = page.get_by_role("list", name="Search results")
    expect(results.locator("a").first).to_be_visible()
    return results


def test_search_lists_the_registry_stop_first_with_kind_operator_municipality_and_its_osm_objects(
    demo, any_page
):
    settle(any_page, "/")
    results = search_for(any_page, "Schaan Bahnhof")
    first = results.locator(":scope > li").first
    link = first.locator("a.search-link").first
    expect(link.locator(".badge")).to_have_text("Registry")
    expect(link.locator(".search-name")).to_have_text("Schaan, Bahnhof")
    meta = link.locator(".search-meta").inner_text()
    sloid_operator = db.session.execute(
        select(RegistryStopRow.stop_id, RegistryStopRow.operator_code).where(
            RegistryStopRow.name == "Schaan, Bahnhof"
        )
    ).one()
    assert sloid_operator.stop_id in meta
    assert "Schaan" in meta
    if sloid_operator.operator_code:
        assert sloid_operator.operator_code in meta
    children = first.get_by_role("list", name="Matched OSM objects").locator("a")
    assert children.count() >= 1
    expect(children.first.locator(".badge")).to_have_text("OSM")
    box = link.bounding_box()
    assert box["height"] >= MIN_TARGET_PX
    any_page.problems.assert_none()


def test_search_result_opens_and_highlights_its_stop(demo, any_page):
    settle(any_page, "/")
    results = search_for(any_page, "Schaan Bahnhof")
    stop_id = db.session.scalar(
        select(RegistryStopRow.stop_id).where(RegistryStopRow.name == "Schaan, Bahnhof")
    )
    results.locator("a.search-link").first.click()
    shown = selected_stop(any_page)
    expect(shown).to_contain_text("Schaan, Bahnhof")
    expect(shown).to_contain_text(stop_id)
    expect(any_page.locator("#map")).to_have_attribute("data-selected", f"atlas:{stop_id}")
    expect(any_page.locator(".leaflet-marker-icon.is-selected")).to_have_count(1)
    any_page.wait_for_timeout(2000)
    expect(shown).to_contain_text("Schaan, Bahnhof")
    any_page.problems.assert_none()


def test_search_result_opens_its_popup_when_its_stop_is_already_loaded(demo, desktop_page):
    """The view around the stop is loaded already: the jump asks the server nothing and still opens it."""
    stop = db.session.scalar(select(RegistryStopRow).where(RegistryStopRow.name == "Schaan, Bahnhof"))
    open_map_on(desktop_page, stop.lat, stop.lon)
    results = search_for(desktop_page, "Schaan Bahnhof")
    asked: list[str] = []
    desktop_page.on("request", lambda r: asked.append(r.url) if "/api/v1/stops?" in r.url else None)
    results.locator("a.search-link").first.click()
    expect(desktop_page.locator(".leaflet-popup-content")).to_contain_text("Schaan, Bahnhof")
    assert asked == []
    desktop_page.problems.assert_none()
