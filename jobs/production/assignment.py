"""Who retouches which image: one code path (``_assign``) for a single image from the schedule page or
the API and for a whole proposal applied in one click, all or none, in a fixed number of queries."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.calendar import studio_today
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Role, TimeOff, User
from jobs import permissions
from jobs.events import record_event
from jobs.models import IN_WORK, Assignment, Audience, ImageStatus, Order, OrderImage, Service
from jobs.production.capacity import estimated_minutes
from jobs.production.planning import order_proposal
from jobs.workflow import IMAGES

# An image takes a first assignment along the table's ``assign`` edge; one already assigned or in
# progress may be given to someone else (its status stays, its history grows).
REASSIGNABLE = frozenset({ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS})
ASSIGNABLE_IMAGES = IMAGES.sources("assign") | REASSIGNABLE


def can_assign_work(user: Any, order: Order) -> bool:
    """Show the schedule and assignment controls: an account manager, on an order the studio works on."""
    return permissions.can_schedule(user) and order.status in IN_WORK


def _assign(*, order: Order, pairs: list[tuple[OrderImage, User]], by: User, reassign: bool | None) -> list[Assignment]:
    """Assign each image of ``pairs`` to its retoucher in the caller's transaction, all or none.

    An image that already has a retoucher is refused when ``reassign`` is False; otherwise its active
    assignment is ended and kept as history. Fresh images are claimed with one conditional update, so
    two managers at once cannot both win. The number of queries does not grow with the pairs."""
    if not permissions.can_schedule(by):
        raise NotPermitted("Only an account manager can assign work.")
    if order.status not in IN_WORK:
        raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}; "
                                "work is assigned once production has started.")
    if not pairs:
        return []
    image_ids = [image.pk for image, _ in pairs]
    if len(set(image_ids)) != len(image_ids):
        raise RuleViolation("An image appears twice in the assignments.", field="assignments")
    services = list(order.services.all())
    retoucher_ids = {retoucher.pk for _, retoucher in pairs}
    skills: dict[Any, set[Any]] = {pk: set() for pk in retoucher_ids}
    for user_id, service_id in Service.skilled_staff.through.objects.filter(user_id__in=retoucher_ids).values_list(
            "user_id", "service_id"):
        skills[user_id].add(service_id)
    today = studio_today()
    on_leave = set(TimeOff.objects.filter(user_id__in=retoucher_ids, start_date__lte=today, end_date__gte=today)
                   .values_list("user_id", flat=True))
    current = {a.image_id: a for a in Assignment.objects.filter(image_id__in=image_ids, active=True)
               .select_related("retoucher")}
    for image, retoucher in pairs:
        if retoucher.role != Role.RETOUCHER or not retoucher.is_active:
            raise RuleViolation(f"{retoucher.full_name} is not an active retoucher.", field="retoucher")
        if image.order_id != order.pk:
            raise RuleViolation(f"{image.filename} is not an image of order {order.number}.", field="assignments")
        if image.status not in ASSIGNABLE_IMAGES:
            raise InvalidTransition(f"{image.filename} is {image.get_status_display().lower()} and cannot be assigned.")
        missing = [s.name for s in services if s.pk not in skills[retoucher.pk]]
        if missing:
            raise RuleViolation(f"{retoucher.full_name} does not do {', '.join(missing).lower()}.", field="retoucher")
        if retoucher.pk in on_leave:
            raise RuleViolation(f"{retoucher.full_name} is on leave today.", field="retoucher")
        held = current.get(image.pk)
        if held is not None and reassign is False:
            raise InvalidTransition(f"{image.filename} is already assigned to {held.retoucher.full_name}; "
                                    "reassign it to change that.")
    fresh = [pk for pk in image_ids if pk not in current]
    if fresh and IMAGES.claim(OrderImage.objects.filter(pk__in=fresh), "assign") != len(fresh):
        raise InvalidTransition("Some of these images were assigned by someone else a moment ago; reload the page.")
    if current and Assignment.objects.filter(pk__in=[a.pk for a in current.values()], active=True).update(
            active=False, ended_at=timezone.now()) != len(current):
        raise InvalidTransition("Some of these images were reassigned by someone else a moment ago; reload the page.")
    made = Assignment.objects.bulk_create([
        Assignment(image=image, retoucher=retoucher, assigned_by=by, minutes=estimated_minutes(image.complexity, services))
        for image, retoucher in pairs])
    names = sorted({retoucher.full_name for _, retoucher in pairs})
    if len(pairs) == 1:
        image, retoucher = pairs[0]
        held = current.get(image.pk)
        text = f"{image.filename} {'reassigned' if held else 'assigned'} to {retoucher.full_name}"
        verb = "image.reassigned" if held else "image.assigned"
    else:
        text, verb = f"{len(pairs)} images assigned to {', '.join(names)}", "schedule.applied"
    record_event(order=order, actor=by, verb=verb, message=text, audience=Audience.MANAGERS,
                 data={"assignments": [{"image": str(image.pk), "retoucher": str(retoucher.pk),
                                        "previous": str(current[image.pk].retoucher_id) if image.pk in current else None}
                                       for image, retoucher in pairs]})
    return made


@transaction.atomic
def image_assign(*, image: OrderImage, retoucher: User, by: User, reassign: bool = False) -> Assignment:
    """Give an image to a retoucher; ``reassign`` ends its active assignment (kept as history) and
    starts a new one. Refused without the skills, for a retoucher on leave, before production, for an
    image past retouching, and for an assigned image unless ``reassign``."""
    order = Order.objects.select_for_update().get(pk=image.order_id)
    image = OrderImage.objects.get(pk=image.pk)
    return _assign(order=order, pairs=[(image, retoucher)], by=by, reassign=reassign)[0]


@transaction.atomic
def schedule_apply(*, order: Order, by: User, pairs: list[tuple[OrderImage, User]] | None = None) -> list[Assignment]:
    """Apply the proposal for the order (or the given image → retoucher pairs) in one transaction:
    every pair is assigned or none is."""
    if not permissions.can_schedule(by):
        raise NotPermitted("Only an account manager can assign work.")
    order = Order.objects.select_for_update().get(pk=order.pk)
    if pairs is None:
        proposal = order_proposal(order)
        if proposal.unassignable:
            raise InvalidTransition("Some images cannot be scheduled: " + "; ".join(sorted(set(proposal.unassignable.values()))))
        images = {i.pk: i for i in order.images.filter(pk__in=[p.image_id for p in proposal.placements])}
        users = {u.pk: u for u in User.objects.filter(pk__in=[p.retoucher_id for p in proposal.placements])}
        pairs = [(images[p.image_id], users[p.retoucher_id]) for p in proposal.placements]
    return _assign(order=order, pairs=pairs, by=by, reassign=None)
