"""Deliveries: render every approved version as the style guide asks and pack them as one ZIP that
is streamed to storage in parts, never built in memory."""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import MANAGER_ROLES, User
from agency.uploads import S3Backend, get_backend
from jobs.imaging.pipeline import configure_pillow
from jobs.imaging.renditions import Spec, file_name, render
from jobs.models import Delivery, DeliveryStatus, Order, OrderStatus, Version

logger = logging.getLogger("loupe.deliveries")
DELIVERABLE_STATES = {OrderStatus.IN_PRODUCTION, OrderStatus.REVISION, OrderStatus.DELIVERED, OrderStatus.COMPLETED,
                      OrderStatus.DRAFT, OrderStatus.SUBMITTED, OrderStatus.QUOTED}
PART = 8 * 1024 * 1024


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
    refused while the order has nothing approved or is cancelled."""
    if by.role not in MANAGER_ROLES:
        raise NotPermitted("Only an account manager can prepare a delivery.")
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.CANCELLED:
        raise InvalidTransition(f"Order {order.number} is cancelled; there is nothing to deliver.")
    if not approved_versions(order):
        raise InvalidTransition(f"Order {order.number} has no approved versions to deliver yet.")
    number = (order.deliveries.aggregate(m=Max("number"))["m"] or 0) + 1
    delivery = Delivery.objects.create(order=order, number=number, created_by=by)
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def _enqueue(delivery_id: Any) -> None:
    from django_q.tasks import async_task

    async_task("jobs.tasks.build_delivery", str(delivery_id), group="deliveries")


class _S3PartWriter:
    """A write-only stream that uploads itself to S3 in parts of 8 MiB (multipart upload)."""

    def __init__(self, backend: S3Backend, key: str) -> None:
        self.backend, self.key = backend, key
        self.upload_id = backend.client.create_multipart_upload(
            Bucket=backend.bucket, Key=key, ContentType="application/zip", ServerSideEncryption="AES256")["UploadId"]
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= PART:
            self._flush_part()
        return len(data)

    def flush(self) -> None:
        pass

    def _flush_part(self) -> None:
        number = len(self.parts) + 1
        etag = self.backend.client.upload_part(Bucket=self.backend.bucket, Key=self.key, UploadId=self.upload_id,
                                               PartNumber=number, Body=bytes(self.buffer))["ETag"]
        self.parts.append({"number": number, "etag": etag})
        self.buffer.clear()

    def close(self) -> None:
        if self.buffer or not self.parts:
            self._flush_part()
        self.backend.complete_multipart(self.key, self.upload_id, self.parts)

    def abort(self) -> None:
        self.backend.abort_multipart(self.key, self.upload_id)


class _LocalWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.temp = path, path.with_name(path.name + ".partial")
        self.handle: IO[bytes] = self.temp.open("wb")
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
        self.temp.replace(self.path)

    def abort(self) -> None:
        self.handle.close()
        self.temp.unlink(missing_ok=True)


def _writer(key: str) -> Any:
    backend = get_backend()
    if isinstance(backend, S3Backend):
        return _S3PartWriter(backend, key)
    return _LocalWriter(backend.path(key))


def delivery_build(*, delivery_id: Any) -> str:
    """Render and pack a delivery; ``ready`` or ``failed`` with the reason. Safe to run twice."""
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.BUILDING, archive="").update(
        archive="pending")
    if not claimed:
        return Delivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first() or "missing"
    delivery = Delivery.objects.select_related("order__style_guide", "order__client").get(pk=delivery_id)
    order = delivery.order
    spec = Spec.from_guide(order.style_guide)
    key = f"clients/{order.client_id}/orders/{order.pk}/deliveries/{delivery.pk}/{order.number}-delivery-{delivery.number}.zip"
    configure_pillow(10**9)
    writer = _writer(key)
    names: set[str] = set()
    per_sku: dict[str, int] = defaultdict(int)
    try:
        with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for version in approved_versions(order):
                image = version.image
                sku = image.sku or Path(image.filename).stem
                per_sku[sku] += 1
                with default_storage.open(version.file.name, "rb") as fh, tempfile.SpooledTemporaryFile(64 << 20) as tmp:
                    tmp.write(fh.read())
                    tmp.seek(0)
                    from PIL import Image

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
        writer.close()
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the delivery, visible to staff
        writer.abort()
        logger.exception("delivery %s failed", delivery_id)
        Delivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.FAILED, archive="",
                                                       reason=f"could not build the delivery: {exc}"[:300])
        return DeliveryStatus.FAILED
    Delivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.READY, archive=key, archive_size=writer.size,
                                                   file_count=len(names))
    return DeliveryStatus.READY


def delivery_download_url(*, delivery: Delivery) -> str:
    if delivery.status != DeliveryStatus.READY:
        raise InvalidTransition(f"Delivery {delivery.number} is {delivery.get_status_display().lower()}.")
    return get_backend().download_url(delivery.archive, filename=Path(delivery.archive).name,
                                      content_type="application/zip")
