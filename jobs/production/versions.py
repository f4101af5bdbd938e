"""Production: a retoucher starts work, uploads versions (the same contract and pipeline as
originals), automated style-guide checks measure each version, and QC passes it or sends it back.

The image moves through ``jobs.workflow.IMAGES`` and the version through ``VERSIONS``; every move is a
table edge, claimed with a conditional update so that two people acting at once cannot both win.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import User
from agency.uploads import get_backend
from jobs import permissions
from jobs.events import record_event
from jobs.imaging.checks import GuideSpec, run_checks
from jobs.imaging.pipeline import configure_pillow
from jobs.intake import ingest
from jobs.models import (
    IN_WORK,
    Assignment,
    Audience,
    ImageStatus,
    OrderImage,
    RoundStatus,
    Version,
    VersionStatus,
    image_prefix,
)
from jobs.workflow import IMAGES, ORDERS, VERSIONS

logger = logging.getLogger("loupe.production")
# The image's work is "open" for its retoucher in these states (the queue).


def _version_prefix(version: Version) -> str:
    return f"{image_prefix(version.image)}/versions/{version.pk}"


def version_label(version: Version) -> str:
    return version.filename or f"v{version.number}"


def _accept(version: Version, outcome: Any, fields: dict[str, Any]) -> str:
    """A decoded version: measure it against the style guide, then hand it to QC. The image must
    still be in progress (its retoucher's work); if it moved on, the version is refused with why."""
    version = Version.objects.select_related("image__order__style_guide").get(pk=version.pk)
    image = version.image
    checks = version_checks(version, outcome.preview, outcome.inspection or {})
    with transaction.atomic():
        image = OrderImage.objects.select_for_update().get(pk=image.pk)
        if image.status != ImageStatus.IN_PROGRESS:
            VERSIONS.claim(Version.objects.filter(pk=version.pk), "reject_file",
                           reason=f"{image.filename} is {image.get_status_display().lower()}, no longer in progress")
            return VersionStatus.REJECTED
        # minutes since Start was pressed; none measured when the upload itself started the work
        started = image.work_started_at
        minutes = max(0, round((timezone.now() - started).total_seconds() / 60)) if started else None
        estimate = Assignment.objects.filter(image=image, active=True).values_list("minutes", flat=True).first()
        if not VERSIONS.claim(Version.objects.filter(pk=version.pk), "receive", checks=checks, work_minutes=minutes,
                              estimate_minutes=estimate, **fields):
            return Version.objects.get(pk=version.pk).status
        IMAGES.claim(OrderImage.objects.filter(pk=image.pk), "submit")
        failed = sum(1 for check in checks if check["passed"] is False)
        record_event(order=image.order, actor=version.created_by, verb="version.submitted", audience=Audience.STUDIO,
                     message=f"v{version.number} of {image.filename} handed to QC"
                             + (f" after {minutes} min" if minutes is not None else "")
                             + f" (estimate {estimate or '—'} min); {failed} automated check{'s' if failed != 1 else ''} failed",
                     data={"image": str(image.pk), "version": str(version.pk)})
    return VersionStatus.IN_QC


VERSION_FILES = ingest.IngestKind(
    name="version", model=Version, table=VERSIONS, task="jobs.tasks.process_version", file_field="file",
    prefix=_version_prefix,
    final_key=lambda version: f"{_version_prefix(version)}/file.{ingest.key_extension(version_label(version))}",
    may_complete=lambda user, version: version.created_by_id == user.pk and permissions.can_work_on(user, version.image),
    accept=_accept,
    live=lambda version: (f"order:{version.image.order_id}", Audience.STUDIO),  # the studio's work in progress
)


def version_checks(version: Version, preview_bytes: bytes, info: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the automated checks on the version's preview (our own WebP, made by the sandbox). The series
    is the order's other retouched versions: the originals are not a reference, since the style guide
    may change the canvas (a 3:2 shot delivered square); the first version sets the series."""
    image = version.image
    siblings = list(Version.objects.filter(image__order_id=image.order_id, status__in=[
        VersionStatus.IN_QC, VersionStatus.PASSED]).exclude(image=image).order_by("image_id", "-number")
        .values_list("width", "height"))
    configure_pillow(settings.LOUPE_MAX_IMAGE_PIXELS)
    with Image.open(io.BytesIO(preview_bytes), formats=["WEBP"]) as preview:
        preview.load()
        return run_checks(preview, info, GuideSpec.from_guide(image.order.style_guide), siblings=siblings,
                          tolerance=settings.LOUPE_BACKGROUND_DELTA_E)


def can_start(user: Any, image: OrderImage) -> bool:
    """Show Start: the image's retoucher, an image the table lets start, an order the studio works on."""
    return permissions.can_work_on(user, image) and IMAGES.can("start", image) and image.order.status in IN_WORK


def can_upload_version(user: Any, image: OrderImage) -> bool:
    """Show the upload area: the image's retoucher, while the image is in progress or may start (an upload
    to an assigned or sent-back image starts it; the version is then handed to QC along ``submit``)."""
    return permissions.can_work_on(user, image) and (IMAGES.can("submit", image) or can_start(user, image))


@transaction.atomic
def image_start(*, image: OrderImage, by: User) -> OrderImage:
    """The assigned retoucher starts (or restarts, after QC or a revision) work on an image: the clock
    of minutes-to-submission starts. Refused for anyone else, before production, while the order is
    on hold, and outside the image's table edges."""
    image = OrderImage.objects.select_for_update().select_related("order").get(pk=image.pk)
    if not permissions.can_work_on(by, image):
        raise NotPermitted(f"{image.filename} is not assigned to you.")
    return _start(image, by, clock=True)


def _start(image: OrderImage, by: User, *, clock: bool) -> OrderImage:
    """Move a locked image to in progress (its row is locked by the caller). ``clock``: the retoucher
    pressed Start, so the minutes to submission are counted from now; a version uploaded straight to a
    sent-back image starts it without a clock (the work happened before the upload, unmeasured)."""
    if image.order.status not in IN_WORK:
        raise InvalidTransition(f"Order {image.order.number} is {ORDERS.label(image.order.status)}; work waits until it "
                                "is back in production.")
    IMAGES.move(image, "start", refusal=f"{image.filename} is {{state}}; work can start once it is assigned, sent "
                                        "back by QC or in a revision round.")
    image.work_started_at = timezone.now() if clock else None
    image.save(update_fields=["status", "work_started_at"])
    record_event(order=image.order, actor=by, verb="image.started", audience=Audience.STUDIO,
                 message=f"{by.full_name} started work on {image.filename}" + ("" if clock else " with an upload"),
                 data={"image": str(image.pk)})
    return image


def version_create(*, image: OrderImage, by: User, file: dict[str, Any], base_url: str = "") -> tuple[Version, dict[str, Any]]:
    """Declare a retouched file for an image in progress; returns the version and its upload target.
    Storage answers before the image's row is locked (no network call under a lock)."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    if not permissions.can_work_on(by, image):
        raise NotPermitted(f"{image.filename} is not assigned to you.")
    if not (IMAGES.can("submit", image) or can_start(by, image)):
        raise InvalidTransition(f"{image.filename} is {IMAGES.label(image.status)}; a version is uploaded while it is "
                                "assigned to you, in progress, sent back by QC or in a revision round.")
    ingest.check_declaration(file["name"], file["size"], file.get("sha256") or "")
    version = Version(image=image, created_by=by, filename=ingest.safe_filename(file["name"]), declared_size=file["size"],
                      declared_sha256=(file.get("sha256") or "").lower(),
                      content_type=(file.get("content_type") or "application/octet-stream")[:100])
    version.upload_key = ingest.upload_key(VERSION_FILES, version, version.filename)
    backend = get_backend()
    target = ingest.target(version, backend, base_url, f"/api/v1/versions/{version.pk}/")
    try:
        with transaction.atomic():
            locked = OrderImage.objects.select_for_update().select_related("order").get(pk=image.pk)
            if not IMAGES.can("submit", locked):
                _start(locked, by, clock=False)  # uploading the fix to a sent-back image is starting it
            version.number = (Version.objects.filter(image=image).aggregate(n=Max("number"))["n"] or 0) + 1
            item = (image.revision_items.filter(round__status=RoundStatus.OPEN).select_related("round")
                    .order_by("-round__number").first())
            version.round = item.round if item else None
            version.save()
    except Exception:
        if version.upload_id:
            backend.abort_multipart(version.upload_key, version.upload_id)
        raise
    return version, target


def version_complete(*, version: Version, by: User, parts: list[dict[str, Any]] | None = None) -> Version:
    version = Version.objects.select_related("image").get(pk=version.pk)
    return ingest.complete(VERSION_FILES, version, by=by, parts=parts, label=version_label(version))


def version_sign_part(*, version: Version, by: User, number: int, sha256: str, base_url: str = "") -> dict[str, Any]:
    """Sign one part of a version's multipart upload with its SHA-256 (``jobs.intake.ingest.sign_part``)."""
    version = Version.objects.select_related("image").get(pk=version.pk)
    return ingest.sign_part(VERSION_FILES, version, by=by, number=number, sha256=sha256, label=version_label(version),
                            base_url=base_url)


def version_parts(*, version: Version, by: User) -> dict[str, Any]:
    """The parts storage holds for a version's upload, to resume it (``jobs.intake.ingest.list_parts``)."""
    version = Version.objects.select_related("image").get(pk=version.pk)
    return ingest.list_parts(VERSION_FILES, version, by=by, label=version_label(version))


def version_process(*, version_id: Any) -> str:
    """The ``process_version`` task body (``jobs.intake.ingest.process``)."""
    return ingest.process(VERSION_FILES, version_id, label=version_label)


def sweep_stuck_versions(**kwargs: Any) -> dict[str, int]:
    return ingest.sweep(VERSION_FILES, **kwargs)


