"""The registry steward's pages in headless Chromium, at a desktop and a phone viewport: /operators
(sorting, search, links to the filtered map), /downloads (the link each form builds) and /changes
(resolved rows named by their stop), on the demo data."""

from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.services import decisions as decision_service
from database import db
from database.models import Problem
from tests import factories as f
from tests.e2e.helpers import DEMO, load_demo_data

VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
REMOVED = "ch:1:sloid:10770"  # Gamprin, Salums: dropped from the registry in the second run
REMOVED_NAME = "Gamprin, Salums"


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, page):
    page.set_viewport_size(VIEWPORTS[request.param])
    page.viewport_name = request.param
    return page


def _operators_in_table(page) -> list[str]:
    return page.locator("#operators-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.operator)")


def _stops_in_table(page) -> list[int]:
    texts = page.locator("#operators-table tbody tr td:nth-child(2)").all_inner_texts()
    return [int(t.replace(",", "")) for t in texts]


def test_operators_page_sorts_by_column_and_keeps_the_order_in_the_url(demo, sized_page):
    page = sized_page
    page.goto("/operators")
    page.wait_for_selector("#operators[data-ready]")
    stops = _stops_in_table(page)
    assert len(stops) >= 3
    assert stops == sorted(stops, reverse=True)  # largest operator first
    assert page.get_attribute("th[data-sort=registry_stops]", "aria-sort") == "descending"

    page.click("th[data-sort=operator] button")
    names = _operators_in_table(page)
    assert names == sorted(names, key=str.lower)
    assert page.get_attribute("th[data-sort=operator]", "aria-sort") == "ascending"
    assert parse_qs(urlsplit(page.url).query) == {"sort": ["operator"], "dir": ["asc"]}
    page.click("th[data-sort=operator] button")
    assert _operators_in_table(page) == sorted(names, key=str.lower, reverse=True)

    # The "Sort by" select does the same without scrolling the table sideways (phones).
    page.select_option("#operators-sort", "registry_stops")
    page.select_option("#operators-dir", "asc")
    assert _stops_in_table(page) == sorted(stops)
    page.reload()
    page.wait_for_selector("#operators[data-ready]")
    assert _stops_in_table(page) == sorted(stops)  # the order came back from the URL
    page.problems.assert_none()


def test_operators_page_search_filters_rows_by_abbreviation(demo, sized_page):
    page = sized_page
    page.goto("/operators")
    page.wait_for_selector("#operators[data-ready]")
    total = page.locator("#operators-table tbody tr").count()
    page.fill("#operators-q", "bbm")
    expect(page.locator("#operators-table tbody tr")).to_have_count(1)
    assert _operators_in_table(page) == ["BBMAG"]
    assert page.inner_text("#operators-summary") == f"1 of {total} operators match"
    assert parse_qs(urlsplit(page.url).query) == {"q": ["bbm"]}
    page.fill("#operators-q", "no operator is called this")
    expect(page.locator("#operators-table tbody tr")).to_have_count(0)
    page.fill("#operators-q", "")
    expect(page.locator("#operators-table tbody tr")).to_have_count(total)
    page.problems.assert_none()


def test_operators_table_scrolls_inside_its_box_on_a_phone(demo, sized_page):
    page = sized_page
    page.goto("/operators")
    page.wait_for_selector("#operators[data-ready]")
    box = page.locator(".table-scroll")
    width = page.evaluate("window.innerWidth")
    assert box.evaluate("el => el.getBoundingClientRect().right") <= width + 1
    if page.viewport_name == "phone":
        assert box.evaluate("el => el.scrollWidth > el.clientWidth")  # the wide table scrolls in its box


def test_an_operators_stop_count_opens_the_map_filtered_to_its_stops(demo, sized_page):
    page = sized_page
    page.goto("/operators?q=VLM")
    page.wait_for_selector("#operators[data-ready]")
    link = page.locator("#operators-table tbody tr[data-operator=VLM] td:nth-child(2) a")
    href = link.get_attribute("href")
    assert parse_qs(urlsplit(href).query) == {"operator": ["VLM"], "side": ["atlas"]}
    assert re.search(r"#map=\d+/47\.\d+/9\.\d+$", href)
    link.click()
    page.wait_for_selector("#map[data-loaded]")
    assert page.input_value("#map-filters input[name=operator]") == "VLM"
    page.problems.assert_none()


def test_downloads_page_builds_each_link_from_its_filters(demo, sized_page):
    page = sized_page
    page.goto("/downloads")
    page.wait_for_selector("#downloads[data-ready]")
    form = page.locator("form.download-form").first
    link = form.locator(".download-link")
    assert link.get_attribute("href") == "/api/v1/exports/stops.csv"
    form.locator("input[name=operator]").fill("VLM")
    form.locator("select[name=status]").select_option("unmatched")
    form.locator("input[name=bom]").check()
    assert link.get_attribute("href") == "/api/v1/exports/stops.csv?status=unmatched&operator=VLM&bom=false"
    # GeoJSON takes no `bom`: the field is greyed out and left out of the link.
    form.locator("select[data-path]").select_option("/api/v1/exports/stops.geojson")
    assert link.get_attribute("href") == "/api/v1/exports/stops.geojson?status=unmatched&operator=VLM"
    assert form.locator("input[name=bom]").is_disabled()
    for href in page.locator(".download-link").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    ):
        assert page.request.get(href).status in (200, 204), href
    page.problems.assert_none()


@pytest.fixture
def two_runs(demo, tmp_path):
    """The demo data, a decision on the removed stop's problem, then the data without that stop."""
    identity = db.session.scalar(select(Problem.identity).where(Problem.stop_id == REMOVED).limit(1))
    assert identity is not None
    decision_service.record_decision(identity, "needs_survey", "", None)
    db.session.commit()
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    csv_path = changed / "atlas_service_points_li.csv"
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    sloid_at = lines[0].split(";").index("sloid")
    kept = [lines[0]] + [ln for ln in lines[1:] if ln.split(";")[sloid_at] != REMOVED]
    csv_path.write_text("\n".join(kept) + "\n", encoding="utf-8-sig")
    load_demo_data(changed)
    return identity


def test_changes_page_names_resolved_rows_by_their_stop(two_runs, sized_page):
    page = sized_page
    page.goto("/changes")
    page.wait_for_selector("#changes[data-ready]")
    with page.expect_response(re.compile(r"/api/v1/changes\?.*change=resolved")):
        page.select_option("#diff-change", "resolved")
    rows = page.locator("#diff-table tbody tr.change-resolved")
    expect(rows.first).to_be_visible()
    table = page.inner_text("#diff-table tbody")
    assert REMOVED_NAME in table
    assert f"{REMOVED} (no longer in the registry data)" in table
    assert two_runs not in table  # never the raw identity
    page.problems.assert_none()


def test_operator_names_from_the_registry_are_shown_as_text_and_linked_encoded(app, page):
    hostile = '<img src=x onerror="document.title=1">&=HYPERLINK("http://evil")'
    f.atlas_stop(operator_code=hostile[:60], operator_name="<b>bold</b>")
    page.goto("/operators")
    page.wait_for_selector("#operators[data-ready]")
    row = page.locator("#operators-table tbody tr").first
    assert row.locator("img, b").count() == 0
    assert hostile[:60] in row.inner_text()
    href = row.locator("td:nth-child(2) a").get_attribute("href")
    assert parse_qs(urlsplit(href).query)["operator"] == [hostile[:60]]
    assert page.title() != "1"
    page.problems.assert_none()
