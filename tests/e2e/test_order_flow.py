"""Browser smoke test: a client logs in, creates and submits an order, and sees it listed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Order, OrderStatus
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/orders/$"))


def test_client_creates_submits_and_sees_an_order(cast, live_server, page):
    _login(page, live_server, cast.acme_member.email)
    expect(page.get_by_role("heading", name="Acme Jewels orders")).to_be_visible()
    page.get_by_role("link", name="New order").first.click()
    page.get_by_label("Title").fill("Bridal set for spring")
    page.get_by_label("Style guide").select_option(label=f"{cast.acme_guide.name} (v1)")
    page.get_by_label("Colour correction").check()
    page.get_by_label("Background removal").check()
    page.get_by_label("Express").check()
    page.get_by_label("Instructions").fill("Keep the hallmark legible.")
    page.get_by_label("PO number").fill("PO-2026-77")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}/$"))
    expect(page.get_by_text("has been saved as a draft")).to_be_visible()
    page.get_by_role("button", name="Submit to studio").click()
    expect(page.get_by_text("has been submitted to the studio")).to_be_visible()
    order = Order.objects.get(title="Bridal set for spring")
    assert order.status == OrderStatus.SUBMITTED and order.po_number == "PO-2026-77"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    row = page.get_by_role("row").filter(has_text="Bridal set for spring")
    expect(row.get_by_text("Submitted")).to_be_visible()
    expect(row.get_by_text(order.number)).to_be_visible()
    assert page.get_by_text("CANARY-B").count() == 0


def test_refusal_shows_the_reason_and_keeps_the_form(cast, live_server, page):
    _login(page, live_server, cast.acme_member.email)
    page.goto(f"{live_server.url}/orders/new/")
    page.get_by_label("Title").fill("No services chosen")
    page.get_by_label("Style guide").select_option(label=f"{cast.acme_guide.name} (v1)")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Choose at least one service.")).to_be_visible()
    assert page.get_by_label("Title").input_value() == "No services chosen"


def test_pages_work_at_phone_width(cast, live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _login(page, live_server, cast.account_manager.email)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the order list scrolls sideways at phone width ({width}px)"
    page.goto(f"{live_server.url}/orders/{cast.acme_order.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_client_drops_files_and_sees_thumbnails_and_reasons(cast, live_server, page, tmp_path):
    from PIL import Image

    good = tmp_path / "RING_0001.jpg"
    Image.new("RGB", (1800, 1200), (200, 170, 90)).save(good, "JPEG")
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photograph")
    _login(page, live_server, cast.acme_member.email)
    page.goto(f"{live_server.url}/orders/{cast.acme_order.pk}/")
    logs = []
    page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
    page.on("response", lambda r: logs.append(f"{r.status} {r.request.method} {r.url[:120]}"))
    page.wait_for_selector("#uploader .uppy-Dashboard")
    page.locator("#uploader input[type=file]").first.set_input_files([str(good), str(bad)])
    card = page.locator(".thumb").filter(has_text="RING_0001.jpg")
    try:
        card.locator("img").wait_for(timeout=30_000)
    except Exception:
        print("\n".join(logs))
        page.screenshot(path="/tmp/screens/fail.png", full_page=True)
        raise
    expect(card.get_by_text("1800×1200")).to_be_visible()
    rejected = page.locator(".thumb").filter(has_text="notes.jpg")
    rejected.get_by_text("not an image: the file is text").wait_for(timeout=30_000)
    if __import__("os").environ.get("LOUPE_SCREENSHOTS"):
        page.screenshot(path=f"{__import__('os').environ['LOUPE_SCREENSHOTS']}/upload.png", full_page=True)
    page.get_by_role("button", name="Submit to studio").click()
    expect(page.get_by_text("still uploading or rejected")).to_be_visible()
