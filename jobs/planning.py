"""Scheduling services: proposals, promises a studio can keep, assignment with history.

One code path assigns work (``_assign``): a single image from the schedule page or the API, or a
whole proposal applied in one click, in a fixed number of queries whatever the number of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.calendar import Calendar, studio_calendar, studio_today
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Role, TimeOff, User
from agency.timefmt import stamp
from jobs import permissions, scheduling, sla
from jobs.capacity import estimated_minutes, retoucher_pool
from jobs.events import record_event
from jobs.models import Assignment, Audience, ImageStatus, Order, OrderImage, OrderStatus, Service

ASSIGNABLE_IMAGES = {ImageStatus.RECEIVED, ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.REVISION_REQUESTED}
# Images that take a first assignment (the others are reassigned).
UNASSIGNED_IMAGES = [ImageStatus.RECEIVED, ImageStatus.REVISION_REQUESTED]
SCHEDULABLE_ORDERS = {OrderStatus.IN_PRODUCTION, OrderStatus.REVISION}
TIER_ORDER = ["rush", "express", "standard"]


def _jobs(order: Order, images: list[OrderImage]) -> list[scheduling.Job]:
    services = list(order.services.all())
    required = frozenset(s.pk for s in services)
    return [scheduling.Job(i.pk, estimated_minutes(i.complexity, services), required, order.due_at, order.pk, i.position)
            for i in images]


def order_proposal(order: Order, *, now: datetime | None = None, calendar: Calendar | None = None,
                   images: list[OrderImage] | None = None) -> scheduling.Proposal:
    """Who should retouch each of the order's unassigned images, and when each would be finished."""
    now = now or timezone.now()
    calendar = calendar or studio_calendar()
    if images is None:
        images = list(order.images.filter(status=ImageStatus.RECEIVED).exclude(assignments__active=True))
    pool = retoucher_pool(start=now.astimezone(calendar.tz).date(), calendar=calendar)
    return scheduling.propose(_jobs(order, images), pool, start=now.astimezone(calendar.tz).date(), calendar=calendar)


def proposal_rows(order: Order) -> dict[str, Any]:
    """The proposal as plain data, for the API and the schedule page."""
    proposal = order_proposal(order)
    images = {i.pk: i for i in order.images.all()}
    services = list(order.services.all())
    names = dict(User.objects.filter(pk__in=[p.retoucher_id for p in proposal.placements]).values_list("pk", "full_name"))
    rows = [{"image": p.image_id, "filename": images[p.image_id].filename, "retoucher": p.retoucher_id,
             "retoucher_name": names.get(p.retoucher_id), "finish": p.finish, "problem": "",
             "minutes": estimated_minutes(images[p.image_id].complexity, services)}
            for p in proposal.placements]
    rows += [{"image": image_id, "filename": images[image_id].filename, "retoucher": None, "retoucher_name": None,
              "finish": None, "problem": reason, "minutes": estimated_minutes(images[image_id].complexity, services)}
             for image_id, reason in proposal.unassignable.items()]
    return {"placements": rows, "finish": proposal.finish, "due_at": order.due_at}


@dataclass(frozen=True)
class Promise:
    due_at: datetime
    sla_due_at: datetime
    earliest_finish: datetime | None
    note: str
    feasible_tier: str | None


def order_promise(order: Order, *, now: datetime | None = None, calendar: Calendar | None = None) -> Promise:
    """The date the studio can keep: the later of the tier's SLA due date and the earliest finish the
    current schedule allows; when the tier cannot be met, why, and the next tier that can."""
    now = now or timezone.now()
    calendar = calendar or studio_calendar()
    images = list(order.images.accepted())
    proposal = order_proposal(order, now=now, calendar=calendar, images=images)
    finish = proposal.finish
    due = sla.sla_due(now, order.turnaround, calendar)
    if proposal.unassignable:
        reason = next(iter(proposal.unassignable.values()))
        return Promise(due, due, finish, f"{len(proposal.unassignable)} image(s) cannot be scheduled: {reason}.", None)
    if finish is None or finish <= due:
        return Promise(due, due, finish, "", order.turnaround)
    services = list(order.services.all())
    minutes = sum(estimated_minutes(i.complexity, services) for i in images)
    busiest = max(services, key=lambda s: sum(s.minutes_for(i.complexity) for i in images)) if services else None
    note = (f"{order.get_turnaround_display().lower()} needs {minutes / 60:.0f} h"
            f"{f' of {busiest.name.lower()}' if busiest else ''}; the earliest free capacity finishes "
            f"{stamp(finish)}")
    feasible = next((t for t in TIER_ORDER[TIER_ORDER.index(order.turnaround) + 1:]
                     if sla.sla_due(now, t, calendar) >= finish), None)
    note += f"; {feasible} can be met." if feasible else "; no tier can be met, so the promise follows the schedule."
    return Promise(finish, due, finish, note, feasible)


def _assign(*, order: Order, pairs: list[tuple[OrderImage, User]], by: User, reassign: bool | None) -> list[Assignment]:
    """Assign each image of ``pairs`` to its retoucher in the caller's transaction, all or none.

    An image that already has a retoucher is refused when ``reassign`` is False; otherwise its active
    assignment is ended and kept as history. Fresh images are claimed with one conditional update, so
    two managers at once cannot both win. The number of queries does not grow with the pairs."""
    if not permissions.can_schedule(by):
        raise NotPermitted("Only an account manager can assign work.")
    if order.status not in SCHEDULABLE_ORDERS:
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
    if fresh and OrderImage.objects.filter(pk__in=fresh, status__in=UNASSIGNED_IMAGES).update(
            status=ImageStatus.ASSIGNED) != len(fresh):
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


def workload(*, start: date, days: int = 14, calendar: Calendar | None = None) -> list[dict[str, Any]]:
    """Booked minutes per retoucher per day for the board (two weeks by default)."""
    calendar = calendar or studio_calendar()
    pool = retoucher_pool(start=start, calendar=calendar)
    span = [start + timedelta(days=n) for n in range(days)]
    return [{"retoucher": r, "days": [{"day": d, "booked": r.booked.get(d, 0),
                                       "capacity": r.capacity if r.free_on(d, calendar) or r.booked.get(d) else 0}
                                      for d in span]} for r in sorted(pool, key=lambda r: r.name)]
