"""The order state machine (DESIGN.md §4). One transition table, one function per transition.

Every transition, in this order: lock the row (``select_for_update``; on SQLite the IMMEDIATE
transaction serializes writers), check the role (``NotPermitted`` → 403) and the state through the
table (``InvalidTransition`` → 409) with a message that says why, write the change, write its
``Event``, tell the apps above (``order_status_changed``, in the same transaction) and enqueue side
effects after commit. No function can move an order along an edge ``ORDERS`` lacks.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from agency.calendar import studio_calendar
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.statemachine import StateTable
from jobs import permissions
from jobs.events import on_behalf, record_event
from jobs.models import (
    CANCELLABLE,
    IN_WORK,
    OPEN_ORDERS,
    Audience,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    PilotStatus,
    RoundStatus,
    VersionStatus,
)
from jobs.production import sla

S = OrderStatus


ORDERS = StateTable("order", dict(S.choices))
ORDERS.add("submit", {S.DRAFT}, S.SUBMITTED)
ORDERS.add("cancel", CANCELLABLE | {S.ON_HOLD}, S.CANCELLED,
           when=lambda order: order.status != S.ON_HOLD or order.held_from in CANCELLABLE)
ORDERS.add("quote", {S.SUBMITTED}, S.QUOTED)
ORDERS.add("requote", {S.QUOTED}, S.SUBMITTED)
ORDERS.add("start_production", {S.QUOTED}, S.IN_PRODUCTION)
ORDERS.add("hold", OPEN_ORDERS, S.ON_HOLD)
ORDERS.add("resume", {S.ON_HOLD}, lambda order: order.held_from, when=lambda order: bool(order.held_from))
# Production and review (jobs/review/): the order follows its images.
ORDERS.add("deliver", {S.IN_PRODUCTION, S.REVISION, S.DELIVERED}, S.DELIVERED)
ORDERS.add("request_revision", {S.DELIVERED}, S.REVISION)
ORDERS.add("complete", {S.DELIVERED}, S.COMPLETED)
# A pilot's approval (jobs/production/pilots.py) starts the rest of the order: back into production, a new clock.
ORDERS.add("start_rest", {S.DELIVERED}, S.IN_PRODUCTION)

IM = ImageStatus
# Per image (DESIGN.md §4): received → assigned → in_progress → in_qc → (qc_rejected → in_progress) →
# ready → delivered → approved, and delivered → revision_requested → in_progress for a revision round.
IMAGES = StateTable("image", dict(IM.choices))
IMAGES.add("receive", {IM.UPLOADING}, IM.RECEIVED)
IMAGES.add("reject_file", {IM.UPLOADING}, IM.REJECTED)
IMAGES.add("assign", {IM.RECEIVED, IM.REVISION_REQUESTED}, IM.ASSIGNED)
IMAGES.add("start", {IM.ASSIGNED, IM.QC_REJECTED, IM.REVISION_REQUESTED}, IM.IN_PROGRESS)
IMAGES.add("submit", {IM.IN_PROGRESS}, IM.IN_QC)
IMAGES.add("qc_pass", {IM.IN_QC}, IM.READY)
IMAGES.add("qc_reject", {IM.IN_QC}, IM.QC_REJECTED)
IMAGES.add("deliver", {IM.READY}, IM.DELIVERED)
IMAGES.add("approve", {IM.DELIVERED}, IM.APPROVED)
IMAGES.add("request_revision", {IM.DELIVERED}, IM.REVISION_REQUESTED)
# Pilot batches: an order's pictures beyond its pilot wait (never scheduled) until the client approves the pilot.
IMAGES.add("wait_for_pilot", {IM.RECEIVED}, IM.WAITING_PILOT)
IMAGES.add("release", {IM.WAITING_PILOT}, IM.RECEIVED)

P = PilotStatus
# An order's pilot: set going when production starts, approved when the client approved every pilot picture.
PILOTS = StateTable("pilot", dict(P.choices), field_name="pilot_status")
PILOTS.add("start", {P.NONE}, P.RUNNING)
PILOTS.add("approve", {P.RUNNING}, P.APPROVED)

V = VersionStatus
VERSIONS = StateTable("version", dict(V.choices))
VERSIONS.add("receive", {V.UPLOADING}, V.IN_QC)
VERSIONS.add("reject_file", {V.UPLOADING}, V.REJECTED)
VERSIONS.add("pass", {V.IN_QC}, V.PASSED)
VERSIONS.add("fail", {V.IN_QC}, V.FAILED)

R = RoundStatus
# Revision rounds (jobs/review/proofing.py): a round beyond the free ones with change items waits for a
# client admin, who confirms it (it opens) or declines it; any other round opens when it is requested.
ROUNDS = StateTable("revision round", dict(R.choices))
ROUNDS.add("confirm", {R.AWAITING_CONFIRMATION}, R.OPEN)
ROUNDS.add("decline", {R.AWAITING_CONFIRMATION}, R.DECLINED)

# Sent inside the transition's transaction after the change is written, so an app above ``jobs``
# (billing closes a cancelled order's quote) acts atomically with it without ``jobs`` importing it.
order_status_changed = Signal()  # kwargs: order, action, from_status, to_status, by


def can_submit(order: Order) -> bool:
    return ORDERS.can("submit", order)


def can_cancel(order: Order) -> bool:
    return ORDERS.can("cancel", order)


def can_hold(order: Order) -> bool:
    return ORDERS.can("hold", order)


def can_resume(order: Order) -> bool:
    return ORDERS.can("resume", order)


def available_actions(user: Any, order: Order) -> list[str]:
    """The transitions ``user`` can take on ``order`` now, for buttons and the API's ``actions``."""
    checks = [
        ("submit", can_submit(order) and permissions.can_submit_order(user, order)),
        ("cancel", can_cancel(order) and permissions.can_cancel_order(user, order)),
        ("hold", can_hold(order) and permissions.can_hold_order(user, order)),
        ("resume", can_resume(order) and permissions.can_resume_order(user, order)),
        ("edit", order.status == S.DRAFT and permissions.can_edit_order(user, order)),
    ]
    return [name for name, allowed in checks if allowed]


def _locked(order_id: Any) -> Order:
    return Order.objects.select_for_update().select_related("client").get(pk=order_id)


def _refusal(order: Order, text: str) -> str:
    return f"Order {order.number} is {{state}}; {text}"


def _transition(order: Order, action: str, *, by: User | None, verb: str, message: str, note: str = "",
                refusal: str | None = None, data: dict[str, Any] | None = None, **changes: Any) -> Order:
    """Move ``order`` along the table's ``action`` edge, save it with ``changes``, write the event."""
    from_status, to = ORDERS.move(order, action, refusal=refusal)
    for key, value in changes.items():
        setattr(order, key, value)
    order.save(update_fields=["status", "updated_at", *changes])
    record_event(audience=Audience.CLIENT, order=order, actor=by, verb=verb, message=message, from_status=from_status,
                 to_status=to, data={**(data or {}), **({"note": note} if note else {})})
    order_status_changed.send(sender=Order, order=order, action=action, from_status=from_status, to_status=to, by=by)
    return order


def _clock(order: Order, change: str) -> dict[str, Any]:
    """Start, pause or resume the SLA clock; returns the fields to save with the transition."""
    fields = getattr(sla, change)(order, now=timezone.now(), calendar=studio_calendar())
    return {name: getattr(order, name) for name in fields}


@transaction.atomic
def order_submit(*, order_id: Any, by: User) -> Order:
    """Send a draft to the studio. Refused for other roles than the order's client users and account
    managers, for orders that are not drafts, for orders without services and while any image is
    still uploading or was rejected."""
    order = _locked(order_id)
    if not permissions.can_submit_order(by, order):
        raise NotPermitted("Only the client's users or an account manager can submit this order.")
    refusal = _refusal(order, "only a draft can be submitted.")
    ORDERS.check("submit", order, refusal)
    if not order.services.exists():
        raise InvalidTransition(f"Order {order.number} has no services; choose at least one before submitting.")
    if order.free_pictures is not None:  # a free trial (storefront.trials) is at most its pictures
        extra = OrderImage.objects.filter(order=order).accepted().count() - order.free_pictures
        if extra > 0:
            raise RuleViolation(f"Order {order.number} is a free trial of at most {order.free_pictures} pictures; remove "
                                f"{extra} before submitting.", field="images")
    blocking = OrderImage.objects.filter(order=order).blocking().count()
    if blocking:
        raise InvalidTransition(
            f"Order {order.number} has {blocking} image{'s' if blocking > 1 else ''} still uploading or rejected; "
            "wait for them or remove them before submitting."
        )
    return _transition(order, "submit", by=by, verb="order.submitted", refusal=refusal,
                       message=f"Order submitted by {by.full_name or by.email}{on_behalf(by, order)}",
                       submitted_at=timezone.now())


@transaction.atomic
def order_cancel(*, order_id: Any, by: User, reason: str = "") -> Order:
    """Cancel an order before production starts (draft, submitted or quoted, or on hold from one of
    those). Clients may discard their own drafts; account managers may cancel any such order. An
    open quote is withdrawn with it (billing listens to ``order_status_changed``)."""
    order = _locked(order_id)
    if not permissions.can_cancel_order(by, order):
        if permissions.is_client_user(by) and order.status != S.DRAFT:
            raise NotPermitted(f"Order {order.number} is already with the studio; ask your account manager to cancel it.")
        raise NotPermitted("Only an account manager can cancel this order.")
    return _transition(order, "cancel", by=by, verb="order.cancelled", note=reason,
                       refusal=_refusal(order, "only draft, submitted or quoted orders can be cancelled."),
                       message="Order cancelled" + (f": {reason}" if reason else ""), held_from="",
                       cancelled_at=timezone.now())


@transaction.atomic
def order_quote(*, order_id: Any, by: User) -> Order:
    """A quote was sent: the order waits on the client's answer (called by billing)."""
    order = _locked(order_id)
    return _transition(order, "quote", by=by, verb="order.quoted", message="Waiting for the client's answer to the quote",
                       refusal=_refusal(order, "only a submitted order can be quoted."))


@transaction.atomic
def order_requote(*, order_id: Any, by: User | None, reason: str) -> Order:
    """The quote was declined or expired: the order goes back to the studio for a new quote."""
    order = _locked(order_id)
    return _transition(order, "requote", by=by, verb="order.requote", message=reason,
                       refusal=_refusal(order, "it is not waiting on a quote."))


@transaction.atomic
def order_start_production(*, order_id: Any, by: User, promised: Any = None) -> Order:
    """The quote was accepted: production starts and so does the SLA clock (called by billing)."""
    order = _locked(order_id)
    ORDERS.check("start_production", order, _refusal(order, "production starts from a quote."))
    fields = sla.start(order, now=timezone.now(), calendar=studio_calendar(), promised=promised)
    changes = {name: getattr(order, name) for name in fields}
    # A pay-before-download client gets watermarked previews until billing records the payment.
    changes["downloads_held"] = order.client.pay_before_download
    from jobs.production import pilots  # pilots moves images along this module's tables

    changes.update(pilots.begin(order, by=by))  # a new style guide's first order starts with its pilot
    return _transition(order, "start_production", by=by, verb="order.in_production",
                       message="Quote accepted; production started", **changes)


@transaction.atomic
def order_hold(*, order_id: Any, by: User, reason: str = "") -> Order:
    """Put an open order on hold (waiting on the client). Account managers and admins only. The clock
    pauses; a quote waiting for an answer is suspended until the order resumes."""
    order = _locked(order_id)
    if not permissions.can_hold_order(by, order):
        raise NotPermitted("Only an account manager can put an order on hold.")
    ORDERS.check("hold", order, _refusal(order, "only an open order can be put on hold."))
    held_from = order.status
    return _transition(order, "hold", by=by, verb="order.held", note=reason,
                       message="Order put on hold" + (f": {reason}" if reason else ""), held_from=held_from,
                       **_clock(order, "pause"))


@transaction.atomic
def order_resume(*, order_id: Any, by: User) -> Order:
    """Take an order off hold, back to the state it was held from. Account managers and admins only."""
    order = _locked(order_id)
    if not permissions.can_resume_order(by, order):
        raise NotPermitted("Only an account manager can resume an order.")
    ORDERS.check("resume", order, _refusal(order, "it is not on hold; there is nothing to resume."))
    held_from = order.held_from
    clock = _clock(order, "resume") if held_from in IN_WORK else {}
    return _transition(order, "resume", by=by, verb="order.resumed", held_from="",
                       message=f"Order resumed ({ORDERS.label(held_from)})", **clock)


def order_deliver(*, order: Order, by: User, message: str, data: dict[str, Any]) -> Order:
    """A delivery was published (``jobs.review.deliveries``, inside its transaction, order row locked): the
    order waits on the client and the SLA clock stops."""
    refusal = _refusal(order, "only an order in production or revision can be delivered.")
    ORDERS.check("deliver", order, refusal)
    clock = _clock(order, "stop")  # a second delivery finds it stopped, and stopping it again changes nothing
    return _transition(order, "deliver", by=by, verb="order.delivered", message=message, data=data,
                       delivered_at=timezone.now(), **clock)


def order_request_revision(*, order: Order, by: User, message: str, data: dict[str, Any]) -> Order:
    """A revision round opened (``jobs.review.proofing``, order row locked): the round runs its own clock."""
    ORDERS.check("request_revision", order, _refusal(order, "changes can be requested on a delivered order."))
    fields = sla.start_revision(order, now=timezone.now(), calendar=studio_calendar())
    clock = {name: getattr(order, name) for name in fields}
    return _transition(order, "request_revision", by=by, verb="order.revision", message=message, data=data, **clock)


def order_start_rest(*, order: Order, by: User | None, message: str, data: dict[str, Any], promised: Any = None,
                     **changes: Any) -> Order:
    """The client approved the pilot (``jobs.production.pilots.release``, order row locked): the rest of the order
    goes into production with a new SLA clock (due: the tier's or the schedule's promise, whichever is later)."""
    ORDERS.check("start_rest", order, _refusal(order, "the rest of an order starts when its delivered pilot is approved."))
    fields = sla.start(order, now=timezone.now(), calendar=studio_calendar(), promised=promised)
    clock = {name: getattr(order, name) for name in fields}
    return _transition(order, "start_rest", by=by, verb="order.pilot_approved", message=message, data=data,
                       **clock, **changes)


def order_complete(*, order: Order, by: User | None, message: str) -> Order:
    """Every image is approved (``jobs.review.proofing``, order row locked)."""
    ORDERS.check("complete", order, _refusal(order, "only a delivered order can be completed."))
    return _transition(order, "complete", by=by, verb="order.completed", message=message, completed_at=timezone.now())
