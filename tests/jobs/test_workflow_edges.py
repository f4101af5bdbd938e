"""What accepting a quote and delivering an order write, field by field: the rules every later step reads
(issue 19: mutants of ``quote_accept`` and ``order_deliver`` that no test noticed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from agency.exceptions import InvalidTransition
from billing import services
from billing import workflow as quotes
from billing.models import Quote, QuoteStatus
from jobs import workflow
from jobs.models import Event, Order, OrderStatus
from tests.factories import default_price_list, make_order, submitted_order

pytestmark = pytest.mark.django_db


def _event(order, verb):
    event = Event.objects.filter(order=order, verb=verb).latest("created_at")
    return event.actor, event.message, event.data


@pytest.fixture
def sent(cast):
    default_price_list()
    order = submitted_order(cast.acme_order, {"standard": 2})
    return quotes.quote_send(quote=services.quote_draft(order=order, by=cast.account_manager), by=cast.account_manager)


def test_accepting_stamps_the_answer_names_who_and_keeps_the_promise(cast, sent):
    promise = timezone.now().replace(microsecond=0) + timedelta(days=30)  # later than the tier's due date
    Quote.objects.filter(pk=sent.pk).update(promised_due_at=promise)
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        quotes.quote_accept(quote=Quote.objects.get(pk=sent.pk), by=cast.acme_admin)
    quote, order = Quote.objects.get(pk=sent.pk), Order.objects.get(pk=sent.order_id)
    assert (quote.status, quote.answered_at, order.status, order.due_at) == (
        QuoteStatus.ACCEPTED, now, OrderStatus.IN_PRODUCTION, promise)
    assert _event(order, "quote.accepted") == (cast.acme_admin, "Quote accepted", {"quote": str(quote.pk)})
    assert _event(order, "order.in_production")[:2] == (cast.acme_admin, "Quote accepted; production started")
    with pytest.raises(InvalidTransition) as refused:
        quotes.quote_accept(quote=quote, by=cast.acme_admin)
    assert refused.value.message == "This quote is accepted and can no longer be answered."


def test_accepting_for_the_client_says_so(cast, sent):
    quotes.quote_accept(quote=sent, by=cast.admin)  # the studio answers for a client only as admin
    assert _event(sent.order, "quote.accepted")[:2] == (cast.admin, f"Quote accepted on behalf of {cast.acme.name}")


def test_delivering_stamps_the_time_names_who_and_stops_the_clock_once(cast, sent):
    quotes.quote_accept(quote=sent, by=cast.acme_admin)
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        order = workflow.order_deliver(order=Order.objects.get(pk=sent.order_id), by=cast.account_manager,
                                       message="Delivery 1 published", data={"delivery": "d-1"})
    order.refresh_from_db()
    assert (order.status, order.delivered_at, order.sla_running_since, order.sla_state) == (
        OrderStatus.DELIVERED, start + timedelta(hours=1), None, "")
    assert _event(order, "order.delivered") == (cast.account_manager, "Delivery 1 published", {"delivery": "d-1"})
    clock = (order.sla_consumed_seconds, order.sla_remaining_seconds, order.due_at)
    with time_machine.travel(start + timedelta(days=3), tick=False):  # a second delivery while delivered
        workflow.order_deliver(order=Order.objects.get(pk=order.pk), by=cast.account_manager,
                               message="Delivery 2 published", data={"delivery": "d-2"})
    order.refresh_from_db()
    assert (order.sla_consumed_seconds, order.sla_remaining_seconds, order.due_at) == clock  # already stopped
    assert order.delivered_at == start + timedelta(days=3)


def test_an_order_not_in_work_cannot_be_delivered_and_says_why(cast):
    order = make_order(cast.acme, status=OrderStatus.QUOTED, title="Waiting on its quote")
    with pytest.raises(InvalidTransition) as refused:
        workflow.order_deliver(order=order, by=cast.account_manager, message="x", data={})
    assert refused.value.message == (
        f"Order {order.number} is quoted; only an order in production or revision can be delivered.")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUOTED


@pytest.mark.parametrize("status,label", [(OrderStatus.IN_PRODUCTION, "in production"), (OrderStatus.REVISION, "revision"),
                                          (OrderStatus.COMPLETED, "completed")])
def test_a_revision_or_completion_of_an_order_not_delivered_is_refused_in_full(cast, status, label):
    """The review service asks only for delivered orders; the transitions refuse the rest themselves, in words."""
    order = make_order(cast.acme, status=status)
    before, events = Order.objects.filter(pk=order.pk).values().first(), Event.objects.filter(order=order).count()
    for call, text in ((lambda: workflow.order_request_revision(order=order, by=cast.acme_admin, message="m", data={}),
                        "changes can be requested on a delivered order."),
                       (lambda: workflow.order_complete(order=order, by=cast.acme_admin, message="m"),
                        "only a delivered order can be completed.")):
        with pytest.raises(InvalidTransition) as refused:
            call()
        assert str(refused.value) == f"Order {order.number} is {label}; {text}"
    assert Order.objects.filter(pk=order.pk).values().first() == before
    assert Event.objects.filter(order=order).count() == events


def test_a_transition_line_names_both_states_and_the_signal_names_the_order_model(cast):
    from jobs.workflow import order_status_changed

    heard = []

    def listener(sender, **kwargs):
        heard.append((sender, kwargs["action"], kwargs["from_status"], kwargs["to_status"]))

    order_status_changed.connect(listener)
    try:
        order = submitted_order(cast.acme_order, {"standard": 1})
        workflow.order_hold(order_id=order.pk, by=cast.account_manager, reason="Waiting for the brief")
    finally:
        order_status_changed.disconnect(listener)
    event = Event.objects.get(order=order, verb="order.held")
    assert (event.from_status, event.to_status) == ("submitted", "on_hold")
    assert heard[-1] == (Order, "hold", "submitted", "on_hold")
