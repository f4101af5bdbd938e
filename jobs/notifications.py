"""Who hears about what happened to an order (the bell and mail): the kinds ``jobs`` sends, and the
recipients of each timeline event. ``jobs.tasks.notify_event`` calls ``event_notices`` after commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from agency.models import CLIENT_ROLES, MANAGER_ROLES, Role, User
from agency.notifications import register
from jobs import permissions
from jobs.models import Event, Order

STUDIO_MANAGERS = MANAGER_ROLES
KINDS = {
    "order_update": ("Order updates: submitted, on hold, resumed, cancelled", CLIENT_ROLES | STUDIO_MANAGERS),
    "quote_sent": ("A quote is waiting for your answer", CLIENT_ROLES),
    "assignment": ("Work assigned to you", {Role.RETOUCHER}),
    "qc_rejected": ("QC sent your work back", {Role.RETOUCHER}),
    "delivery_ready": ("A delivery is ready for your review", CLIENT_ROLES),
    "revision_requested": ("Changes requested by the client", STUDIO_MANAGERS | {Role.RETOUCHER}),
    "round_confirmation": ("A billable revision round needs your confirmation", {Role.CLIENT_ADMIN}),
    "message": ("New messages on an order", CLIENT_ROLES | STUDIO_MANAGERS | {Role.RETOUCHER, Role.QC}),
    "sla_at_risk": ("Turnaround at risk or breached", STUDIO_MANAGERS),
    "approval_reminder": ("Reviews waiting on you: the day before one closes, or a daily digest", CLIENT_ROLES),
    "quote_answered": ("A client accepted a quote (schedule the work) or it needs a new one", STUDIO_MANAGERS),
    "order_completed": ("An order is completed (ready to invoice)", STUDIO_MANAGERS | {Role.FINANCE}),
    "rating_received": ("A client rated a completed order", STUDIO_MANAGERS),
    "mention": ("Someone mentions you on a picture, or replies to your mark",
                CLIENT_ROLES | STUDIO_MANAGERS | {Role.RETOUCHER, Role.QC}),
}


def register_kinds() -> None:
    for code, (label, roles) in KINDS.items():
        register(code, label, roles)


@dataclass(frozen=True)
class Notice:
    users: list[User]
    kind: str
    title: str
    url: str


def client_users(order: Order, *, admins_only: bool = False) -> list[User]:
    qs = User.objects.filter(membership__client_id=order.client_id, is_active=True)
    return list(qs.filter(role=Role.CLIENT_ADMIN) if admins_only else qs)


def account_managers(order: Order) -> list[User]:
    manager = order.client.account_manager
    if manager is not None and manager.is_active:
        return [manager]
    return list(User.objects.filter(role=Role.ACCOUNT_MANAGER, is_active=True))


def retouchers_of(image_ids: Iterable[Any]) -> list[User]:
    return list(User.objects.filter(assignments__image_id__in=list(image_ids), assignments__active=True).distinct())


def _order_url(order: Order) -> str:
    return reverse("jobs:order_detail", args=[order.pk])


def event_notices(event: Event) -> list[Notice]:
    """The notices an event causes: each kind to the people who care about it."""
    order, actor, verb, data = event.order, event.actor, event.verb, event.data or {}
    title = f"{order.number}: {event.message}"
    by_client = actor is None or permissions.is_client_user(actor)
    if verb in {"order.submitted"}:
        return [Notice(account_managers(order), "order_update", title, _order_url(order))]
    if verb in {"order.cancelled", "order.held", "order.resumed"}:
        users = account_managers(order) if by_client else client_users(order)
        return [Notice(users, "order_update", title, _order_url(order))]
    if verb == "quote.accepted":
        return [Notice(account_managers(order), "quote_answered",
                       f"{order.number}: quote accepted{'' if by_client else ' for the client'}, schedule the work",
                       reverse("jobs:order_schedule", args=[order.pk]))]
    if verb == "order.requote":
        return [Notice(account_managers(order), "quote_answered", f"{order.number}: needs a new quote ({event.message})",
                       _order_url(order))]
    if verb == "order.completed":
        finance = list(User.objects.filter(role=Role.FINANCE, is_active=True))
        return [Notice(account_managers(order) + finance, "order_completed", f"{order.number}: completed, ready to invoice",
                       _order_url(order))]
    if verb == "order.rated":
        return [Notice(account_managers(order), "rating_received", title, _order_url(order))]
    if verb == "quote.sent":
        return [Notice(client_users(order), "quote_sent", title, _order_url(order))]
    if verb in {"image.assigned", "image.reassigned", "schedule.applied"}:
        ids = {row["retoucher"] for row in data.get("assignments", [])}
        return [Notice(list(User.objects.filter(pk__in=ids)), "assignment", f"{order.number}: new work for you",
                       reverse("jobs:work_queue"))]
    if verb == "version.qc_rejected":
        author = User.objects.filter(pk=data["retoucher"]).first() if data.get("retoucher") else None
        return [Notice([author] if author else [], "qc_rejected", title,
                       reverse("jobs:image_work", args=[data["image"]]) if data.get("image") else _order_url(order))]
    if verb == "delivery.ready":
        return [Notice(client_users(order), "delivery_ready", title, reverse("jobs:order_review", args=[order.pk]))]
    if verb in {"revision.requested", "order.revision"}:
        return [Notice(account_managers(order), "revision_requested", title, _order_url(order)),
                Notice(retouchers_of(data.get("images", [])), "revision_requested", title, reverse("jobs:work_queue"))]
    if verb == "revision.awaiting_confirmation":
        return [Notice(client_users(order, admins_only=True), "round_confirmation", title,
                       reverse("jobs:order_review", args=[order.pk]))]
    if verb in {"order.sla_at_risk", "order.sla_breached"}:
        return [Notice(account_managers(order), "sla_at_risk", title, _order_url(order))]
    return []


def audience_allows(event: Event, user: User) -> bool:
    """A notice never tells anyone more than the timeline shows them."""
    return event.audience in permissions.readable_audiences(user)
