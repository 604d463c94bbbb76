"""The lines and route pages in headless Chromium at 1400x900 and 390x844: from the list to a line,
both sides' stops in order with what agrees, links to the stop pages and the partner line, and the
stop page's lines leading back."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.route_lines import LINE_11, seed_line_11


def test_route_page_shows_each_sides_stops_and_links_to_stops_and_partners(app, any_page):
    page = any_page
    keys = seed_line_11()
    page.goto("/routes")  # the lines of both sides; the table scrolls in its box on a phone
    expect(page.locator("#routes-table tbody tr")).to_have_count(5)
    box = page.locator(".table-scroll")
    assert box.evaluate("el => el.getBoundingClientRect().right") <= page.evaluate("window.innerWidth") + 1
    page.locator(f'#routes-table tr[data-id="{LINE_11}"] td:nth-child(2) a').click()
    page.wait_for_url(f"**/routes/gtfs/{LINE_11}")
    cards = page.locator("section.itinerary")
    expect(cards).to_have_count(4)  # the two directions and their two OSM relations
    backward = page.locator('section.itinerary[data-side="gtfs"][data-direction="1"]')
    expect(backward.locator("tbody tr")).to_have_count(3)
    assert backward.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)") == [
        "agree",
        "only_here",
        "agree",
    ]
    # nothing sticks out of the window: wide tables scroll inside their card
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in page.locator(".table-scroll").all():
        assert box.evaluate("el => el.getBoundingClientRect().right") <= width + 1
    first, second = (cards.nth(i).bounding_box() for i in (0, 1))
    if page.viewport_name == "phone":
        assert second["y"] >= first["y"] + first["height"]  # one column
    else:
        assert second["y"] == first["y"]  # side by side
    relation = page.locator('a[href="https://www.openstreetmap.org/relation/101"]').first
    assert relation.get_attribute("target") == "_blank"
    assert "noopener" in relation.get_attribute("rel")

    # a stop leads to its page, whose lines lead back to both sides' lines
    only_here = keys["B'"]
    page.locator(f'section.itinerary[data-direction="1"] a[href="/stops/atlas/{only_here}"]').click()
    page.wait_for_url(f"**/stops/atlas/{only_here}")
    lines = page.locator("#stop-lines")
    expect(lines.locator(f'a[href="/routes/gtfs/{LINE_11}"]')).to_have_count(1)
    expect(lines.locator('[data-side="osm"] .side-empty')).to_be_visible()  # relation 102 skips B'
    lines.locator(f'a[href="/routes/gtfs/{LINE_11}"]').click()
    page.wait_for_url(f"**/routes/gtfs/{LINE_11}")
    page.locator('section.itinerary[data-side="osm"][data-id="102"] h2 a').click()
    page.wait_for_url("**/routes/osm/102")
    expect(page.locator("#line-title")).to_be_visible()
    page.problems.assert_none()
