"""Review deadlines and reminders (issue 22). A review delivery is due at ``Delivery.review_by`` (set when
publishing) or, without one, when the contract's auto-approval closes it (``created_at`` + the client's
``auto_approve_days``); auto-approval itself keeps its own clock (``jobs.review.proofing.auto_approve_due``).

Once a day (``jobs.tasks.review_reminders``) every reviewer with pictures they have not answered is told at most
once: a **digest** when several deliveries wait on them (one per person and day, never one mail per event), otherwise
a **reminder** the day before the one waiting closes (once per delivery; the same once as auto-approval's own
reminder, so nobody is told twice). Reviewers are the delivery's required reviewers when it names them
(``jobs.review.reviewers``), otherwise the company's active people and the guests whose live link may decide.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from agency.exceptions import RuleViolation
from agency.notifications import notify, send_branded, studio_name
from agency.tasks import enqueue_on_commit
from agency.timefmt import stamp
from jobs import selectors
from jobs.models import (
    REVIEWABLE,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    ImageStatus,
    OrderImage,
    ReviewDecision,
    ShareLink,
)
from jobs.review import reviewers

MAX_DAYS = 90
NOTICE = timedelta(days=1)  # reminders go out the day before


def checked_deadline(value: Any) -> datetime | None:
    """A deadline given when publishing: empty, or an aware moment at least an hour ahead and at most 90 days."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise RuleViolation("Give the review deadline as a date and time.", field="review_by") from None
    if not isinstance(value, datetime):
        raise RuleViolation("Give the review deadline as a date and time.", field="review_by")
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    now = timezone.now()
    if value < now + timedelta(hours=1):
        raise RuleViolation("The review deadline is at least an hour from now.", field="review_by")
    if value > now + timedelta(days=MAX_DAYS):
        raise RuleViolation(f"The review deadline is at most {MAX_DAYS} days from now.", field="review_by")
    return value


def review_deadline(delivery: Delivery) -> datetime | None:
    """When the company's review of ``delivery`` is due: the deadline set when publishing, or the moment the contract's
    auto-approval closes it, or none."""
    if delivery.review_by is not None:
        return delivery.review_by
    days = delivery.order.client.auto_approve_days
    return delivery.created_at + timedelta(days=days) if days else None


@dataclass
class Waiting:
    """One delivery waiting on one reviewer: its deadline and the pictures they have not answered."""

    delivery: Delivery
    deadline: datetime | None
    pictures: list[str]

    def line(self, now: datetime) -> str:
        order = self.delivery.order
        names = ", ".join(self.pictures[:3]) + ("…" if len(self.pictures) > 3 else "")
        count = len(self.pictures)
        due = ""
        if self.deadline is not None:
            due = (" — closes tomorrow, " if self.deadline - now <= NOTICE else " — due ") + stamp(self.deadline)
        return (f"{order.number} {order.title or ''}, delivery {self.delivery.number}: {count} picture"
                f"{'s' if count != 1 else ''} ({names}){due}").replace("  ", " ")


def waiting(now: datetime) -> tuple[dict[Any, list[Waiting]], dict[str, list[tuple[ShareLink, Waiting]]]]:
    """Who has pictures to answer, across every open review: people (by account) and guests (by address, each with
    the link to the delivery). A fixed number of queries however many deliveries, pictures and people."""
    from agency.models import User

    deliveries = {d.pk: d for d in Delivery.objects.filter(
        kind=DeliveryKind.REVIEW, status=DeliveryStatus.READY, order__status__in=REVIEWABLE,
        items__image__status=ImageStatus.DELIVERED).select_related("order__client").distinct()}
    # the pictures still waiting for the company, each in the delivery that last published it
    names = dict(OrderImage.objects.filter(delivery_items__delivery_id__in=list(deliveries),
                                           status=ImageStatus.DELIVERED).values_list("pk", "filename"))
    latest = selectors.delivered_items(list(names))
    items: dict[Any, list[Any]] = defaultdict(list)
    for item in latest.values():
        if item.delivery_id in deliveries:
            items[item.delivery_id].append(item)
    answered = set(ReviewDecision.objects.filter(version_id__in=[i.version_id for i in latest.values()])
                   .values_list("version_id", "reviewer_id", "reviewer_share_id"))
    required = reviewers.required_of(list(deliveries))
    clients = {d.order.client_id for d in deliveries.values()}
    people: dict[Any, list[Any]] = defaultdict(list)
    for person in User.objects.filter(is_active=True, membership__client_id__in=clients).select_related("membership"):
        people[person.membership.client_id].append(person)
    links: dict[Any, list[ShareLink]] = defaultdict(list)
    for link in ShareLink.objects.filter(delivery_id__in=deliveries, can_decide=True, revoked_at__isnull=True,
                                         expires_at__gt=now):
        links[link.delivery_id].append(link)

    accounts: dict[Any, list[Waiting]] = defaultdict(list)
    guests: dict[str, list[tuple[ShareLink, Waiting]]] = defaultdict(list)
    for pk, delivery in deliveries.items():
        named = [r for r in required.get(pk, []) if reviewers.still_deciding(r)]
        if named:
            users = [r.user for r in named if r.user_id is not None]
            shares = [r.share for r in named if r.share_id is not None]
        else:
            users, shares = people.get(delivery.order.client_id, []), links.get(pk, [])
        deadline = review_deadline(delivery)
        for user in users:
            open_ = [names[i.image_id] for i in items[pk] if (i.version_id, user.pk, None) not in answered]
            if open_:
                accounts[user].append(Waiting(delivery, deadline, open_))
        for link in shares:
            open_ = [names[i.image_id] for i in items[pk] if (i.version_id, None, link.pk) not in answered]
            if open_:
                guests[link.email.lower()].append((link, Waiting(delivery, deadline, open_)))
    return accounts, guests


def _due_tomorrow(row: Waiting, now: datetime) -> bool:
    return row.deadline is not None and now < row.deadline <= now + NOTICE


def send_review_reminders(*, now: datetime | None = None) -> dict[str, int]:
    """The daily task's body: at most one mail per reviewer (see the module's note). Returns what was sent."""
    now = now or timezone.now()
    accounts, guests = waiting(now)
    sent = {"digests": 0, "reminders": 0}
    day = timezone.localdate(now).isoformat()
    for person, rows in accounts.items():
        rows.sort(key=lambda r: (r.deadline is None, r.deadline or now))
        if len(rows) > 1:
            sent["digests"] += bool(notify(
                [person], kind="approval_reminder", source=f"review-digest:{day}",
                title=f"{len(rows)} deliveries wait for your review",
                body="\n".join(f"- {row.line(now)}" for row in rows), url="/orders/?next=me"))
        elif _due_tomorrow(rows[0], now):
            row = rows[0]
            order = row.delivery.order
            # the same source as auto-approval's reminder (jobs.review.proofing): one reminder per delivery and person
            sent["reminders"] += bool(notify(
                [person], kind="approval_reminder", source=f"reminder:{row.delivery.pk}",
                title=f"{order.number}: delivery {row.delivery.number} closes for review {stamp(row.deadline)}",
                body=row.line(now), url=f"/orders/{order.pk}/review/"))
    today = timezone.localdate(now)
    for rows in guests.values():
        ids = [link.pk for link, _ in rows]
        if len(rows) > 1:
            if ShareLink.objects.filter(pk__in=ids).filter(Q(digested_on__isnull=True) | Q(digested_on__lt=today)).update(
                    digested_on=today):
                enqueue_on_commit("jobs.tasks.send_review_digest", [str(pk) for pk in ids], now.isoformat(), group="mail")
                sent["digests"] += 1
        elif _due_tomorrow(rows[0][1], now):
            link, row = rows[0]
            if ShareLink.objects.filter(pk=link.pk, reminded_at__isnull=True).update(reminded_at=now):
                enqueue_on_commit("jobs.tasks.send_share_reminder", str(link.pk), row.deadline.isoformat(), group="mail")
                sent["reminders"] += 1
    return sent


def digest_mail(*, link_ids: list[Any], now: datetime) -> int:
    """The task's body for a guest's digest: the reviews waiting on one address, each with the company, the deadline
    and who sent the link (the mail cannot carry the links: only their digests are kept). Nothing when none waits."""
    from django.conf import settings
    from django.template.loader import render_to_string

    from agency.timefmt import render_times
    from jobs.review.shares import owner_of

    _, guests = waiting(now)
    wanted = {str(pk) for pk in link_ids}
    rows = [(link, row) for found in guests.values() for link, row in found if str(link.pk) in wanted]
    if not rows:
        return 0
    zone = rows[0][1].delivery.order.client.time_zone or settings.TIME_ZONE
    with timezone.override(zone):
        lines = [render_times(row.line(now), name_zone=True) + f" (sent by {owner_of(link)})" for link, row in rows]
    body = render_to_string("jobs/guest/digest_email.txt", {"lines": lines, "studio": studio_name(),
                                                             "name": rows[0][0].guest_name})
    return send_branded(f"{len(rows)} reviews wait for you", body, [rows[0][0].email])
