"""The order state machine (DESIGN.md §4). One transition table, one function per transition.

Every transition, in this order: lock the row (``select_for_update``; on SQLite the IMMEDIATE
transaction serializes writers), check the role (``NotPermitted`` → 403) and the state
(``InvalidTransition`` → 409) with a message that says why, write the change, write its ``Event``, and
enqueue side effects after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.calendar import studio_calendar
from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import User
from jobs import permissions, sla
from jobs.models import Event, ImageStatus, Order, OrderStatus

S = OrderStatus

ALLOWED: dict[str, set[str]] = {
    S.DRAFT: {S.SUBMITTED, S.CANCELLED},
    S.SUBMITTED: {S.QUOTED, S.CANCELLED, S.ON_HOLD},
    S.QUOTED: {S.IN_PRODUCTION, S.SUBMITTED, S.CANCELLED, S.ON_HOLD},
    S.IN_PRODUCTION: {S.DELIVERED, S.ON_HOLD},
    S.DELIVERED: {S.COMPLETED, S.REVISION, S.ON_HOLD},
    S.REVISION: {S.DELIVERED, S.ON_HOLD},
    # Resuming returns to the state the order was held from; cancelling is allowed when that state is.
    S.ON_HOLD: {S.SUBMITTED, S.QUOTED, S.IN_PRODUCTION, S.DELIVERED, S.REVISION, S.CANCELLED},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
}
OPEN = frozenset({S.SUBMITTED, S.QUOTED, S.IN_PRODUCTION, S.DELIVERED, S.REVISION})
CANCELLABLE = frozenset({S.DRAFT, S.SUBMITTED, S.QUOTED})
# While the order waits on the client, the studio's SLA clock does not run (DESIGN.md §5).
WAITING_ON_CLIENT = frozenset({S.QUOTED, S.ON_HOLD, S.DELIVERED})


def _label(status: str) -> str:
    return OrderStatus(status).label.lower()


def can_submit(order: Order) -> bool:
    return order.status == S.DRAFT  # quoted → submitted is the studio's re-quote, not a submission


def can_cancel(order: Order) -> bool:
    if order.status == S.ON_HOLD:
        return order.held_from in CANCELLABLE
    return S.CANCELLED in ALLOWED[order.status]


def can_hold(order: Order) -> bool:
    return order.status in OPEN


def can_resume(order: Order) -> bool:
    return order.status == S.ON_HOLD


def available_actions(user: Any, order: Order) -> list[str]:
    """The transitions ``user`` can take on ``order`` now, for buttons and the API's ``actions``."""
    checks = [
        ("submit", can_submit(order) and permissions.can_submit_order(user, order)),
        ("cancel", can_cancel(order) and permissions.can_cancel_order(user, order)),
        ("hold", can_hold(order) and permissions.can_hold_order(user, order)),
        ("resume", can_resume(order) and permissions.can_resume_order(user, order)),
        ("edit", order.status == OrderStatus.DRAFT and permissions.can_edit_order(user, order)),
    ]
    return [name for name, allowed in checks if allowed]


def _clock_change(order: Order, action: str) -> dict[str, Any]:
    """Pause or resume the SLA clock; returns the fields to save with the transition."""
    fields = getattr(sla, action)(order, now=timezone.now(), calendar=studio_calendar())
    return {name: getattr(order, name) for name in fields}


def _locked(order_id: Any) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def record_event(*, order: Order, actor: User | None, verb: str, message: str, from_status: str = "",
                 to_status: str = "", data: dict[str, Any] | None = None, client_visible: bool = True) -> Event:
    """Append one line to the order's timeline and notify the people concerned after commit."""
    event = Event.objects.create(order=order, actor=actor, verb=verb, message=message, from_status=from_status,
                                 to_status=to_status, data=data or {}, client_visible=client_visible)
    transaction.on_commit(_enqueue_notification(event.pk))
    return event


def _enqueue_notification(event_id: Any) -> Callable[[], None]:
    def enqueue() -> None:
        from django_q.tasks import async_task

        async_task("jobs.tasks.notify_event", str(event_id), group="notifications")

    return enqueue


def _transition(order: Order, *, to: str, by: User, verb: str, message: str, note: str = "",
                **changes: Any) -> Order:
    from_status = order.status
    order.status = to
    for key, value in changes.items():
        setattr(order, key, value)
    order.save(update_fields=["status", "updated_at", *changes])
    data = {"note": note} if note else {}
    record_event(order=order, actor=by, verb=verb, message=message, from_status=from_status, to_status=to,
                 data=data)
    return order


@transaction.atomic
def order_submit(*, order_id: Any, by: User) -> Order:
    """Send a draft to the studio. Refused for other roles than the order's client users and account
    managers, for orders that are not drafts, and for orders without services."""
    order = _locked(order_id)
    if not permissions.can_submit_order(by, order):
        raise NotPermitted("Only the client's users or an account manager can submit this order.")
    if not can_submit(order):
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}; only a draft can be submitted.")
    if not order.services.exists():
        raise InvalidTransition(f"Order {order.number} has no services; choose at least one before submitting.")
    blocking = order.images.filter(status__in=[ImageStatus.UPLOADING, ImageStatus.REJECTED]).count()
    if blocking:
        raise InvalidTransition(
            f"Order {order.number} has {blocking} image{'s' if blocking > 1 else ''} still uploading or rejected; "
            "wait for them or remove them before submitting."
        )
    return _transition(order, to=S.SUBMITTED, by=by, verb="order.submitted",
                       message=f"Order submitted by {by.full_name or by.email}", submitted_at=timezone.now())


@transaction.atomic
def order_cancel(*, order_id: Any, by: User, reason: str = "") -> Order:
    """Cancel an order before production starts (draft, submitted or quoted, or on hold from one of
    those). Clients may discard their own drafts; account managers may cancel any such order."""
    order = _locked(order_id)
    if not permissions.can_cancel_order(by, order):
        if by.is_client and order.status != S.DRAFT:
            raise NotPermitted(f"Order {order.number} is already with the studio; ask your account manager to cancel it.")
        raise NotPermitted("Only an account manager can cancel this order.")
    if not can_cancel(order):
        raise InvalidTransition(
            f"Order {order.number} is {_label(order.status)}; only draft, submitted or quoted orders can be cancelled."
        )
    return _transition(order, to=S.CANCELLED, by=by, verb="order.cancelled", note=reason,
                       message="Order cancelled" + (f": {reason}" if reason else ""), held_from="")


@transaction.atomic
def order_quote(*, order_id: Any, by: User) -> Order:
    """A quote was sent: the order waits on the client's answer (called by billing)."""
    order = _locked(order_id)
    if order.status != S.SUBMITTED:
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}; only a submitted order can be quoted.")
    return _transition(order, to=S.QUOTED, by=by, verb="order.quoted", message="Waiting for the client's answer")


@transaction.atomic
def order_requote(*, order_id: Any, by: User | None, reason: str) -> Order:
    """The quote was declined or expired: the order goes back to the studio for a new quote."""
    order = _locked(order_id)
    if order.status != S.QUOTED:
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}, not waiting on a quote.")
    return _transition(order, to=S.SUBMITTED, by=by, verb="order.requote", message=reason)  # type: ignore[arg-type]


@transaction.atomic
def order_start_production(*, order_id: Any, by: User, promised: Any = None) -> Order:
    """The quote was accepted: production starts and so does the SLA clock (called by billing)."""
    order = _locked(order_id)
    if order.status != S.QUOTED:
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}; production starts from a quote.")
    fields = sla.start(order, now=timezone.now(), calendar=studio_calendar(), promised=promised)
    changes = {name: getattr(order, name) for name in fields}
    return _transition(order, to=S.IN_PRODUCTION, by=by, verb="order.in_production",
                       message="Quote accepted; production started", **changes)


@transaction.atomic
def order_hold(*, order_id: Any, by: User, reason: str = "") -> Order:
    """Put an open order on hold (waiting on the client). Account managers and admins only."""
    order = _locked(order_id)
    if not permissions.can_hold_order(by, order):
        raise NotPermitted("Only an account manager can put an order on hold.")
    if not can_hold(order):
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}; only an open order can be put on hold.")
    clock = _clock_change(order, "pause")
    return _transition(order, to=S.ON_HOLD, by=by, verb="order.held", note=reason,
                       message="Order put on hold" + (f": {reason}" if reason else ""), held_from=order.status, **clock)


@transaction.atomic
def order_resume(*, order_id: Any, by: User) -> Order:
    """Take an order off hold, back to the state it was held from. Account managers and admins only."""
    order = _locked(order_id)
    if not permissions.can_resume_order(by, order):
        raise NotPermitted("Only an account manager can resume an order.")
    if not can_resume(order):
        raise InvalidTransition(f"Order {order.number} is {_label(order.status)}, not on hold; there is nothing to resume.")
    clock = _clock_change(order, "resume") if order.held_from in {S.IN_PRODUCTION, S.REVISION} else {}
    return _transition(order, to=order.held_from, by=by, verb="order.resumed",
                       message=f"Order resumed ({_label(order.held_from)})", held_from="", **clock)
