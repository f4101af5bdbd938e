"""Writes on orders other than state transitions: creating and editing them, numbering."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F

from agency.calendar import studio_today
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from clients.models import Client, StyleGuide
from clients.services import style_guide_lock
from jobs import permissions
from jobs.events import record_event
from jobs.models import Audience, Order, OrderNumberSequence, OrderStatus, Service

EDITABLE_FIELDS = ("title", "style_guide", "services", "turnaround", "instructions", "po_number")


def order_number_next(*, year: int | None = None) -> str:
    """Take the next ``LP-<year>-<5 digits>`` number. Must run inside the creating transaction: the
    year's counter row stays locked until commit, so two orders created at once never share a number
    and a rolled-back order gives its number back."""
    year = year or studio_today().year
    OrderNumberSequence.objects.get_or_create(year=year)
    # UPDATE … SET last = last + 1 takes the row lock on PostgreSQL; SQLite's IMMEDIATE transaction
    # already holds the write lock. Reading back afterwards sees our own increment.
    OrderNumberSequence.objects.filter(year=year).update(last=F("last") + 1)
    last = OrderNumberSequence.objects.values_list("last", flat=True).get(year=year)
    return f"LP-{year}-{last:05d}"


def _check_style_guide(client: Client, guide: StyleGuide) -> None:
    if guide.client_id != client.pk:
        raise RuleViolation("This style guide belongs to another company.", field="style_guide")
    if not guide.is_current:
        raise RuleViolation(f"Version {guide.version} of this style guide has been replaced; use the current version.",
                            field="style_guide")


def _check_services(services: Iterable[Service]) -> list[Service]:
    services = list(services)
    if any(not s.is_active for s in services):
        raise RuleViolation("One of the chosen services is no longer offered.", field="services")
    return services


@transaction.atomic
def order_create(*, client: Client, created_by: User, title: str, style_guide: StyleGuide,
                 services: Iterable[Service], turnaround: str, instructions: str = "", po_number: str = "") -> Order:
    """Create a draft order with the next order number and lock the style-guide version it uses.
    Refused when the user may not order for ``client``, the style guide is another company's or
    outdated, or a service is inactive."""
    if not permissions.can_create_order(created_by, client):
        raise NotPermitted("You cannot create orders for this company.")
    if not client.is_active:
        raise RuleViolation(f"{client.name} is not an active client.", field="client")
    _check_style_guide(client, style_guide)
    services = _check_services(services)
    order = Order(client=client, created_by=created_by, title=title, style_guide=style_guide,
                  turnaround=turnaround, instructions=instructions, po_number=po_number)
    order.number = order_number_next()
    order.full_clean()
    order.save()
    order.services.set(services)
    style_guide_lock(guide=style_guide)
    record_event(audience=Audience.CLIENT, order=order, actor=created_by, verb="order.created", to_status=OrderStatus.DRAFT,
                 message=f"Order created by {created_by.full_name or created_by.email}")
    return order


@transaction.atomic
def order_update(*, order: Order, by: User, **fields: Any) -> Order:
    """Edit a draft's title, style guide, services, tier, instructions or PO number. Once submitted,
    an order changes only through its transitions."""
    order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
    if not permissions.can_edit_order(by, order):
        raise NotPermitted("You cannot edit this order.")
    if order.status != OrderStatus.DRAFT:
        raise InvalidTransition(
            f"Order {order.number} is {OrderStatus(order.status).label.lower()}; only a draft can be edited."
        )
    changed = []
    services = fields.pop("services", None)
    guide = fields.get("style_guide")
    if guide is not None and guide.pk != order.style_guide_id:
        _check_style_guide(order.client, guide)
    for key, value in fields.items():
        if key in EDITABLE_FIELDS and getattr(order, key) != value:
            setattr(order, key, value)
            changed.append(key)
    order.full_clean()
    order.save()
    if guide is not None:
        style_guide_lock(guide=guide)
    if services is not None:
        services = _check_services(services)
        if {s.pk for s in services} != set(order.services.values_list("pk", flat=True)):
            order.services.set(services)
            changed.append("services")
    if changed:
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="order.updated",
                     message=f"Order details changed: {', '.join(changed)}",
                     data={"fields": changed})
    return order
