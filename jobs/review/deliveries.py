"""Deliveries: the account manager publishes ready images (all, or a chosen subset) to the client in
one action; their renditions (as the style guide asks) are packed in a ZIP in the background, with
progress on the page, and the client is told when it is ready. When every image is approved, a final
delivery packs all approved files.

The ZIP is written to a scratch file, each version streamed in (never read whole into memory), and
uploaded with the storage backend's managed transfer (boto3 retries a failed part). One build runs at
a time per order; a build whose worker died is picked up again by the sweeper and fails visibly after
three attempts.
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

from agency import live
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.statemachine import StateTable
from agency.tasks import enqueue, enqueue_on_commit
from agency.uploads import CHUNK, get_backend
from jobs import permissions, workflow
from jobs.events import record_event
from jobs.imaging.pipeline import configure_pillow
from jobs.imaging.renditions import Spec, file_name, render
from jobs.models import (
    Audience,
    Delivery,
    DeliveryItem,
    DeliveryKind,
    DeliveryStatus,
    ImageStatus,
    Order,
    OrderImage,
    Version,
    VersionStatus,
)
from jobs.review import deadlines, payment_holds
from jobs.workflow import IMAGES

logger = logging.getLogger("loupe.deliveries")
MAX_ATTEMPTS = 3
STUCK_AFTER = timezone.timedelta(minutes=30)
FAILED_MESSAGE = "The delivery could not be prepared. The studio has been told and will prepare it again."

D = DeliveryStatus
DELIVERIES = StateTable("delivery", dict(D.choices))
DELIVERIES.add("finish", {D.BUILDING}, D.READY)
DELIVERIES.add("fail", {D.BUILDING}, D.FAILED)
DELIVERIES.add("retry", {D.FAILED}, D.BUILDING)


def latest_passed(images: list[Any]) -> dict[Any, Version]:
    """The newest version that passed QC, per image."""
    latest: dict[Any, Version] = {}
    for version in Version.objects.filter(image__in=images, status=VersionStatus.PASSED).order_by("image_id", "number"):
        latest[version.image_id] = version
    return latest


def approved_versions(order: Order) -> list[Version]:
    """The newest approved version of each image, in the order's image order."""
    latest: dict[Any, Version] = {}
    for version in (Version.objects.filter(image__order=order, approved=True)
                    .select_related("image").order_by("image__position", "image__created_at", "number")):
        latest[version.image_id] = version
    return list(latest.values())


def _building(order: Order, kind: str = DeliveryKind.REVIEW) -> None:
    if Delivery.objects.filter(order=order, kind=kind, status=D.BUILDING).exists():
        raise InvalidTransition(f"A delivery of order {order.number} is being prepared; wait until it is ready.")


def _new_delivery(order: Order, *, by: User | None, kind: str, versions: list[Version]) -> Delivery:
    number = (order.deliveries.aggregate(m=Max("number"))["m"] or 0) + 1
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(order=order, number=number, created_by=by, kind=kind)
    except IntegrityError as exc:  # the partial unique constraint is the last word on "one build at a time"
        raise InvalidTransition(f"A delivery of order {order.number} is being prepared; wait until it is ready.") from exc
    DeliveryItem.objects.bulk_create([DeliveryItem(delivery=delivery, image_id=v.image_id, version=v) for v in versions])
    enqueue_on_commit("jobs.tasks.build_delivery", str(delivery.pk), group="deliveries")
    return delivery


@transaction.atomic
def delivery_publish(*, order: Order, by: User, images: list[Any] | None = None, review_by: Any = None) -> Delivery:
    """Publish the order's ready images (or the chosen ``images``, all of which must be ready) to the
    client for review: the images are delivered, the order waits on the client, the SLA clock stops,
    and the renditions are packed in the background. ``review_by``: when the company's review is due (reviewers are
    reminded the day before, ``jobs.review.deadlines``). Account managers and admins only."""
    if not permissions.can_deliver(by, order):
        raise NotPermitted("Only an account manager can publish a delivery.")
    review_by = deadlines.checked_deadline(review_by)
    order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
    workflow.ORDERS.check("deliver", order, f"Order {order.number} is {{state}}; deliveries are published while it is "
                                            "in production or revision.")
    _building(order)
    ready = {i.pk: i for i in OrderImage.objects.filter(order=order, status=ImageStatus.READY)}
    if images is not None:
        chosen = {str(i) for i in images}
        if not chosen:
            raise RuleViolation("Choose at least one image to deliver.", field="images")
        unknown = chosen - {str(pk) for pk in ready}
        if unknown:
            names = list(OrderImage.objects.filter(order=order, pk__in=unknown).values_list("filename", flat=True))
            label = ", ".join(names[:3]) or "an image of another order"
            raise RuleViolation(f"Only this order's images that passed QC can be delivered, not {label}.", field="images")
        ready = {pk: image for pk, image in ready.items() if str(pk) in chosen}
    if not ready:
        raise InvalidTransition(f"Order {order.number} has no image that passed QC waiting to be delivered.")
    versions = latest_passed(list(ready.values()))
    missing = [image.filename for pk, image in ready.items() if pk not in versions]
    if missing:
        raise InvalidTransition(f"{', '.join(missing[:3])} has no version that passed QC.")
    if IMAGES.claim(OrderImage.objects.filter(pk__in=list(ready)), "deliver") != len(ready):
        raise InvalidTransition("Some of these images changed a moment ago; reload the page.")
    delivery = _new_delivery(order, by=by, kind=DeliveryKind.REVIEW, versions=[versions[pk] for pk in ready])
    if review_by is not None:
        delivery.review_by = review_by
        delivery.save(update_fields=["review_by"])
    count = len(ready)
    workflow.order_deliver(order=order, by=by, data={"delivery": str(delivery.pk), "images": [str(pk) for pk in ready]},
                           message=f"Delivery {delivery.number} published: {count} image{'s' if count != 1 else ''} "
                                   "for review")
    return delivery


def delivery_final(*, order: Order, by: User | None) -> Delivery | None:
    """Pack every approved file of a completed order (inside the completing transaction)."""
    versions = approved_versions(order)
    if not versions or Delivery.objects.filter(order=order, kind=DeliveryKind.FINAL).exists():
        return None
    return _new_delivery(order, by=by, kind=DeliveryKind.FINAL, versions=versions)


@transaction.atomic
def delivery_retry(*, delivery: Delivery, by: User) -> Delivery:
    """Build a failed delivery again (account managers)."""
    if not permissions.can_deliver(by, delivery.order):
        raise NotPermitted("Only an account manager can prepare a delivery again.")
    order = Order.objects.select_for_update().get(pk=delivery.order_id)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    _building(order, delivery.kind)
    DELIVERIES.move(delivery, "retry", refusal=f"Delivery {delivery.number} is {{state}}; only a failed one is prepared again.")
    delivery.attempts, delivery.started_at, delivery.reason, delivery.files_done = 0, None, "", 0
    delivery.save(update_fields=["status", "attempts", "started_at", "reason", "files_done"])
    enqueue_on_commit("jobs.tasks.build_delivery", str(delivery.pk), group="deliveries")
    return delivery


def _claim(delivery_id: Any) -> bool:
    """Count an attempt before the heavy work; a build that keeps killing its worker stops at three."""
    now = timezone.now()
    return bool(Delivery.objects.filter(
        Q(started_at__isnull=True) | Q(started_at__lt=now - STUCK_AFTER),
        pk=delivery_id, status=D.BUILDING, attempts__lt=MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, started_at=now, files_done=0))


def _fail(delivery_id: Any, reason: str = FAILED_MESSAGE) -> None:
    DELIVERIES.claim(Delivery.objects.filter(pk=delivery_id), "fail", reason=reason[:300])


def _pack(delivery: Delivery, archive_path: Path, scratch: Path) -> int:
    """Render every item's version into a ZIP at ``archive_path``; returns the number of files."""
    from PIL import Image

    order = delivery.order
    spec = Spec.from_guide(order.style_guide)
    names: set[str] = set()
    per_sku: dict[str, int] = defaultdict(int)
    items = list(delivery.items.select_related("image", "version").order_by("image__position", "image__created_at"))
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            image, version = item.image, item.version
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
            Delivery.objects.filter(pk=delivery.pk).update(files_done=F("files_done") + 1)
            live.publish(f"order:{order.pk}", "delivery.progress", ref=delivery.pk)  # the packing bar moves
    return len(names)


def delivery_build(*, delivery_id: Any) -> str:
    """Render and pack a delivery; ``ready`` (the client is told) or ``failed`` with a plain reason.
    Safe to run twice."""
    if not _claim(delivery_id):
        row = Delivery.objects.filter(pk=delivery_id).values("status", "attempts").first()
        if row and row["status"] == D.BUILDING and row["attempts"] >= MAX_ATTEMPTS:
            _fail(delivery_id)
            return D.FAILED
        return row["status"] if row else "missing"
    delivery = Delivery.objects.select_related("order__style_guide", "order__client").get(pk=delivery_id)
    order = delivery.order
    key = f"clients/{order.client_id}/orders/{order.pk}/deliveries/{delivery.pk}/{order.number}-delivery-{delivery.number}.zip"
    configure_pillow(10**9)
    try:
        with tempfile.TemporaryDirectory(prefix="loupe-delivery-") as scratch:
            archive_path = Path(scratch) / "delivery.zip"
            count = _pack(delivery, archive_path, Path(scratch))
            size = archive_path.stat().st_size
            get_backend().upload_file(archive_path, key, content_type="application/zip")
    except Exception:  # noqa: BLE001 - recorded on the delivery; the details go to the log, not to the client
        logger.exception("delivery %s of order %s failed", delivery_id, order.number)
        _fail(delivery_id)
        return D.FAILED
    with transaction.atomic():
        if DELIVERIES.claim(Delivery.objects.filter(pk=delivery_id), "finish", archive=key, archive_size=size,
                            file_count=count, reason=""):
            what = "Final files" if delivery.kind == DeliveryKind.FINAL else f"Delivery {delivery.number}"
            record_event(audience=Audience.CLIENT, order=order, actor=None, verb="delivery.ready",
                         message=f"{what} ready: {count} file{'s' if count != 1 else ''} to download",
                         data={"delivery": str(delivery.pk)})
    return D.READY


def sweep_stuck_deliveries() -> dict[str, int]:
    """Builds whose worker died: queue them again, or fail those that used their three attempts."""
    now = timezone.now()
    requeued = failed = 0
    stuck = Delivery.objects.filter(
        Q(started_at__lt=now - STUCK_AFTER) | Q(started_at__isnull=True, created_at__lt=now - STUCK_AFTER),
        status=D.BUILDING)
    for delivery in stuck:
        if delivery.attempts >= MAX_ATTEMPTS:
            _fail(delivery.pk)
            failed += 1
        else:
            enqueue("jobs.tasks.build_delivery", str(delivery.pk), group="deliveries")
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def delivery_download_url(*, delivery: Delivery, by: User) -> str:
    """A short-lived link to a ready delivery's ZIP; 402 for a client whose order is paid before
    download and not paid yet."""
    payment_holds.check_download(delivery.order, by)
    if delivery.status != D.READY:
        raise InvalidTransition(f"Delivery {delivery.number} is {delivery.get_status_display().lower()}.")
    if not delivery.archive:
        from jobs.retention import deleted_because

        raise InvalidTransition(deleted_because(delivery.order, f"Delivery {delivery.number}", deliveries=True))
    return get_backend().download_url(delivery.archive, filename=Path(delivery.archive).name,
                                      content_type="application/zip")
