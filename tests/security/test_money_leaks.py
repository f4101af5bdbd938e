"""Retouchers and QC never see money (DESIGN.md §1): scan every page and API answer they can reach, on an
order whose quote was drafted, edited, sent and accepted, then completed, invoiced, partly paid and
credited, with a billable revision round charged and an export made, for currency amounts and for the
numbers of invoices and credit notes."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing import services as quoting
from billing import workflow as quotes
from jobs.models import Assignment, Event
from tests.conftest import api_for, received_image, web_for
from tests.factories import default_price_list, submitted_order

pytestmark = pytest.mark.django_db
MATRIX = yaml.safe_load((Path(__file__).parent / "authz_matrix.yaml").read_text())
CURRENCIES = "EUR|USD|GBP|CHF|JPY|AED|HKD"
# an amount stands as words: "CHF 2", "2 CHF", "CHF2"; never inside a token ("…aBCHF2x…" of a CSRF token is none)
MONEY = re.compile(rf"(?<!\w)\d[\d,.]*\s*(?:{CURRENCIES})\b|\b(?:{CURRENCIES})\s*\d|[€£$]\s*\d")
MONEY_FIELDS = re.compile(r'"(?:net_total|tax_total|unit_price|amount|total|balance|paid_total|fee)"\s*:')
DOCUMENTS = re.compile(r"\b(?:INV|CN)-\d{4}-\d{5}\b")


@pytest.fixture
def priced_work(cast):
    """A quoted, edited, accepted order; the retoucher works on one of its images."""
    default_price_list()
    order = submitted_order(cast.acme_order, {"standard": 2})
    image = received_image(order, "RING_9.jpg")
    quote = quoting.quote_draft(order=order, by=cast.account_manager)
    quoting.quote_line_save(quote=quote, by=cast.account_manager, description="Rush file preparation",
                            quantity=Decimal("1"), unit_price=Decimal("135.43"))
    quotes.quote_send(quote=quote, by=cast.account_manager)
    quotes.quote_accept(quote=quote, by=cast.acme_admin)
    Assignment.objects.create(image=image, retoucher=cast.retoucher, minutes=30)
    _money_after_the_work(cast, order)
    assert Event.objects.filter(order=order, message__contains="135.43").exists()  # the leak would be real
    for verb in ("invoice.issued", "invoice.paid", "invoice.credited", "revision.charged"):
        assert Event.objects.filter(order=order, verb=verb).exists(), verb
    return {"order": order, "image": image, "order_quoted": order, "order_production": order, "quote": quote,
            "guide": cast.acme_guide, "client": cast.acme, "service": None}


def _money_after_the_work(cast, order):
    """The order's later money: a billable revision round charged, the order completed and invoiced with
    the charge, the invoice partly paid and partly credited, and a finance export of the month."""
    from billing import exports, invoicing
    from billing.models import RevisionCharge
    from jobs.models import Order, OrderStatus, RevisionRound, RoundStatus
    from jobs.review.proofing import revision_round_changed
    from tests.billing.invoicing_setup import address, billing_profile

    billing_profile()
    address(cast.acme)
    round_ = RevisionRound.objects.create(order=order, number=9, status=RoundStatus.OPEN, billable=True,
                                          requested_by=cast.acme_admin)
    round_.items.create(image=order.images.first(), note="Warmer gold", kind="change")
    revision_round_changed.send(sender=RevisionRound, round=round_)
    assert RevisionCharge.objects.filter(round=round_).exists()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED, completed_at=timezone.now())
    [draft] = invoicing.invoice_generate(by=cast.finance, order=Order.objects.get(pk=order.pk))
    invoice = invoicing.invoice_issue(invoice=draft, by=cast.finance)
    invoicing.invoice_pay(invoice=invoice, by=cast.finance, amount=Decimal("10.00"))
    invoicing.invoice_credit(invoice=invoice, by=cast.finance, reason="Goodwill", amount=Decimal("5.00"))
    exports.export_start(by=cast.finance, fmt="csv", date_from=invoicing.studio_today(), date_to=invoicing.studio_today())


def _urls(objects: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            for spec in specs:
                if spec["method"] != "GET" or name in {"api-schema", "api-docs"}:
                    continue
                args = {}
                for key, value in spec.get("args", {}).items():
                    target = objects.get(value, value) if isinstance(value, str) else value
                    args[key] = str(target.pk) if hasattr(target, "pk") else target
                try:
                    found.append((surface, reverse(name, kwargs=args)))
                except NoReverseMatch:
                    continue
    return found


@pytest.mark.parametrize("persona", ["retoucher", "qc"])
def test_retouchers_and_qc_never_read_an_amount(cast, priced_work, persona):
    user = getattr(cast, persona)
    urls = _urls(priced_work) + [("pages", reverse("jobs:order_detail", args=[priced_work["order"].pk])),
                                 ("pages", reverse("billing:order_quote", args=[priced_work["order"].pk]))]
    reached = 0
    for surface, url in urls:
        client = api_for(user) if surface == "api" else web_for(user)
        response = client.get(url)
        if response.status_code != 200:
            continue
        reached += 1
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(errors="replace")
        assert not MONEY.search(text), f"{persona} reads an amount at {url}: {MONEY.search(text).group(0)!r}"
        assert not MONEY_FIELDS.search(text), f"{persona} reads a money field at {url}"
        assert not DOCUMENTS.search(text), f"{persona} reads a document number at {url}: {DOCUMENTS.search(text)[0]}"
    if persona == "retoucher":
        assert reached >= 8  # the order page, its images, timeline and the API all answered


def test_the_money_events_are_there_for_managers(cast, priced_work, api):
    """The scan above proves something only if managers do read those amounts."""
    events = api(cast.account_manager).get(f"/api/v1/orders/{priced_work['order'].pk}/events/").json()["results"]
    assert any("135.43" in e["message"] for e in events)
    assert any(DOCUMENTS.search(e["message"]) for e in events)  # invoices, payments and credits are on it
    retoucher_events = api(cast.retoucher).get(f"/api/v1/orders/{priced_work['order'].pk}/events/").json()["results"]
    assert retoucher_events and {e["audience"] for e in retoucher_events} <= {"client", "studio"}
    assert not any(e["verb"].startswith(("image.assigned", "schedule.")) for e in retoucher_events)
