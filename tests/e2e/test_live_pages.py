"""Live pages in Chromium (issue 22): a client's order page, open and left alone, shows a delivery the studio
publishes and the bell's new count without being reloaded and without polling; its stream is the only request
that stays open."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agency.notifications import notify
from jobs.models import ImageStatus, OrderStatus, Version, VersionStatus
from jobs.review.deliveries import delivery_publish
from tests.e2e.session import Person
from tests.factories import add_images, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_order_page_shows_a_new_delivery_and_the_bell_without_a_reload(cast, live_server, browser):
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title="Live rings")
    for image in add_images(order, {"standard": 2}, status=ImageStatus.READY):
        Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file=f"x/{image.pk}.png",
                               width=10, height=10)
    client = Person(browser, live_server, cast.acme_admin)
    asked: list[str] = []
    client.page.on("request", lambda request: asked.append(re.sub(r"^https?://[^/]+", "", request.url)))
    page = client.go(f"/orders/{order.pk}/")
    expect(page.get_by_role("heading", name="Images")).to_be_visible()
    assert page.locator("#deliveries").inner_text() == ""  # nothing delivered yet: an empty place
    for _ in range(50):  # the page opens its stream once htmx has started
        if any(path.startswith("/events/") for path in asked):
            break
        page.wait_for_timeout(100)
    streams = [path for path in asked if path.startswith("/events/") and "order:" in path]
    assert streams == [f"/events/?topic=me&topic=order:{order.pk}"]  # one stream: the bell's and the order's
    page.wait_for_timeout(2500)  # left alone: nothing asks again (the 2-second polls are gone)
    assert [path for path in asked if "/deliveries/" in path] == []
    bell_before = page.locator("#bell").get_attribute("aria-label")

    delivery_publish(order=order, by=cast.account_manager)  # the studio, elsewhere

    expect(page.locator("#deliveries").get_by_text("Delivery 1")).to_be_visible(timeout=5000)
    notify([cast.acme_admin], kind="message", source="live-test", title=f"{order.number}: a message from the studio")
    expect(page.locator("#bell .count")).to_be_visible(timeout=5000)
    assert page.locator("#bell").get_attribute("aria-label") != bell_before
    assert page.url.endswith(f"/orders/{order.pk}/")  # never reloaded
    assert len([path for path in asked if path.startswith("/events/") and "order:" in path]) == 1
