"""A guest's journey in Chromium (issue 22): a client admin sends a review link with a password from the order
page; the guest opens it, is refused a wrong password, confirms their name (hostile text stays text), sees the
delivery's pictures, marks dust on one on the canvas and replies in its thread, approves one and asks for
changes to the other (the link lets them decide), downloads
a watermarked preview; the admin sees the activity, revokes the link, and the
guest's next page is the ended link's, saying whom to ask."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Annotation, ShareActivity, ShareLink
from tests.e2e import canvas
from tests.e2e.session import Person, shoot
from tests.factories import delivered_with_previews, give_tiles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOSTILE = 'Dora <img src=x onerror="window.pwned=1"> Director'


def test_a_guest_reviews_through_a_personal_link_until_it_is_revoked(cast, live_server, browser, settings):
    settings.LOUPE_BASE_URL = live_server.url
    delivery = delivered_with_previews(cast.acme, "Spring rings", count=2)
    give_tiles(delivery.items.order_by("image__position").first())
    admin = Person(browser, live_server, cast.acme_admin)
    page = admin.go(f"/orders/{delivery.order_id}/")
    page.locator("details.shares summary").first.click()
    form = page.locator("form.share-form").first
    form.get_by_label("E-mail").fill("dora@agency.test")
    form.get_by_label("Downloads").select_option("previews")
    form.get_by_label("Password").fill("sapphire-2026")
    form.get_by_label("May approve pictures or request changes").check()
    form.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Review link sent")).to_be_visible()
    url = page.locator("#share-url").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/r/[\w-]{{43}}/", url)
    admin.shoot("share-created")

    guest_context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Paris",
                                        accept_downloads=True)
    guest = guest_context.new_page()
    asked: list[str] = []
    guest.on("request", lambda request: asked.append(re.sub(r"^https?://[^/]+", "", request.url)))
    token = url.rstrip("/").rsplit("/", 1)[1]
    guest.goto(url)
    expect(guest.get_by_text("This link is for dora@agency.test")).to_be_visible()
    guest.get_by_label("Your name").fill(HOSTILE)
    guest.get_by_label("Password").fill("not-the-password")
    guest.get_by_role("button", name="Open the review").click()
    expect(guest.get_by_text("That is not the link's password.")).to_be_visible()
    guest.get_by_label("Password").fill("sapphire-2026")
    guest.get_by_role("button", name="Open the review").click()
    expect(guest.get_by_role("heading", name="Spring rings")).to_be_visible()
    expect(guest.get_by_text(HOSTILE)).to_be_visible()  # shown as typed, never run
    assert guest.evaluate("window.pwned") is None
    for name in ("Spring-1.jpg", "Spring-2.jpg"):
        expect(guest.get_by_role("heading", name=name)).to_be_visible()
    # the same canvas as the company's people, asking only the link's own routes (a guest has no API)
    first = delivery.items.order_by("image__position").first()
    canvas.ready(guest, first.image_id)
    offered = canvas.files(guest, first.image_id)
    assert [f["label"] for f in offered.values()] == ["Original", "Retouched"]
    assert all(f["tiles"].startswith(f"/r/{token}/") and f["preview"].startswith(f"/r/{token}/") for f in offered.values())
    guest.wait_for_function("() => performance.getEntriesByType('resource').some(e => /[.]webp[/]$/.test(e.name))")
    assert [path for path in asked if re.fullmatch(rf"/r/{token}/versions/[-\w]+/tiles/\d+/\d+_\d+[.]webp/", path)]
    assert not [path for path in asked if path.startswith("/api/")], asked
    shoot(guest, "guest-review")
    assert guest.get_by_text("€").count() == 0 and guest.get_by_text("CANARY").count() == 0
    # the guest marks dust on the retouched picture: saved at once, in its pixels, under their name; then replies
    pictured = guest.locator(f"[data-canvas][data-image='{first.image_id}']")
    pictured.get_by_role("button", name="Mark").click()
    shown = canvas.files(guest, first.image_id)["v1"]
    canvas.click_pixel(guest, first.image_id, shown["width"] // 4, shown["height"] // 4)
    guest.get_by_label("Mark 1").fill("Dust on the top prong")
    guest.get_by_role("button", name="Save mark").click()
    expect(pictured.locator(".canvas-live")).to_have_text("Mark 1 saved.")
    mark = Annotation.objects.get()
    assert (mark.author_share_id, mark.version_id, mark.text) == (ShareLink.objects.get().pk, first.version_id,
                                                                  "Dust on the top prong")
    assert abs(mark.x - shown["width"] // 4) <= 2 and abs(mark.y - shown["height"] // 4) <= 2
    guest.reload()
    canvas.ready(guest, first.image_id)
    canvas.drawn_within(guest, first.image_id, 1, mark.x, mark.y, point=True)
    guest.get_by_label("Reply to mark 1").fill("And the clasp, please")
    guest.get_by_role("button", name="Reply", exact=True).click()
    expect(guest.get_by_text("Your reply on mark 1 is posted.")).to_be_visible()
    expect(guest.get_by_text("And the clasp, please")).to_be_visible()
    shoot(guest, "guest-threads")
    # a person looks at the pictures before deciding: the page's look-first rule (static/js/page.js) takes a click
    # within a second of the name form's answer for the double click's second half, so the last submit is forgotten
    guest.evaluate("window.sessionStorage.removeItem('loupe-submit')")
    guest.get_by_role("button", name="Approve Spring-1.jpg").click()
    expect(guest.get_by_text("Approved. Thank you")).to_be_visible()
    expect(guest.get_by_role("button", name="Approve Spring-1.jpg")).to_have_count(0)
    guest.get_by_label("What should change").fill("The stone's left facet looks flat")  # typing is looking
    guest.get_by_role("button", name="Ask for changes").click()
    expect(guest.get_by_text("Your changes are sent to the studio.")).to_be_visible()
    with guest.expect_download() as download:
        guest.get_by_role("link", name="Watermarked preview").first.click()
    assert download.value.suggested_filename.endswith("_preview.webp")

    link = ShareLink.objects.get()
    assert list(ShareActivity.objects.filter(link=link).order_by("id").values_list("kind", flat=True)) == [
        "wrong_password", "opened", "marked", "marked", "decided", "decided", "downloaded"]
    page.goto(f"{live_server.url}/orders/{delivery.order_id}/")
    shares = page.locator("details.shares").first
    shares.locator("summary").click()
    expect(shares.get_by_text(HOSTILE).first).to_be_visible()
    expect(shares.get_by_text(re.compile("Downloaded .*watermarked preview of Spring-1.jpg"))).to_be_visible()
    admin.shoot("share-activity")
    shares.get_by_role("button", name="Revoke").first.click()
    expect(page.get_by_text("The review link for dora@agency.test is revoked")).to_be_visible()

    guest.reload()
    expect(guest.get_by_role("heading", name="This review link has ended")).to_be_visible()
    expect(guest.get_by_text("This review link was withdrawn. Ask Ann Acme")).to_be_visible()
    guest_context.close()
