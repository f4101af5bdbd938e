"""django-q2 tasks for orders. Take ids, re-read state, safe to run twice."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from agency.models import Role, User
from jobs import deliveries, planning, uploads
from jobs.models import Event

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
    if event.client_visible and (actor is None or actor.is_studio):
        emails.update(User.objects.filter(membership__client=order.client, is_active=True)
                      .values_list("email", flat=True))
    if actor is not None:
        emails.discard(actor.email)
    return sorted(emails)


def notify_event(event_id: str) -> int:
    """Mail the people an order event concerns; returns the number of recipients.

    The event row is claimed with a conditional update in the same transaction as the send, so a
    task delivered twice mails once, and a failed send leaves the event unclaimed for the retry.
    """
    with transaction.atomic():
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
            send_mail(f"[{settings.LOUPE_STUDIO_NAME}] {order.number}: {event.message}", body, None, recipients)
        logger.info("event %s notified %d recipients", event_id, len(recipients))
        return len(recipients)


def process_image(image_id: str) -> str:
    """Validate and preview one completed upload (``jobs.uploads.image_process``)."""
    return uploads.image_process(image_id=image_id)


def sweep_stuck_images() -> dict[str, int]:
    """Every 10 minutes: re-queue or fail images stuck in processing, drop abandoned uploads."""
    return uploads.sweep_stuck_images()


def build_delivery(delivery_id: str) -> str:
    """Render and pack one delivery (``jobs.deliveries.delivery_build``)."""
    return deliveries.delivery_build(delivery_id=delivery_id)


def sla_sweep() -> dict[str, int]:
    """Every 10 minutes: mark orders at risk or breached and tell the account manager once."""
    return planning.sla_sweep()


def notify_events(event_ids: list[str]) -> int:
    """Notify a batch of events (the SLA watch records its changes in bulk)."""
    return sum(notify_event(event_id) for event_id in event_ids)
