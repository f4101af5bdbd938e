"""Notifications of order events: the right people, exactly once, after commit only."""

from __future__ import annotations

import pytest
from django.core import mail

from jobs import workflow
from jobs.models import Event, OrderStatus
from jobs.tasks import notify_event
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_submission_mails_the_account_manager_once(cast, django_capture_on_commit_callbacks):
    cast.acme.account_manager = cast.account_manager
    cast.acme.save()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    assert [m.to for m in mail.outbox] == [[cast.account_manager.email]]
    assert cast.acme_order.number in mail.outbox[0].subject
    event = Event.objects.get(order=cast.acme_order, verb="order.submitted")
    assert notify_event(str(event.pk)) == 0  # delivered twice: mailed once
    assert len(mail.outbox) == 1


def test_hold_mails_the_clients_users_not_the_actor(cast, django_capture_on_commit_callbacks):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_hold(order_id=order.pk, by=cast.account_manager, reason="SKUs")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([cast.acme_admin.email, cast.acme_member.email])
    assert all(len(m.to) == 1 for m in mail.outbox)  # one mail each: nobody sees who else was told


def test_rolled_back_transition_enqueues_nothing(cast, django_capture_on_commit_callbacks):
    """T4: a task is enqueued on commit only."""
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
                raise RuntimeError("abort")
        except RuntimeError:
            pass
    assert callbacks == [] and mail.outbox == []
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.status == OrderStatus.DRAFT


def test_failed_send_leaves_the_event_for_the_retry(cast, settings):
    settings.EMAIL_BACKEND = "tests.jobs.test_tasks.BrokenBackend"
    cast.acme.account_manager = cast.account_manager
    cast.acme.save()
    workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    event = Event.objects.get(order=cast.acme_order, verb="order.submitted")
    with pytest.raises(ConnectionError):
        notify_event(str(event.pk))
    event.refresh_from_db()
    assert event.notified_at is None


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionError("SMTP server down")


def test_sweeper_is_scheduled_every_ten_minutes():
    from django_q.models import Schedule

    from jobs.apps import ensure_schedules

    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    schedule = Schedule.objects.get(func="jobs.tasks.sweep_stuck_images")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 10


def _quoted(cast):
    from billing.services import quote_draft
    from billing.workflow import quote_send
    from tests.factories import default_price_list, retoucher, submitted_order

    cast.acme.account_manager = cast.account_manager
    cast.acme.save()
    default_price_list()
    retoucher("Rita", ["colour-correction"], capacity=480)
    order = submitted_order(cast.acme_order, {"standard": 3})
    return quote_send(quote=quote_draft(order=order, by=cast.account_manager), by=cast.account_manager)


def test_titles_and_subjects_show_times_in_the_readers_zone_never_the_raw_marker(cast, web,
                                                                              django_capture_on_commit_callbacks):
    """The quote's mail, bell, page and API read "valid until Sun 20 Dec 2026, 08:36 CET", not a marker."""
    from agency.models import Notification

    cast.acme.time_zone = "America/New_York"
    cast.acme.save()
    with django_capture_on_commit_callbacks(execute=True):
        quote = _quoted(cast)
    mails = {m.to[0]: m for m in mail.outbox}
    subject = mails[cast.acme_admin.email].subject
    assert "[[time:" not in subject and "valid until" in subject and "EST" in subject
    stored = Notification.objects.get(user=cast.acme_admin)
    assert "[[time:" in stored.title  # stored once, shown in each reader's zone
    page = web(cast.acme_admin).get("/notifications/").content.decode()
    from rest_framework.test import APIClient

    from agency.services import token_issue

    _token, key = token_issue(user=cast.acme_admin)  # a real token: its authentication picks the reader's zone
    api = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/notifications/").json()["results"][0]["title"]
    local = quote.valid_until.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert "[[time:" not in page and "[[time:" not in api
    assert local.strftime("%H:%M") in api and local.strftime("%H:%M") in page


def test_the_account_manager_hears_that_a_quote_was_accepted_and_finance_that_an_order_completed(
        cast, django_capture_on_commit_callbacks):
    from agency.models import Notification
    from billing.workflow import quote_accept

    quote = _quoted(cast)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        quote_accept(quote=quote, by=cast.acme_admin)
    told = Notification.objects.filter(kind="quote_answered")
    assert [(n.user, n.url) for n in told] == [(cast.account_manager, f"/orders/{quote.order_id}/schedule/")]
    assert "quote accepted, schedule the work" in told[0].title
    assert [m.to for m in mail.outbox if "quote accepted" in m.subject] == [[cast.account_manager.email]]

    order = quote.order
    order.refresh_from_db()
    type(order).objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    order.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_complete(order=order, by=cast.acme_admin, message="Every image approved")
    completed = Notification.objects.filter(kind="order_completed")
    assert sorted(n.user.email for n in completed) == sorted([cast.account_manager.email, cast.finance.email])
    assert all(n.title == f"{order.number}: completed, ready to invoice" for n in completed)
    # retouchers, QC and the client are not told by this kind
    assert not Notification.objects.filter(kind="order_completed", user__in=[cast.retoucher, cast.qc,
                                                                            cast.acme_member]).exists()


def test_a_declined_quote_asks_the_account_manager_for_a_new_one(cast, django_capture_on_commit_callbacks):
    from agency.models import Notification
    from billing.workflow import quote_decline

    quote = _quoted(cast)
    with django_capture_on_commit_callbacks(execute=True):
        quote_decline(quote=quote, by=cast.acme_admin, reason="Too dear for three rings")
    told = Notification.objects.get(kind="quote_answered")
    assert told.user == cast.account_manager
    assert told.title == f"{quote.order.number}: needs a new quote (Quote declined: Too dear for three rings)"
