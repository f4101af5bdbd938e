"""The SLA clock (DESIGN.md §5). It starts when a quote is accepted, runs while the studio owes work,
pauses while the order waits on the client (on hold) and stops at delivery. ``due_at`` is derived,
never typed in: business hours of the studio's calendar from the start, moved by every pause."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agency.calendar import Calendar, add_business_hours, business_seconds_between, studio_calendar
from agency.tasks import enqueue_on_commit
from jobs.events import new_event
from jobs.models import IN_WORK, WORK_LEFT, Assignment, Audience, Event, Order, OrderStatus
from jobs.production import scheduling
from jobs.production.capacity import retoucher_pool

ON_TRACK, AT_RISK, BREACHED, PAUSED = "on_track", "at_risk", "breached", "paused"


def target_hours(turnaround: str) -> int:
    return int(settings.LOUPE_TURNAROUND_HOURS[turnaround])


def sla_due(start: datetime, turnaround: str, calendar: Calendar) -> datetime:
    return add_business_hours(start, target_hours(turnaround), calendar)


def start(order: Order, *, now: datetime, calendar: Calendar, promised: datetime | None = None) -> list[str]:
    """Start the clock; ``due_at`` is the tier's due date or the quote's later promise. Returns the
    changed fields."""
    order.sla_target_hours = target_hours(order.turnaround)
    due = sla_due(now, order.turnaround, calendar)
    order.due_at = max(due, promised) if promised else due
    order.sla_consumed_seconds, order.sla_running_since, order.sla_remaining_seconds = 0.0, now, None
    order.sla_state = ON_TRACK
    return ["sla_target_hours", "due_at", "sla_consumed_seconds", "sla_running_since", "sla_remaining_seconds",
            "sla_state"]


def start_revision(order: Order, *, now: datetime, calendar: Calendar) -> list[str]:
    """A revision round starts its own clock with the revision target (``LOUPE_REVISION_HOURS``);
    the delivery-review workflow calls this when a client opens a round."""
    order.sla_target_hours = int(settings.LOUPE_REVISION_HOURS)
    order.due_at = add_business_hours(now, order.sla_target_hours, calendar)
    order.sla_consumed_seconds, order.sla_running_since, order.sla_remaining_seconds = 0.0, now, None
    order.sla_state, order.projected_finish_at = ON_TRACK, None
    return ["sla_target_hours", "due_at", "sla_consumed_seconds", "sla_running_since", "sla_remaining_seconds",
            "sla_state", "projected_finish_at"]


def pause(order: Order, *, now: datetime, calendar: Calendar) -> list[str]:
    if order.sla_running_since is None:
        return []
    order.sla_consumed_seconds += business_seconds_between(order.sla_running_since, now, calendar)
    if order.due_at and order.due_at > now:
        order.sla_remaining_seconds = business_seconds_between(now, order.due_at, calendar)
    else:
        order.sla_remaining_seconds = -business_seconds_between(order.due_at or now, now, calendar)
    order.sla_running_since, order.sla_state = None, PAUSED
    return ["sla_consumed_seconds", "sla_remaining_seconds", "sla_running_since", "sla_state"]


def resume(order: Order, *, now: datetime, calendar: Calendar) -> list[str]:
    """Run again: the time left when paused is added to now (a breached order stays breached)."""
    if order.sla_running_since is not None or order.sla_remaining_seconds is None:
        return []
    remaining = order.sla_remaining_seconds
    if remaining > 0:
        order.due_at = add_business_hours(now, remaining / 3600, calendar)
    order.sla_running_since, order.sla_remaining_seconds = now, None
    order.sla_state = ON_TRACK if remaining > 0 else BREACHED
    return ["due_at", "sla_running_since", "sla_remaining_seconds", "sla_state"]


def stop(order: Order, *, now: datetime, calendar: Calendar) -> list[str]:
    fields = pause(order, now=now, calendar=calendar)
    order.sla_state = ""
    return [*fields, "sla_state"] if fields else ["sla_state"]


@dataclass(frozen=True)
class Status:
    used_seconds: float
    left_seconds: float | None
    state: str


def status(order: Order, *, now: datetime, calendar: Calendar) -> Status | None:
    """Time used, time left and state of an order's clock, or None when it never started."""
    if order.sla_target_hours is None:
        return None
    used = order.sla_consumed_seconds
    if order.sla_running_since is not None:
        used += business_seconds_between(order.sla_running_since, now, calendar)
        if order.due_at and now > order.due_at:
            return Status(used, -business_seconds_between(order.due_at, now, calendar), BREACHED)
        left = business_seconds_between(now, order.due_at, calendar) if order.due_at else None
        at_risk = order.projected_finish_at is not None and order.due_at is not None and \
            order.projected_finish_at > order.due_at
        return Status(used, left, AT_RISK if at_risk else ON_TRACK)
    if order.status not in IN_WORK and order.status != OrderStatus.ON_HOLD:
        return Status(used, None, "")  # delivered or done: the clock stopped
    return Status(used, order.sla_remaining_seconds, BREACHED if (order.sla_remaining_seconds or 0) < 0 else PAUSED)




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
    rows = {r["pk"]: r for r in Order.objects.filter(status__in=IN_WORK, sla_running_since__isnull=False)
            .values("pk", "number", "due_at", "sla_state", "projected_finish_at")}
    pool = {r.id: r for r in retoucher_pool(start=today, calendar=calendar, book_existing=False)}
    work = (Assignment.objects.filter(active=True, image__status__in=WORK_LEFT, image__order__status__in=IN_WORK,
                                      image__order__sla_running_since__isnull=False)
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
                finish = scheduling.finish_moment(capacity[index][0], used, person, calendar)  # type: ignore[arg-type]
            if finish > projected.get(order_id, now):
                projected[order_id] = finish
    counts = {ON_TRACK: 0, AT_RISK: 0, BREACHED: 0}
    changed, events = [], []
    words = {AT_RISK: "is at risk: the projected finish is after the due date", BREACHED: "has passed its due date"}
    for pk, row in rows.items():
        finish = projected.get(pk)
        stored_finish = None if finish == far else finish
        if row["due_at"] and now > row["due_at"]:
            state = BREACHED
        elif row["due_at"] and finish is not None and finish > row["due_at"]:
            state = AT_RISK
        else:
            state = ON_TRACK
        counts[state] += 1
        if state != row["sla_state"] or stored_finish != row["projected_finish_at"]:
            if state != row["sla_state"] and state in words:
                events.append(new_event(order_id=pk, actor=None, verb=f"order.sla_{state}", audience=Audience.MANAGERS,
                                        message=f"Order {row['number']} {words[state]}",
                                        data={"from": row["sla_state"], "to": state}))
            changed.append(Order(pk=pk, sla_state=state, projected_finish_at=stored_finish))
    with transaction.atomic():
        # In batches: one UPDATE's CASE over every changed order grows with the square of their number (40,000
        # open orders took over half an hour in bench/scale.py; 500 at a time, seconds).
        Order.objects.bulk_update(changed, ["projected_finish_at", "sla_state"], batch_size=500)
        Event.objects.bulk_create(events)
        if events:
            enqueue_on_commit("jobs.tasks.notify_events", [str(e.pk) for e in events], group="notifications")
    return counts
