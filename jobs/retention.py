"""Files kept exactly as long as promised (issue 24): the one place that says how long an order's files are kept
and deletes them when that time is over.

Terms are days after an order completes (or is cancelled: ``Order.cancelled_at``): its **files** (originals,
retouched versions, their previews, tiles and watermarked copies: everything stored under each image's prefix) and
its **deliveries** (the packages under the order's ``deliveries/`` prefix) each have their own. A client's
contract sets them (``Client.keep_files_days``, ``keep_deliveries_days``); empty, the studio's defaults apply
(``LOUPE_KEEP_FILES_DAYS``, ``LOUPE_KEEP_DELIVERIES_DAYS``). A legal hold on the client or on the order keeps
everything for as long as it lasts. Invoices and their documents are billing's and kept ten years: nothing here
touches them. Rows stay (the order, its images' names and checksums, marks, the timeline): only stored objects go,
and the order records when (``files_deleted_at``, ``deliveries_deleted_at``).

``purge`` is the daily task's body: per order due, under the order's row lock (an order-level hold placed
meanwhile waits for it, or stops it), it lists and deletes the objects in batches (S3 ``DeleteObjects``),
then clears the rows' keys and writes one timeline line. Running it twice deletes nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agency.exceptions import NotPermitted
from agency.uploads import get_backend
from clients.models import Client
from jobs import permissions
from jobs.events import CLIENT, MANAGERS, record_event
from jobs.models import CompanyExport, Delivery, Order, OrderImage, OrderStatus, TilePyramid, Version

logger = logging.getLogger("loupe.retention")
FILES, DELIVERIES = "files", "deliveries"


@dataclass(frozen=True)
class Kept:
    """What an order's people are told: until when each part is kept (``None``: the order has not completed,
    or a legal hold keeps it), whether a hold applies, and when a part was deleted."""

    files_days: int
    deliveries_days: int
    held: bool
    files_until: datetime | None
    deliveries_until: datetime | None
    files_deleted_at: datetime | None
    deliveries_deleted_at: datetime | None


def terms(client: Client) -> tuple[int, int]:
    """(days files are kept, days deliveries are kept) after an order of ``client`` completes."""
    return (client.keep_files_days or settings.LOUPE_KEEP_FILES_DAYS,
            client.keep_deliveries_days or settings.LOUPE_KEEP_DELIVERIES_DAYS)


ENDED = {OrderStatus.COMPLETED: "completed_at", OrderStatus.CANCELLED: "cancelled_at"}


def ended_at(order: Order) -> datetime | None:
    """When the order ended (completed, or cancelled), from which its terms count; None while it runs."""
    name = ENDED.get(order.status)
    return getattr(order, name) if name else None


def kept(order: Order) -> Kept:
    files_days, deliveries_days = terms(order.client)
    held = order.legal_hold or order.client.legal_hold
    done = ended_at(order)
    until = (lambda days: done + timedelta(days=days)) if done is not None and not held else (lambda days: None)
    return Kept(files_days=files_days, deliveries_days=deliveries_days, held=held,
                files_until=None if order.files_deleted_at else until(files_days),
                deliveries_until=None if order.deliveries_deleted_at else until(deliveries_days),
                files_deleted_at=order.files_deleted_at, deliveries_deleted_at=order.deliveries_deleted_at)


def deleted_because(order: Order, what: str, *, deliveries: bool = False) -> str:
    """Why a file of ``order`` is no longer there, when retention deleted it ("" otherwise)."""
    at = order.deliveries_deleted_at if deliveries else order.files_deleted_at
    if at is None:
        return ""
    ended = ended_at(order)
    since = f"; order {order.number} {_ended_word(order)} on {timezone.localtime(ended):%d %b %Y}" if ended else ""
    return f"{what} was deleted on {timezone.localtime(at):%d %b %Y} under the contract's terms{since}."


def due(now: datetime | None = None) -> list[tuple[Any, str]]:
    """(order id, part) for every part past its terms and not deleted yet, oldest first; one query per
    company with completed orders (terms are per company)."""
    now = now or timezone.now()
    found: list[tuple[datetime, Any, str]] = []
    for client in Client.objects.filter(legal_hold=False, orders__status__in=list(ENDED)).distinct():
        files_days, deliveries_days = terms(client)
        ended = Order.objects.filter(client=client, legal_hold=False)
        for part, days, deleted in ((FILES, files_days, "files_deleted_at"),
                                    (DELIVERIES, deliveries_days, "deliveries_deleted_at")):
            cutoff = now - timedelta(days=days)
            past = Q()
            for status, since in ENDED.items():
                past |= Q(status=status, **{f"{since}__lt": cutoff})
            rows = ended.filter(past, **{f"{deleted}__isnull": True})
            found += [(completed or cancelled, pk, part)
                      for pk, completed, cancelled in rows.values_list("pk", "completed_at", "cancelled_at")]
    return [(pk, part) for _, pk, part in sorted(found, key=lambda row: (row[0], str(row[1]), row[2]))]


def _keys(order: Order, part: str) -> list[str]:
    """Every stored object of one part of ``order``: what storage lists under its prefixes, and the keys its
    rows name (an object stored elsewhere by an older version of Loupe is not left behind)."""
    backend = get_backend()
    order_prefix = f"clients/{order.client_id}/orders/{order.pk}/"
    deliveries = f"{order_prefix}deliveries/"
    keys: set[str] = set()
    if part == FILES:  # one listing of the order's prefix: every image's prefix is under it, deliveries aside
        keys.update(k for k in backend.keys(order_prefix) if not k.startswith(deliveries))
        for image in OrderImage.objects.filter(order=order):
            keys.update(k for k in (image.upload_key, image.original.name, image.preview.name, image.thumbnail.name)
                        if k)
        for version in Version.objects.filter(image__order=order):
            keys.update(k for k in (version.upload_key, version.file.name, version.preview.name,
                                    version.thumbnail.name) if k)
        keys.update(TilePyramid.objects.filter(image__order=order).values_list("pack", flat=True))
    else:
        keys.update(backend.keys(deliveries))
        keys.update(k for k in Delivery.objects.filter(order=order).values_list("archive", flat=True) if k)
    return sorted(keys)


@dataclass
class Purged:
    files: int = 0
    deliveries: int = 0
    objects: int = 0
    orders: list[str] = field(default_factory=list)


def purge(*, now: datetime | None = None, limit: int = 200) -> Purged:
    """Delete what is past its terms, at most ``limit`` order parts per run (the next run goes on)."""
    now = now or timezone.now()
    done = Purged()
    for pk, part in due(now)[:limit]:
        with transaction.atomic():
            order = Order.objects.select_for_update(of=("self",)).select_related("client").get(pk=pk)
            state = kept(order)
            until = state.files_until if part == FILES else state.deliveries_until
            if until is None or until >= now:  # held, reopened or deleted meanwhile (kept through ``until``)
                continue
            keys = _keys(order, part)
            get_backend().delete_many(keys)  # the point of no return; a failure leaves the rows for the next run
            _forget(order, part, now, len(keys))
        setattr(done, part, getattr(done, part) + 1)
        done.objects += len(keys)
        done.orders.append(order.number)
        logger.info("retention: deleted %d objects of the %s of %s (ended %s)", len(keys), part, order.number,
                    (ended_at(order) or now).isoformat())
    return done


def expire_exports(*, now: datetime | None = None) -> int:
    """Delete company archives older than ``CompanyExport.KEEP_DAYS`` (the rows stay, saying so)."""
    now = now or timezone.now()
    old = CompanyExport.objects.filter(finished_at__lt=now - timedelta(days=CompanyExport.KEEP_DAYS)).exclude(archive="")
    keys = list(old.values_list("archive", flat=True))
    get_backend().delete_many(keys)
    old.update(archive="")
    return len(keys)


def _forget(order: Order, part: str, now: datetime, count: int) -> None:
    """The rows no longer name the deleted objects; the order says when; the timeline says what."""
    days = terms(order.client)[0 if part == FILES else 1]
    if part == FILES:
        OrderImage.objects.filter(order=order).update(original="", preview="", thumbnail="", upload_key="")
        Version.objects.filter(image__order=order).update(file="", preview="", thumbnail="", upload_key="")
        TilePyramid.objects.filter(image__order=order).delete()
        order.files_deleted_at = now
        what = "The originals and retouched versions"
    else:
        Delivery.objects.filter(order=order).update(archive="", archive_size=None)
        order.deliveries_deleted_at = now
        what = "The delivered files"
    order.save(update_fields=[f"{part}_deleted_at", "updated_at"])
    record_event(order=order, actor=None, verb=f"order.{part}_deleted", audience=CLIENT,
                 message=f"{what} of this order were deleted, {days} days after it {_ended_word(order)}, as the "
                         f"contract provides ({count} stored object{'s' if count != 1 else ''}).",
                 data={"part": part, "objects": count})


def _ended_word(order: Order) -> str:
    return "was cancelled" if order.status == OrderStatus.CANCELLED else "completed"


@transaction.atomic
def set_legal_hold(*, order: Order, by: Any, hold: bool, reason: str = "") -> Order:
    """Place or lift an order's legal hold (account managers and admins): while it lasts nothing of the order
    is deleted, whatever the terms. Under the order's row lock, so a deletion under way finishes first."""
    if not permissions.can_hold_files(by):
        raise NotPermitted("Only account managers and admins place or lift a legal hold.")
    order = Order.objects.select_for_update(of=("self",)).select_related("client").get(pk=order.pk)
    if order.legal_hold == hold:
        return order
    order.legal_hold = hold
    order.save(update_fields=["legal_hold", "updated_at"])
    because = f" ({reason.strip()[:300]})" if reason.strip() else ""
    record_event(order=order, actor=by, verb="order.legal_hold" if hold else "order.legal_hold_lifted",
                 audience=MANAGERS,
                 message=(f"Legal hold placed{because}: nothing of this order is deleted while it lasts." if hold else
                          f"Legal hold lifted{because}: the contract's terms apply again."))
    return order
