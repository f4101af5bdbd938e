"""The quote's money rules and how a quote follows its order (issue: correctness you can trust)."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agency.exceptions import InvalidTransition, RuleViolation
from billing import services, workflow
from billing.models import LineKind, Quote, QuoteLine, QuoteStatus
from jobs import workflow as orders
from jobs.models import Event, Order, OrderStatus
from tests.conftest import api_for, web_for
from tests.factories import default_price_list, make_order, submitted_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(cast):
    default_price_list()  # minimum order 25.00 EUR; standard colour correction 3.50
    order = submitted_order(cast.acme_order, {"standard": 2})
    return services.quote_draft(order=order, by=cast.account_manager)


def _top_up(quote: Quote) -> Decimal:
    return sum((line.amount for line in quote.lines.filter(kind=LineKind.MINIMUM)), Decimal("0"))


def _others(quote: Quote) -> Decimal:
    return sum((line.amount for line in quote.lines.exclude(kind=LineKind.MINIMUM)), Decimal("0"))


def test_adding_a_line_lowers_the_top_up_instead_of_raising_the_total(cast, draft):
    """The finding: lines of 27.00 with a 13.00 top-up to 40.00, plus a 5.00 line, gave 45.00."""
    draft.minimum_order = Decimal("40.00")
    draft.save()
    line = draft.lines.get(kind=LineKind.SERVICE)
    services.quote_line_save(quote=draft, by=cast.account_manager, line=line, description=line.description,
                             quantity=Decimal("1"), unit_price=Decimal("27.00"))
    draft.refresh_from_db()
    assert (_others(draft), _top_up(draft), draft.net_total) == (Decimal("27.00"), Decimal("13.00"), Decimal("40.00"))
    services.quote_line_save(quote=draft, by=cast.account_manager, description="Extra", quantity=Decimal("1"),
                             unit_price=Decimal("5.00"))
    draft.refresh_from_db()
    assert (_others(draft), _top_up(draft), draft.net_total) == (Decimal("32.00"), Decimal("8.00"), Decimal("40.00"))
    services.quote_line_save(quote=draft, by=cast.account_manager, description="Big", quantity=Decimal("1"),
                             unit_price=Decimal("50.00"))
    draft.refresh_from_db()
    assert _top_up(draft) == 0 and not draft.lines.filter(kind=LineKind.MINIMUM).exists()
    assert draft.net_total == Decimal("82.00")


edits = st.lists(st.tuples(st.sampled_from(["add", "change", "delete"]),
                           st.decimals(min_value=0, max_value=500, places=2),
                           st.integers(min_value=0, max_value=5)), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=edits, minimum=st.decimals(min_value=0, max_value=300, places=2))
def test_top_up_is_minimum_minus_the_other_lines_after_any_edits(cast, draft, edits, minimum):
    Quote.objects.filter(pk=draft.pk).update(minimum_order=minimum)
    quote = Quote.objects.get(pk=draft.pk)
    for kind, price, pick in edits:
        editable = list(quote.lines.exclude(kind__in=[LineKind.MINIMUM, LineKind.DISCOUNT]).order_by("position"))
        if kind == "add" or not editable:
            services.quote_line_save(quote=quote, by=cast.account_manager, description="x", quantity=Decimal("1"),
                                     unit_price=price)
        elif kind == "change":
            line = editable[pick % len(editable)]
            services.quote_line_save(quote=quote, by=cast.account_manager, line=line, description="y",
                                     quantity=Decimal("2"), unit_price=price)
        else:
            services.quote_line_delete(quote=quote, by=cast.account_manager, line=editable[pick % len(editable)])
        quote.refresh_from_db()
        assert _top_up(quote) == max(Decimal("0"), minimum - _others(quote))
        assert quote.net_total == sum(line.amount for line in quote.lines.all())
        assert quote.total == quote.net_total + quote.tax_total
        assert quote.lines.filter(kind=LineKind.MINIMUM).count() <= 1
    # leave the quote as the fixture made it for the next example
    QuoteLine.objects.filter(quote=quote).delete()
    Quote.objects.filter(pk=quote.pk).update(minimum_order=Decimal("25.00"))


def test_the_top_up_line_cannot_be_edited_or_removed(cast, draft):
    minimum = draft.lines.get(kind=LineKind.MINIMUM)
    with pytest.raises(RuleViolation, match="follows the other lines"):
        services.quote_line_save(quote=draft, by=cast.account_manager, line=minimum, description="Waived",
                                 quantity=Decimal("1"), unit_price=Decimal("0"))
    with pytest.raises(RuleViolation, match="follows the other lines"):
        services.quote_line_delete(quote=draft, by=cast.account_manager, line=minimum)
    minimum.refresh_from_db()
    assert minimum.amount == Decimal("18.00")


def test_negative_prices_and_negative_quotes_are_refused(cast, draft, api):
    before = list(draft.lines.values_list("pk", "amount"))
    with pytest.raises(RuleViolation, match="cannot be negative"):
        services.quote_line_save(quote=draft, by=cast.account_manager, description="Goodwill", quantity=Decimal("1"),
                                 unit_price=Decimal("-1198751.98"))
    response = api(cast.account_manager).post(f"/api/v1/quotes/{draft.pk}/lines/",
                                              {"description": "x", "quantity": "1", "unit_price": "-5.00"}, format="json")
    assert response.status_code == 400 and "unit_price" in response.json()["errors"]
    assert list(draft.lines.values_list("pk", "amount")) == before
    # a discount line may be edited down, but not so far that the quote turns negative
    Quote.objects.filter(pk=draft.pk).update(minimum_order=0)
    discount = QuoteLine.objects.create(quote=draft, position=9, kind=LineKind.DISCOUNT, description="Discount",
                                        quantity=1, unit_price=Decimal("-1.00"), amount=Decimal("-1.00"))
    with pytest.raises(RuleViolation, match="cannot be negative"):
        services.quote_line_save(quote=draft, by=cast.account_manager, line=discount, description="Discount",
                                 quantity=Decimal("1"), unit_price=Decimal("-100.00"))
    discount.refresh_from_db()
    assert discount.amount == Decimal("-1.00")


def test_amounts_beyond_the_fields_digits_are_400_not_500(cast, draft, api):
    client = api(cast.account_manager)
    response = client.post(f"/api/v1/quotes/{draft.pk}/lines/",
                           {"description": "x", "quantity": "99999999.99", "unit_price": "9999999999.99"}, format="json")
    assert response.status_code == 400 and "too large" in response.json()["detail"]
    line = draft.lines.get(kind=LineKind.SERVICE)
    response = client.patch(f"/api/v1/quote-lines/{line.pk}/", {"quantity": "99999999.99"}, format="json")
    assert response.status_code == 200  # 99,999,999.99 × 3.50 still fits
    response = client.patch(f"/api/v1/quote-lines/{line.pk}/", {"unit_price": "99999999999999.99"}, format="json")
    assert response.status_code == 400
    page = web_for(cast.account_manager).post(reverse("billing:quote_edit", args=[draft.pk]),
                                              {"new-description": "x", "new-quantity": "99999999.99",
                                               "new-unit_price": "9999999999.99"})
    assert page.status_code == 400 and "too large" in page.content.decode()


def _sent(cast, order=None) -> Quote:
    order = order or submitted_order(cast.acme_order, {"standard": 2})
    quote = services.quote_draft(order=order, by=cast.account_manager)
    return workflow.quote_send(quote=quote, by=cast.account_manager)


def test_cancelling_the_order_withdraws_its_quote_and_accept_disappears(cast, web):
    default_price_list()
    quote = _sent(cast)
    assert "Accept quote" in web(cast.acme_admin).get(reverse("billing:order_quote", args=[quote.order_id])).content.decode()
    orders.order_cancel(order_id=quote.order_id, by=cast.account_manager, reason="Client merged it")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.WITHDRAWN
    panel = web(cast.acme_admin).get(reverse("billing:order_quote", args=[quote.order_id])).content.decode()
    assert "Accept quote" not in panel and "Withdrawn" in panel
    response = api_for(cast.acme_admin).post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert response.status_code == 409
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.WITHDRAWN


def test_holding_suspends_the_quote_and_resuming_keeps_its_remaining_validity(cast):
    default_price_list()
    quote = _sent(cast)
    valid_until = quote.valid_until
    orders.order_hold(order_id=quote.order_id, by=cast.account_manager, reason="Waiting for SKUs")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SUSPENDED
    with pytest.raises(InvalidTransition, match="on hold"):
        workflow.quote_accept(quote=quote, by=cast.acme_admin)
    Quote.objects.filter(pk=quote.pk).update(suspended_at=timezone.now() - timedelta(days=3))
    orders.order_resume(order_id=quote.order_id, by=cast.account_manager)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT
    assert quote.valid_until - valid_until >= timedelta(days=3) - timedelta(minutes=1)
    workflow.quote_accept(quote=quote, by=cast.acme_admin)
    assert Order.objects.get(pk=quote.order_id).status == OrderStatus.IN_PRODUCTION


def test_expiry_handles_each_quote_on_its_own(cast, caplog):
    default_price_list()
    stuck = _sent(cast)
    fine = _sent(cast, submitted_order(make_order(cast.acme, title="Second"), {"standard": 1}))
    Quote.objects.filter(pk__in=[stuck.pk, fine.pk]).update(valid_until=timezone.now() - timedelta(hours=1))
    # an inconsistent row: the order moved on without the quote (only a direct write can do this)
    Order.objects.filter(pk=stuck.order_id).update(status=OrderStatus.IN_PRODUCTION)
    with caplog.at_level(logging.WARNING, logger="loupe.billing"):
        assert workflow.quotes_expire_due() == 1
    assert any(str(stuck.pk) in record.getMessage() for record in caplog.records)
    stuck.refresh_from_db()
    fine.refresh_from_db()
    assert (stuck.status, fine.status) == (QuoteStatus.SENT, QuoteStatus.EXPIRED)
    assert Order.objects.get(pk=fine.order_id).status == OrderStatus.SUBMITTED


@pytest.mark.django_db(transaction=True)
def test_a_late_acceptance_commits_the_expiry_and_is_refused(cast):
    """With real commits: the expiry survives the refusal (it used to roll back with it)."""
    default_price_list()
    quote = _sent(cast)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    response = api_for(cast.acme_admin).post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert response.status_code == 409 and "expired" in response.json()["detail"]
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED
    assert Order.objects.get(pk=quote.order_id).status == OrderStatus.SUBMITTED


def test_the_editor_applies_its_rows_together_so_their_order_never_matters(cast, draft):
    """Lowering a price and shrinking the discount in one save: line by line, the first change alone
    would make the quote negative; together they are fine, and the top-up follows once."""
    service = draft.lines.get(kind=LineKind.SERVICE)  # 2 × 3.50
    discount = QuoteLine.objects.create(quote=draft, position=50, kind=LineKind.DISCOUNT, description="Goodwill",
                                        quantity=1, unit_price=Decimal("-6.00"), amount=Decimal("-6.00"))
    edits = [services.LineEdit(service.pk, service.description, Decimal("2"), Decimal("2.00")),
             services.LineEdit(discount.pk, "Goodwill", Decimal("1"), Decimal("-3.00"))]
    with pytest.raises(RuleViolation, match="cannot be negative"):
        services.quote_line_save(quote=draft, by=cast.account_manager, line=service, description=service.description,
                                 quantity=Decimal("2"), unit_price=Decimal("2.00"))
    result = services.quote_lines_edit(quote=draft, by=cast.account_manager, edits=edits)
    draft.refresh_from_db()
    assert result.changed == 2 and _top_up(draft) == Decimal("24.00") and draft.net_total == Decimal("25.00")
    assert Event.objects.filter(order=draft.order, verb="quote.edited").count() == 1
