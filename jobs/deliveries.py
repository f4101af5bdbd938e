"""Deliveries: render every approved version as the style guide asks and pack them as one ZIP.

The ZIP is written to a scratch file, each version streamed into its rendering (never read whole into
memory), and uploaded with the storage backend's managed transfer (boto3 retries a failed part).
One build runs at a time per order; a build whose worker died is picked up again by the sweeper and
fails visibly after three attempts.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import User
from agency.tasks import enqueue, enqueue_on_commit
from agency.uploads import CHUNK, get_backend
from jobs import permissions
from jobs.imaging.pipeline import configure_pillow
from jobs.imaging.renditions import Spec, file_name, render
from jobs.models import Delivery, DeliveryStatus, Order, OrderStatus, Version

logger = logging.getLogger("loupe.deliveries")
MAX_ATTEMPTS = 3
STUCK_AFTER = timezone.timedelta(minutes=30)
FAILED_MESSAGE = "The delivery could not be prepared. The studio has been told and will prepare it again."


def approved_versions(order: Order) -> list[Version]:
    """The newest approved version of each image, in the order's image order."""
    latest: dict[Any, Version] = {}
    for version in (Version.objects.filter(image__order=order, approved=True)
                    .select_related("image").order_by("image__position", "image__created_at", "number")):
        latest[version.image_id] = version
    return list(latest.values())


@transaction.atomic
def delivery_create(*, order: Order, by: User) -> Delivery:
    """Start building a delivery of the order's approved versions. Account managers and admins only;
    refused while the order has nothing approved, is cancelled, or already has a build running."""
    if not permissions.can_deliver(by, order):
        raise NotPermitted("Only an account manager can prepare a delivery.")
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.CANCELLED:
        raise InvalidTransition(f"Order {order.number} is cancelled; there is nothing to deliver.")
    if Delivery.objects.filter(order=order, status=DeliveryStatus.BUILDING).exists():
        raise InvalidTransition(f"A delivery of order {order.number} is being prepared; wait until it is ready.")
    if not approved_versions(order):
        raise InvalidTransition(f"Order {order.number} has no approved versions to deliver yet.")
    number = (order.deliveries.aggregate(m=Max("number"))["m"] or 0) + 1
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(order=order, number=number, created_by=by)
    except IntegrityError as exc:  # SQLite serializes writers, but the constraint is the last word
        raise InvalidTransition(f"A delivery of order {order.number} is being prepared; wait until it is ready.") from exc
    enqueue_on_commit("jobs.tasks.build_delivery", str(delivery.pk), group="deliveries")
    return delivery


def _claim(delivery_id: Any) -> bool:
    """Count an attempt before the heavy work; a build that keeps killing its worker stops at three."""
    now = timezone.now()
    return bool(Delivery.objects.filter(
        Q(started_at__isnull=True) | Q(started_at__lt=now - STUCK_AFTER),
        pk=delivery_id, status=DeliveryStatus.BUILDING, attempts__lt=MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, started_at=now))


def _fail(delivery_id: Any, reason: str = FAILED_MESSAGE) -> None:
    Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.BUILDING).update(
        status=DeliveryStatus.FAILED, reason=reason[:300])


def _pack(order: Order, archive_path: Path, scratch: Path) -> int:
    """Render every approved version into a ZIP at ``archive_path``; returns the number of files."""
    from PIL import Image

    spec = Spec.from_guide(order.style_guide)
    names: set[str] = set()
    per_sku: dict[str, int] = defaultdict(int)
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for version in approved_versions(order):
            image = version.image
            sku = image.sku or Path(image.filename).stem
            per_sku[sku] += 1
            with default_storage.open(version.file.name, "rb") as fh, \
                    tempfile.SpooledTemporaryFile(64 << 20, dir=scratch) as tmp:
                shutil.copyfileobj(fh, tmp, CHUNK)
                tmp.seek(0)
                with Image.open(tmp, formats=["JPEG", "PNG", "TIFF", "PSD", "WEBP"]) as source:
                    source.load()
                    outputs = render(source, spec)
            for fmt, data in outputs.items():
                name = file_name(order.style_guide.filename_pattern, sku=sku, n=per_sku[sku], order=order.number,
                                 name=Path(image.filename).stem, fmt=fmt)
                while name in names:
                    name = name.replace(".", "-2.", 1)
                names.add(name)
                archive.writestr(name, data)
    return len(names)


def delivery_build(*, delivery_id: Any) -> str:
    """Render and pack a delivery; ``ready`` or ``failed`` with a plain reason. Safe to run twice."""
    if not _claim(delivery_id):
        row = Delivery.objects.filter(pk=delivery_id).values("status", "attempts").first()
        if row and row["status"] == DeliveryStatus.BUILDING and row["attempts"] >= MAX_ATTEMPTS:
            _fail(delivery_id)
            return DeliveryStatus.FAILED
        return row["status"] if row else "missing"
    delivery = Delivery.objects.select_related("order__style_guide", "order__client").get(pk=delivery_id)
    order = delivery.order
    key = f"clients/{order.client_id}/orders/{order.pk}/deliveries/{delivery.pk}/{order.number}-delivery-{delivery.number}.zip"
    configure_pillow(10**9)
    try:
        with tempfile.TemporaryDirectory(prefix="loupe-delivery-") as scratch:
            archive_path = Path(scratch) / "delivery.zip"
            count = _pack(order, archive_path, Path(scratch))
            size = archive_path.stat().st_size
            get_backend().upload_file(archive_path, key, content_type="application/zip")
    except Exception:  # noqa: BLE001 - recorded on the delivery; the details go to the log, not to the client
        logger.exception("delivery %s of order %s failed", delivery_id, order.number)
        _fail(delivery_id)
        return DeliveryStatus.FAILED
    Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.BUILDING).update(
        status=DeliveryStatus.READY, archive=key, archive_size=size, file_count=count, reason="")
    return DeliveryStatus.READY


def sweep_stuck_deliveries() -> dict[str, int]:
    """Builds whose worker died: queue them again, or fail those that used their three attempts."""
    now = timezone.now()
    requeued = failed = 0
    stuck = Delivery.objects.filter(
        Q(started_at__lt=now - STUCK_AFTER) | Q(started_at__isnull=True, created_at__lt=now - STUCK_AFTER),
        status=DeliveryStatus.BUILDING)
    for delivery in stuck:
        if delivery.attempts >= MAX_ATTEMPTS:
            _fail(delivery.pk)
            failed += 1
        else:
            enqueue("jobs.tasks.build_delivery", str(delivery.pk), group="deliveries")
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def delivery_download_url(*, delivery: Delivery) -> str:
    if delivery.status != DeliveryStatus.READY:
        raise InvalidTransition(f"Delivery {delivery.number} is {delivery.get_status_display().lower()}.")
    return get_backend().download_url(delivery.archive, filename=Path(delivery.archive).name,
                                      content_type="application/zip")
