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
