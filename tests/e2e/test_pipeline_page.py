"""The pipeline page in headless Chromium: an admin clicks "Run now" and watches the run live."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from app.coordination import EVENTS_KEY, RunState
from runs.guard import run_guarded
from tests import factories as f
from tests.e2e.helpers import sign_in
from tests.integration.coordination_helpers import quick_work


def _state_is(page: Any, state: str) -> None:
    expect(page.locator("#run-state")).to_have_text(state)


def test_an_admin_requests_a_run_and_the_page_follows_it_live_without_reloading(app, page, live_server):
    admin = f.create_user("pipeline-admin", role="admin")
    sign_in(page, admin.username, "/pipeline")
    _state_is(page, "idle")
    expect(page.locator("#live-connection")).to_have_text("live")
    # A marker in the document: it survives only if the page never reloads.
    page.locator("#pipeline").evaluate("node => { node.dataset.sameDocument = 'yes'; }")

    page.click("#run-now")
    _state_is(page, "queued")
    assert page.is_disabled("#run-now"), "no second request while one waits"

    # Play the scheduler's part: claim the request and run the real pipeline on the demo data.
    with live_server.server.app.app_context():
        outcome = run_guarded("manual", claim_only=True)
    assert outcome.state is RunState.SUCCEEDED

    _state_is(page, "succeeded")
    expect(page.locator("#run-progress")).to_have_js_property("value", 100)
    expect(page.locator("#run-log")).to_contain_text("run succeeded")
    log = page.inner_text("#run-log")
    assert "→ fetch" in log
    assert "run succeeded" in log
    page.wait_for_selector(f"#runs-body tr[data-run-uuid='{outcome.run_uuid}']")
    assert page.text_content(f"#runs-body tr[data-run-uuid='{outcome.run_uuid}'] .run-state") == "succeeded"
    assert page.get_attribute("#pipeline", "data-same-document") == "yes", "updated without a reload"
    # Admins see which process ran it (host:pid), from the status API; nobody else gets it.
    expect(page.locator("#fact-owner")).to_have_text(re.compile(r"^.+:\d+$"))
    row = page.locator(f"#runs-body tr[data-run-uuid='{outcome.run_uuid}'] td")
    assert row.count() == page.locator("#runs-table thead th").count(), "one cell per column"
    page.problems.assert_none()


def test_visitors_see_the_status_and_history_but_no_run_button(app, page):
    page.goto("/pipeline")
    _state_is(page, "idle")
    assert page.locator("#run-now").count() == 0
    assert page.locator("#fact-owner").count() == 0
    assert "By" not in page.locator("#runs-table thead").inner_text(), "account names are for admins"
    page.wait_for_selector("#runs-empty:not(.hidden)")
    page.problems.assert_none()


# The log at a desktop and at a phone viewport: lines replayed to a page opened after the run show
# when each thing happened (not when the page received it), as text.
VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, page):
    page.set_viewport_size(VIEWPORTS[request.param])
    page.viewport_name = request.param
    return page


def test_the_log_shows_when_each_line_happened_and_plain_text(app, sized_page, redis_client):
    def work(progress, run_uuid):
        logging.getLogger("pipeline.test").warning("import: %s rows", {"registry_stops": 3, "osm_stops": 5})
        return quick_work(progress, run_uuid)

    outcome = run_guarded("cli", work=work)
    assert outcome.state is RunState.SUCCEEDED
    stored = [
        json.loads(fields["data"]) | {"type": fields["type"]} for _, fields in redis_client.xrange(EVENTS_KEY)
    ]
    # One log line per state, stage and log event (progress moves the bar only).
    expected = [event["at"] for event in stored if event["type"] in ("state", "stage", "log")]

    page = sized_page
    page.goto("/pipeline")
    expect(page.locator("#run-log li")).to_have_count(len(expected))
    lines = page.locator("#run-log li").evaluate_all(
        "items => items.map(li =>"
        " [li.dataset.at, li.querySelector('time').getAttribute('datetime'), li.textContent])"
    )
    assert [at for at, _, _ in lines] == expected, "each line carries the time it happened"
    assert all(at == shown for at, shown, _ in lines)
    texts = [text for _, _, text in lines]
    assert any("import: registry_stops 3, osm_stops 5 rows" in text for text in texts)
    assert not [text for text in texts if "{" in text or "[object" in text], texts
    expect(page.locator("#run-log")).to_be_visible()
    page.problems.assert_none()
