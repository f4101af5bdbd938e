"""The quote state machine: one table, one function per transition (DESIGN.md §4).

A quote is drafted and edited by an account manager (``billing.services``), sent to the client,
and then accepted, declined or left to expire. It follows its order: cancelling the order withdraws an
open quote, holding a quoted order suspends the quote (the client cannot accept it meanwhile) and
resuming reopens it with the validity it had left. ``jobs`` announces order changes with
``order_status_changed``; billing listens, so ``jobs`` never imports billing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.exceptions import DomainError, InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.statemachine import StateTable
from agency.timefmt import stamp
from billing import permissions
from billing.models import OPEN_QUOTES, LineKind, Quote, QuoteStatus
from jobs import workflow
from jobs.events import on_behalf, record_event
from jobs.models import Audience, Order, OrderStatus
from jobs.production import planning

logger = logging.getLogger("loupe.billing")
Q = QuoteStatus

QUOTES = StateTable("quote", dict(Q.choices))
QUOTES.add("send", {Q.DRAFT}, Q.SENT)
QUOTES.add("accept", {Q.SENT}, Q.ACCEPTED)
QUOTES.add("decline", {Q.SENT}, Q.DECLINED)
QUOTES.add("expire", {Q.SENT}, Q.EXPIRED)
QUOTES.add("suspend", {Q.SENT}, Q.SUSPENDED)
QUOTES.add("reopen", {Q.SUSPENDED}, Q.SENT)
QUOTES.add("withdraw", set(OPEN_QUOTES), Q.WITHDRAWN)


def can_answer(user: Any, quote: Quote) -> bool:
    """Show Accept and Decline: the table allows it and the user may answer for the client."""
    return QUOTES.can("accept", quote) and permissions.can_answer_quote(user, quote)


def _locked(quote_id: Any) -> Quote:
    return Quote.objects.select_for_update().select_related("order__client").get(pk=quote_id)


def _move(quote: Quote, action: str, **changes: Any) -> Quote:
    QUOTES.move(quote, action)
    for key, value in changes.items():
        setattr(quote, key, value)
    quote.save(update_fields=["status", *changes])
    return quote


@transaction.atomic
def quote_send(*, quote: Quote, by: User, valid_days: int = 14) -> Quote:
    """Send a draft with a promised date the studio can keep; the order then waits on the client.
    Refused without lines, with a negative total, and for anything but a draft."""
    if not permissions.can_prepare_quote(by):
        raise NotPermitted("Only an account manager sends quotes.")
    quote = _locked(quote.pk)
    QUOTES.check("send", quote, "The quote is {state}; only a draft can be sent.")
    if not quote.lines.exclude(kind=LineKind.MINIMUM).exists():
        raise InvalidTransition("A quote without priced work cannot be sent; add a line first.")
    if quote.total < 0:
        raise RuleViolation(f"The quote's total is {quote.total} {quote.currency}; a quote cannot be negative.",
                            field="lines")
    if not 1 <= valid_days <= 90:
        raise RuleViolation("A quote is valid for 1 to 90 days.", field="valid_days")
    promise = planning.order_promise(quote.order)
    now = timezone.now()
    _move(quote, "send", sent_at=now, valid_until=now + timedelta(days=valid_days), promised_due_at=promise.due_at,
          promise_note=promise.note[:500], promise_pilot=promise.pilot[:300])
    # The cause before its effect on the timeline: "Quote sent", then the order's "waiting for the answer".
    record_event(audience=Audience.CLIENT, order=quote.order, actor=by, verb="quote.sent",
                 message=f"Quote sent, valid until {stamp(quote.valid_until)}; delivery promised by {stamp(promise.due_at)}"
                         + (" (the pilot's pictures)" if promise.pilot else ""),
                 data={"quote": str(quote.pk)})
    workflow.order_quote(order_id=quote.order_id, by=by)
    return quote


def _stale(quote: Quote) -> bool:
    return quote.status == Q.SENT and quote.valid_until is not None and quote.valid_until < timezone.now()


def quote_expire(*, quote_id: Any, by: User | None = None) -> bool:
    """Expire a sent quote past its validity, in its own transaction; the order goes back to the studio
    for a new quote. Returns False when there was nothing to expire. Refused (``InvalidTransition``)
    when the order no longer waits on this quote."""
    with transaction.atomic():
        quote = _locked(quote_id)
        if not _stale(quote):
            return False
        if quote.order.status != OrderStatus.QUOTED:
            raise InvalidTransition(f"Order {quote.order.number} is {quote.order.get_status_display().lower()}, "
                                    "not waiting on this quote.")
        _move(quote, "expire")
        workflow.order_requote(order_id=quote.order_id, by=by, reason="Quote expired without an answer")
        return True


def _answerable(quote: Quote, by: User) -> Quote:
    """Permission first, then commit the expiry of a stale quote, then refuse: a late answer expires
    the quote for good instead of being rolled back with the refusal."""
    if not permissions.can_answer_quote(by, quote):
        raise NotPermitted("Only an admin of the client's company can accept or decline a quote.")
    if _stale(Quote.objects.get(pk=quote.pk)):
        try:
            quote_expire(quote_id=quote.pk)
        except InvalidTransition:
            logger.warning("quote %s is stale but its order has moved on", quote.pk)
    return quote


def _answer_refusal(quote: Quote) -> str:
    if quote.status == Q.SUSPENDED:
        return "The order is on hold, so its quote cannot be answered until the studio resumes it."
    return "This quote is {state} and can no longer be answered."


def quote_accept(*, quote: Quote, by: User) -> Quote:
    """Accept: production starts and the SLA clock with it (due date: the promise or the tier's SLA,
    whichever is later). Refused for expired, declined, suspended or already accepted quotes."""
    _answerable(quote, by)
    with transaction.atomic():
        quote = _locked(quote.pk)
        QUOTES.check("accept", quote, _answer_refusal(quote))
        _move(quote, "accept", answered_at=timezone.now())
        record_event(audience=Audience.CLIENT, order=quote.order, actor=by, verb="quote.accepted",
                     message=f"Quote accepted{on_behalf(by, quote.order)}", data={"quote": str(quote.pk)})
        workflow.order_start_production(order_id=quote.order_id, by=by, promised=quote.promised_due_at)
    return quote


def quote_decline(*, quote: Quote, by: User, reason: str) -> Quote:
    """Decline with a reason; the order goes back to the studio for a new quote."""
    if not reason.strip():
        raise RuleViolation("Tell the studio why you decline, so that it can quote again.", field="reason")
    _answerable(quote, by)
    with transaction.atomic():
        quote = _locked(quote.pk)
        QUOTES.check("decline", quote, _answer_refusal(quote))
        _move(quote, "decline", answered_at=timezone.now(), decline_reason=reason[:500])
        workflow.order_requote(order_id=quote.order_id, by=by, reason=f"Quote declined: {reason}")  # cut at 500 there
    return quote


def quotes_expire_due() -> int:
    """Expire every sent quote past its validity, each on its own: a quote that cannot expire (its
    order moved on) is logged and skipped, and the others still expire."""
    count = 0
    for quote_id in Quote.objects.filter(status=Q.SENT, valid_until__lt=timezone.now()).values_list("pk", flat=True):
        try:
            count += quote_expire(quote_id=quote_id)
        except DomainError as exc:
            logger.warning("quote %s not expired: %s", quote_id, exc.message)
    return count


def quotes_withdraw(*, order: Order, by: User | None) -> None:
    """Withdraw the order's open quotes (its cancellation's transaction: ``billing.receivers``)."""
    for quote in Quote.objects.select_for_update().filter(order=order, status__in=QUOTES.sources("withdraw")):
        _move(quote, "withdraw")
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="quote.withdrawn",
                     message="Quote withdrawn: the order was cancelled",
                     data={"quote": str(quote.pk)})


def quotes_suspend(*, order: Order, by: User | None) -> None:
    """Suspend the order's sent quote while the order is on hold (``billing.receivers``)."""
    for quote in Quote.objects.select_for_update().filter(order=order, status__in=QUOTES.sources("suspend")):
        _move(quote, "suspend", suspended_at=timezone.now())
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="quote.suspended",
                     message="Quote on hold with the order; it cannot be answered until the order resumes",
                     data={"quote": str(quote.pk)})


def quotes_reopen(*, order: Order, by: User | None) -> None:
    """Reopen the order's suspended quote with the validity it had left (``billing.receivers``)."""
    now = timezone.now()
    for quote in Quote.objects.select_for_update().filter(order=order, status__in=QUOTES.sources("reopen")):
        held = now - quote.suspended_at  # set when it was suspended
        valid_until = quote.valid_until + held  # a sent quote always has its validity
        _move(quote, "reopen", suspended_at=None, valid_until=valid_until)
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="quote.reopened",
                     message=f"Quote open again, valid until {stamp(valid_until)}", data={"quote": str(quote.pk)})
