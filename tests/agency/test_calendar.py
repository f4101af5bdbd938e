"""Business-hours arithmetic, with property tests (Europe/Berlin and America/New_York, DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agency.calendar import Calendar, add_business_hours, business_seconds_between, parse_hours
from tests.factories import sign_in_with_second_factor

BERLIN = Calendar("Europe/Berlin", country="DE")
NEW_YORK = Calendar("America/New_York", country="US",
                    hours={d: (time(8, 30), time(17, 30)) for d in range(5)} | {5: (time(10), time(14))})
CALENDARS = st.sampled_from([BERLIN, NEW_YORK])
# Moments around 2026–2027 including both DST changes of each zone.
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
hours = st.floats(min_value=0, max_value=200, allow_nan=False).map(lambda h: round(h, 2))


def inside_working_hours(moment: datetime, calendar: Calendar) -> bool:
    local = moment.astimezone(calendar.tz)
    interval = calendar.interval(local.date())
    return interval is not None and interval[0] < local <= interval[1]


@settings(max_examples=300, deadline=None)
@given(CALENDARS, moments, hours, hours)
def test_adding_is_additive(calendar, start, a, b):
    assert add_business_hours(add_business_hours(start, a, calendar), b, calendar) == \
        add_business_hours(start, a + b, calendar)


@settings(max_examples=300, deadline=None)
@given(CALENDARS, moments, hours, hours)
def test_adding_is_monotonic(calendar, start, a, b):
    low, high = sorted((a, b))
    assert add_business_hours(start, low, calendar) <= add_business_hours(start, high, calendar)


@settings(max_examples=300, deadline=None)
@given(CALENDARS, moments, hours.filter(lambda h: h > 0))
def test_result_is_inside_working_hours_and_counts_back(calendar, start, h):
    end = add_business_hours(start, h, calendar)
    assert inside_working_hours(end, calendar)
    assert business_seconds_between(start, end, calendar) == pytest.approx(h * 3600, abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, moments, hours.filter(lambda h: h > 0))
def test_holidays_and_closed_days_never_count(calendar, start, h):
    end = add_business_hours(start, h, calendar)
    day = start.astimezone(calendar.tz).date()
    while day <= end.astimezone(calendar.tz).date():
        if day in calendar.holidays(day.year) or calendar.hours.get(day.weekday()) is None:
            assert calendar.interval(day) is None
        day += timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(CALENDARS, moments, moments, moments)
def test_paused_spans_never_count(calendar, a, b, c):
    """Working time of a span is the sum of its parts; time outside working hours adds nothing."""
    first, middle, last = sorted((a, b, c))
    whole = business_seconds_between(first, last, calendar)
    assert whole == pytest.approx(business_seconds_between(first, middle, calendar)
                                  + business_seconds_between(middle, last, calendar), abs=1e-6)


def test_berlin_example_across_a_weekend_and_easter():
    # Thursday 2 April 2026, 16:00 Berlin; Good Friday and Easter Monday are holidays.
    start = datetime(2026, 4, 2, 14, 0, tzinfo=UTC)  # 16:00 CEST
    due = add_business_hours(start, 8, BERLIN)
    assert due.astimezone(BERLIN.tz) == datetime(2026, 4, 7, 15, 0, tzinfo=BERLIN.tz)


def test_dst_change_in_new_york():
    # Friday 6 March 2026 17:00 EST + 5 h: 0.5 h on Friday, Saturday 10-14 (4 h), DST starts on Sunday
    # 8 March, 0.5 h on Monday from 8:30 EDT.
    start = datetime(2026, 3, 6, 22, 0, tzinfo=UTC)
    due = add_business_hours(start, 5, NEW_YORK)
    assert due.astimezone(NEW_YORK.tz) == datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK.tz)
    assert due == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def test_closures_are_days_off():
    closed = Calendar("Europe/Berlin", country="DE", closures=frozenset({date(2026, 12, 28), date(2026, 12, 29)}))
    start = datetime(2026, 12, 24, 8, 0, tzinfo=UTC)  # Thursday 09:00: 9 h that day, then 25/26 are holidays
    assert add_business_hours(start, 10, closed).astimezone(closed.tz) == datetime(2026, 12, 30, 10, 0, tzinfo=closed.tz)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError):
        parse_hours({"0": ["18:00", "09:00"]})
    with pytest.raises(ValueError):
        Calendar("Europe/Berlin", hours={})
    with pytest.raises(ValueError):
        add_business_hours(datetime(2026, 1, 1), 1, BERLIN)


@pytest.mark.django_db
def test_studio_calendar_is_configurable_in_admin(cast):
    from django.test import Client as HttpClient

    from agency.calendar import studio_calendar
    from agency.models import BusinessCalendar, Closure

    BusinessCalendar.objects.create(time_zone="America/New_York", country="US", hours={"0": ["08:00", "16:00"]})
    Closure.objects.create(start_date=date(2026, 7, 6), end_date=date(2026, 7, 6), reason="Inventory")
    calendar = studio_calendar()
    assert calendar.time_zone == "America/New_York" and calendar.interval(date(2026, 7, 6)) is None
    assert calendar.minutes_on(date(2026, 7, 13)) == 480 and calendar.interval(date(2026, 7, 14)) is None
    web = HttpClient()
    sign_in_with_second_factor(web, cast.admin)
    response = web.post("/admin/agency/businesscalendar/1/change/", {"time_zone": "Europe/Berlin", "country": "XX",
                                                                       "hours": '{"0": ["09:00", "17:00"]}'})
    assert response.status_code == 200 and b"No public holidays are known" in response.content
