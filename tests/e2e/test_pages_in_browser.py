"""The pages in headless Chromium against the bundled demo data (Liechtenstein), loaded by the pipeline.

Covers what issue 4 asks of the browser: the map shows markers from the demo data, a problem can be
decided on the review page with the keyboard, and the decision is still there after a re-import.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.services import stops as stop_service
from app.services.new_stop_tags import tags_for_new_stop
from database import db
from database.models import Decision, Match, Problem, RegistryStopRow
from tests import factories as f
from tests.e2e.helpers import click_a_matched_osm_node, load_demo_data, sign_in


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


def test_map_shows_clustered_markers_of_the_demo_data(demo, page):
    page.goto("/")
    page.wait_for_selector("#map[data-loaded]")
    loaded = int(page.get_attribute("#map", "data-loaded"))
    assert loaded > 500  # the whole country fits in the first view: both sides, all statuses
    # Clustered at country zoom: cluster icons carry counts that add up to what was loaded.
    counts = page.locator(".marker-cluster span").all_inner_texts()
    singles = page.locator(".leaflet-marker-icon.stop-icon").count()
    assert sum(int(c) for c in counts) + singles == loaded
    assert "stops in view" in page.inner_text("#map-status")
    page.problems.assert_none()


def test_map_popup_links_to_the_stop_page_osm_id_and_josm(demo, page):
    click_a_matched_osm_node(page)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert popup.locator("a", has_text="Stop page").get_attribute("href").startswith("/stops/osm/")
    # The object whose popup opened (another node of the same name may lie under the cursor).
    osm_id = popup.locator(".popup-kind code").inner_text().removeprefix("node/")
    # The editor links arrive with the stop's detail when the popup opens.
    expect(popup.get_by_role("link", name="View on openstreetmap.org")).to_have_attribute(
        "href", f"https://www.openstreetmap.org/node/{osm_id}"
    )
    expect(popup.get_by_role("link", name="Edit in iD")).to_have_attribute(
        "href", f"https://www.openstreetmap.org/edit?editor=id&node={osm_id}"
    )
    expect(popup.get_by_role("link", name="Open in JOSM")).to_have_attribute(
        "href", f"http://127.0.0.1:8111/load_object?objects=n{osm_id}&relation_members=true"
    )
    # At street zoom every match is drawn as a line from the registry stop to its OSM object.
    assert page.locator("path.match-line").count() >= 1
    page.problems.assert_none()


def test_popup_renders_only_editor_links_to_openstreetmap_org_or_josm_and_labels_as_text(demo, page):
    # A tampered or buggy API answer: a javascript: URL and markup in a label.
    def tamper(route: Any) -> None:
        body = route.fetch().json()
        body["links"] = [
            {"editor": "osm", "action": "view", "label": "Evil", "title": "", "url": "javascript:alert(1)"},
            {
                "editor": "osm",
                "action": "view",
                "label": "Evil too",
                "title": "",
                "url": "https://evil.example/",
            },
            {
                "editor": "id",
                "action": "edit",
                "label": "<img src=x onerror=alert(1)>",
                "title": "",
                "url": "https://www.openstreetmap.org/edit?editor=id&node=1",
            },
        ]
        route.fulfill(json=body)

    page.context.route("**/api/v1/stops/osm/**", tamper)
    click_a_matched_osm_node(page)
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator(".popup-links a")).to_have_count(2)  # the stop page and the one safe link
    assert popup.get_by_role("link", name="Evil").count() == 0
    assert popup.locator("img").count() == 0
    assert popup.get_by_role("link", name="<img src=x onerror=alert(1)>").count() == 1
    page.problems.assert_none()


def fake_josm(page: Any) -> list[str]:
    """Answer JOSM remote control on 127.0.0.1:8111 as JOSM does ("OK"), recording each request's URL."""
    calls: list[str] = []

    def answer(route: Any) -> None:
        calls.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="OK\r\n")

    page.context.route("http://127.0.0.1:8111/**", answer)  # registered last, so asked first
    return calls


def josm_tags(url: str) -> dict[str, str]:
    """Tags as JOSM reads `addtags`: raw '&' split, one decode, '|' split, first '=' split."""
    args = dict(unquote(pair).partition("=")[::2] for pair in urlsplit(url).query.split("&"))
    return dict(tag.split("=", 1) for tag in args.get("addtags", "").split("|") if "=" in tag)


def an_unmatched_bus_stop() -> RegistryStopRow:
    matched = select(Match.stop_id).where(Match.stop_id == RegistryStopRow.stop_id).exists()
    stop_id = db.session.scalar(
        select(RegistryStopRow.stop_id)
        .where(~matched, RegistryStopRow.modes == "BUS")
        .order_by(RegistryStopRow.stop_id)
        .limit(1)
    )
    return db.session.get(RegistryStopRow, ("atlas", stop_id))


def test_map_popup_of_an_unmatched_registry_stop_adds_it_in_josm_with_its_tags(demo, page):
    stop = an_unmatched_bus_stop()
    # No Liechtenstein mapper uses ref:IFOPT, so a new stop there follows suit (NEW_STOP_IFOPT).
    expected = tags_for_new_stop(stop, ifopt=False)
    assert expected["highway"] == "bus_stop"
    calls = fake_josm(page)
    page.goto(f"/#map=18/{stop.lat}/{stop.lon}")
    page.wait_for_selector("#map[data-loaded]")
    page.locator(f'.leaflet-marker-icon.unmatched-atlas[title="{stop.name} (ATLAS)"]').first.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup.get_by_role("link", name="Edit here in iD")).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/edit\?editor=id#map=19/")
    )
    with page.context.expect_page() as opened:
        popup.get_by_role("link", name="Add in JOSM").click()
    opened.value.wait_for_load_state()
    assert len(calls) == 1
    assert calls[0].startswith(
        f"http://127.0.0.1:8111/add_node?lat={stop.lat:.7f}&lon={stop.lon:.7f}&addtags="
    )
    assert josm_tags(calls[0]) == expected
    page.problems.assert_none()


def test_stop_page_of_an_unmatched_registry_stop_loads_the_area_and_adds_it_in_josm(demo, page):
    stop = an_unmatched_bus_stop()
    calls = fake_josm(page)
    page.goto(f"/stops/atlas/{stop.stop_id}")
    for name in ("Load area in JOSM", "Add in JOSM"):
        with page.context.expect_page() as opened:
            page.locator("#stop-links").get_by_role("link", name=name).click()
        opened.value.wait_for_load_state()
    assert [urlsplit(url).path for url in calls] == ["/load_and_zoom", "/add_node"]
    assert josm_tags(calls[1]) == tags_for_new_stop(stop, ifopt=False)
    page.problems.assert_none()


def test_an_open_popup_stays_open_when_a_filter_change_reloads_the_view(demo, page):
    node = click_a_matched_osm_node(page)
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(node.name)
    # A matched stop is still drawn without the unmatched ones: its popup survives the redraw.
    with page.expect_response(re.compile(r"/api/v1/tiles.*status=matched")):
        page.uncheck("input[name=status][value=unmatched]")
    expect(page.locator("#map")).not_to_have_class(re.compile(r"is-loading"))
    expect(popup).to_contain_text(node.name)
    page.problems.assert_none()


def test_a_small_move_inside_the_loaded_area_asks_the_server_nothing(demo, page):
    page.goto("/#map=16/47.166/9.51")
    page.wait_for_selector("#map[data-loaded]")
    expect(page.locator("#map")).not_to_have_class(re.compile(r"is-loading"))
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/tiles" in request.url else None)
    box = page.locator("#map").bounding_box()
    assert box["width"] * 0.1 > 80
    before = page.url
    page.focus("#map")
    page.keyboard.press("ArrowRight")  # Leaflet pans 80 px: inside the 10 % loaded beyond each edge
    expect(page).not_to_have_url(before)  # the view moved (the URL follows it)...
    page.wait_for_timeout(600)  # ...and the map's 200 ms debounce is long past
    assert asked == []
    page.problems.assert_none()


def test_map_filters_reload_the_viewport_with_the_chosen_status(demo, page):
    page.goto("/")
    page.wait_for_selector("#map[data-loaded]")
    everything = int(page.get_attribute("#map", "data-loaded"))
    with page.expect_response(re.compile(r"/api/v1/tiles.*status=unmatched")):
        page.uncheck("input[name=status][value=matched]")
    expect(page.locator("#map")).not_to_have_attribute("data-loaded", str(everything))
    unmatched = int(page.get_attribute("#map", "data-loaded"))
    assert 0 < unmatched < everything
    assert "status=unmatched" in page.url  # the view can be shared
    page.problems.assert_none()


def test_editor_decides_a_problem_with_one_key_and_it_survives_a_reimport(demo, page):
    editor = f.create_user("reviewer", role="editor")
    sign_in(page, editor.username, "/review")
    page.wait_for_selector("#review[data-ready]")
    first = page.get_attribute("#review", "data-current")
    problem = db.session.scalar(select(Problem).where(Problem.identity == first))
    assert problem is not None
    assert problem.priority == 1  # the queue starts with the most urgent
    # The re-import replaces the problem rows, so keep plain values rather than the ORM object.
    stop_path = f"/stops/atlas/{problem.stop_id}" if problem.stop_id else f"/stops/osm/{problem.osm_key}"

    page.keyboard.press("3")  # not a problem
    page.wait_for_selector("#toast:not(.hidden)")
    assert "Saved" in page.inner_text("#toast")
    expect(page.locator("#review")).not_to_have_attribute("data-current", first)
    assert page.locator(f'.queue-item.decided[data-identity="{first}"]').count() == 1

    db.session.expire_all()
    stored = db.session.scalar(select(Decision).where(Decision.problem_identity == first))
    assert stored is not None
    assert stored.decision == "not_a_problem"
    assert stored.author_id == editor.id

    load_demo_data()  # a re-import replaces every snapshot row, problems included

    db.session.expire_all()
    assert db.session.scalar(select(Problem.id).where(Problem.identity == first)) is not None
    page.goto(stop_path)
    decided = page.locator(f'.decision-item[data-identity="{first}"]')
    assert "Not a problem" in decided.inner_text()
    assert "reviewer" in decided.inner_text()
    badge = page.locator(f'.problem-item[data-identity="{first}"] [data-role="decision-badge"]')
    assert badge.inner_text().strip() == "Not a problem"

    page.goto("/review")
    page.wait_for_selector("#review[data-ready]")
    assert page.locator(f'.queue-item[data-identity="{first}"]').count() == 0  # no longer in the queue
    page.problems.assert_none()


def test_review_page_editor_keys_open_the_current_problems_links_from_the_stop_api(demo, page):
    calls = fake_josm(page)
    page.goto("/review")
    page.wait_for_selector("#review[data-ready]")
    problem = db.session.scalar(
        select(Problem).where(Problem.identity == page.get_attribute("#review", "data-current"))
    )
    detail = (
        stop_service.stop_detail(stop_id=problem.stop_id)
        if problem.stop_id
        else stop_service.stop_detail(osm_key=problem.osm_key)
    )
    links = detail["links"]
    if problem.osm_key:
        links = next(obj["links"] for obj in detail["osm"] if obj["osm_key"] == problem.osm_key)
    first = {}
    for link in links:
        first.setdefault(link["editor"], link["url"])
    for editor in ("osm", "id", "josm"):
        expect(page.locator(f"#link-{editor}")).to_have_attribute("href", first[editor])
    with page.context.expect_page() as opened:
        page.keyboard.press("e")
    opened.value.wait_for_load_state()
    assert calls == [first["josm"]]
    page.keyboard.press("?")
    assert "edit it in iD" in page.inner_text("#help-dialog")
    page.problems.assert_none()


def test_anonymous_visitor_can_browse_the_queue_and_its_help_but_not_decide(demo, page):
    page.goto("/review")
    page.wait_for_selector("#review[data-ready]")
    current = page.get_attribute("#review", "data-current")
    page.keyboard.press("1")
    page.wait_for_selector("#toast:not(.hidden)")
    assert "Log in" in page.inner_text("#toast")
    page.keyboard.press("n")
    expect(page.locator("#review")).not_to_have_attribute("data-current", current)
    page.keyboard.press("?")
    assert page.locator("#help-dialog[open]").is_visible()
    page.keyboard.press("Escape")
    page.wait_for_selector("#help-dialog:not([open])", state="attached")
    db.session.expire_all()
    assert db.session.scalar(select(Decision.id)) is None
    page.problems.assert_none()


def test_stats_page_draws_its_charts_from_the_api(demo, page):
    page.goto("/stats")
    page.wait_for_selector("#stats[data-ready]")
    assert page.locator("canvas").count() == 6
    assert "registry stops" in page.inner_text("#kpis")
    methods_table = page.text_content("#table-methods")  # inside a closed <details>
    assert "Stop code" in methods_table  # the exact_uic method, labelled for any registry
    page.problems.assert_none()
