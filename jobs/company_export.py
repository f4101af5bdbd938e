"""Everything of a company, as one archive (issue 24): a client admin (or the studio's account manager for them)
asks; the worker builds a ZIP **as the person who asked sees the company** (every read goes through the scoped
selectors, so studio-only marks, internal notes and other companies never enter it), stores it beside the
company's files, and the archive is downloaded through a short-lived link for ``CompanyExport.KEEP_DAYS`` days.

The archive holds ``orders.json`` (each order with its images' metadata and checksums, the timeline, the
messages, the marks and their replies, as the asker may read them), ``files.csv`` (every stored file of the
company's images and versions the asker may download: size, SHA-256 and the Loupe link that downloads it) and
what other apps add: ``register`` takes a part (billing adds each issued invoice and credit note as PDF and
UBL), so ``jobs`` never imports the apps above it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from agency import brand, live, security_log
from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import SecurityEvent, User
from agency.tasks import enqueue_on_commit
from agency.uploads import get_backend
from clients.models import Client
from clients.permissions import can_manage_team
from jobs import selectors
from jobs.models import CompanyExport, DeliveryStatus, Version

logger = logging.getLogger("loupe.exports")
Part = Callable[[Any, Client, zipfile.ZipFile], dict[str, int]]
PARTS: list[Part] = []


def register(part: Part) -> Part:
    """Add a part to every company archive: ``part(user, client, zip)`` writes its files and returns its counts."""
    if part not in PARTS:
        PARTS.append(part)
    return part


def can_export(user: Any, client: Client) -> bool:
    """The people who run the company's team: its admins, and the studio's managers."""
    return can_manage_team(user, client)


@transaction.atomic
def export_request(*, client: Client, by: User) -> CompanyExport:
    """Ask for a new archive of ``client``; refused while one is being made."""
    if not can_export(by, client):
        raise NotPermitted("Only the company's admins or the studio's account managers export the company's data.")
    Client.objects.select_for_update().get(pk=client.pk)
    if CompanyExport.objects.filter(client=client, status=DeliveryStatus.BUILDING).exists():
        raise InvalidTransition(f"An export of {client.name} is being made already; it is ready in a moment.")
    try:
        with transaction.atomic():
            export = CompanyExport.objects.create(client=client, requested_by=by)
    except IntegrityError as exc:  # another request won the race the lock above serialises
        raise InvalidTransition(f"An export of {client.name} is being made already.") from exc
    security_log.record(SecurityEvent.Kind.DATA_EXPORTED, actor=by, company=client, detail="company archive asked for")
    enqueue_on_commit("jobs.tasks.build_company_export", str(export.pk), group="exports")
    return export


def _when(value: Any) -> str | None:
    return value.isoformat() if value else None


def _orders(user: Any, client: Client) -> tuple[list[dict[str, Any]], list[list[Any]], dict[str, int]]:
    """orders.json's rows, files.csv's rows and the counts, read as ``user`` may."""
    orders = list(selectors.order_list(user, client=client.pk).order_by("created_at"))
    images_of: dict[Any, list[Any]] = {}
    for image in selectors.with_versions(selectors.image_queryset(user).filter(order__in=orders), user) \
            .order_by("position"):
        images_of.setdefault(image.order_id, []).append(image)
    messages_of: dict[Any, list[Any]] = {}
    for message in selectors.messages_of(user, orders):
        messages_of.setdefault(message.order_id, []).append(message)
    events_of: dict[Any, list[Any]] = {}
    for event in selectors.events_of(user, orders):
        events_of.setdefault(event.order_id, []).append(event)
    marks_of: dict[Any, list[Any]] = {}
    for mark in selectors.annotation_queryset(user).filter(order__in=orders).order_by("number"):
        marks_of.setdefault(mark.image_id, []).append(mark)
    rows, files, counts = [], [], {"orders": len(orders), "images": 0, "versions": 0, "marks": 0, "messages": 0}
    base = brand.current().base_url
    for order in orders:
        messages = [{"at": _when(m.created_at), "by": m.author.full_name if m.author else None, "text": m.body}
                    for m in messages_of.get(order.pk, [])]
        events = [{"at": _when(e.created_at), "by": e.actor.full_name if e.actor else None, "what": e.message}
                  for e in events_of.get(order.pk, [])]
        images = []
        for image in images_of.get(order.pk, []):
            versions: list[Version] = list(image.visible_versions)
            marks = marks_of.get(image.pk, [])
            images.append({
                "id": str(image.pk), "filename": image.filename, "sku": image.sku, "status": image.status,
                "width": image.width, "height": image.height, "format": image.format, "size_bytes": image.size_bytes,
                "sha256": image.sha256, "instructions": image.instructions,
                "versions": [{"number": v.number, "status": v.status, "width": v.width, "height": v.height,
                              "sha256": v.sha256, "created_at": _when(v.created_at)} for v in versions],
                "marks": [{"number": m.number, "on": f"v{m.version.number}" if m.version else "original",
                           "shape": m.shape, "box": [m.x, m.y, m.w, m.h], "text": m.text,
                           "by": m.author_name or None, "at": _when(m.created_at),
                           "resolved": m.resolved_at is not None,
                           "replies": [{"by": r.author_name or None, "text": r.text,
                                        "at": _when(r.created_at)} for r in m.replies.all()]} for m in marks],
            })
            if image.original:
                files.append([order.number, image.filename, "original", image.size_bytes, image.sha256,
                              f"{base}/api/v1/images/{image.pk}/download/?what=original"])
            counts["versions"] += len(versions)
            counts["marks"] += len(marks)
        counts["images"] += len(images)
        counts["messages"] += len(messages)
        rows.append({"number": order.number, "title": order.title, "status": order.status, "po_number": order.po_number,
                     "instructions": order.instructions, "created_at": _when(order.created_at),
                     "submitted_at": _when(order.submitted_at), "due_at": _when(order.due_at),
                     "delivered_at": _when(order.delivered_at), "completed_at": _when(order.completed_at),
                     "images": images, "messages": messages, "timeline": events})
    return rows, files, counts


def export_build(*, export_id: Any) -> str:
    """The task's body: build the archive as the person who asked (returns its status; safe to run twice)."""
    export = CompanyExport.objects.select_related("client", "requested_by").filter(pk=export_id).first()
    if export is None or export.status != DeliveryStatus.BUILDING:
        return export.status if export else "missing"
    user = export.requested_by
    if user is None or not user.is_active or not can_export(user, export.client):
        return _finish(export, status=DeliveryStatus.FAILED,
                       reason="The person who asked for it no longer runs the company's team.")
    try:
        with tempfile.TemporaryDirectory(prefix="loupe-export-") as scratch:
            path = Path(scratch) / "export.zip"
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                orders, files, counts = _orders(user, export.client)
                archive.writestr("orders.json", json.dumps({"company": export.client.name, "made_at":
                                                            timezone.now().isoformat(), "orders": orders}, indent=1))
                manifest = io.StringIO()
                writer = csv.writer(manifest)
                writer.writerow(["order", "file", "what", "size_bytes", "sha256", "download"])
                writer.writerows(files)
                archive.writestr("files.csv", manifest.getvalue())
                for part in PARTS:
                    counts.update(part(user, export.client, archive))
            key = f"clients/{export.client_id}/exports/{export.pk}/{_slug(export.client.name)}-" \
                  f"{timezone.localtime():%Y-%m-%d}.zip"
            get_backend().upload_file(path, key, content_type="application/zip")
            size = path.stat().st_size
    except Exception as exc:  # the row says why; the task is not retried into the same failure
        logger.exception("company export %s failed", export.pk)
        return _finish(export, status=DeliveryStatus.FAILED, reason=f"The archive could not be made: {exc}"[:300])
    return _finish(export, status=DeliveryStatus.READY, archive=key, archive_size=size, counts=counts)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")[:60] or "company"


def _finish(export: CompanyExport, **fields: Any) -> str:
    fields["finished_at"] = timezone.now()
    CompanyExport.objects.filter(pk=export.pk, status=DeliveryStatus.BUILDING).update(**fields)
    if export.requested_by_id:  # the page that asked for it shows the file (agency.live)
        live.publish(f"me:{export.requested_by_id}", "export.finished", ref=export.pk)
    return fields["status"]


def export_download_url(*, export: CompanyExport, by: User) -> str:
    """A short-lived link to a ready archive (read through the scoped selector), for those who may export."""
    if not can_export(by, export.client):
        raise NotPermitted("Only the company's admins or the studio's account managers download its data.")
    if export.status != DeliveryStatus.READY or not export.archive:
        raise InvalidTransition(export.reason or ("The archive is still being made." if export.status ==
                                                  DeliveryStatus.BUILDING else "The archive was deleted."))
    if export.finished_at and export.finished_at < timezone.now() - timedelta(days=CompanyExport.KEEP_DAYS):
        raise InvalidTransition(f"Archives are kept {CompanyExport.KEEP_DAYS} days; ask for a new one.")
    return get_backend().download_url(export.archive, filename=Path(export.archive).name,
                                      content_type="application/zip")

