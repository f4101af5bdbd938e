"""Playwright driving the system's Chromium (browsers cannot be downloaded here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("LOUPE_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# synchronous and safe, so Django's async guard is relaxed for the browser tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _missing_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _missing_reason()
    if reason:
        if os.environ.get("LOUPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LOUPE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # expect(...) waits for what a click brings (the page a form posts back to has the same URL, so
    # only waiting for the text tells the old page from the new); its wait matches the page's own.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _close_what_the_test_opened(request: Any) -> Iterator[None]:
    """A test's browser contexts close with it: their pages' event streams (agency.live) end before the test's
    database goes, instead of reading it from the live server's threads during the next tests."""
    if "browser" not in request.fixturenames:
        yield
        return
    for name in ("_django_db_helper", "live_server"):  # set up first, so they are torn down after this
        if name in request.fixturenames:
            request.getfixturevalue(name)
    browser = request.getfixturevalue("browser")
    before = set(browser.contexts)
    yield
    for context in [c for c in browser.contexts if c not in before]:
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
