"""django-q2 tasks for orders. Take ids, re-read state, safe to run twice."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from agency.models import Role, User
from jobs import deliveries, sla, uploads
from jobs.models import Audience, Event

logger = logging.getLogger("loupe.tasks")

# Timeline events that are worth an e-mail; the rest only appear on the timeline.
MAILED_VERBS = {"order.submitted", "order.cancelled", "order.held", "order.resumed", "order.sla_at_risk",
                "order.sla_breached"}


def _recipients(event: Event) -> list[str]:
    order = event.order
    actor = event.actor
    emails: set[str] = set()
    if actor is None or actor.is_client:
        manager = order.client.account_manager
        managers = [manager] if manager and manager.is_active else list(
            User.objects.filter(role=Role.ACCOUNT_MANAGER, is_active=True)
        )
        emails.update(m.email for m in managers)
    if event.audience == Audience.CLIENT and (actor is None or actor.is_studio):
        emails.update(User.objects.filter(membership__client=order.client, is_active=True)
                      .values_list("email", flat=True))
    if actor is not None:
        emails.discard(actor.email)
    return sorted(emails)


def header_safe(text: str) -> str:
    """Text that reaches a mail header: line breaks would end the header (or inject another one)."""
    return " ".join(str(text).split())[:200]


def notify_event(event_id: str) -> int:
    """Mail the people an order event concerns; returns the number of recipients.

    Claim, commit, send, release on failure: the event is claimed with a conditional update that
    commits at once, so a task delivered twice mails once and no database lock is held while SMTP
    talks; if sending fails the claim is released and the task's retry sends it.
    """
    claimed = Event.objects.filter(pk=event_id, notified_at__isnull=True).update(notified_at=timezone.now())
    if not claimed:
        return 0
    event = Event.objects.select_related("order__client__account_manager", "actor").get(pk=event_id)
    if event.verb not in MAILED_VERBS:
        return 0
    recipients = _recipients(event)
    if recipients:
        order = event.order
        body = (f"{event.message}.\n\nOrder {order.number}: {order.title}\nClient: {order.client.name}\n"
                f"Status: {order.get_status_display()}\n")
        subject = header_safe(f"[{settings.LOUPE_STUDIO_NAME}] {order.number}: {event.message}")
        try:
            send_mail(subject, body, None, recipients)
        except Exception:
            Event.objects.filter(pk=event_id).update(notified_at=None)
            logger.warning("mail for event %s failed; released for a retry", event_id)
            raise
    logger.info("event %s notified %d recipients", event_id, len(recipients))
    return len(recipients)


def process_image(image_id: str) -> str:
    """Validate and preview one completed upload (``jobs.uploads.image_process``)."""
    return uploads.image_process(image_id=image_id)


def sweep_stuck_images() -> dict[str, int]:
    """Every 10 minutes: re-queue or fail images stuck in processing, drop abandoned uploads, and
    re-queue or fail delivery builds whose worker died."""
    counts = uploads.sweep_stuck_images()
    counts.update({f"deliveries_{k}": v for k, v in deliveries.sweep_stuck_deliveries().items()})
    return counts


def build_delivery(delivery_id: str) -> str:
    """Render and pack one delivery (``jobs.deliveries.delivery_build``)."""
    return deliveries.delivery_build(delivery_id=delivery_id)


def sla_sweep() -> dict[str, int]:
    """Every 10 minutes: mark orders at risk or breached and tell the account manager once."""
    return sla.sla_sweep()


def notify_events(event_ids: list[str]) -> int:
    """Notify a batch of events (the SLA watch records its changes in bulk)."""
    return sum(notify_event(event_id) for event_id in event_ids)
