"""Scheduling services: estimates, proposals, promises a studio can keep, assignment with history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from agency.calendar import Calendar, studio_calendar
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import MANAGER_ROLES, Role, TimeOff, User
from jobs import scheduling, sla
from jobs.models import Assignment, Event, ImageStatus, Order, OrderImage, OrderStatus, Service
from jobs.workflow import record_event

OPEN_WORK = {ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.REVISION_REQUESTED}
ASSIGNABLE_IMAGES = {ImageStatus.RECEIVED, ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.REVISION_REQUESTED}
SCHEDULABLE_ORDERS = {OrderStatus.IN_PRODUCTION, OrderStatus.REVISION}
TIER_ORDER = ["rush", "express", "standard"]


def estimated_minutes(complexity: str, services: list[Service]) -> int:
    """Minutes of work for one image: the catalog minutes of each service at its complexity."""
    return sum(service.minutes_for(complexity) for service in services)


def retoucher_pool(*, start: date, calendar: Calendar, exclude_images: set[Any] = frozenset(),
                   book_existing: bool = True) -> list[scheduling.Retoucher]:
    """Active retouchers with skills, capacity, working days, leave and the work already booked."""
    users = list(User.objects.filter(role=Role.RETOUCHER, is_active=True).select_related("staff_profile")
                 .prefetch_related(Prefetch("skills", queryset=Service.objects.only("id"))))
    leave: dict[Any, set[date]] = defaultdict(set)
    horizon = start + timedelta(days=scheduling.HORIZON_DAYS)
    for off in TimeOff.objects.filter(end_date__gte=start, start_date__lte=horizon):
        day = max(off.start_date, start)
        while day <= min(off.end_date, horizon):
            leave[off.user_id].add(day)
            day += timedelta(days=1)
    pool = {}
    for user in users:
        profile = getattr(user, "staff_profile", None)
        pool[user.pk] = scheduling.Retoucher(
            id=user.pk, name=user.full_name, skills=frozenset(s.pk for s in user.skills.all()),
            capacity=profile.daily_capacity_minutes if profile else 420,
            working_days=frozenset(profile.working_days if profile else range(5)), days_off=frozenset(leave[user.pk]),
        )
    if not book_existing:
        return list(pool.values())
    booked = (Assignment.objects.filter(active=True, image__status__in=OPEN_WORK, retoucher_id__in=pool)
              .exclude(image_id__in=exclude_images).order_by("created_at").values_list("retoucher_id", "minutes"))
    for retoucher_id, minutes in booked:
        scheduling.book(pool[retoucher_id], minutes, start, calendar)
    return list(pool.values())


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
    images = list(order.images.exclude(status__in=[ImageStatus.REJECTED, ImageStatus.UPLOADING]))
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
    local = finish.astimezone(calendar.tz)
    note = (f"{order.get_turnaround_display().lower()} needs {minutes / 60:.0f} h"
            f"{f' of {busiest.name.lower()}' if busiest else ''}; the earliest free capacity finishes "
            f"{local:%A %d %B %H:%M}")
    feasible = next((t for t in TIER_ORDER[TIER_ORDER.index(order.turnaround) + 1:]
                     if sla.sla_due(now, t, calendar) >= finish), None)
    note += f"; {feasible} can be met." if feasible else "; no tier can be met, so the promise follows the schedule."
    return Promise(finish, due, finish, note, feasible)


def _check_assignable(image: OrderImage, retoucher: User, by: User, today: date) -> list[Service]:
    if by.role not in MANAGER_ROLES:
        raise NotPermitted("Only an account manager can assign work.")
    if retoucher.role != Role.RETOUCHER or not retoucher.is_active:
        raise RuleViolation(f"{retoucher.full_name} is not an active retoucher.", field="retoucher")
    if image.order.status not in SCHEDULABLE_ORDERS:
        raise InvalidTransition(f"Order {image.order.number} is {image.order.get_status_display().lower()}; "
                                "work is assigned once production has started.")
    if image.status not in ASSIGNABLE_IMAGES:
        raise InvalidTransition(f"{image.filename} is {image.get_status_display().lower()} and cannot be assigned.")
    services = list(image.order.services.all())
    skills = set(retoucher.skills.values_list("pk", flat=True))
    missing = [s.name for s in services if s.pk not in skills]
    if missing:
        raise RuleViolation(f"{retoucher.full_name} does not do {', '.join(missing).lower()}.", field="retoucher")
    if TimeOff.objects.filter(user=retoucher, start_date__lte=today, end_date__gte=today).exists():
        raise RuleViolation(f"{retoucher.full_name} is on leave today.", field="retoucher")
    return services


@transaction.atomic
def image_assign(*, image: OrderImage, retoucher: User, by: User, reassign: bool = False) -> Assignment:
    """Give an image to a retoucher. A first assignment is claimed with a conditional update, so two
    managers assigning at once cannot both win; ``reassign`` ends the active assignment (kept as
    history) and starts a new one."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    services = _check_assignable(image, retoucher, by, timezone.localdate())
    current = Assignment.objects.filter(image=image, active=True).select_related("retoucher").first()
    if current and not reassign:
        raise InvalidTransition(f"{image.filename} is already assigned to {current.retoucher.full_name}; "
                                "reassign it to change that.")
    if current is None:
        claimed = OrderImage.objects.filter(pk=image.pk, status__in=[ImageStatus.RECEIVED, ImageStatus.REVISION_REQUESTED]
                                            ).update(status=ImageStatus.ASSIGNED)
        if not claimed:
            raise InvalidTransition(f"{image.filename} was assigned by someone else a moment ago.")
    else:
        ended = Assignment.objects.filter(pk=current.pk, active=True).update(active=False, ended_at=timezone.now())
        if not ended:
            raise InvalidTransition(f"{image.filename} was reassigned by someone else a moment ago.")
    assignment = Assignment.objects.create(image=image, retoucher=retoucher, assigned_by=by,
                                           minutes=estimated_minutes(image.complexity, services))
    verb = "image.reassigned" if current else "image.assigned"
    text = f"{image.filename} {'reassigned' if current else 'assigned'} to {retoucher.full_name}"
    record_event(order=image.order, actor=by, verb=verb, message=text, client_visible=False,
                 data={"image": str(image.pk), "retoucher": str(retoucher.pk),
                       "previous": str(current.retoucher_id) if current else None})
    return assignment


@transaction.atomic
def schedule_apply(*, order: Order, by: User, pairs: list[tuple[OrderImage, User]] | None = None) -> list[Assignment]:
    """Apply the proposal for the order (or the given image → retoucher pairs) in one transaction."""
    if by.role not in MANAGER_ROLES:
        raise NotPermitted("Only an account manager can assign work.")
    if pairs is None:
        proposal = order_proposal(order)
        if proposal.unassignable:
            raise InvalidTransition("Some images cannot be scheduled: " + "; ".join(set(proposal.unassignable.values())))
        images = {i.pk: i for i in order.images.all()}
        users = {u.pk: u for u in User.objects.filter(pk__in=[p.retoucher_id for p in proposal.placements])}
        pairs = [(images[p.image_id], users[p.retoucher_id]) for p in proposal.placements]
    return [image_assign(image=image, retoucher=retoucher, by=by, reassign=image.assignments.filter(active=True).exists())
            for image, retoucher in pairs]


def workload(*, start: date, days: int = 14, calendar: Calendar | None = None) -> list[dict[str, Any]]:
    """Booked minutes per retoucher per day for the board (two weeks by default)."""
    calendar = calendar or studio_calendar()
    pool = retoucher_pool(start=start, calendar=calendar)
    span = [start + timedelta(days=n) for n in range(days)]
    return [{"retoucher": r, "days": [{"day": d, "booked": r.booked.get(d, 0),
                                       "capacity": r.capacity if r.free_on(d, calendar) or r.booked.get(d) else 0}
                                      for d in span]} for r in sorted(pool, key=lambda r: r.name)]


DONE_IMAGES = {ImageStatus.IN_QC, ImageStatus.READY, ImageStatus.DELIVERED, ImageStatus.APPROVED, ImageStatus.REJECTED,
               ImageStatus.UPLOADING}


def sla_sweep(*, now: datetime | None = None, calendar: Calendar | None = None) -> dict[str, int]:
    """Mark open orders at risk (projected finish after ``due_at``) or breached (``due_at`` passed),
    and record each change once (an internal event; the account manager is mailed).

    The projection follows DESIGN.md §5: the remaining estimated minutes of each order's assigned
    images over their retouchers' free capacity, each retoucher's queue worked earliest due first.
    A fixed number of queries whatever the number of orders.
    """
    now = now or timezone.now()
    calendar = calendar or studio_calendar()
    today = now.astimezone(calendar.tz).date()
    rows = {r["pk"]: r for r in Order.objects.filter(status__in=SCHEDULABLE_ORDERS, sla_running_since__isnull=False)
            .values("pk", "number", "due_at", "sla_state", "projected_finish_at")}
    pool = {r.id: r for r in retoucher_pool(start=today, calendar=calendar, book_existing=False)}
    work = (Assignment.objects.filter(active=True, image__order__status__in=SCHEDULABLE_ORDERS,
                                      image__order__sla_running_since__isnull=False)
            .exclude(image__status__in=DONE_IMAGES)
            .values_list("retoucher_id", "image__order_id", "image__position", "minutes"))
    queues: dict[Any, list[tuple[Any, int, int]]] = defaultdict(list)
    for retoucher_id, order_id, position, minutes in work:
        queues[retoucher_id].append((order_id, position, minutes))
    far = datetime.max.replace(tzinfo=UTC)
    due = {pk: row["due_at"] or far for pk, row in rows.items()}
    projected: dict[Any, datetime] = {}
    for retoucher_id, items in queues.items():
        person = pool.get(retoucher_id)
        items.sort(key=lambda item: (due[item[0]], str(item[0]), item[1]))
        capacity = [(d, person.free_on(d, calendar)) for d in (today + timedelta(days=n)
                    for n in range(scheduling.HORIZON_DAYS))] if person else []
        index, used = 0, 0
        for order_id, _, minutes in items:
            remaining = minutes
            while remaining > 0 and index < len(capacity):
                free = capacity[index][1] - used
                if free <= 0:
                    index, used = index + 1, 0
                    continue
                take = min(free, remaining)
                used, remaining = used + take, remaining - take
            if remaining > 0:
                finish = far  # nobody has the time (or the retoucher left): it will not finish in time
            else:
                finish = scheduling._finish_moment(capacity[index][0], used, person, calendar)  # type: ignore[arg-type]
            if finish > projected.get(order_id, now):
                projected[order_id] = finish
    counts = {sla.ON_TRACK: 0, sla.AT_RISK: 0, sla.BREACHED: 0}
    changed, events = [], []
    words = {sla.AT_RISK: "is at risk: the projected finish is after the due date", sla.BREACHED: "has passed its due date"}
    for pk, row in rows.items():
        finish = projected.get(pk)
        stored_finish = None if finish == far else finish
        if row["due_at"] and now > row["due_at"]:
            state = sla.BREACHED
        elif row["due_at"] and finish is not None and finish > row["due_at"]:
            state = sla.AT_RISK
        else:
            state = sla.ON_TRACK
        counts[state] += 1
        if state != row["sla_state"] or stored_finish != row["projected_finish_at"]:
            if state != row["sla_state"] and state in words:
                events.append(Event(order_id=pk, verb=f"order.sla_{state}", client_visible=False,
                                    message=f"Order {row['number']} {words[state]}",
                                    data={"from": row["sla_state"], "to": state}))
            changed.append(Order(pk=pk, sla_state=state, projected_finish_at=stored_finish))
    with transaction.atomic():
        Order.objects.bulk_update(changed, ["projected_finish_at", "sla_state"])
        Event.objects.bulk_create(events)
        if events:
            ids = [str(e.pk) for e in events]
            transaction.on_commit(lambda: _enqueue_notifications(ids))
    return counts


def _enqueue_notifications(event_ids: list[str]) -> None:
    from django_q.tasks import async_task

    async_task("jobs.tasks.notify_events", event_ids, group="notifications")
