"""The quote's money rules and how a quote follows its order (issue: correctness you can trust)."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.timefmt import stamp
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


def _edit(quote: Quote, by, kind: str, price: Decimal, pick: int) -> None:
    """One random edit of the property tests: add a line, change one, or remove one (typed lines only)."""
    editable = list(quote.lines.filter(kind__in=[LineKind.SERVICE, LineKind.CUSTOM]).order_by("position"))
    if kind == "add" or not editable:
        services.quote_line_save(quote=quote, by=by, description="x", quantity=Decimal("1"), unit_price=price)
    elif kind == "change":
        services.quote_line_save(quote=quote, by=by, line=editable[pick % len(editable)], description="y",
                                 quantity=Decimal("2"), unit_price=price)
    else:
        services.quote_line_delete(quote=quote, by=by, line=editable[pick % len(editable)])
    quote.refresh_from_db()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=edits, minimum=st.decimals(min_value=0, max_value=300, places=2))
def test_top_up_is_minimum_minus_the_other_lines_after_any_edits(cast, draft, edits, minimum):
    Quote.objects.filter(pk=draft.pk).update(minimum_order=minimum)
    quote = Quote.objects.get(pk=draft.pk)
    for edit in edits:
        _edit(quote, cast.account_manager, *edit)
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


def _last(order, verb):
    event = Event.objects.filter(order=order, verb=verb).latest("created_at")
    return event.actor, event.message, event.data, event.audience


def test_declining_at_its_edges(cast):
    default_price_list()
    quote = _sent(cast)
    for blank in ("", "  \n"):
        with pytest.raises(RuleViolation) as refused:
            workflow.quote_decline(quote=quote, by=cast.acme_admin, reason=blank)
        assert (refused.value.message, refused.value.field) == (
            "Tell the studio why you decline, so that it can quote again.", "reason")
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.SENT
    reason = "Too dear for a pilot. " * 30  # 660 characters: the first 500 are kept
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        workflow.quote_decline(quote=quote, by=cast.acme_admin, reason=reason)
    quote.refresh_from_db()
    assert (quote.status, quote.answered_at, quote.decline_reason) == (QuoteStatus.DECLINED, now, reason[:500])
    actor, message, _, _ = _last(quote.order, "order.requote")
    assert (actor, message) == (cast.acme_admin, f"Quote declined: {reason}"[:500])
    with pytest.raises(InvalidTransition) as refused:
        workflow.quote_decline(quote=quote, by=cast.acme_admin, reason="again")
    assert refused.value.message == "This quote is declined and can no longer be answered."


def test_a_suspended_quote_cannot_be_declined_and_says_why(cast):
    default_price_list()
    quote = _sent(cast)
    orders.order_hold(order_id=quote.order_id, by=cast.account_manager, reason="Waiting for SKUs")
    with pytest.raises(InvalidTransition) as refused:
        workflow.quote_decline(quote=quote, by=cast.acme_admin, reason="No longer needed")
    assert refused.value.message == "The order is on hold, so its quote cannot be answered until the studio resumes it."
    quote.refresh_from_db()
    assert (quote.status, quote.decline_reason) == (QuoteStatus.SUSPENDED, "")


def test_expiry_at_its_edges(cast, caplog):
    default_price_list()
    now = timezone.now().replace(microsecond=0)
    quotes = [_sent(cast, submitted_order(make_order(cast.acme, title=f"Order {n}"), {"standard": 1})) for n in range(4)]
    on_time, late, later, moved_on = quotes
    Quote.objects.filter(pk=on_time.pk).update(valid_until=now)  # valid until this very second: not yet expired
    Quote.objects.filter(pk__in=[late.pk, moved_on.pk]).update(valid_until=now - timedelta(seconds=1))
    Quote.objects.filter(pk=later.pk).update(valid_until=now - timedelta(days=1))
    Order.objects.filter(pk=moved_on.order_id).update(status=OrderStatus.IN_PRODUCTION)
    a_draft = services.quote_draft(order=submitted_order(make_order(cast.acme, title="Draft"), {"standard": 1}),
                                   by=cast.account_manager)
    Quote.objects.filter(pk=a_draft.pk).update(valid_until=now - timedelta(days=1))
    with time_machine.travel(now, tick=False), caplog.at_level(logging.WARNING, logger="loupe.billing"):
        assert workflow.quotes_expire_due() == 2
    statuses = {q.pk: q.status for q in Quote.objects.all()}
    assert [statuses[q.pk] for q in (on_time, late, later, moved_on, a_draft)] == [
        QuoteStatus.SENT, QuoteStatus.EXPIRED, QuoteStatus.EXPIRED, QuoteStatus.SENT, QuoteStatus.DRAFT]
    number = moved_on.order.number
    assert [r.getMessage() for r in caplog.records if r.name == "loupe.billing"] == [
        f"quote {moved_on.pk} not expired: Order {number} is in production, not waiting on this quote."]
    assert _last(late.order, "order.requote")[:2] == (None, "Quote expired without an answer")
    # expired for someone (a late answer): the order's line names who
    Quote.objects.filter(pk=on_time.pk).update(valid_until=now - timedelta(seconds=1))
    assert workflow.quote_expire(quote_id=on_time.pk, by=cast.acme_admin) is True
    assert _last(on_time.order, "order.requote")[:2] == (cast.acme_admin, "Quote expired without an answer")
    assert workflow.quote_expire(quote_id=on_time.pk) is False  # nothing left to expire


def test_holding_and_resuming_move_only_that_orders_quote_and_say_so(cast):
    default_price_list()
    quote = _sent(cast)
    other = _sent(cast, submitted_order(make_order(cast.acme, title="Not held"), {"standard": 1}))
    held_at = timezone.now().replace(microsecond=0)
    with time_machine.travel(held_at, tick=False):
        orders.order_hold(order_id=quote.order_id, by=cast.account_manager, reason="Waiting for SKUs")
    quote.refresh_from_db()
    assert (quote.status, quote.suspended_at) == (QuoteStatus.SUSPENDED, held_at)
    assert Quote.objects.get(pk=other.pk).status == QuoteStatus.SENT
    assert _last(quote.order, "quote.suspended") == (
        cast.account_manager, "Quote on hold with the order; it cannot be answered until the order resumes",
        {"quote": str(quote.pk)}, "client")
    with time_machine.travel(held_at + timedelta(days=2, hours=3), tick=False):
        orders.order_resume(order_id=quote.order_id, by=cast.account_manager)
    valid_until = quote.valid_until + timedelta(days=2, hours=3)
    quote.refresh_from_db()
    assert (quote.status, quote.suspended_at, quote.valid_until) == (QuoteStatus.SENT, None, valid_until)
    assert _last(quote.order, "quote.reopened") == (
        cast.account_manager, f"Quote open again, valid until {stamp(valid_until)}", {"quote": str(quote.pk)}, "client")
    assert Quote.objects.get(pk=other.pk).valid_until == other.valid_until


def test_the_editor_row_by_row(cast, draft):
    """The top-up row is skipped, a removed row is removed, a new row goes after the priced lines, and
    every row after those is still applied; one timeline line names each change, for the managers."""
    service = draft.lines.get(kind=LineKind.SERVICE)  # 2 × 3.50, position 1
    extra = QuoteLine.objects.create(quote=draft, position=7, kind=LineKind.CUSTOM, description="Rush handling",
                                     quantity=1, unit_price=Decimal("4.00"), amount=Decimal("4.00"))
    minimum = draft.lines.get(kind=LineKind.MINIMUM)
    edits = [services.LineEdit(minimum.pk, "Top-up", Decimal("1"), Decimal("99.00")),
             services.LineEdit(extra.pk, "Rush handling", Decimal("1"), Decimal("4.00"), delete=True),
             services.LineEdit(None, "Ring sizing", Decimal("3"), Decimal("1.25")),
             services.LineEdit(service.pk, "Colour", Decimal("4"), Decimal("3.50"))]
    result = services.quote_lines_edit(quote=draft, by=cast.account_manager, edits=edits)
    draft.refresh_from_db()
    added = draft.lines.get(description="Ring sizing")
    assert (added.kind, added.position, added.quantity, added.unit_price, added.amount) == (
        LineKind.CUSTOM, 8, Decimal("3"), Decimal("1.25"), Decimal("3.75"))
    service.refresh_from_db()
    assert (service.description, service.quantity, service.unit_price, service.amount) == (
        "Colour", Decimal("4"), Decimal("3.50"), Decimal("14.00"))
    assert not QuoteLine.objects.filter(pk=extra.pk).exists()
    assert result.amounts == {"new": Decimal("3.75"), service.pk: Decimal("14.00")} and result.changed == 3
    event = Event.objects.get(order=draft.order, verb="quote.edited")
    assert (event.actor, event.audience, event.data) == (cast.account_manager, "managers", {"quote": str(draft.pk)})
    assert event.message == (f"Quote edited ({draft.total} EUR): removed Rush handling; added Ring sizing (3.75 EUR); "
                             f"Colour: 2.00 × 3.50 → 4 × 3.50")


def test_the_editor_names_the_row_it_refuses(cast, draft):
    service = draft.lines.get(kind=LineKind.SERVICE)
    before = [(line.pk, line.amount) for line in draft.lines.order_by("pk")]
    cases = [([services.LineEdit(service.pk, "Colour", Decimal("-1"), Decimal("3.50"))],
              "Colour: Quantities cannot be negative.", f"{service.pk}-quantity"),
             ([services.LineEdit(None, "", Decimal("1"), Decimal("-2"))],
              "New line: Unit prices cannot be negative; lower a price or edit the discount line instead.",
              "new-unit_price"),
             ([services.LineEdit(None, "Sizing", Decimal("1"), Decimal("2")),
               services.LineEdit(10**9, "Gone", Decimal("1"), Decimal("2"))],
              "A line of this quote was removed meanwhile; reload the page.", "line")]
    for edits, message, field in cases:
        with pytest.raises(RuleViolation) as refused:
            services.quote_lines_edit(quote=draft, by=cast.account_manager, edits=edits)
        assert (refused.value.message, refused.value.field) == (message, field)
    assert [(line.pk, line.amount) for line in draft.lines.order_by("pk")] == before
    assert not Event.objects.filter(verb="quote.edited").exists()


def test_a_new_line_is_rounded_in_the_quotes_currency(cast, draft):
    Quote.objects.filter(pk=draft.pk).update(currency="JPY")
    draft.refresh_from_db()
    result = services.quote_lines_edit(quote=draft, by=cast.account_manager,
                                       edits=[services.LineEdit(None, "Sizing", Decimal("1"), Decimal("100.50"))])
    assert result.amounts["new"] == Decimal("101")


def test_cancelling_withdraws_only_that_orders_quote_and_says_so(cast):
    default_price_list()
    quote = _sent(cast)
    other = _sent(cast, submitted_order(make_order(cast.acme, title="Not cancelled"), {"standard": 1}))
    orders.order_cancel(order_id=quote.order_id, by=cast.account_manager, reason="Client merged it")
    assert Quote.objects.get(pk=other.pk).status == QuoteStatus.SENT
    assert _last(quote.order, "quote.withdrawn") == (
        cast.account_manager, "Quote withdrawn: the order was cancelled", {"quote": str(quote.pk)}, "client")


def test_what_a_revision_round_costs(cast):
    """Free rounds cost nothing whatever their changes; a billable round is its changes at the fee, rounded in
    the price list's currency; the next round's number is one more than the rounds so far."""
    from billing.models import PriceList
    from jobs.models import RevisionRound

    default_price_list()
    PriceList.objects.filter(client__isnull=True).update(revision_fee_per_image=Decimal("4.25"))
    cast.acme.free_revision_rounds = 1
    cast.acme.save()
    order = make_order(cast.acme, status=OrderStatus.DELIVERED)
    first = services.revision_price(order=order, changes=3)
    assert (first.number, first.free_rounds, first.changes, first.amount, first.billable) == (1, 1, 3, Decimal("0"), False)
    RevisionRound.objects.create(order=order, number=1, requested_by=cast.acme_admin)
    second = services.revision_price(order=order, changes=3)
    assert (second.number, second.fee, second.amount, second.currency, second.billable) == (
        2, Decimal("4.25"), Decimal("12.75"), "EUR", True)
    PriceList.objects.filter(client__isnull=True).update(currency="JPY", revision_fee_per_image=Decimal("100.50"))
    type(cast.acme).objects.filter(pk=cast.acme.pk).update(currency="JPY")
    order.client.refresh_from_db()
    assert services.revision_price(order=order, changes=3).amount == Decimal("302")  # 301.50 rounded half up
    round_ = RevisionRound.objects.create(order=order, number=5, requested_by=cast.acme_admin)
    assert services.round_price(round_).number == 5


def test_only_the_clients_admin_answers_and_a_quote_is_good_to_its_last_second(cast, caplog):
    default_price_list()
    quote = _sent(cast)
    for someone in (cast.acme_member, cast.globex_admin, cast.account_manager):
        with pytest.raises(NotPermitted) as refused:
            workflow.quote_accept(quote=quote, by=someone)
        assert refused.value.message == "Only an admin of the client's company can accept or decline a quote."
    deadline = timezone.now().replace(microsecond=0)
    Quote.objects.filter(pk=quote.pk).update(valid_until=deadline)
    with time_machine.travel(deadline, tick=False):
        workflow.quote_accept(quote=quote, by=cast.acme_admin)  # valid until this very second
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.ACCEPTED


def test_a_stale_quote_whose_order_moved_on_is_logged_when_answered(cast, caplog):
    default_price_list()
    quote = _sent(cast)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    Order.objects.filter(pk=quote.order_id).update(status=OrderStatus.IN_PRODUCTION)
    with caplog.at_level(logging.WARNING, logger="loupe.billing"), pytest.raises(InvalidTransition):
        workflow.quote_accept(quote=quote, by=cast.acme_admin)
    assert f"quote {quote.pk} is stale but its order has moved on" in [r.getMessage() for r in caplog.records]


LINE_RULES = [  # (kind of line, quantity, unit price) → refused with (message, field), or None: accepted
    ("custom", "0", "2.00", None),
    ("custom", "-0.01", "2.00", ("Quantities cannot be negative.", "quantity")),
    ("custom", "1", "0", None),
    ("custom", "1", "-0.01", ("Unit prices cannot be negative; lower a price or edit the discount line instead.",
                              "unit_price")),
    ("discount", "1", "0", None),
    ("discount", "1", "-5.00", None),
    ("discount", "1", "0.01", ("A discount line lowers the price: give it a negative or zero amount.", "unit_price")),
    ("minimum", "1", "30.00", ("The minimum-order line follows the other lines by itself; change those instead.",
                               "unit_price")),
]


@pytest.mark.parametrize("kind,quantity,unit_price,refusal", LINE_RULES,
                         ids=[f"{r[0]} {r[1]} x {r[2]}" for r in LINE_RULES])
def test_what_a_quote_line_may_hold(cast, draft, kind, quantity, unit_price, refusal):
    line = None if kind == "custom" else draft.lines.filter(kind=kind).first()
    if kind == "discount":
        line = QuoteLine.objects.create(quote=draft, position=40, kind=LineKind.DISCOUNT, description="Goodwill",
                                        quantity=1, unit_price=Decimal("-1.00"), amount=Decimal("-1.00"))
    save = {"quote": draft, "by": cast.account_manager, "line": line, "description": "Row",
            "quantity": Decimal(quantity), "unit_price": Decimal(unit_price)}
    if refusal is None:
        assert services.quote_line_save(**save).amount == Decimal(quantity) * Decimal(unit_price)
        return
    with pytest.raises(RuleViolation) as refused:
        services.quote_line_save(**save)
    assert (refused.value.message, refused.value.field) == refusal


def test_only_an_account_manager_edits_a_draft_quote(cast, draft):
    with pytest.raises(NotPermitted) as refused:
        services.quote_line_save(quote=draft, by=cast.acme_admin, description="x", quantity=Decimal("1"),
                                 unit_price=Decimal("1"))
    assert refused.value.message == "Only an account manager edits quotes."
    workflow.quote_send(quote=draft, by=cast.account_manager)
    with pytest.raises(InvalidTransition) as refused:
        services.quote_line_save(quote=draft, by=cast.account_manager, description="x", quantity=Decimal("1"),
                                 unit_price=Decimal("1"))
    assert refused.value.message == "The quote is sent; only a draft can be edited."


@pytest.mark.parametrize("typed", ["４０", "٤٠", "4e1", "40,00", " 40. ", "1_000"])
def test_amounts_are_typed_with_the_digits_0_to_9(cast, draft, api, typed):
    """Issue 20: Decimal reads other scripts' digits and exponents; an amount is what a person typed."""
    from agency.fields import NOT_PLAIN

    before = sorted(draft.lines.values_list("pk", "amount"))
    response = api(cast.account_manager).post(f"/api/v1/quotes/{draft.pk}/lines/",
                                              {"description": "x", "quantity": "1", "unit_price": typed}, format="json")
    assert response.status_code == 400 and response.json()["errors"]["unit_price"] == [NOT_PLAIN]
    page = web_for(cast.account_manager).post(reverse("billing:quote_edit", args=[draft.pk]),
                                              {"new-description": "x", "new-quantity": typed, "new-unit_price": "1"})
    assert page.status_code == 400 and NOT_PLAIN in page.content.decode()
    assert sorted(draft.lines.values_list("pk", "amount")) == before


def test_plain_amounts_still_pass(cast, draft, api):
    for typed in ("40", "40.5", "0.50", " 12.00 "):
        response = api(cast.account_manager).post(f"/api/v1/quotes/{draft.pk}/lines/",
                                                  {"description": "x", "quantity": "1", "unit_price": typed},
                                                  format="json")
        assert response.status_code == 201, typed
    assert api(cast.account_manager).post(f"/api/v1/quotes/{draft.pk}/lines/",
                                          {"description": "y", "quantity": 2, "unit_price": 3.5},
                                          format="json").status_code == 201  # JSON numbers too


@pytest.fixture
def express(cast):
    """An express order (×1.5 in the default list) of 20 standard images: 70.00 of work, 35.00 surcharge."""
    default_price_list()
    order = submitted_order(cast.acme_order, {"standard": 20})
    Order.objects.filter(pk=order.pk).update(turnaround="express")
    return services.quote_draft(order=Order.objects.get(pk=order.pk), by=cast.account_manager)


def _surcharge(quote: Quote) -> Decimal:
    return sum((line.amount for line in quote.lines.filter(kind=LineKind.SURCHARGE)), Decimal("0"))


def _before_surcharge(quote: Quote) -> Decimal:
    return sum((line.amount for line in quote.lines.exclude(kind__in=[LineKind.SURCHARGE, LineKind.MINIMUM])),
               Decimal("0"))


def test_the_surcharge_follows_the_lines_before_it_after_every_edit(cast, express):
    """The finding: "Express turnaround (×1.5)" kept its old amount after the lines above it changed, and a
    line added later got no surcharge."""
    assert (_before_surcharge(express), _surcharge(express)) == (Decimal("70.00"), Decimal("35.00"))
    line = express.lines.get(kind=LineKind.SERVICE)
    services.quote_line_save(quote=express, by=cast.account_manager, line=line, description=line.description,
                             quantity=Decimal("20"), unit_price=Decimal("4.00"))
    express.refresh_from_db()
    assert _surcharge(express) == Decimal("40.00") and express.net_total == Decimal("120.00")
    services.quote_line_save(quote=express, by=cast.account_manager, description="Dust removal", quantity=Decimal("1"),
                             unit_price=Decimal("10.01"))
    express.refresh_from_db()
    assert _surcharge(express) == Decimal("45.01")  # (80 + 10.01) × 0.5 = 45.005, rounded half up
    assert express.lines.filter(kind=LineKind.SURCHARGE).count() == 1


def test_the_surcharge_cannot_be_typed_and_removing_it_waives_it_for_good(cast, express):
    surcharge = express.lines.get(kind=LineKind.SURCHARGE)
    assert (surcharge.description, surcharge.quantity, surcharge.unit_price, surcharge.amount) == (
        "Express turnaround (×1.5)", Decimal("1"), Decimal("35.00"), Decimal("35.00"))  # once, for the whole order
    with pytest.raises(RuleViolation, match="follows the lines before it"):
        services.quote_line_save(quote=express, by=cast.account_manager, line=surcharge, description="Cheaper",
                                 quantity=Decimal("1"), unit_price=Decimal("1.00"))
    assert QuoteLine.objects.get(pk=surcharge.pk).amount == Decimal("35.00")
    services.quote_line_delete(quote=express, by=cast.account_manager, line=surcharge)
    services.quote_line_save(quote=express, by=cast.account_manager, description="Extra", quantity=Decimal("1"),
                             unit_price=Decimal("5.00"))
    express.refresh_from_db()
    assert _surcharge(express) == 0 and express.surcharge_multiplier == Decimal("1")
    assert express.net_total == Decimal("75.00")


def test_the_editor_shows_the_surcharge_read_only_and_waives_it(cast, express):
    client = web_for(cast.account_manager)
    surcharge = express.lines.get(kind=LineKind.SURCHARGE)
    page = client.get(reverse("billing:order_quote", args=[express.order_id])).content.decode()
    assert f'name="{surcharge.pk}-unit_price"' not in page and f'name="{surcharge.pk}-delete"' in page
    assert "follows the lines before it" in page
    client.post(reverse("billing:quote_edit", args=[express.pk]), {"action": "save", f"{surcharge.pk}-delete": "1"})
    assert not QuoteLine.objects.filter(pk=surcharge.pk).exists()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=edits)
def test_the_surcharge_is_half_the_lines_before_it_after_any_edits(cast, express, edits):
    quote = Quote.objects.get(pk=express.pk)
    for edit in edits:
        _edit(quote, cast.account_manager, *edit)
        expected = (_before_surcharge(quote) * Decimal("0.5")).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert _surcharge(quote) == expected
        assert quote.lines.filter(kind=LineKind.SURCHARGE).count() == (1 if expected else 0)
        assert _top_up(quote) == max(Decimal("0"), quote.minimum_order - _before_surcharge(quote) - expected)
        assert quote.net_total == sum(line.amount for line in quote.lines.all())
    QuoteLine.objects.filter(quote=quote).exclude(kind=LineKind.SERVICE).delete()  # as the fixture made it
    QuoteLine.objects.filter(quote=quote, kind=LineKind.SERVICE).update(quantity=20, unit_price=Decimal("3.50"),
                                                                        amount=Decimal("70.00"))
    Quote.objects.filter(pk=quote.pk).update(surcharge_multiplier=Decimal("1.5"))


def test_waiving_the_surcharge_in_the_editor_still_applies_the_rows_after_it(cast, express):
    surcharge = express.lines.get(kind=LineKind.SURCHARGE)
    service = express.lines.get(kind=LineKind.SERVICE)  # 20 × 3.50
    edits = [services.LineEdit(surcharge.pk, surcharge.description, Decimal("1"), surcharge.unit_price, delete=True),
             services.LineEdit(service.pk, service.description, Decimal("10"), Decimal("3.50"))]
    result = services.quote_lines_edit(quote=express, by=cast.account_manager, edits=edits)
    express.refresh_from_db()
    assert result.changed == 2 and _surcharge(express) == 0 and express.surcharge_multiplier == Decimal("1")
    assert QuoteLine.objects.get(pk=service.pk).amount == Decimal("35.00")


def test_a_new_line_on_a_quote_holding_only_its_top_up_comes_first(cast, draft):
    services.quote_line_delete(quote=draft, by=cast.account_manager, line=draft.lines.get(kind=LineKind.SERVICE))
    assert list(draft.lines.values_list("kind", flat=True)) == [LineKind.MINIMUM]
    services.quote_lines_edit(quote=draft, by=cast.account_manager,
                              edits=[services.LineEdit(None, "Ring sizing", Decimal("1"), Decimal("2.00"))])
    assert draft.lines.get(description="Ring sizing").position == 1


def test_the_editors_timeline_line_is_cut_at_500_characters(cast, draft):
    service = draft.lines.get(kind=LineKind.SERVICE)
    services.quote_lines_edit(quote=draft, by=cast.account_manager,
                              edits=[services.LineEdit(service.pk, "C" * 200, Decimal("2"), Decimal("3.50")),
                                     services.LineEdit(None, "R" * 200, Decimal("1"), Decimal("1.00")),
                                     services.LineEdit(None, "S" * 200, Decimal("1"), Decimal("1.00"))])
    draft.refresh_from_db()
    message = Event.objects.get(order=draft.order, verb="quote.edited").message
    assert len(message) == 500 and message.startswith(f"Quote edited ({draft.total} EUR): C")


def test_a_requoted_order_moves_only_its_open_quote_when_held_resumed_and_cancelled(cast):
    """An order whose first quote expired has two: holding, resuming and cancelling move the sent one and
    leave the expired one as it was (each move only takes quotes in the states it starts from); resuming
    one held order leaves another held order's quote suspended."""
    default_price_list()
    first = _sent(cast)
    Quote.objects.filter(pk=first.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    assert workflow.quote_expire(quote_id=first.pk) is True
    second = _sent(cast, Order.objects.get(pk=first.order_id))
    other = _sent(cast, submitted_order(make_order(cast.acme, title="Also held"), {"standard": 1}))
    for quote in (second, other):
        orders.order_hold(order_id=quote.order_id, by=cast.account_manager, reason="Waiting for SKUs")
    orders.order_resume(order_id=second.order_id, by=cast.account_manager)
    assert [Quote.objects.get(pk=q.pk).status for q in (first, second, other)] == [
        QuoteStatus.EXPIRED, QuoteStatus.SENT, QuoteStatus.SUSPENDED]
    orders.order_cancel(order_id=second.order_id, by=cast.account_manager, reason="Collection dropped")
    assert [Quote.objects.get(pk=q.pk).status for q in (first, second, other)] == [
        QuoteStatus.EXPIRED, QuoteStatus.WITHDRAWN, QuoteStatus.SUSPENDED]
