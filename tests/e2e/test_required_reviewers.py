"""Decisions by several people in Chromium (issue 22): a client admin names a colleague and a guest as the required
reviewers of a delivery on the order page; the colleague approves on the review page and is told it waits for the
guest; the guest approves through their link; the picture is the company's approval, and the admin reads the
tally with each reviewer's answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import ImageStatus, OrderImage
from jobs.review import shares
from tests.e2e.session import Person, shoot
from tests.factories import delivered_with_previews

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_picture_waits_for_every_required_reviewer(cast, live_server, browser):
    delivery = delivered_with_previews(cast.acme, "Spring rings", count=2)
    first = delivery.items.order_by("image__position").first().image
    dora, token = shares.share_create(delivery=delivery, by=cast.acme_admin, email="dora@agency.test", can_decide=True)

    admin = Person(browser, live_server, cast.acme_admin)
    page = admin.go(f"/orders/{delivery.order_id}/")
    page.get_by_text("Require approval from several people").click()
    form = page.locator(f"#reviewers-{delivery.pk}")
    form.get_by_label("Alice Acme").check()
    form.get_by_label("dora@agency.test (guest)").check()
    form.get_by_role("button", name="Save required reviewers").click()
    expect(page.get_by_text("Delivery 1 waits for the approval of Alice Acme, dora@agency.test (guest).")).to_be_visible()

    member = Person(browser, live_server, cast.acme_member)
    review = member.go(f"/orders/{delivery.order_id}/review/")
    review.locator(f"#img-{first.pk}").get_by_label("Approve").check()
    review.get_by_role("button", name="Send review").click()
    expect(review.get_by_text("Your approval of Spring-1.jpg is noted; it waits for dora@agency.test (guest).")).to_be_visible()
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.DELIVERED
    expect(review.get_by_text("1 of 2 required reviewers approved Spring-1.jpg")).to_be_visible()

    guest_context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Paris")
    guest = guest_context.new_page()
    guest.goto(f"{live_server.url}{shares.link_path(token)}")
    guest.get_by_label("Your name").fill("Dora Director")
    guest.get_by_role("button", name="Open the review").click()
    guest.evaluate("window.sessionStorage.removeItem('loupe-submit')")
    guest.get_by_role("button", name="Approve Spring-1.jpg").click()
    expect(guest.get_by_text("Approved. Thank you")).to_be_visible()
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.APPROVED
    guest_context.close()

    page.reload()
    expect(page.get_by_text("2 of 2 required reviewers approved Spring-1.jpg")).to_be_visible()
    expect(page.get_by_text("Dora Director (guest): approved").first).to_be_visible()
    page.locator(f"#reviewers-{delivery.pk}").scroll_into_view_if_needed()
    shoot(page, "required-reviewers")
