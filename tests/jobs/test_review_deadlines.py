"""Review deadlines and reminders (issue 22, jobs/review/deadlines.py): a deadline set when publishing (or the
contract's auto-approval), one reminder the day before for each reviewer who has pictures to answer (people and
guests), one daily digest per person when several deliveries wait on them, and never a second mail for the same
thing, at the boundary of the day before."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from agency.exceptions import RuleViolation
from agency.models import Notification
from jobs.models import Delivery, ShareLink
from jobs.review import deadlines, proofing, shares
from tests.conftest import api_for
from tests.factories import client_user, delivered_with_previews

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def due(cast):
    """Acme's delivery of two pictures, published at NOW and due three days later."""
    delivery = delivered_with_previews(cast.acme, "Spring rings")
    Delivery.objects.filter(pk=delivery.pk).update(created_at=NOW, review_by=NOW + timedelta(days=3))
    return Delivery.objects.get(pk=delivery.pk)


def _run(at, capture):
    mail.outbox.clear()
    with time_machine.travel(at, tick=False), capture(execute=True):
        return deadlines.send_review_reminders()


def _next_midnight(at):
    """The first instant of the studio's next calendar day after ``at`` (a day may have 23 or 25 hours)."""
    day = timezone.localtime(at).date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time()))


def _to(outbox=None):
    return sorted(m.to[0] for m in (outbox if outbox is not None else mail.outbox))


def test_the_deadline_is_the_one_set_when_publishing_else_the_auto_approvals(cast, due):
    assert deadlines.review_deadline(due) == NOW + timedelta(days=3)
    Delivery.objects.filter(pk=due.pk).update(review_by=None)
    due.refresh_from_db()
    assert deadlines.review_deadline(due) is None
    cast.acme.__class__.objects.filter(pk=cast.acme.pk).update(auto_approve_days=5)
    due = Delivery.objects.select_related("order__client").get(pk=due.pk)
    assert deadlines.review_deadline(due) == NOW + timedelta(days=5)


def test_nobody_is_reminded_of_pictures_the_company_has_answered(cast, due, django_capture_on_commit_callbacks):
    shares.share_create(delivery=due, by=cast.acme_admin, email="dora@agency.test", can_decide=True)
    first, second = [i.image for i in due.items.order_by("image__position")]
    proofing.review_submit(order=due.order, by=cast.acme_member, items=[
        {"image": first.pk, "decision": "approve"}, {"image": second.pk, "decision": "revise", "note": "Warmer"}])
    mail.outbox.clear()
    assert _run(NOW + timedelta(days=2) - timedelta(seconds=1), django_capture_on_commit_callbacks) == {
        "digests": 0, "reminders": 0}
    assert mail.outbox == []
    # the first picture is approved and the second in revision: nothing waits any more
    assert _run(NOW + timedelta(days=2), django_capture_on_commit_callbacks) == {"digests": 0, "reminders": 0}


def test_reminders_reach_the_people_and_guests_who_have_not_answered_and_only_once(
        cast, due, django_capture_on_commit_callbacks):
    dora, _ = shares.share_create(delivery=due, by=cast.acme_admin, email="dora@agency.test", can_decide=True)
    shares.share_create(delivery=due, by=cast.acme_admin, email="viewer@agency.test")
    mail.outbox.clear()
    assert _run(NOW + timedelta(days=2) - timedelta(seconds=1), django_capture_on_commit_callbacks) == {
        "digests": 0, "reminders": 0}
    sent = _run(NOW + timedelta(days=2), django_capture_on_commit_callbacks)  # exactly a day before: reminded
    assert sent == {"digests": 0, "reminders": 3}
    assert _to() == sorted([cast.acme_admin.email, cast.acme_member.email, "dora@agency.test"])
    people = [m for m in mail.outbox if m.to[0] != "dora@agency.test"]
    assert all("delivery 1 closes for review" in m.subject for m in people)
    assert all("Spring-1.jpg, Spring-2.jpg" in m.body for m in people)
    guest = next(m for m in mail.outbox if m.to[0] == "dora@agency.test")
    assert "Please give your answer by then." in " ".join(guest.body.split()) and "/r/" not in guest.body
    # again the same day, or hourly auto-approval's own reminder: nobody is told twice
    assert _run(NOW + timedelta(days=2, hours=1), django_capture_on_commit_callbacks) == {"digests": 0, "reminders": 0}
    with time_machine.travel(NOW + timedelta(days=2, hours=2), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        cast.acme.__class__.objects.filter(pk=cast.acme.pk).update(auto_approve_days=3)
        proofing.auto_approve_due()
    assert mail.outbox == []
    assert Notification.objects.filter(source=f"reminder:{due.pk}").count() == 2
    assert ShareLink.objects.get(pk=dora.pk).reminded_at == NOW + timedelta(days=2)


def test_with_required_reviewers_only_those_who_have_not_answered_are_reminded(
        cast, due, django_capture_on_commit_callbacks):
    dora, _ = shares.share_create(delivery=due, by=cast.acme_admin, email="dora@agency.test", can_decide=True)
    shares.share_create(delivery=due, by=cast.acme_admin, email="eve@agency.test", can_decide=True)  # not required
    proofing.required_reviewers_set(delivery=due, by=cast.acme_admin, users=[cast.acme_member.pk], shares=[dora.pk])
    _run(NOW + timedelta(days=2), django_capture_on_commit_callbacks)
    assert _to() == sorted([cast.acme_member.email, "dora@agency.test"])
    # Alice's approvals wait for Dora: an answer all the same, so only Dora hears again on a later deadline
    Delivery.objects.filter(pk=due.pk).update(review_by=NOW + timedelta(days=5))
    ShareLink.objects.filter(pk=dora.pk).update(reminded_at=None)
    Notification.objects.all().delete()
    proofing.review_submit(order=due.order, by=cast.acme_member, items=[
        {"image": i.image_id, "decision": "approve"} for i in due.items.all()])
    _run(NOW + timedelta(days=4), django_capture_on_commit_callbacks)
    assert _to() == ["dora@agency.test"]


def test_several_deliveries_waiting_make_one_digest_a_day_per_person(cast, due, django_capture_on_commit_callbacks):
    later = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    Delivery.objects.filter(pk=later.pk).update(created_at=NOW, review_by=NOW + timedelta(days=10))
    undated = delivered_with_previews(cast.acme, "Winter chains", count=1)  # no deadline: it waits all the same
    only_here = client_user(cast.acme, full_name="Otto Other")
    for delivery in (due, later):  # one guest address with links to two deliveries
        shares.share_create(delivery=delivery, by=cast.acme_admin, email="dora@agency.test", can_decide=True)
    sent = _run(NOW + timedelta(days=1), django_capture_on_commit_callbacks)
    people = [cast.acme_admin.email, cast.acme_member.email, only_here.email]
    assert sent == {"digests": 4, "reminders": 0}
    assert _to() == sorted(people + ["dora@agency.test"])
    digest = next(m for m in mail.outbox if m.to[0] == cast.acme_member.email)
    assert "3 deliveries wait for your review" in digest.subject
    body = " ".join(digest.body.split())
    assert "Spring rings, delivery 1: 2 pictures (Spring-1.jpg, Spring-2.jpg) — due" in body
    assert "Autumn pendants, delivery 1: 1 picture (Autumn-1.jpg) — due" in body and "Winter chains" in body
    guest = next(m for m in mail.outbox if m.to[0] == "dora@agency.test")
    assert guest.subject == "2 reviews wait for you" and "Spring rings" in guest.body and "Autumn pendants" in guest.body
    assert "/r/" not in guest.body and "sent by Ann Acme" in guest.body
    # "a day" is the studio's calendar day (Europe/Berlin), whatever the hour of NOW: its last second sends nothing,
    # the next day's first second one digest each again, and the day after (the first closes tomorrow) again
    midnight = _next_midnight(NOW + timedelta(days=1))
    assert _run(midnight - timedelta(seconds=1), django_capture_on_commit_callbacks) == {"digests": 0, "reminders": 0}
    assert _run(midnight, django_capture_on_commit_callbacks) == {"digests": 4, "reminders": 0}
    sent = _run(_next_midnight(midnight) + timedelta(hours=1), django_capture_on_commit_callbacks)
    assert sent == {"digests": 4, "reminders": 0} and len(mail.outbox) == 4
    digest = next(m for m in mail.outbox if m.to[0] == cast.acme_member.email)
    assert "Spring rings, delivery 1: 2 pictures (Spring-1.jpg, Spring-2.jpg) — closes tomorrow" in " ".join(
        digest.body.split())
    assert undated.pk  # (its line has no deadline)


@pytest.mark.parametrize("given, says", [
    ("tomorrow", "as a date and time"),
    ("past", "at least an hour from now"),
    ("59 minutes", "at least an hour from now"),
    ("91 days", "at most 90 days"),
])
def test_a_bad_deadline_when_publishing_is_refused_and_nothing_is_published(cast, given, says):
    from jobs.models import ImageStatus, OrderImage, OrderStatus
    from tests.factories import add_images, make_order

    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION)
    image = add_images(order, {"standard": 1}, status=ImageStatus.READY)[0]
    from jobs.models import Version, VersionStatus
    Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="x/v1.png", width=10, height=10)
    with time_machine.travel(NOW, tick=False):
        value = {"tomorrow": "tomorrow", "past": (NOW - timedelta(days=1)).isoformat(),
                 "59 minutes": (NOW + timedelta(minutes=59)).isoformat(),
                 "91 days": (NOW + timedelta(days=91)).isoformat()}[given]
        with pytest.raises(RuleViolation, match=says):
            deadlines.checked_deadline(value)
        answer = api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/deliver/", {"review_by": value},
                                                    format="json")
        assert answer.status_code == 400, answer.content
    assert not Delivery.objects.filter(order=order).exists()
    assert OrderImage.objects.get(pk=image.pk).status == ImageStatus.READY
    # within the bounds (exactly 90 days), it is kept and shown
    with time_machine.travel(NOW, tick=False):
        answer = api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/deliver/",
                                                    {"review_by": (NOW + timedelta(days=90)).isoformat()}, format="json")
    assert answer.status_code == 201, answer.content
    assert Delivery.objects.get(order=order).review_by == NOW + timedelta(days=90)
    assert answer.json()["review_deadline"] is not None


def test_the_manager_sets_the_deadline_on_the_publish_form_in_their_own_time_and_the_client_reads_it_in_theirs(cast):
    from agency.middleware import zone_of
    from jobs.models import ImageStatus, OrderStatus, Version, VersionStatus
    from tests.conftest import web_for
    from tests.factories import add_images, make_order
    from tests.pages import page_text

    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title="Dated rings")
    image = add_images(order, {"standard": 1}, status=ImageStatus.READY)[0]
    Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="x/v1.png", width=10, height=10)
    due = (NOW + timedelta(days=2)).replace(second=0)
    manager_zone = zone_of(cast.account_manager) or timezone.get_default_timezone()
    typed = timezone.localtime(due, manager_zone).strftime("%Y-%m-%dT%H:%M")
    with time_machine.travel(NOW, tick=False):
        answer = web_for(cast.account_manager).post(f"/orders/{order.pk}/deliveries/new/", {"review_by": typed})
        assert answer.status_code == 302
        assert Delivery.objects.get(order=order).review_by == due
        client_zone = zone_of(cast.acme_member) or timezone.get_default_timezone()
        text = page_text(web_for(cast.acme_member).get(f"/orders/{order.pk}/").content)
    from django.utils import dateformat

    with timezone.override(client_zone):
        assert f"review by {dateformat.format(timezone.localtime(due), 'j M Y, H:i')}" in text
