"""Scheduling services: proposals, promises a studio can keep, assignment with history.

One code path assigns work (``_assign``): a single image from the schedule page or the API, or a
whole proposal applied in one click, in a fixed number of queries whatever the number of images.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from agency.calendar import Calendar, studio_calendar
from agency.models import User
from agency.timefmt import stamp
from jobs.models import ImageStatus, Order, OrderImage
from jobs.production import scheduling, sla
from jobs.production.capacity import estimated_minutes, retoucher_pool

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
    pilot: str = ""  # what the quote says about the order's pilot, for everyone (``pilots.promise_words``)


def order_promise(order: Order, *, now: datetime | None = None, calendar: Calendar | None = None,
                  images: list[OrderImage] | None = None) -> Promise:
    """The date the studio can keep for ``images`` (by default the order's accepted pictures, or its pilot's when
    it will start with one, ``pilots.plan``): the later of the tier's SLA due date and the earliest finish the
    current schedule allows; when the tier cannot be met, why, and the next tier that can."""
    from jobs.production import pilots

    now = now or timezone.now()
    calendar = calendar or studio_calendar()
    pilot = pilots.plan(order) if images is None else None
    promise = _promise(order, now, calendar, pilot.pilot if pilot else list(order.images.accepted())
                       if images is None else images)
    if pilot is None:
        return promise
    words = pilots.promise_words(pilot, promise.due_at, order.get_turnaround_display().lower())
    return replace(promise, pilot=words)


def _promise(order: Order, now: datetime, calendar: Calendar, images: list[OrderImage]) -> Promise:
    proposal = order_proposal(order, now=now, calendar=calendar, images=images)
    finish = proposal.finish
    due = sla.sla_due(now, order.turnaround, calendar)
    if proposal.unassignable:
        reason = next(iter(proposal.unassignable.values()))
        return Promise(due, due, finish, f"{len(proposal.unassignable)} image(s) cannot be scheduled: {reason}.", None)
    if kept_date(due, finish) == due:
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


def kept_date(due: datetime, finish: datetime | None) -> datetime:
    """The promise's one rule: the tier's SLA due date, or the schedule's earliest finish when that is later."""
    return due if finish is None or finish <= due else finish


def earliest_ready(*, minutes: list[int], services: list[Any], turnaround: str, now: datetime | None = None,
                   calendar: Calendar | None = None) -> tuple[datetime | None, str]:
    """When pictures of these estimated minutes each could be ready if they were ordered now with these services
    and this turnaround: the promise an order would get (``kept_date``) against the live schedule (every booked
    assignment stays where it is). None, with why, when no retoucher has every service."""
    now = now or timezone.now()
    calendar = calendar or studio_calendar()
    start = now.astimezone(calendar.tz).date()
    required = frozenset(s.pk for s in services)
    jobs = [scheduling.Job(f"picture-{n}", each, required, None, "estimate", n) for n, each in enumerate(minutes)]
    proposal = scheduling.propose(jobs, retoucher_pool(start=start, calendar=calendar), start=start, calendar=calendar)
    if proposal.unassignable:
        return None, "No retoucher does every service chosen yet; the studio will confirm the date."
    due = sla.sla_due(now, turnaround, calendar)
    ready = kept_date(due, proposal.finish)
    return ready, "" if ready == due else "The schedule is busy: the earliest free capacity sets the date."


def workload(*, start: date, days: int = 14, calendar: Calendar | None = None) -> list[dict[str, Any]]:
    """Booked minutes per retoucher per day for the board (two weeks by default)."""
    calendar = calendar or studio_calendar()
    pool = retoucher_pool(start=start, calendar=calendar)
    span = [start + timedelta(days=n) for n in range(days)]
    return [{"retoucher": r, "days": [{"day": d, "booked": r.booked.get(d, 0),
                                       "capacity": r.capacity if r.free_on(d, calendar) or r.booked.get(d) else 0}
                                      for d in span]} for r in sorted(pool, key=lambda r: r.name)]
