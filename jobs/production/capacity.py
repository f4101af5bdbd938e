"""The studio's retouching capacity as plain data for the scheduler and the SLA watch: estimated
minutes per image and each active retoucher's skills, capacity, working days, leave and booked work."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db.models import Prefetch

from agency.calendar import Calendar
from agency.models import Role, TimeOff, User
from jobs.models import WORK_LEFT, Assignment, Service
from jobs.production import scheduling

# Assigned work a retoucher still has to do (it occupies their capacity).


def estimated_minutes(complexity: str, services: list[Service]) -> int:
    """Minutes of work for one image: the catalog minutes of each service at its complexity."""
    return sum(service.minutes_for(complexity) for service in services)


def retoucher_pool(*, start: date, calendar: Calendar, exclude_images: frozenset[Any] = frozenset(),
                   book_existing: bool = True) -> list[scheduling.Retoucher]:
    """Active retouchers with skills, capacity, working days, leave and (optionally) the work already
    booked. Four queries whatever the number of retouchers and assignments."""
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
    booked = (Assignment.objects.filter(active=True, image__status__in=WORK_LEFT, retoucher_id__in=pool)
              .exclude(image_id__in=exclude_images).order_by("created_at").values_list("retoucher_id", "minutes"))
    for retoucher_id, minutes in booked:
        scheduling.book(pool[retoucher_id], minutes, start, calendar)
    return list(pool.values())
