"""The storefront in Chromium (issue 23): a client admin rates a finished order and lets the studio show it; a
manager adds a pair and publishes it; a visitor sees the before/after on /studio/ and moves its line; the admin
takes the consent back and the pair and its file are gone at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import ImageStatus, Order, OrderImage, OrderStatus
from storefront.models import PortfolioPair, Rating
from tests.e2e.session import Person, shoot
from tests.factories import delivered_with_previews

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rate_allow_publish_see_and_withdraw(cast, live_server, browser):
    delivery = delivered_with_previews(cast.acme, "Autumn rings", count=2)
    Order.objects.filter(pk=delivery.order_id).update(status=OrderStatus.COMPLETED)
    OrderImage.objects.filter(order=delivery.order_id).update(status=ImageStatus.APPROVED)
    first = OrderImage.objects.filter(order=delivery.order_id).order_by("filename").first()

    admin = Person(browser, live_server, cast.acme_admin)
    page = admin.go(f"/orders/{delivery.order_id}/")
    page.get_by_role("link", name="Rate this order").click()
    page.get_by_label("5 — excellent").check()
    page.get_by_label("What went well, or not?").fill("Every prong spotless at 100 %.")
    page.get_by_label("Publish this comment on the studio's page").check()
    page.get_by_label("Your name as shown").fill("Ada A.")
    page.get_by_role("button", name="Send the rating").click()
    expect(page.get_by_text("Thank you: your rating is saved.")).to_be_visible()
    assert Rating.objects.get().score == 5
    page.get_by_role("button", name="Allow the whole order").click()
    expect(page.get_by_text("Thank you: the studio may show those pictures on its public page.")).to_be_visible()
    expect(page.locator("#portfolio").get_by_text("may be shown").first).to_be_visible()

    manager = Person(browser, live_server, cast.account_manager)
    studio = manager.go("/studio/portfolio/")
    studio.get_by_label(f"Title for {first.filename}").fill("Autumn solitaire")
    studio.get_by_label(f"Title for {first.filename}").locator("xpath=..").get_by_role("button", name="Add").click()
    expect(studio.get_by_text(f"{first.filename} is added")).to_be_visible()
    studio.get_by_role("button", name="Publish").click()
    expect(studio.get_by_text("“Autumn solitaire” is on the public page.")).to_be_visible()
    shoot(studio, "storefront-portfolio")

    visitor_context = browser.new_context(viewport={"width": 1440, "height": 1000})
    visitor = visitor_context.new_page()
    visitor.goto(f"{live_server.url}/studio/")
    pair = visitor.locator("[data-pair]")
    expect(pair).to_have_count(1)
    expect(pair.get_by_text("Autumn solitaire", exact=True)).to_be_visible()
    expect(visitor.get_by_text("Every prong spotless at 100 %.")).to_be_visible()
    # the copies load lazily: wait until both are decoded (reading them at once raced the load under a busy suite)
    visitor.wait_for_function("[...document.querySelectorAll('[data-pair] img')].every(i => i.complete && i.naturalWidth > 0)")
    pair.get_by_label("Show more of the original or of the retouched picture: Autumn solitaire").fill("20")
    assert pair.locator(".pair-frame").evaluate("f => f.style.getPropertyValue('--split')") == "20%"
    shoot(visitor, "storefront-home")
    file_url = visitor.evaluate("document.querySelector('[data-pair] img.pair-after').src")

    page.reload()
    page.get_by_role("button", name="Withdraw for the whole order").click()
    expect(page.get_by_text("Withdrawn: those pictures are no longer shown on the studio's page.")).to_be_visible()
    visitor.reload()
    expect(visitor.locator("[data-pair]")).to_have_count(0)
    assert visitor.request.get(file_url).status == 404
    assert PortfolioPair.objects.get().published is False
    visitor_context.close()


def test_a_visitor_prices_their_own_pictures_on_a_phone(cast, live_server, browser, tmp_path):
    """From /studio/ to the figures at 390 px: two camera-shaped samples, a service, a turnaround and a count."""
    from jobs.imaging import difficulty
    from storefront.models import Estimate
    from tests.factories import default_price_list, retoucher

    default_price_list()
    retoucher("Rita Estimate", ["colour-correction"])
    files = []
    for n, levels in enumerate((difficulty.Levels(0, 0, 0, 0), difficulty.Levels(3, 3, 3, 3))):
        path = tmp_path / f"autumn-collection-pendant-{n + 1}.jpg"
        difficulty.picture(levels, seed=8 + n).resize((2400, 1600)).save(path, quality=90)
        files.append(str(path))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    visitor = context.new_page()
    visitor.goto(f"{live_server.url}/studio/")
    visitor.get_by_role("link", name="Price your pictures in seconds").click()
    visitor.get_by_role("button", name="Estimate").click()  # nothing chosen: the reason, nothing made
    expect(visitor.get_by_text("Choose at least one service.")).to_be_visible()
    visitor.get_by_label("Sample photos").set_input_files(files)
    visitor.get_by_label("Colour correction").check()
    visitor.get_by_label("Express (24 business hours)").check()
    visitor.get_by_label("How many pictures like these?").fill("120")
    visitor.get_by_role("button", name="Estimate").click()
    expect(visitor.get_by_role("heading", name="120 pictures like these")).to_be_visible()
    made = Estimate.objects.get()
    expect(visitor.get_by_text(f"{made.price} EUR")).to_be_visible()
    expect(visitor.get_by_text("1 of 2 samples is complex")).to_be_visible()
    expect(visitor.get_by_text("autumn-collection-pendant-2.jpg")).to_be_visible()
    assert made.mix == {"simple": 60, "complex": 60} and made.turnaround == "express"
    assert visitor.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    shoot(visitor, "storefront-estimate-phone")
    context.close()


def test_a_prospects_trial_from_the_estimate_to_their_free_pilot_order(cast, live_server, browser):
    """A visitor on a phone asks for a trial from their estimate; a manager accepts it; the new client admin signs in
    and finds the free order that is the pilot of their first style guide."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from agency.models import User
    from storefront.models import Estimate, TrialRequest
    from tests.factories import PASSWORD

    estimate = Estimate.objects.create(expires_at=timezone.now() + timedelta(hours=20), services=["colour-correction"],
                                       turnaround="standard", count=120, price=Decimal("342.00"), currency="EUR")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    visitor = context.new_page()
    visitor.goto(f"{live_server.url}/studio/estimate/{estimate.pk}/")
    visitor.get_by_role("link", name="Try 10 free").click()
    expect(visitor.get_by_text("Following your estimate: 120 pictures, 342.00 EUR net.")).to_be_visible()
    visitor.get_by_label("Company").fill("Maison Opale Haute Joaillerie de la Place Vendôme")
    visitor.get_by_label("Your name").fill("Inès Laurent")
    visitor.get_by_label("E-mail").fill("ines@opale.test")
    visitor.get_by_label("Country").fill("XX")
    visitor.get_by_label("Free pictures").fill("6")
    visitor.get_by_role("button", name="Ask for the trial").click()  # a bad country: the reason, nothing made
    expect(visitor.get_by_text("Choose your company's country")).to_be_visible()
    assert TrialRequest.objects.count() == 0
    visitor.get_by_label("Country").fill("FR")
    visitor.get_by_role("button", name="Ask for the trial").click()
    expect(visitor.get_by_role("heading", name="Thank you: your request is with us")).to_be_visible()
    assert visitor.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
    trial = TrialRequest.objects.get()
    assert (trial.pictures, trial.services, trial.estimate_id) == (6, ["colour-correction"], estimate.pk)

    manager = Person(browser, live_server, cast.account_manager)
    page = manager.go("/trials/")
    page.get_by_role("link", name="Maison Opale Haute Joaillerie de la Place Vendôme").click()
    expect(page.get_by_text("120 pictures: 342.00 EUR net")).to_be_visible()
    shoot(page, "storefront-trial-request")
    page.get_by_role("button", name="Accept the trial").click()
    expect(page.get_by_text("is a client now")).to_be_visible()
    trial.refresh_from_db()
    assert trial.status == "accepted" and trial.order.free_pictures == 6

    admin = User.objects.get(email="ines@opale.test")
    admin.set_password(PASSWORD)  # what the invitation's link lets them do
    admin.save()
    client_admin = Person(browser, live_server, admin)
    order_page = client_admin.go(f"/orders/{trial.order_id}/")
    expect(order_page.get_by_role("heading", name=f"{trial.order.number} Free trial: 6 pictures")).to_be_visible()
    expect(order_page.get_by_text("Free trial of up to 6 pictures.")).to_be_visible()
    shoot(order_page, "trial-order")
