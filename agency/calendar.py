"""The studio's business calendar: working hours per weekday in its time zone, public holidays of its
country (the ``holidays`` package) and its own closures. Pure date arithmetic; ``studio_calendar()``
loads the configuration from the database.

Turnaround promises are business hours (DESIGN.md §5): ``add_business_hours(t, 48)`` is the moment
48 working hours after ``t``. Working hours never span a DST change (those happen at night), so wall
time and elapsed time agree inside every working interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agency.process_cache import Kept

DEFAULT_HOURS = {0: (time(9), time(18)), 1: (time(9), time(18)), 2: (time(9), time(18)), 3: (time(9), time(18)),
                 4: (time(9), time(17))}
MAX_DAYS = 3660  # a promise more than ten years of working days away is a configuration error


@dataclass
class Calendar:
    time_zone: str
    hours: dict[int, tuple[time, time]] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    country: str = ""
    closures: frozenset[date] = frozenset()
    _holidays: dict[int, set[date]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.time_zone)
        if not any(start < end for start, end in self.hours.values()):
            raise ValueError("the business calendar has no working hours")

    def holidays(self, year: int) -> set[date]:
        if year not in self._holidays:
            days: set[date] = set()
            if self.country:
                import holidays

                days = set(holidays.country_holidays(self.country, years=year))
            self._holidays[year] = days
        return self._holidays[year]

    def is_working_day(self, day: date) -> bool:
        hours = self.hours.get(day.weekday())
        return bool(hours and hours[0] < hours[1]) and day not in self.closures and day not in self.holidays(day.year)

    def interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval of ``day`` as aware datetimes in the studio's zone, or None."""
        if not self.is_working_day(day):
            return None
        start, end = self.hours[day.weekday()]
        return datetime.combine(day, start, tzinfo=self.tz), datetime.combine(day, end, tzinfo=self.tz)

    def working_days(self, start: date) -> Iterator[date]:
        day = start
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)

    def minutes_on(self, day: date) -> int:
        interval = self.interval(day)
        return int((interval[1] - interval[0]).total_seconds() // 60) if interval else 0


def studio_zone() -> ZoneInfo:
    """The studio's time zone (``LOUPE_TIME_ZONE``): its dates, its years, its months."""
    from django.conf import settings

    return ZoneInfo(settings.TIME_ZONE)


def studio_today() -> date:
    """The studio's date now (numbering years, issue and due dates, monthly runs, leave), whatever zone
    the request activated for its viewer: at 00:05 on 1 January in Berlin it is still 31 December in
    UTC and in New York, and the studio's year has already changed."""
    from django.utils import timezone

    return timezone.localdate(timezone=studio_zone())


def add_business_hours(start: datetime, hours: float, calendar: Calendar) -> datetime:
    """The moment ``hours`` working hours after ``start`` (UTC). Zero hours returns ``start``."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = timedelta(hours=hours)
    if remaining <= timedelta(0):
        return start.astimezone(UTC)
    moment = start.astimezone(calendar.tz)
    day = moment.date()
    for _ in range(MAX_DAYS):
        interval = calendar.interval(day)
        if interval is not None:
            opens, closes = interval
            if moment < opens:
                moment = opens
            if moment < closes:
                available = closes - moment
                if remaining <= available:
                    return (moment + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
        moment = datetime.combine(day, time(0), tzinfo=calendar.tz)
    raise ValueError("no working time within ten years: check the business calendar")


def business_seconds_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    """Working seconds in [start, end) (0 when end is not after start)."""
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(calendar.tz).date()
    last = end.astimezone(calendar.tz).date()
    while day <= last:
        interval = calendar.interval(day)
        if interval is not None:
            lo, hi = max(interval[0], start), min(interval[1], end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


def parse_hours(raw: dict[str, Iterable[str]]) -> dict[int, tuple[time, time]]:
    """``{"0": ["09:00", "18:00"], …}`` (0 = Monday) → weekday → (opens, closes)."""
    hours = {}
    for weekday, (opens, closes) in raw.items():
        start, end = time.fromisoformat(opens), time.fromisoformat(closes)
        if not 0 <= int(weekday) <= 6 or start >= end:
            raise ValueError(f"working hours of weekday {weekday} must open before they close")
        hours[int(weekday)] = (start, end)
    return hours


# The configured calendar is read once per process and kept (holidays are computed once per year
# too); an edit in this process drops it at once (signals in agency/apps.py), other processes pick
# the change up within CACHE_SECONDS.
CACHE_SECONDS = 300


def studio_calendar() -> Calendar:
    """The configured calendar (``agency.BusinessCalendar`` and its closures), cached per process."""
    return _kept.get()


def forget_studio_calendar(**kwargs: Any) -> None:
    """Drop the cached calendar (after an edit of the calendar or a closure)."""
    _kept.forget()


def _load_calendar() -> Calendar:
    from django.conf import settings

    from agency.models import BusinessCalendar, Closure

    config = BusinessCalendar.objects.filter(pk=1).first()
    closures: set[date] = set()
    for closure in Closure.objects.all():
        day = closure.start_date
        while day <= closure.end_date:
            closures.add(day)
            day += timedelta(days=1)
    if config is None:
        return Calendar(settings.TIME_ZONE, dict(DEFAULT_HOURS), settings.LOUPE_COUNTRY, frozenset(closures))
    return Calendar(config.time_zone, parse_hours(config.hours), config.country, frozenset(closures))


_kept: Kept[Calendar] = Kept(_load_calendar, CACHE_SECONDS)
