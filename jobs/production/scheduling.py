"""Proposing who retouches what, and when it can be finished. Pure functions over plain data.

Greedy and explainable: images are taken earliest due first; each goes to the retoucher who has every
service the order asks for and finishes it soonest, filling free minutes day by day, never beyond a
retoucher's daily capacity, never on their days off or outside the studio's working days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from agency.calendar import Calendar

HORIZON_DAYS = 120


@dataclass
class Retoucher:
    id: Any
    name: str
    skills: frozenset[Any]
    capacity: int
    working_days: frozenset[int]
    days_off: frozenset[date] = frozenset()
    booked: dict[date, int] = field(default_factory=lambda: defaultdict(int))

    def free_on(self, day: date, calendar: Calendar) -> int:
        if day.weekday() not in self.working_days or day in self.days_off or not calendar.is_working_day(day):
            return 0
        return max(0, self.capacity - self.booked[day])


@dataclass(frozen=True)
class Job:
    image_id: Any
    minutes: int
    required: frozenset[Any]
    due_at: datetime | None = None
    order_id: Any = None
    position: int = 0


@dataclass(frozen=True)
class Placement:
    image_id: Any
    retoucher_id: Any
    finish: datetime
    days: tuple[tuple[date, int], ...]


@dataclass
class Proposal:
    placements: list[Placement]
    unassignable: dict[Any, str]

    @property
    def finish(self) -> datetime | None:
        return max((p.finish for p in self.placements), default=None)


def finish_moment(day: date, minutes_into_day: int, retoucher: Retoucher, calendar: Calendar) -> datetime:
    """When the last booked minute of ``day`` ends, spreading the retoucher's capacity over the
    studio's opening hours."""
    opens, closes = calendar.interval(day)  # type: ignore[misc]
    span = (closes - opens).total_seconds()
    fraction = min(1.0, minutes_into_day / max(retoucher.capacity, 1))
    return opens + timedelta(seconds=span * fraction)


def _simulate(job: Job, retoucher: Retoucher, start: date, calendar: Calendar) -> tuple[datetime, list[tuple[date, int]]] | None:
    remaining, taken = job.minutes, []
    day = start
    for _ in range(HORIZON_DAYS):
        free = retoucher.free_on(day, calendar)
        if free:
            use = min(free, remaining)
            taken.append((day, use))
            remaining -= use
            if remaining == 0:
                return finish_moment(day, retoucher.booked[day] + use, retoucher, calendar), taken
        day += timedelta(days=1)
    return None


def book(retoucher: Retoucher, minutes: int, start: date, calendar: Calendar) -> None:
    """Place already-assigned work in a retoucher's earliest free minutes."""
    result = _simulate(Job(None, minutes, frozenset()), retoucher, start, calendar)
    for day, used in (result[1] if result else []):
        retoucher.booked[day] += used


def propose(jobs: list[Job], retouchers: list[Retoucher], *, start: date, calendar: Calendar) -> Proposal:
    """Assign every job once (or say why it cannot be), earliest due first, never beyond capacity."""
    placements: list[Placement] = []
    unassignable: dict[Any, str] = {}
    far = datetime.max.replace(tzinfo=calendar.tz)
    for job in sorted(jobs, key=lambda j: (j.due_at or far, str(j.order_id), j.position, str(j.image_id))):
        best: tuple[datetime, int, Retoucher, list[tuple[date, int]]] | None = None
        skilled = [r for r in retouchers if job.required <= r.skills]
        if not skilled:
            unassignable[job.image_id] = "no retoucher has every service this order needs"
            continue
        for retoucher in skilled:
            result = _simulate(job, retoucher, start, calendar)
            if result is None:
                continue
            load = sum(retoucher.booked.values())
            if best is None or (result[0], load) < (best[0], best[1]):
                best = (result[0], load, retoucher, result[1])
        if best is None:
            unassignable[job.image_id] = f"no skilled retoucher has free capacity within {HORIZON_DAYS} days"
            continue
        finish, _, retoucher, days = best
        for day, used in days:
            retoucher.booked[day] += used
        placements.append(Placement(job.image_id, retoucher.id, finish, tuple(days)))
    return Proposal(placements, unassignable)
