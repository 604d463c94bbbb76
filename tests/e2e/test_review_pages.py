"""Review-workflow pages in headless Chromium: the /changes page (trend chart, run diff) and the
"why not matched" section of a stop page, on the demo data loaded twice with a change in between."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, text

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


def an_unmatched_registry_stop_with_osm_candidates() -> str:
    """The first unmatched registry stop (by problem identity) with OSM stop objects within 150 m."""
    stop_id = db.session.scalar(
        text(
            """
            SELECT p.stop_id FROM problems p JOIN registry_stops a ON a.stop_id = p.stop_id
            WHERE p.problem_type = 'unmatched' AND p.osm_key IS NULL
              AND EXISTS (SELECT 1 FROM osm_stops o
                          WHERE ST_DWithin(o.geom::geography, a.geom::geography, 150))
            ORDER BY p.identity LIMIT 1
            """
        )
    )
    assert stop_id is not None
    return stop_id


def test_stop_page_explains_why_an_unmatched_stop_was_not_matched(two_runs, page):
    stop_id = an_unmatched_registry_stop_with_osm_candidates()
    page.goto(f"/stops/atlas/{stop_id}")
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
    stop_id = an_unmatched_registry_stop_with_osm_candidates()
    sign_in(page, user.username, f"/stops/atlas/{stop_id}")
    page.wait_for_selector("#why-not-matched[data-loaded]")
    first = page.locator("#why-table tbody tr").first
    osm_key = first.get_attribute("data-key")
    first.locator("button").click()
    first.locator("text=applies from the next pipeline run").wait_for()
    db.session.expire_all()
    link = db.session.scalar(select(ManualMatch).where(ManualMatch.stop_id == stop_id))
    assert (link.osm_key, link.action, link.status) == (osm_key, "link", "active")
    page.problems.assert_none()


# ---------------------------------------------------------------------------------------------
# The queue: "wrong match" (button and key 6) and the "needs review again" filter, at a desktop
# and at a phone viewport.
# ---------------------------------------------------------------------------------------------

VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, page):
    page.set_viewport_size(VIEWPORTS[request.param])
    page.viewport_name = request.param
    return page


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


def _queue_identities(page) -> list[str]:
    return page.locator("#queue-list li").evaluate_all("items => items.map(li => li.dataset.identity)")


def _decision_on(identity: str):
    from database.models import Decision

    db.session.expire_all()
    return db.session.scalar(select(Decision).where(Decision.problem_identity == identity))


def test_wrong_match_in_the_queue_by_key_and_by_button_unlinks_the_pair(demo, sized_page):
    from database.models import ManualMatch
    from tests import factories as f

    page = sized_page
    editor = f.create_user(role="editor")
    sign_in(page, editor.username, "/review?type=distance")
    page.wait_for_selector("#review[data-ready]")
    first, second = _queue_identities(page)[:2]
    assert page.get_attribute("#review", "data-current") == first
    button = page.locator("#decision-buttons [data-decision=wrong_match]")
    expect(button).to_be_enabled()
    expect(button.locator("kbd")).to_have_text("6")

    page.keyboard.press("6")  # the key …
    expect(page.locator("#toast")).to_contain_text("Unlinked from the next pipeline run on")
    expect(page.locator("#review")).to_have_attribute("data-current", second)
    button.click()  # … and the button
    expect(page.locator("#queue-list li.decided")).to_have_count(2)

    for identity in (first, second):
        decision = _decision_on(identity)
        assert (decision.decision, decision.status) == ("wrong_match", "active")
        # A whole stop's distance problem is about the matched object it was measured to.
        problem = db.session.scalar(select(Problem).where(Problem.identity == identity))
        link = db.session.scalar(select(ManualMatch).where(ManualMatch.stop_id == decision.stop_id))
        assert (link.osm_key, link.action, link.status) == (
            problem.osm_key or problem.details["osm_key"],
            "unlink",
            "active",
        )

    # The stop page shows the decision with its unlink, pending until the next run, also where the
    # pair is listed among the candidates (no "Unlink" button to press a second time).
    page.goto(f"/stops/atlas/{_decision_on(first).stop_id}")
    expect(page.locator("#manual-links .manual-link-item[data-state=pending]")).to_have_count(1)
    expect(page.locator(".decision-item .manual-link-state")).to_contain_text(
        "pending until the next pipeline run"
    )
    unlinked = page.get_attribute("#manual-links .manual-link-item", "data-osm-key")
    page.click("#why-details summary")
    page.wait_for_selector("#why-not-matched[data-loaded]")
    row = page.locator(f'#why-table tbody tr[data-key="{unlinked}"]')
    expect(row).to_contain_text("Never match: pending until the next pipeline run")
    expect(row.locator("button")).to_have_count(0)
    page.problems.assert_none()


def test_wrong_match_is_not_offered_for_a_problem_without_a_matched_pair(demo, sized_page):
    from tests import factories as f

    page = sized_page
    editor = f.create_user(role="editor")
    sign_in(page, editor.username, "/review?type=unmatched")
    page.wait_for_selector("#review[data-ready]")
    identity = page.get_attribute("#review", "data-current")
    expect(page.locator("#decision-buttons [data-decision=wrong_match]")).to_be_disabled()
    page.keyboard.press("6")
    expect(page.locator("#toast")).to_contain_text("fits only a problem about a matched pair")
    assert page.get_attribute("#review", "data-current") == identity
    assert _decision_on(identity) is None
    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_contain_text("Wrong match")
    expect(page.locator("#help-dialog")).to_contain_text("only for a matched pair")
    page.problems.assert_none()


@pytest.fixture
def sent_back(app, tmp_path):
    """The demo data with one decision, then a re-import in which its OSM object was renamed: the
    pipeline sends that decision back to review. Returns its problem identity."""
    from app.services import decisions as decision_service
    from database.models import OsmStop

    load_demo_data()
    # Matched by an identifier, so a new name cannot undo the match (and the problem stays). A whole
    # stop's distance problem names the object it was measured to in its details.
    problem = next(
        p
        for p in db.session.scalars(
            select(Problem).where(Problem.problem_type == "distance").order_by(Problem.identity)
        )
        if str(p.details.get("method", "")).startswith("exact")
    )
    identity, osm_key = problem.identity, problem.osm_key or problem.details["osm_key"]
    name = db.session.get(OsmStop, osm_key).name
    decision_service.record_decision(identity, "not_a_problem", "checked", None)
    db.session.commit()
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    osm_path = changed / "osm_li.json"
    data = json.loads(osm_path.read_text(encoding="utf-8"))
    osm_type, osm_id = osm_key.split("/")
    for element in data["elements"]:
        if element["type"] == osm_type and element["id"] == int(osm_id):
            element["tags"]["name"] = f"{name} Nord"
    osm_path.write_text(json.dumps(data), encoding="utf-8")
    load_demo_data(changed)
    assert _decision_on(identity).status == "needs_review"
    return identity


def test_the_queue_filter_shows_only_decisions_sent_back_to_review(sent_back, sized_page):
    from tests import factories as f

    page = sized_page
    editor = f.create_user(role="editor")
    sign_in(page, editor.username, "/review")
    page.wait_for_selector("#review[data-ready]")
    assert len(_queue_identities(page)) > 1
    page.select_option("#filter-needs-review", "true")  # submits the filter form
    page.wait_for_url(re.compile(r"needs_review=true"))
    page.wait_for_selector("#review[data-ready]")
    assert _queue_identities(page) == [sent_back]
    expect(page.locator("#queue-list li.review-again")).to_have_count(1)
    expect(page.locator("#problem-review-again")).to_be_visible()
    expect(page.locator("#problem-review-diff")).to_contain_text("OSM tag name changed")

    page.keyboard.press("3")  # decide again: not a problem
    expect(page.locator("#queue-list li.decided")).to_have_count(1)
    assert _decision_on(sent_back).status == "active"
    page.problems.assert_none()
