"""Quote panel, price lists, schedule, workload, dashboard and report pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import PriceList, Quote, QuoteStatus
from jobs.models import Order, OrderStatus
from tests.factories import add_images, default_price_list, retoucher, submitted_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(cast):
    default_price_list()
    retoucher("Rita", ["colour-correction"])
    return submitted_order(cast.acme_order, {"standard": 3})


def test_account_manager_drafts_edits_and_sends_from_the_order_page(cast, web, ready):
    client = web(cast.account_manager)
    panel = client.get(reverse("billing:order_quote", args=[ready.pk])).content.decode()
    assert "Draft quote from price list" in panel
    client.post(reverse("billing:quote_draft", args=[ready.pk]))
    quote = Quote.objects.get()
    line = quote.lines.first()
    # one form, one Save: a changed line and a new one together
    saved = client.post(reverse("billing:quote_edit", args=[quote.pk]), {
        f"{line.pk}-description": "Colour, standard", f"{line.pk}-quantity": "3", f"{line.pk}-unit_price": "4.00",
        "new-description": "File preparation", "new-quantity": "1", "new-unit_price": "15.00"})
    assert saved.status_code == 302 and saved["Location"].endswith("#quote")
    line.refresh_from_db()
    assert (line.quantity, line.unit_price, line.amount) == (Decimal("3"), Decimal("4.00"), Decimal("12.00"))
    panel = client.get(reverse("billing:order_quote", args=[ready.pk])).content.decode()
    assert "File preparation" in panel and "Promise if sent now" in panel and panel.count("Save the quote") == 1
    response = client.post(reverse("billing:quote_send", args=[quote.pk]), {"valid_days": "10"}, follow=True)
    assert "The quote has been sent to the client." in response.content.decode()
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and quote.total == quote.net_total + quote.tax_total


def test_client_admin_accepts_and_member_only_reads(cast, web, ready):
    from billing import services, workflow

    quote = services.quote_draft(order=ready, by=cast.account_manager)
    assert "Accept quote" not in web(cast.acme_admin).get(reverse("billing:order_quote", args=[ready.pk])).content.decode()
    workflow.quote_send(quote=quote, by=cast.account_manager)
    assert "Accept quote" not in web(cast.acme_member).get(reverse("billing:order_quote", args=[ready.pk])).content.decode()
    panel = web(cast.acme_admin).get(reverse("billing:order_quote", args=[ready.pk])).content.decode()
    assert "Accept quote" in panel and "Delivery promised by" in panel
    response = web(cast.acme_admin).post(reverse("billing:quote_answer", args=[quote.pk, "accept"]), follow=True)
    assert "production has started" in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == OrderStatus.IN_PRODUCTION
    page = web(cast.acme_admin).get(reverse("jobs:order_detail", args=[ready.pk])).content.decode()
    assert "Turnaround clock" in page and "On track" in page


def test_decline_without_reason_is_refused_on_the_page(cast, web, ready):
    from billing import services, workflow

    quote = services.quote_draft(order=ready, by=cast.account_manager)
    workflow.quote_send(quote=quote, by=cast.account_manager)
    response = web(cast.acme_admin).post(reverse("billing:quote_answer", args=[quote.pk, "decline"]), {"reason": ""})
    assert response.status_code == 400
    assert "Tell the studio why you decline" in response.content.decode()
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT


def test_retoucher_sees_no_quote_panel(cast, web, ready):
    """The retoucher works on the order (so the order is theirs to see) but never sees its price."""
    from billing import services, workflow
    from jobs.models import Assignment

    quote = services.quote_draft(order=ready, by=cast.account_manager)
    workflow.quote_send(quote=quote, by=cast.account_manager)
    Assignment.objects.create(image=ready.images.first(), retoucher=cast.retoucher, minutes=30)
    panel = web(cast.retoucher).get(reverse("billing:order_quote", args=[ready.pk]))
    assert panel.status_code == 200 and panel.content == b""
    page = web(cast.retoucher).get(reverse("jobs:order_detail", args=[ready.pk]))
    assert page.status_code == 200 and ready.number in page.content.decode()
    assert str(quote.total) not in page.content.decode() and "EUR" not in page.content.decode()
    # a retoucher on another order still answers 404
    assert web(cast.retoucher_other).get(reverse("billing:order_quote", args=[ready.pk])).status_code == 404


def test_finance_edits_price_lists_with_clear_errors(cast, web):
    client = web(cast.finance)
    form = {"name": "Studio", "currency": "EUR", "express_multiplier": "1.5", "rush_multiplier": "2",
            "revision_fee_per_image": "1.00", "minimum_order": "30.00", "tiers": "50:10, 200:15",
            "price_colour-correction_simple": "2.50"}
    response = client.post(reverse("billing:price_list_create"), form)
    assert response.status_code == 302
    price_list = PriceList.objects.get()
    assert price_list.volume_tiers == [{"min_images": 50, "percent": "10"}, {"min_images": 200, "percent": "15"}]
    assert price_list.rules.get().unit_price == 2.5
    bad = client.post(reverse("billing:price_list_create"), {**form, "name": "Second", "tiers": "fifty"})
    assert "is not “images:percent”" in bad.content.decode()
    dup = client.post(reverse("billing:price_list_create"), {**form, "name": "Second"})
    assert "already a default price list" in dup.content.decode()
    listing = web(cast.acme_member).get(reverse("billing:price_list_list")).content.decode()
    assert "Studio" in listing and "−10 % from 50" in listing


def test_schedule_page_applies_the_proposal(cast, web):
    order = cast.acme_order
    add_images(order, {"standard": 2})
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.IN_PRODUCTION, due_at=timezone.now() + timedelta(days=3))
    retoucher("Rita", ["colour-correction"])
    client = web(cast.account_manager)
    page = client.get(reverse("jobs:order_schedule", args=[order.pk])).content.decode()
    assert "Apply proposal" in page and "Rita" in page
    response = client.post(reverse("jobs:order_schedule", args=[order.pk]), follow=True)
    assert "2 images assigned." in response.content.decode()
    board = client.get(reverse("jobs:workload")).content.decode()
    assert "Rita" in board and "min/day" in board
    dashboard = client.get(reverse("jobs:dashboard")).content.decode()
    assert "Turnaround dashboard" in dashboard


def test_on_time_report(cast, web):
    now = timezone.now()
    Order.objects.filter(pk=cast.acme_order.pk).update(status=OrderStatus.DELIVERED, due_at=now,
                                                       delivered_at=now - timedelta(hours=1))
    Order.objects.filter(pk=cast.globex_order.pk).update(status=OrderStatus.DELIVERED, due_at=now - timedelta(days=1),
                                                         delivered_at=now)
    page = web(cast.account_manager).get(reverse("jobs:on_time_report")).content.decode()
    assert "Acme Jewels" in page and "100.0 %" in page and "0.0 %" in page


def test_the_editor_previews_what_a_save_would_give_and_keeps_what_was_typed(cast, web, ready):
    from billing import services

    quote = services.quote_draft(order=ready, by=cast.account_manager)
    line = quote.lines.filter(kind="service").first()
    before = (quote.total, quote.lines.count())
    client = web(cast.account_manager)
    fields = {f"{line.pk}-description": line.description, f"{line.pk}-quantity": "10", f"{line.pk}-unit_price": "2.50"}
    preview = client.post(reverse("billing:quote_preview", args=[quote.pk]), fields).content.decode()
    assert f'id="amount-{line.pk}" hx-swap-oob="true">25.00' in preview and "Not saved yet" in preview
    assert "Save your changes before sending" in preview  # the send button waits for the save
    quote.refresh_from_db()
    assert (quote.total, quote.lines.count()) == before  # a preview changes nothing
    # a refusal names the line and the field, and the page keeps every value that was typed
    bad = client.post(reverse("billing:quote_edit", args=[quote.pk]), {
        **fields, "new-description": "Courier", "new-quantity": "1", "new-unit_price": "-4"})
    page = bad.content.decode()
    assert bad.status_code == 400 and "Courier: Unit prices cannot be negative" in page
    assert 'value="10"' in page and 'value="2.50"' in page and 'value="Courier"' in page
    line.refresh_from_db()
    quote.refresh_from_db()
    assert line.quantity != Decimal("10") and (quote.total, quote.lines.count()) == before
    malformed = client.post(reverse("billing:quote_preview", args=[quote.pk]), {**fields, f"{line.pk}-quantity": "ten"})
    assert "Write the amount with the digits 0–9" in malformed.content.decode()


def test_the_price_list_page_and_api_show_each_person_the_same_lists(cast, web):
    """One rule for both: a client reads the list its quotes are priced from (its own, else the studio's
    default), the studio's pricing roles read every list, retouchers and QC none."""
    from tests.conftest import api_for

    default_price_list()
    PriceList.objects.create(name="Globex prices", client=cast.globex, currency="EUR")
    expected = {cast.acme_member: ["Studio prices"], cast.acme_admin: ["Studio prices"],
                cast.globex_member: ["Globex prices"], cast.finance: ["Globex prices", "Studio prices"],
                cast.account_manager: ["Globex prices", "Studio prices"], cast.retoucher: None, cast.qc: None}
    for person, names in expected.items():
        page = web(person).get(reverse("billing:price_list_list"))
        api = api_for(person).get("/api/v1/price-lists/")
        if names is None:
            assert (page.status_code, api.status_code) == (403, 403), person.role
            continue
        assert (page.status_code, api.status_code) == (200, 200), person.role
        assert sorted(p["name"] for p in api.json()["results"]) == names, person.role
        shown = [name for name in ("Studio prices", "Globex prices") if name in page.content.decode()]
        assert sorted(shown) == names, person.role
