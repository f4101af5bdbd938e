"""One person's signed-in browser session for the journey tests, with screenshots at a desk's and a phone's width."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tests.factories import PASSWORD

SHOTS = Path(os.environ.get("LOUPE_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots")


class Person:
    """One person's browser session."""

    def __init__(self, browser: Any, live_server: Any, user: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Paris")
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.base, self.user = live_server.url, user
        self.page.goto(f"{self.base}/login/")
        self.page.get_by_label("E-mail address").fill(user.email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(r"/(orders|work|qc)/$"))

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def shoot(self, name: str) -> None:
        shoot(self.page, name)


def shoot(page: Any, name: str) -> None:
    """Screenshots of ``page`` at a desk's and a phone's width; neither may scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
    page.set_viewport_size({"width": 1440, "height": 1000})
