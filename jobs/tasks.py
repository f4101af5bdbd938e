"""django-q2 tasks for orders. Take ids, re-read state, safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from agency.notifications import notify
from jobs import notifications
from jobs.intake import tiles, uploads
from jobs.models import Event
from jobs.production import sla, versions
from jobs.review import annotations, deliveries, messages, proofing

logger = logging.getLogger("loupe.tasks")

def notify_event(event_id: str) -> int:
    """Tell the people an order event concerns (bell and mail, ``jobs.notifications``); returns the
    number of mails sent.

    The event is claimed with a conditional update that commits at once (no lock is held while SMTP
    talks), and each notification is a unique row per person: a task delivered twice notifies once.
    If a mail fails, the claim is released and the task's retry finishes the job.
    """
    claimed = Event.objects.filter(pk=event_id, notified_at__isnull=True).update(notified_at=timezone.now())
    if not claimed:
        return 0
    event = Event.objects.select_related("order__client__account_manager", "actor").get(pk=event_id)
    sent = 0
    try:
        for notice in notifications.event_notices(event):
            users = [u for u in notice.users if notice.kind in PERSONAL_KINDS or notifications.audience_allows(event, u)]
            sent += notify(users, kind=notice.kind, source=f"event:{event.pk}:{notice.kind}", title=notice.title,
                           body=f"{event.message}.\n\nOrder {event.order.number}: {event.order.title}",
                           url=notice.url, actor=event.actor)
    except Exception:
        Event.objects.filter(pk=event_id).update(notified_at=None)
        raise
    logger.info("event %s: %d mails", event_id, sent)
    return sent


# Notices addressed to one person about their own work (the event itself may be for managers only).
PERSONAL_KINDS = {"assignment", "qc_rejected"}


def process_image(image_id: str) -> str:
    """Validate and preview one completed upload (``jobs.intake.uploads.image_process``)."""
    return uploads.image_process(image_id=image_id)


def process_version(version_id: str) -> str:
    """Validate, preview and check one retouched version (``jobs.production.versions.version_process``)."""
    return versions.version_process(version_id=version_id)


def make_tiles(kind: str, row_id: str) -> str:
    """Cut a received original ("image") or version into its deep-zoom tiles (``jobs.intake.tiles``)."""
    return tiles.make_tiles({"image": uploads.ORIGINALS, "version": versions.VERSION_FILES}[kind], row_id)


def discard_files(files: list[list[Any]]) -> int:
    """Delete the stored files of removed images (``jobs.intake.uploads.files_discard``)."""
    return uploads.files_discard(files=files)


def sweep_stuck_images() -> dict[str, int]:
    """Every 10 minutes: re-queue or fail originals and versions stuck in processing, drop abandoned
    uploads, and re-queue or fail delivery builds whose worker died."""
    counts = uploads.sweep_stuck_images()
    counts.update({f"versions_{k}": v for k, v in versions.sweep_stuck_versions().items()})
    counts.update({f"deliveries_{k}": v for k, v in deliveries.sweep_stuck_deliveries().items()})
    return counts


def notify_message(message_id: str) -> int:
    """Tell the other side of an order's thread about a message (``jobs.review.messages.message_notify``)."""
    return messages.message_notify(message_id=message_id)


def notify_mark(kind: str, pk: str) -> int:
    """Tell the people a mark or a reply mentions (``jobs.review.annotations.mark_notify``)."""
    return annotations.mark_notify(kind=kind, pk=pk)


def auto_approve() -> dict[str, int]:
    """Hourly: remind, then approve deliveries left unanswered by clients who chose auto-approval."""
    return proofing.auto_approve_due()


def apply_retention() -> dict[str, int]:
    """Daily: delete the files of completed orders whose terms are over (``jobs.retention.purge``)."""
    from jobs import retention

    done = retention.purge()
    return {"files": done.files, "deliveries": done.deliveries, "objects": done.objects,
            "archives": retention.expire_exports()}


def send_share_link(link_id: str, sealed: str) -> int:
    """Mail a review link to its guest (``jobs.review.shares.share_mail``)."""
    from jobs.review import shares

    return shares.share_mail(link_id=link_id, sealed=sealed)


def send_share_code(link_id: str, sealed: str) -> int:
    """Mail a review link's one-time code to its address (``jobs.review.shares.code_mail``)."""
    from jobs.review import shares

    return shares.code_mail(link_id=link_id, sealed=sealed)


def review_reminders() -> dict[str, int]:
    """Daily: a digest for each reviewer with several reviews waiting, else a reminder the day before the one waiting
    closes (``jobs.review.deadlines``)."""
    from jobs.review import deadlines

    return deadlines.send_review_reminders()


def send_review_digest(link_ids: list[str], now: str) -> int:
    """Mail a guest the reviews waiting on their address (``jobs.review.deadlines.digest_mail``)."""
    from datetime import datetime

    from jobs.review import deadlines

    return deadlines.digest_mail(link_ids=link_ids, now=datetime.fromisoformat(now))


def send_share_reminder(link_id: str, closes_at: str) -> int:
    """Remind a guest that their review closes (``jobs.review.shares.reminder_mail``)."""
    from datetime import datetime

    from jobs.review import shares

    return shares.reminder_mail(link_id=link_id, closes_at=datetime.fromisoformat(closes_at))


def build_company_export(export_id: str) -> str:
    """Build a company's archive as the person who asked for it (``jobs.company_export.export_build``)."""
    from jobs import company_export

    return company_export.export_build(export_id=export_id)


def build_delivery(delivery_id: str) -> str:
    """Render and pack one delivery (``jobs.review.deliveries.delivery_build``)."""
    return deliveries.delivery_build(delivery_id=delivery_id)


def tally_quality() -> int:
    """Daily: count the quality report's closed months (jobs.quality), so that the report never counts years of rows."""
    from jobs import quality

    return quality.tally_closed_months()


def sla_sweep() -> dict[str, int]:
    """Every 10 minutes: mark orders at risk or breached and tell the account manager once."""
    return sla.sla_sweep()


def notify_events(event_ids: list[str]) -> int:
    """Notify a batch of events (the SLA watch records its changes in bulk)."""
    return sum(notify_event(event_id) for event_id in event_ids)
