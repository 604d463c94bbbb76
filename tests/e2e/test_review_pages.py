"""Review-workflow pages in headless Chromium: the /changes page (trend chart, run diff) and the
"why not matched" section of a stop page, on the demo data loaded twice with a change in between."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from database import db
from database.models import Problem
from tests.e2e.helpers import DEMO, load_demo_data, sign_in

REMOVED = "ch:1:sloid:10770"


@pytest.fixture
def two_runs(app, tmp_path):
    """The demo data, then the same data without one registry stop (its problems resolve)."""
    load_demo_data()
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    csv_path = changed / "atlas_service_points_li.csv"
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    sloid_at = lines[0].split(";").index("sloid")
    kept = [lines[0]] + [ln for ln in lines[1:] if ln.split(";")[sloid_at] != REMOVED]
    csv_path.write_text("\n".join(kept) + "\n", encoding="utf-8-sig")
    load_demo_data(changed)
    return app


def test_changes_page_draws_the_trend_and_lists_a_runs_differences(two_runs, page):
    page.goto("/changes")
    page.wait_for_selector("#changes[data-ready]")
    assert page.locator("#chart-trend").count() == 1
    assert page.locator("#table-trend tbody tr").count() == 2  # one row per run
    assert page.locator("#diff-run option").count() == 2
    assert "resolved" in page.inner_text("#diff-summary")
    page.select_option("#diff-change", "resolved")
    page.wait_for_selector("#diff-table tbody tr.change-resolved")
    assert page.locator("#diff-table tbody tr.change-appeared").count() == 0
    page.select_option("#trend-by", "operator")
    page.wait_for_selector("#changes[data-trend-by=operator]")
    assert page.locator("#table-trend th").count() >= 2
    page.problems.assert_none()


def test_changes_page_lists_editor_links_under_each_still_open_problems_stop(two_runs, page):
    page.goto("/changes")
    page.wait_for_selector("#changes[data-ready]")
    first_run = page.locator("#diff-run option").last.get_attribute("value")  # every problem appeared
    with page.expect_response(re.compile(r"/api/v1/changes\?run=" + first_run)):
        page.select_option("#diff-run", first_run)
    links = page.locator("#diff-table tbody tr.change-appeared .row-links a")
    expect(links.first).to_be_visible()
    load = page.locator("#diff-table .row-links a", has_text="Open in JOSM").first
    assert load.get_attribute("href").startswith("http://127.0.0.1:8111/load_object?objects=")
    add = page.locator("#diff-table .row-links a", has_text="Add in JOSM").first
    assert add.get_attribute("href").startswith("http://127.0.0.1:8111/add_node?lat=")
    assert add.get_attribute("target") == "_blank"
    page.problems.assert_none()


def test_stop_page_explains_why_an_unmatched_stop_was_not_matched(two_runs, page):
    sloid = db.session.scalar(
        select(Problem.sloid)
        .where(Problem.problem_type == "unmatched", Problem.sloid.is_not(None), Problem.priority == 3)
        .order_by(Problem.identity)
        .limit(1)
    )
    assert sloid is not None
    page.goto(f"/stops/atlas/{sloid}")
    page.wait_for_selector("#why-not-matched[data-loaded]")
    assert int(page.get_attribute("#why-not-matched", "data-loaded")) > 0
    first_outcome = page.inner_text("#why-table tbody tr:first-child td:last-child")
    assert first_outcome.strip()
    # Each OSM candidate can be opened in an editor, to fix the tags that kept it from matching.
    first = page.locator("#why-table tbody tr").first
    osm_type, osm_id = first.get_attribute("data-key").split("/")
    assert first.get_by_role("link", name="Open in JOSM").get_attribute("href") == (
        f"http://127.0.0.1:8111/load_object?objects={osm_type[0]}{osm_id}&relation_members=true"
    )
    page.problems.assert_none()


def test_an_editor_links_a_candidate_from_the_stop_page(two_runs, page):
    from database.models import ManualMatch
    from tests import factories as f

    user = f.create_user(role="editor")
    sloid = db.session.scalar(
        select(Problem.sloid)
        .where(Problem.problem_type == "unmatched", Problem.sloid.is_not(None), Problem.priority == 3)
        .order_by(Problem.identity)
        .limit(1)
    )
    sign_in(page, user.username, f"/stops/atlas/{sloid}")
    page.wait_for_selector("#why-not-matched[data-loaded]")
    first = page.locator("#why-table tbody tr").first
    osm_key = first.get_attribute("data-key")
    first.locator("button").click()
    first.locator("text=applies from the next pipeline run").wait_for()
    db.session.expire_all()
    link = db.session.scalar(select(ManualMatch).where(ManualMatch.sloid == sloid))
    assert (link.osm_key, link.action, link.status) == (osm_key, "link", "active")
    page.problems.assert_none()
