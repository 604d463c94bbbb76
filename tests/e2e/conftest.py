"""Browser tests: the app served by a real HTTP server in a thread, driven by headless Chromium.

The browser is Debian's `/usr/bin/chromium` (playwright never downloads one). Every request to a
host other than the test server (map tiles from tile.openstreetmap.org, anything else) is aborted at
once, so pages are tested the way they behave offline and no test waits on a network timeout.
Console errors and CSP violations fail the test: a blocked script is a broken page.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import Stack, _build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Time limits for one browser step; generous for a loaded 2-core CI machine, never slept.
STEP_TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@dataclass
class LiveServer:
    """The app on a free loopback port, served from a thread of this process."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread


@pytest.fixture(scope="session")
def live_server(stack: Stack) -> Iterator[LiveServer]:
    app = _build_app(stack, RATELIMIT_DEFAULT="100000 per minute", RATELIMIT_WRITE="100000 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", server, thread)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageProblems:
    """What went wrong in the page: console errors (minus blocked tiles) and uncaught exceptions."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_none(self) -> None:
        assert not self.page_errors, f"uncaught exceptions in the page: {self.page_errors}"
        assert not self.console_errors, f"console errors in the page: {self.console_errors}"


# The two viewports every page is tried at: a desktop window and a phone (iPhone 12-15 size).
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def open_page(browser: Any, live_server: LiveServer, viewport: dict[str, int], *, phone: bool = False) -> Any:
    """A page in a fresh browser context (no cookies) with every off-site request aborted.

    `phone` emulates a touch phone (mobile viewport rules, touch events). The page carries `problems`
    (console errors and uncaught exceptions); its context is closed with `page.context.close()`.
    """
    context = browser.new_context(
        base_url=live_server.url, viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=1
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)

    def route(route: Any) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    problems = PageProblems()
    blocked_host_error = "net::ERR_BLOCKED_BY_CLIENT"

    def on_console(message: Any) -> None:
        if message.type == "error" and blocked_host_error not in message.text:
            problems.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.problems = problems
    return page


@pytest.fixture
def page(browser: Any, live_server: LiveServer, clean_state: Stack) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280 x 860 with every off-site request aborted."""
    page = open_page(browser, live_server, {"width": 1280, "height": 860})
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture(params=["desktop", "phone"])
def any_page(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer, clean_state: Stack
) -> Iterator[Any]:
    """The same test at 1400 x 900 and at 390 x 844 (a touch phone); `page.viewport_name` tells which."""
    phone = request.param == "phone"
    page = open_page(browser, live_server, PHONE if phone else DESKTOP, phone=phone)
    page.viewport_name = request.param
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer, clean_state: Stack) -> Iterator[Any]:
    """A touch phone, 390 x 844."""
    page = open_page(browser, live_server, PHONE, phone=True)
    page.viewport_name = "phone"
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def desktop_page(browser: Any, live_server: LiveServer, clean_state: Stack) -> Iterator[Any]:
    """A desktop window, 1400 x 900."""
    page = open_page(browser, live_server, DESKTOP)
    page.viewport_name = "desktop"
    try:
        yield page
    finally:
        page.context.close()
