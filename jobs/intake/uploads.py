"""Receiving originals: upload targets, ``complete``, processing in a worker, removal.

The order of events for one file is the one of ``jobs.intake.ingest`` (shared with retouched versions):
``uploads_create`` makes the image row (``uploading``) and hands out its target → the client sends the
bytes to storage → ``upload_complete`` pins them → the ``process_image`` task decodes them in the sandbox
and marks the image ``received`` (with pre-flight warnings) or ``rejected`` with the reason.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.tasks import enqueue_on_commit
from agency.uploads import get_backend
from jobs import permissions
from jobs.events import record_event
from jobs.intake import ingest, tiles
from jobs.intake.ingest import key_extension, max_upload_bytes, safe_filename
from jobs.models import Audience, Complexity, ImageStatus, Order, OrderImage, OrderStatus, image_prefix
from jobs.workflow import IMAGES

UPLOADABLE_ORDER_STATES = {OrderStatus.DRAFT, OrderStatus.SUBMITTED}
MAX_FILES_PER_REQUEST = 200
__all__ = ["key_extension", "max_upload_bytes", "safe_filename"]


def _accept(image: OrderImage, outcome: Any, fields: dict[str, Any]) -> str:
    info = outcome.inspection or {}
    image = OrderImage.objects.select_related("order__style_guide").get(pk=image.pk)
    IMAGES.claim(OrderImage.objects.filter(pk=image.pk), "receive", preflight=preflight_warnings(image, info),
                 **fields, **estimated_complexity(image, info.get("complexity") or {}))
    return ImageStatus.RECEIVED


def estimated_complexity(image: OrderImage, measured: dict[str, Any]) -> dict[str, Any]:
    """The fields a measured grade sets on a received image: the estimate and its features, and the grade the quote
    and the schedule use, unless a manager already graded it with a reason (their word stands)."""
    grade = measured.get("grade")
    if grade not in Complexity.values:
        return {}
    fields = {"complexity_estimate": grade, "complexity_features": {
        "score": measured.get("score"), **(measured.get("features") or {})}}
    if not image.complexity_reason:
        fields["complexity"] = grade
    return fields


def complexity_override(image: OrderImage, complexity: str, reason: str) -> str:
    """The one rule for a manager's grade: one that differs from the measured estimate needs a reason (kept, and
    counted in the quality report); the estimate's own grade needs none (and clears an earlier reason). Returns
    the reason to keep."""
    if not image.complexity_estimate or complexity == image.complexity_estimate:
        return ""
    if not reason:
        raise RuleViolation(
            f"{image.filename} was measured {image.get_complexity_estimate_display().lower()}; say why you grade it "
            f"{Complexity(complexity).label.lower()} (the reason is kept with the grade).", field="complexity_reason")
    return reason


ORIGINALS = ingest.IngestKind(
    name="image", model=OrderImage, table=IMAGES, task="jobs.tasks.process_image", file_field="original",
    prefix=image_prefix,
    final_key=lambda image: f"{image_prefix(image)}/original/original.{key_extension(image.filename)}",
    may_complete=lambda user, image: permissions.can_upload_images(user, image.order),
    accept=_accept,
    live=lambda image: (f"order:{image.order_id}", Audience.CLIENT),
    grade=True,
)


def images_editable(user: User, order: Order) -> bool:
    """Whether ``user`` may add, edit or remove the order's images now (pages show the controls)."""
    return permissions.can_upload_images(user, order) and order.status in UPLOADABLE_ORDER_STATES


def _check_images_editable(order: Order, by: User, doing: str, after: str = "") -> None:
    """The one rule behind adding, editing and removing images: the order's client users and account
    managers, while the order is a draft or submitted. ``doing`` completes "… can <doing> this order"."""
    if not permissions.can_upload_images(by, order):
        raise NotPermitted(f"Only the client's users or an account manager can {doing} this order.")
    if order.status not in UPLOADABLE_ORDER_STATES:
        raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}; images can be added, "
                                f"edited or removed only while it is a draft or submitted.{after}")


def uploads_create(*, order: Order, by: User, files: list[dict[str, Any]],
                   base_url: str = "") -> list[tuple[OrderImage, dict[str, Any]]]:
    """Make an ``uploading`` image per declared file and hand out its upload target.

    ``files``: ``[{"name", "size", "content_type", "sha256"}]`` (validated for shape by the caller).
    Refused when the user may not add images, the order is past ``submitted``, or a file is too big.
    Storage is asked for its multipart uploads before the order's row is locked (no network call
    under a lock); if the rows cannot be written afterwards, those uploads are aborted again.
    """
    order = Order.objects.select_related("client").get(pk=order.pk)
    _check_images_editable(order, by, "add images to")
    if not files or len(files) > MAX_FILES_PER_REQUEST:
        raise RuleViolation(f"Send between 1 and {MAX_FILES_PER_REQUEST} files per request.", field="files")
    for spec in files:
        ingest.check_declaration(spec["name"], spec["size"], spec.get("sha256") or "")
    images = []
    for spec in files:
        image = OrderImage(order=order, filename=safe_filename(spec["name"]), uploaded_by=by,
                           declared_size=spec["size"], declared_sha256=(spec.get("sha256") or "").lower(),
                           content_type=(spec.get("content_type") or "application/octet-stream")[:100])
        image.upload_key = ingest.upload_key(ORIGINALS, image, image.filename)
        images.append(image)
    backend = get_backend()
    targets: list[dict[str, Any]] = []
    try:
        for image in images:
            targets.append(ingest.target(image, backend, base_url, f"/api/v1/images/{image.pk}/"))
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            _check_images_editable(order, by, "add images to")  # the order may have moved on while storage answered
            position = order.images.count()
            for image in images:
                position += 1
                image.position = position
            OrderImage.objects.bulk_create(images)
    except Exception:
        for image in images:
            if image.upload_id:
                backend.abort_multipart(image.upload_key, image.upload_id)
        raise
    return list(zip(images, targets, strict=True))


def upload_complete(*, image: OrderImage, by: User, parts: list[dict[str, Any]] | None = None) -> OrderImage:
    """Finish an original's upload (``jobs.intake.ingest.complete``)."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    return ingest.complete(ORIGINALS, image, by=by, parts=parts, label=image.filename)


def upload_sign_part(*, image: OrderImage, by: User, number: int, sha256: str, base_url: str = "") -> dict[str, Any]:
    """Sign one part of an original's multipart upload with its SHA-256 (``jobs.intake.ingest.sign_part``)."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    return ingest.sign_part(ORIGINALS, image, by=by, number=number, sha256=sha256, label=image.filename,
                            base_url=base_url)


def upload_parts(*, image: OrderImage, by: User) -> dict[str, Any]:
    """The parts storage holds for an original's upload, to resume it (``jobs.intake.ingest.list_parts``)."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    return ingest.list_parts(ORIGINALS, image, by=by, label=image.filename)


def image_process(*, image_id: Any) -> str:
    """The ``process_image`` task body (``jobs.intake.ingest.process``)."""
    return ingest.process(ORIGINALS, image_id, label=lambda image: image.filename)


def sweep_stuck_images(**kwargs: Any) -> dict[str, int]:
    return ingest.sweep(ORIGINALS, **kwargs)


def preflight_warnings(image: OrderImage, info: dict[str, Any]) -> list[dict[str, str]]:
    """Findings shown beside the thumbnail and to the account manager before quoting. Warnings only."""
    warnings: list[dict[str, str]] = []
    guide = image.order.style_guide
    edge = max(info.get("width") or 0, info.get("height") or 0)
    if guide.long_edge_px and edge < guide.long_edge_px:
        warnings.append({"code": "resolution", "message": f"Long edge of {edge} px is below the {guide.long_edge_px} px "
                                                          "the style guide asks for."})
    if not info.get("icc_profile"):
        warnings.append({"code": "profile", "message": "No colour profile embedded: colours are read as sRGB."})
    if (info.get("clipped_highlights") or 0) > 0.01:
        warnings.append({"code": "highlights", "message": f"{info['clipped_highlights']:.1%} of the pixels are clipped "
                                                          "highlights."})
    if (info.get("clipped_shadows") or 0) > 0.01:
        warnings.append({"code": "shadows", "message": f"{info['clipped_shadows']:.1%} of the pixels are clipped shadows."})
    for note in info.get("notes") or []:
        warnings.append({"code": "note", "message": note})
    return warnings


@transaction.atomic
def image_remove(*, image: OrderImage, by: User) -> None:
    """Remove an image (for example a rejected one) while the order is a draft or submitted."""
    order = Order.objects.select_for_update().get(pk=image.order_id)
    _check_images_editable(order, by, "remove images from")
    _delete([image])


@transaction.atomic
def images_remove_rejected(*, order: Order, by: User) -> int:
    """Remove every refused file of the order in one step (submission waits until they are gone)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    _check_images_editable(order, by, "remove images from")
    return _delete(list(order.images.filter(status=ImageStatus.REJECTED)))


def _delete(images: list[OrderImage]) -> int:
    """Delete the rows now and their stored files once the transaction commits (a task: storage is
    never called from inside the transaction, and a rolled-back removal deletes nothing)."""
    files = [[image.upload_key, image.upload_id if image.status == ImageStatus.UPLOADING else "",
              [k for k in (image.upload_key, image.original.name, image.thumbnail.name, image.preview.name) if k]]
             for image in images]
    packs = tiles.pack_keys(images)
    if packs:
        files.append(["", "", packs])
    OrderImage.objects.filter(pk__in=[image.pk for image in images]).delete()
    enqueue_on_commit("jobs.tasks.discard_files", files, group="storage")
    return len(images)


def files_discard(*, files: list[list[Any]]) -> int:
    """Abort unfinished multipart uploads and delete stored objects of removed images (the task's
    body; deleting what is gone already is no error, so running it twice is harmless)."""
    backend = get_backend()
    for upload_key, upload_id, keys in files:
        if upload_id:
            backend.abort_multipart(upload_key, upload_id)
        for key in keys:
            backend.delete(key)
    return sum(len(keys) for _, _, keys in files)


IMAGE_FIELDS = ("sku", "instructions", "complexity", "complexity_reason")
GRADING_FIELDS = {"complexity", "complexity_reason"}


@transaction.atomic
def image_update(*, image: OrderImage, by: User, **fields: Any) -> OrderImage:
    """Change an image's SKU, its own instructions for the retoucher or (the studio) its complexity,
    until production starts; after that, changes are asked for in the order's messages. A grade other than
    the measured one needs a reason (``complexity_override``)."""
    order = Order.objects.select_for_update().get(pk=image.order_id)
    _check_images_editable(order, by, "edit the images of",
                           after=" Write to the studio in the order's messages instead.")
    unknown = set(fields) - set(IMAGE_FIELDS)
    if unknown:
        raise RuleViolation(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if GRADING_FIELDS & set(fields) and not permissions.can_grade_complexity(by):
        raise NotPermitted("The studio grades complexity when it quotes.")
    image = OrderImage.objects.select_for_update().get(pk=image.pk)
    cleaned = {}
    for name, value in fields.items():
        field = OrderImage._meta.get_field(name)
        try:
            cleaned[name] = field.clean(value.strip() if isinstance(value, str) else value, image)
        except DjangoValidationError as exc:
            raise RuleViolation(" ".join(exc.messages), field=name) from exc
    if GRADING_FIELDS & set(cleaned):
        cleaned["complexity_reason"] = complexity_override(
            image, cleaned.get("complexity", image.complexity), cleaned.get("complexity_reason", image.complexity_reason))
    changed = [name for name, value in cleaned.items() if getattr(image, name) != value]
    for name in changed:
        setattr(image, name, cleaned[name])
    if changed:
        image.save(update_fields=changed)
        shown = [n for n in changed if n != "complexity_reason"]
        if shown:
            labels = ", ".join(str(OrderImage._meta.get_field(n).verbose_name) for n in shown)
            record_event(audience=Audience.CLIENT, order=order, actor=by, verb="image.updated",
                         message=f"{image.filename}: {labels} changed",
                         data={"image": str(image.pk), "fields": shown})
        if image.complexity_reason and GRADING_FIELDS & set(changed):
            record_event(audience=Audience.MANAGERS, order=order, actor=by, verb="image.regraded",
                         message=f"{image.filename}: graded {image.complexity} (measured {image.complexity_estimate}): "
                                 f"{image.complexity_reason}",
                         data={"image": str(image.pk), "complexity": image.complexity,
                               "estimate": image.complexity_estimate, "reason": image.complexity_reason})
    return image


def series_warnings(images: list[OrderImage]) -> list[str]:
    """Pre-flight across the order: a series should share size and orientation."""
    received = [i for i in images if i.width and i.height]
    warnings = []
    sizes = sorted({(i.width, i.height) for i in received}, key=lambda s: s[0] * s[1])
    if len(sizes) > 1:
        warnings.append(f"The images differ in size: {len(sizes)} sizes, from {sizes[0][0]}×{sizes[0][1]} "
                        f"to {sizes[-1][0]}×{sizes[-1][1]} px.")
    portrait = sum(1 for i in received if i.height > i.width)
    landscape = sum(1 for i in received if i.width > i.height)
    if portrait and landscape:
        warnings.append(f"The series mixes orientations: {portrait} portrait and {landscape} landscape.")
    return warnings
