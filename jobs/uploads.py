"""Receiving originals: upload targets, ``complete``, processing in a worker, downloads, removal.

The order of events for one file: ``uploads_create`` makes the image row (``uploading``) and hands out
its target → the client sends the bytes to storage → ``upload_complete`` checks what storage holds
(size, multipart assembly) and pins it (ETag) → the ``process_image`` task reads exactly that object,
checks its SHA-256, decodes it in the sandbox and marks the image ``received`` or ``rejected``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.tasks import enqueue, enqueue_on_commit
from agency.uploads import MULTIPART_THRESHOLD, UploadError, get_backend
from jobs import permissions
from jobs.imaging.sandbox import inspect_file
from jobs.models import ImageStatus, Order, OrderImage, OrderStatus, image_prefix

logger = logging.getLogger("loupe.images")

ACCEPTED_EXTENSIONS = {"jpg", "jpeg", "png", "tif", "tiff", "psd", "psb", "webp", "cr2", "cr3", "nef", "arw", "dng"}
UPLOADABLE_ORDER_STATES = {OrderStatus.DRAFT, OrderStatus.SUBMITTED}
MAX_FILES_PER_REQUEST = 200
MAX_ATTEMPTS = 3
_BIDI_AND_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe_filename(name: str) -> str:
    """The client's file name for display: no path, no control or direction characters, ≤ 255 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _BIDI_AND_CONTROL.sub("", name).strip().strip(".") or "unnamed"
    name = re.sub(r"\s+", " ", name)
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name


def key_extension(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext in ACCEPTED_EXTENSIONS else "bin"


def max_upload_bytes() -> int:
    return int(getattr(settings, "LOUPE_MAX_UPLOAD_BYTES", 2 * 1024**3))


def _target_for(image: OrderImage, backend: Any, base_url: str) -> dict[str, Any]:
    complete_url = urljoin(base_url, f"/api/v1/images/{image.pk}/complete/")
    if image.declared_size > MULTIPART_THRESHOLD:
        plan = backend.start_multipart(image.upload_key, size=image.declared_size, content_type=image.content_type,
                                       base_url=base_url)
        image.upload_id = plan["upload_id"]
        return {"method": "MULTIPART", **plan, "complete_url": complete_url}
    target = backend.single_target(image.upload_key, size=image.declared_size, sha256=image.declared_sha256,
                                   content_type=image.content_type, base_url=base_url)
    return {**target, "complete_url": complete_url}


def _check_can_add(order: Order, by: User) -> None:
    if not permissions.can_upload_images(by, order):
        raise NotPermitted("Only the client's users or an account manager can add images to this order.")
    if order.status not in UPLOADABLE_ORDER_STATES:
        raise InvalidTransition(
            f"Order {order.number} is {order.get_status_display().lower()}; images can be added to draft or submitted orders."
        )


def uploads_create(*, order: Order, by: User, files: list[dict[str, Any]],
                   base_url: str = "") -> list[tuple[OrderImage, dict[str, Any]]]:
    """Make an ``uploading`` image per declared file and hand out its upload target.

    ``files``: ``[{"name", "size", "content_type", "sha256"}]`` (validated for shape by the caller).
    Refused when the user may not add images, the order is past ``submitted``, or a file is too big.
    Storage is asked for its multipart uploads before the order's row is locked (no network call
    under a lock); if the rows cannot be written afterwards, those uploads are aborted again.
    """
    order = Order.objects.select_related("client").get(pk=order.pk)
    _check_can_add(order, by)
    if not files or len(files) > MAX_FILES_PER_REQUEST:
        raise RuleViolation(f"Send between 1 and {MAX_FILES_PER_REQUEST} files per request.", field="files")
    limit = max_upload_bytes()
    for spec in files:
        if spec["size"] > limit:
            raise RuleViolation(f"{safe_filename(spec['name'])} is {spec['size'] / 1024**3:.1f} GiB; the limit per file is "
                                f"{limit / 1024**3:.0f} GiB.", field="files")
    images = []
    for spec in files:
        image = OrderImage(order=order, filename=safe_filename(spec["name"]), uploaded_by=by,
                           declared_size=spec["size"], declared_sha256=spec["sha256"].lower(),
                           content_type=(spec.get("content_type") or "application/octet-stream")[:100])
        token = hashlib.sha256(f"{image.pk}".encode()).hexdigest()[:16]
        image.upload_key = f"{image_prefix(image)}/upload/{token}.{key_extension(image.filename)}"
        images.append(image)
    backend = get_backend()
    targets: list[dict[str, Any]] = []
    try:
        for image in images:
            targets.append(_target_for(image, backend, base_url))
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            _check_can_add(order, by)  # the order may have moved on while storage answered
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


def _reject(image_id: Any, reason: str) -> bool:
    """Mark an image rejected with a reason; only from ``uploading`` (a conditional update)."""
    done = OrderImage.objects.filter(pk=image_id, status=ImageStatus.UPLOADING).update(
        status=ImageStatus.REJECTED, reason=reason[:300])
    if done:
        logger.info("image %s rejected: %s", image_id, reason)
    return bool(done)


COMPLETING = "completing"
CLAIM_STALE = timezone.timedelta(minutes=10)


def upload_complete(*, image: OrderImage, by: User, parts: list[dict[str, Any]] | None = None) -> OrderImage:
    """Finish an upload: assemble a multipart upload, check the stored size against the declared one,
    pin the object (ETag) and queue processing. A size mismatch or a bad part list rejects the image
    with the reason; a file that has not arrived yet answers 409 and can be completed later.

    The image is claimed first with a conditional update that commits at once, so two ``complete``
    calls cannot both talk to storage, and no row lock is held while storage answers.
    """
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    if not permissions.can_upload_images(by, image.order):
        raise NotPermitted("Only the client's users or an account manager can complete this upload.")
    now = timezone.now()
    claimed = OrderImage.objects.filter(
        Q(upload_etag="") | Q(upload_etag=COMPLETING, processing_started_at__lt=now - CLAIM_STALE),
        pk=image.pk, status=ImageStatus.UPLOADING, uploaded_at__isnull=True,
    ).update(upload_etag=COMPLETING, processing_started_at=now)
    if not claimed:
        image.refresh_from_db()
        if image.upload_etag == COMPLETING:
            raise InvalidTransition(f"{image.filename} is being completed already.")
        state = "being processed" if image.is_processing else image.get_status_display().lower()
        raise InvalidTransition(f"{image.filename} is already {state}.")
    release = OrderImage.objects.filter(pk=image.pk, upload_etag=COMPLETING)
    backend = get_backend()
    try:
        if image.upload_id:
            if not parts:
                raise UploadError("a multipart upload needs its list of parts to be completed")
            backend.complete_multipart(image.upload_key, image.upload_id, parts)
        stat = backend.stat(image.upload_key)
        if stat is None:
            if image.upload_id:
                raise UploadError("storage holds no file after assembling the parts")
            raise InvalidTransition(f"{image.filename} has not arrived in storage yet; send it, then complete again.")
        if stat.size != image.declared_size:
            raise UploadError(f"the stored file has {stat.size} bytes but {image.declared_size} were declared")
    except UploadError as exc:
        release.update(status=ImageStatus.REJECTED, reason=exc.reason[:300], upload_etag="", processing_started_at=None)
        logger.info("image %s rejected at completion: %s", image.pk, exc.reason)
        _discard(image.upload_key, image.upload_id)
        image.refresh_from_db()
        return image
    except Exception:
        release.update(upload_etag="", processing_started_at=None)
        raise
    release.update(upload_etag=stat.etag, uploaded_at=timezone.now(), size_bytes=stat.size, processing_started_at=None)
    enqueue_on_commit("jobs.tasks.process_image", str(image.pk), group="images")
    image.refresh_from_db()
    return image


def _discard(key: str, upload_id: str = "") -> None:
    backend = get_backend()
    if upload_id:
        backend.abort_multipart(key, upload_id)
    backend.delete(key)


def _claim(image_id: Any) -> bool:
    """Count an attempt before the heavy work (committed at once), so a worker killed by a hostile
    file cannot loop forever: the third attempt is the last."""
    claimed = OrderImage.objects.filter(
        pk=image_id, status=ImageStatus.UPLOADING, uploaded_at__isnull=False, attempts__lt=MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, processing_started_at=timezone.now())
    if not claimed:
        stale = OrderImage.objects.filter(pk=image_id, status=ImageStatus.UPLOADING, attempts__gte=MAX_ATTEMPTS)
        if stale.exists():
            _reject(image_id, f"the file could not be processed after {MAX_ATTEMPTS} attempts")
    return bool(claimed)


def image_process(*, image_id: Any) -> str:
    """Validate and preview one completed upload; returns the final status. Safe to run twice."""
    if not _claim(image_id):
        return OrderImage.objects.filter(pk=image_id).values_list("status", flat=True).first() or "missing"
    image = OrderImage.objects.select_related("order__style_guide").get(pk=image_id)
    backend = get_backend()
    with tempfile.TemporaryDirectory(prefix="loupe-ingest-") as scratch:
        local = Path(scratch) / f"source.{key_extension(image.filename)}"
        digest = hashlib.sha256()
        try:
            with local.open("wb") as out:
                backend.download_to(image.upload_key, _HashingWriter(out, digest), etag=image.upload_etag)
        except UploadError as exc:
            _reject(image.pk, exc.reason)
            return ImageStatus.REJECTED
        if image.declared_sha256 and digest.hexdigest() != image.declared_sha256:
            _reject(image.pk, "the file's SHA-256 does not match the checksum declared for it")
            transaction.on_commit(lambda: _discard(image.upload_key))
            return ImageStatus.REJECTED
        outcome = inspect_file(local, extension=key_extension(image.filename),
                               max_pixels=settings.LOUPE_MAX_IMAGE_PIXELS)
    if not outcome.ok:
        _reject(image.pk, outcome.reason)
        _discard(image.upload_key)
        return ImageStatus.REJECTED
    prefix = image_prefix(image)
    original_key = f"{prefix}/original/original.{key_extension(image.filename)}"
    try:
        backend.promote(image.upload_key, original_key, etag=image.upload_etag)
    except UploadError as exc:
        _reject(image.pk, exc.reason)
        return ImageStatus.REJECTED
    thumb = _store(f"{prefix}/previews/256.webp", outcome.thumbnail)
    preview = _store(f"{prefix}/previews/1600.webp", outcome.preview)
    info = outcome.inspection or {}
    return _mark_received(image, info, original_key=original_key, thumbnail=thumb, preview=preview,
                          sha256=digest.hexdigest())


class _HashingWriter:
    def __init__(self, out: Any, digest: Any) -> None:
        self.out, self.digest = out, digest

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        return self.out.write(chunk)


def _store(key: str, data: bytes) -> str:
    # Deterministic keys: a task that runs twice replaces its own output instead of adding files.
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))


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
def _mark_received(image: OrderImage, info: dict[str, Any], *, original_key: str, thumbnail: str, preview: str,
                   sha256: str) -> str:
    fields = {
        "status": ImageStatus.RECEIVED, "reason": "", "original": original_key, "thumbnail": thumbnail,
        "preview": preview, "sha256": sha256, "format": info.get("format", "")[:10], "width": info.get("width"),
        "height": info.get("height"), "mode": info.get("mode", "")[:10], "bit_depth": info.get("bit_depth"),
        "icc_profile": (info.get("icc_profile") or "")[:200], "has_alpha": bool(info.get("has_alpha")),
        "dpi": info.get("dpi"), "preflight": preflight_warnings(image, info),
    }
    OrderImage.objects.filter(pk=image.pk, status=ImageStatus.UPLOADING).update(**fields)
    return ImageStatus.RECEIVED


@transaction.atomic
def image_remove(*, image: OrderImage, by: User) -> None:
    """Remove an image (for example a rejected one) while the order is a draft or submitted."""
    order = Order.objects.select_for_update().get(pk=image.order_id)
    if not permissions.can_upload_images(by, order):
        raise NotPermitted("Only the client's users or an account manager can remove images from this order.")
    if order.status not in UPLOADABLE_ORDER_STATES:
        raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}; its images can no "
                                "longer be removed.")
    keys = [k for k in (image.upload_key, image.original.name, image.thumbnail.name, image.preview.name) if k]
    upload_id = image.upload_id if image.status == ImageStatus.UPLOADING else ""
    image.delete()

    def cleanup() -> None:
        backend = get_backend()
        if upload_id:
            backend.abort_multipart(image.upload_key, upload_id)
        for key in keys:
            backend.delete(key)

    transaction.on_commit(cleanup)


DOWNLOADS = {"original": ("original", None), "preview": ("preview", "image/webp"), "thumbnail": ("thumbnail", "image/webp")}
# Originals go out with the type Loupe detected from their bytes, never the one the client declared.
DETECTED_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "PSD": "image/vnd.adobe.photoshop",
                  "PSB": "image/vnd.adobe.photoshop", "WEBP": "image/webp"}


def image_download_url(*, image: OrderImage, by: User, what: str) -> str:
    """A short-lived link to one of the image's files, after the permission check."""
    if what not in DOWNLOADS:
        raise RuleViolation(f"'what' must be one of {', '.join(DOWNLOADS)}.", field="what")
    if what == "original" and not permissions.can_download_original(by, image.order):
        raise NotPermitted("Your role cannot download originals.")
    field, content_type = DOWNLOADS[what]
    stored = getattr(image, field)
    if not stored:
        raise InvalidTransition(f"{image.filename} has no {what} yet.")
    filename = image.filename if what == "original" else f"{Path(image.filename).stem}_{what}.webp"
    detected = DETECTED_TYPES.get(image.format.upper(), "application/octet-stream")
    return get_backend().download_url(stored.name, filename=filename, content_type=content_type or detected,
                                      inline=what != "original")


def sweep_stuck_images(*, stuck_after_minutes: int = 15, abandoned_after_hours: int = 24) -> dict[str, int]:
    """Re-queue images whose processing never finished (a killed worker), reject those out of
    attempts, and give up on uploads never completed within a day (aborting their multipart upload)."""
    now = timezone.now()
    stuck = OrderImage.objects.filter(
        status=ImageStatus.UPLOADING, uploaded_at__isnull=False,
        processing_started_at__lt=now - timezone.timedelta(minutes=stuck_after_minutes),
    ) | OrderImage.objects.filter(status=ImageStatus.UPLOADING, uploaded_at__lt=now - timezone.timedelta(
        minutes=stuck_after_minutes), processing_started_at__isnull=True)
    requeued = failed = abandoned = 0
    for image in stuck:
        if image.attempts >= MAX_ATTEMPTS:
            failed += _reject(image.pk, f"the file could not be processed after {MAX_ATTEMPTS} attempts")
        else:
            enqueue("jobs.tasks.process_image", str(image.pk), group="images")
            requeued += 1
    for image in OrderImage.objects.filter(status=ImageStatus.UPLOADING, uploaded_at__isnull=True,
                                           created_at__lt=now - timezone.timedelta(hours=abandoned_after_hours)):
        if _reject(image.pk, "the upload was never completed"):
            _discard(image.upload_key, image.upload_id)
            abandoned += 1
    return {"requeued": requeued, "failed": failed, "abandoned": abandoned}


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
