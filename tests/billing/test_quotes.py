"""Quoting: draft from the price list, edit, send with a promise, accept (SLA starts), decline, expire."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from billing import services, workflow
from billing.models import PriceRule, Quote, QuoteStatus
from jobs.models import Audience, Event, OrderStatus
from tests.conftest import api_for
from tests.factories import default_price_list, retoucher, submitted_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def quoted_setup(cast):
    default_price_list()
    order = submitted_order(cast.acme_order, {"simple": 2, "standard": 3, "complex": 1})
    retoucher("Rita", ["colour-correction"], capacity=480)
    return order


def test_draft_has_a_line_per_service_and_complexity(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    lines = [(line.kind, line.description, line.quantity, line.amount) for line in quote.lines.all()]
    assert lines == [("service", "Colour correction — complex", 1, Decimal("6.25")),
                     ("service", "Colour correction — simple", 2, Decimal("4.00")),
                     ("service", "Colour correction — standard", 3, Decimal("10.50")),
                     ("minimum", "Minimum order amount 25.00 EUR", 1, Decimal("4.25"))]
    assert (quote.net_total, quote.tax_total, quote.total) == (Decimal("25.00"), Decimal("0.00"), Decimal("25.00"))
    assert Event.objects.filter(order=quoted_setup, verb="quote.drafted", audience=Audience.MANAGERS).exists()


def test_volume_discount_turnaround_surcharge_and_client_tax(cast):
    default_price_list()
    cast.acme.tax_rate = Decimal("20")
    cast.acme.save()
    order = submitted_order(cast.acme_order, {"standard": 60})
    order.turnaround = "express"
    order.save()
    quote = services.quote_draft(order=order, by=cast.account_manager)
    amounts = [(line.kind, line.amount) for line in quote.lines.all()]
    assert amounts == [("service", Decimal("210.00")), ("discount", Decimal("-21.00")), ("surcharge", Decimal("94.50"))]
    assert (quote.net_total, quote.tax_total, quote.total) == (Decimal("283.50"), Decimal("56.70"), Decimal("340.20"))


def test_price_change_never_alters_a_quote(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    before = [(line.unit_price, line.amount) for line in quote.lines.all()]
    PriceRule.objects.update(unit_price=Decimal("99.00"))
    quote.refresh_from_db()
    assert [(line.unit_price, line.amount) for line in quote.lines.all()] == before


def test_editing_lines_recalculates_and_is_recorded(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    line = quote.lines.first()
    services.quote_line_save(quote=quote, by=cast.account_manager, line=line, description="Complex ring",
                             quantity=Decimal("2"), unit_price=Decimal("7.333"))
    quote.refresh_from_db()
    line.refresh_from_db()
    assert line.amount == Decimal("14.67") and quote.total == sum(x.amount for x in quote.lines.all())
    assert Event.objects.filter(order=quoted_setup, verb="quote.line_changed").exists()


def test_send_accept_starts_production_and_the_clock(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    workflow.quote_send(quote=quote, by=cast.account_manager)
    quote.refresh_from_db()
    quoted_setup.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and quoted_setup.status == OrderStatus.QUOTED
    assert quote.promised_due_at and quote.valid_until > timezone.now()
    with pytest.raises(NotPermitted):
        workflow.quote_accept(quote=quote, by=cast.acme_member)
    workflow.quote_accept(quote=quote, by=cast.acme_admin)
    quoted_setup.refresh_from_db()
    assert quoted_setup.status == OrderStatus.IN_PRODUCTION and quoted_setup.sla_running_since is not None
    assert quoted_setup.due_at >= quote.promised_due_at - timedelta(seconds=1)
    assert quoted_setup.sla_state == "on_track"


def test_accepting_twice_or_after_decline_is_refused(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    workflow.quote_send(quote=quote, by=cast.account_manager)
    workflow.quote_decline(quote=quote, by=cast.acme_admin, reason="Too expensive for a test shoot")
    quoted_setup.refresh_from_db()
    assert quoted_setup.status == OrderStatus.SUBMITTED
    with pytest.raises(InvalidTransition, match="declined"):
        workflow.quote_accept(quote=quote, by=cast.acme_admin)


def test_expired_quote_cannot_be_accepted_and_expiry_requotes(cast, quoted_setup):
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    workflow.quote_send(quote=quote, by=cast.account_manager)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InvalidTransition, match="expired"):
        workflow.quote_accept(quote=quote, by=cast.acme_admin)
    assert workflow.quotes_expire_due() == 0  # the late answer expired it already
    quote.refresh_from_db()
    quoted_setup.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED and quoted_setup.status == OrderStatus.SUBMITTED


def test_refusals(cast, quoted_setup):
    with pytest.raises(NotPermitted):
        services.quote_draft(order=quoted_setup, by=cast.acme_admin)
    quote = services.quote_draft(order=quoted_setup, by=cast.account_manager)
    with pytest.raises(InvalidTransition, match="already has an open quote"):
        services.quote_draft(order=quoted_setup, by=cast.account_manager)
    for line in quote.lines.exclude(kind="minimum"):
        services.quote_line_delete(quote=quote, by=cast.account_manager, line=line)
    assert [line.kind for line in quote.lines.all()] == ["minimum"]
    with pytest.raises(InvalidTransition, match="without priced work"):
        workflow.quote_send(quote=quote, by=cast.account_manager)
    with pytest.raises(RuleViolation):
        services.quote_line_save(quote=quote, by=cast.account_manager, description="x", quantity=Decimal("-1"),
                                 unit_price=Decimal("1"))
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT and quote.total == Decimal("25.00")  # the minimum alone


def test_missing_price_is_explained(cast, quoted_setup):
    PriceRule.objects.filter(complexity="complex").delete()
    with pytest.raises(InvalidTransition, match="no price for colour correction \\(complex\\)"):
        services.quote_draft(order=quoted_setup, by=cast.account_manager)


def test_api_flow_and_client_visibility(cast, quoted_setup):
    manager, client_admin = api_for(cast.account_manager), api_for(cast.acme_admin)
    created = manager.post(f"/api/v1/orders/{quoted_setup.pk}/quote/")
    assert created.status_code == 201 and created.json()["total"] == "25.00"
    assert client_admin.get(f"/api/v1/orders/{quoted_setup.pk}/quote/").status_code == 404  # drafts are internal
    quote_id = created.json()["id"]
    assert manager.post(f"/api/v1/quotes/{quote_id}/send/", {"valid_days": 7}, format="json").status_code == 200
    seen = client_admin.get(f"/api/v1/orders/{quoted_setup.pk}/quote/").json()
    assert seen["status"] == "sent" and seen["promised_due_at"]
    assert api_for(cast.retoucher).get(f"/api/v1/quotes/{quote_id}/").status_code == 404  # retouchers see no prices
    assert api_for(cast.globex_member).get(f"/api/v1/quotes/{quote_id}/").status_code == 404
    refused = api_for(cast.acme_member).post(f"/api/v1/quotes/{quote_id}/accept/")
    assert refused.status_code == 403
    bad = client_admin.post(f"/api/v1/quotes/{quote_id}/decline/", {}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["errors"]
    accepted = client_admin.post(f"/api/v1/quotes/{quote_id}/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = client_admin.post(f"/api/v1/quotes/{quote_id}/accept/")
    assert again.status_code == 409 and "accepted" in again.json()["detail"]
    order = api_for(cast.acme_admin).get(f"/api/v1/orders/{quoted_setup.pk}/").json()
    assert order["status"] == "in_production" and order["sla"]["state"] == "on_track"
    assert order["sla"]["target_hours"] == 48 and order["sla"]["left_hours"] > 0


def test_price_list_api(cast):
    finance = api_for(cast.finance)
    body = {"name": "Acme prices", "client": str(cast.acme.pk), "currency": "EUR", "express_multiplier": "1.40",
            "volume_tiers": [{"min_images": 20, "percent": "5"}],
            "rules": [{"service": "colour-correction", "complexity": "simple", "unit_price": "1.80"}]}
    created = finance.post("/api/v1/price-lists/", body, format="json")
    assert created.status_code == 201, created.content
    assert api_for(cast.account_manager).post("/api/v1/price-lists/", body, format="json").status_code == 403
    bad = finance.post("/api/v1/price-lists/", {**body, "name": "USD", "currency": "USD"}, format="json")
    assert bad.status_code == 400
    dup = finance.post("/api/v1/price-lists/", {**body, "client": None, "name": "Default",
                                                "rules": body["rules"] * 2}, format="json")
    assert dup.status_code == 400 and "rules" in dup.json()["errors"]
    seen = api_for(cast.acme_member).get("/api/v1/price-lists/").json()
    assert [p["name"] for p in seen["results"]] == ["Acme prices"]
    assert api_for(cast.globex_member).get(f"/api/v1/price-lists/{created.json()['id']}/").status_code == 404
    assert api_for(cast.retoucher).get("/api/v1/price-lists/").status_code == 403


def test_client_in_another_currency_needs_its_own_price_list(cast):
    default_price_list()
    cast.acme.currency = "GBP"
    cast.acme.save()
    order = submitted_order(cast.acme_order, {"standard": 1})
    with pytest.raises(InvalidTransition, match="billed in GBP and the default price list is in EUR"):
        services.quote_draft(order=order, by=cast.account_manager)
