"""Accessibility in headless Chromium: axe-core on every page at both viewports, in English and
German; the contrast of every badge colour; the review queue worked by keyboard alone.

axe-core is the vendored copy (frontend_vendor/axe-core, pinned in package.json like the other
libraries). It is added as an init script (CDP, not a <script> element), so the pages' CSP, which
forbids inline scripts, stays exactly as in production and any CSP report still fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from database import db
from database.models import Match, OsmRouteRow, RegistryStopRow
from tests import factories as f
from tests.e2e.helpers import load_demo_data, sign_in

AXE = Path(__file__).resolve().parents[2] / "frontend_vendor" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
MIN_BADGE_CONTRAST = 4.5
MISSING_STOP = "/stops/atlas/ch:1:sloid:does-not-exist"

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")),
    }));
}"""

# Every class that paints a badge (text on a coloured pill), measured on a probe element.
BADGE_CONTRASTS = """() => {
  const channels = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const over = (top, bottom) => {
    const a = top.length > 3 ? top[3] : 1;
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a));
  };
  // The colour behind an element: its ancestors' backgrounds composed over white.
  const backdrop = (node) => {
    const layers = [];
    for (let n = node; n; n = n.parentElement) layers.push(channels(getComputedStyle(n).backgroundColor));
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255]);
  };
  const selectors = new Set();
  for (const sheet of document.styleSheets) {
    let rules;
    try { rules = sheet.cssRules; } catch (e) { continue; }
    for (const rule of rules) {
      for (const part of (rule.selectorText || "").split(",")) {
        const m = part.trim().match(/^\\.((?:role-)?badge(?:-[\\w-]+)?|state-[\\w-]+)$/);
        if (m) selectors.add(m[1]);
      }
    }
  }
  const results = [];
  for (const cls of selectors) {
    const base = cls.startsWith("state-") ? "badge run-state" : cls === "role-badge" ? "" : "badge";
    const host = cls === "role-badge" ? document.querySelector(".site-header") : document.body;
    const probe = document.createElement("span");
    probe.className = (base + " " + cls).trim();
    probe.textContent = "P1 Probe";
    host.appendChild(probe);
    const style = getComputedStyle(probe);
    const fg = over(channels(style.color), backdrop(probe));
    const bg = backdrop(probe);
    const [l1, l2] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    results.push({ cls, ratio, color: style.color, background: style.backgroundColor });
    probe.remove();
  }
  return results;
}"""


def _pages(atlas_sloid: str, osm_key: str, osm_route: int) -> list[tuple[str, str | None]]:
    """Every page, with the selector that says its script has finished drawing (None: no script)."""
    return [
        ("/", "#map[data-loaded]"),
        ("/review", "#review[data-ready]"),
        ("/stats", "#stats[data-ready]"),
        ("/operators", "#operators[data-ready]"),
        ("/changes", "#changes[data-ready]"),
        ("/downloads", "#downloads[data-ready]"),
        ("/pipeline", None),
        ("/api/docs", None),
        ("/login", None),
        (f"/stops/atlas/{atlas_sloid}", None),
        (f"/stops/osm/{osm_key}", None),
        ("/routes", None),
        (f"/routes/osm/{osm_route}", None),
        (MISSING_STOP, None),  # the 404 page
    ]


@pytest.fixture
def demo(app):
    load_demo_data()
    return app


def _an_osm_route() -> int:
    osm_id = db.session.scalar(select(OsmRouteRow.osm_id).order_by(OsmRouteRow.osm_id).limit(1))
    assert osm_id is not None, "the demo data has route relations"
    return osm_id


def _a_matched_pair() -> tuple[str, str]:
    stop_id, osm_key = db.session.execute(
        select(Match.stop_id, Match.osm_key)
        .where(Match.method == "exact_uic")
        .order_by(Match.stop_id)
        .limit(1)
    ).one()
    assert db.session.get(RegistryStopRow, ("atlas", stop_id)) is not None
    return stop_id, osm_key


def _axe_violations(page: Any, path: str, ready: str | None) -> list[dict]:
    page.goto(path)
    if ready:
        page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_no_serious_or_critical_axe_violations_on_any_page(demo, any_page, live_server, lang):
    page = any_page
    page.context.add_init_script(path=str(AXE))
    page.context.add_cookies([{"name": "lang", "value": lang, "url": live_server.url}])
    admin = f.create_user("a11y-admin", role="admin")
    sign_in(page, admin.username, "/review")
    found = {}
    for path, ready in _pages(*_a_matched_pair(), _an_osm_route()):
        violations = _axe_violations(page, path, ready)
        if violations:
            found[path] = violations
        assert page.get_attribute("html", "lang") == lang
        if path == MISSING_STOP:  # its 404 status is on purpose, not a broken resource
            page.problems.console_errors = [e for e in page.problems.console_errors if "404" not in e]
    # Signed out too: the login page's form and the queue's notice for visitors.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "lang", "value": lang, "url": live_server.url}])
    for path, ready in [("/login", None), ("/review", "#review[data-ready]")]:
        violations = _axe_violations(page, path, ready)
        if violations:
            found[f"{path} (signed out)"] = violations
    assert not found, f"axe-core at {page.viewport_name}, {lang}: {found}"
    page.problems.assert_none()


def test_every_badge_colour_has_a_contrast_of_at_least_4_5_to_1(demo, desktop_page):
    page = desktop_page
    admin = f.create_user("a11y-admin", role="admin")
    sign_in(page, admin.username, "/pipeline")  # its stylesheet adds the run-state badges
    measured = page.evaluate(BADGE_CONTRASTS)
    classes = {m["cls"] for m in measured}
    assert {"badge", "badge-osm", "badge-atlas", "badge-p1", "role-badge", "state-idle"} <= classes
    low = [m for m in measured if m["ratio"] < MIN_BADGE_CONTRAST]
    assert not low, f"badges below {MIN_BADGE_CONTRAST}:1: {low}"
    page.problems.assert_none()


def test_the_review_queue_is_reachable_and_worked_by_keyboard_alone(demo, desktop_page):
    page = desktop_page
    page.goto("/review")
    page.wait_for_selector("#review[data-ready]")
    second = page.locator(".queue-item").nth(1)
    identity = second.get_attribute("data-identity")
    # Tab from the top of the page until the focus is on a queue item; no mouse anywhere.
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('queue-item')"):
            break
    else:
        pytest.fail("Tab never reached the review queue")
    focused = page.evaluate("() => document.activeElement.dataset.identity")
    assert focused == page.locator(".queue-item").first.get_attribute("data-identity")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.identity") == identity
    page.keyboard.press("Enter")
    expect(page.locator("#review")).to_have_attribute("data-current", identity)
    expect(second).to_have_attribute("aria-current", "true")
    page.problems.assert_none()


def test_the_language_switch_in_the_header_changes_and_keeps_the_language(any_page):
    page = any_page
    page.goto("/stats")
    assert page.get_attribute("html", "lang") == "en"
    if page.viewport_name == "phone":
        page.click("#nav-toggle")  # on a phone the switch sits in the header menu
    switch = page.locator('.lang-switch a[hreflang="fr"]')
    expect(switch).to_be_visible()
    switch.click()
    page.wait_for_url("**/stats")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.locator(".site-nav").get_by_text("Carte").count() == 1
    page.goto("/review")  # the choice persists across pages (the lang cookie)
    assert page.get_attribute("html", "lang") == "fr"
    page.problems.assert_none()
