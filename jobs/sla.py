"""The SLA clock (DESIGN.md §5). It starts when a quote is accepted, runs while the studio owes work,
pauses while the order waits on the client (on hold) and stops at delivery. ``due_at`` is derived,
never typed in: business hours of the studio's calendar from the start, moved by every pause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from agency.calendar import Calendar, add_business_hours, business_seconds_between
from jobs.models import Order, OrderStatus

ON_TRACK, AT_RISK, BREACHED, PAUSED = "on_track", "at_risk", "breached", "paused"
CLOCK_STATES = {OrderStatus.IN_PRODUCTION, OrderStatus.REVISION}


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
    if order.status not in CLOCK_STATES and order.status != OrderStatus.ON_HOLD:
        return Status(used, None, "")  # delivered or done: the clock stopped
    return Status(used, order.sla_remaining_seconds, BREACHED if (order.sla_remaining_seconds or 0) < 0 else PAUSED)
