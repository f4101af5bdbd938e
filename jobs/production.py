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
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.uploads import get_backend
from clients.models import StyleGuide
from clients.permissions import can_edit_style_guide
from clients.services import style_guide_set_reference
from clients.tenancy import scope
from jobs import ingest, payment_holds, permissions
from jobs.deliveries import delivery_download_url
from jobs.events import record_event
from jobs.imaging.checks import GuideSpec, run_checks
from jobs.imaging.pipeline import configure_pillow
from jobs.models import (
    Assignment,
    Audience,
    Delivery,
    DeliveryStatus,
    ImageStatus,
    OrderImage,
    OrderStatus,
    QcCategory,
    RoundStatus,
    Version,
    VersionStatus,
    image_prefix,
)
from jobs.uploads import DOWNLOADS, file_download_url, original_download_url
from jobs.workflow import IMAGES, ORDERS, VERSIONS

logger = logging.getLogger("loupe.production")
WORKING_ORDERS = {OrderStatus.IN_PRODUCTION, OrderStatus.REVISION}
# The image's work is "open" for its retoucher in these states (the queue).
QUEUE_STATES = [ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.QC_REJECTED, ImageStatus.REVISION_REQUESTED,
                ImageStatus.IN_QC]
NOTE_MAX = 2000


def _version_prefix(version: Version) -> str:
    return f"{image_prefix(version.image)}/versions/{version.pk}"


def _label(version: Version) -> str:
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
        started = image.work_started_at or version.created_at
        minutes = max(0, round((timezone.now() - started).total_seconds() / 60))
        estimate = Assignment.objects.filter(image=image, active=True).values_list("minutes", flat=True).first()
        if not VERSIONS.claim(Version.objects.filter(pk=version.pk), "receive", checks=checks, work_minutes=minutes,
                              estimate_minutes=estimate, **fields):
            return Version.objects.get(pk=version.pk).status
        IMAGES.claim(OrderImage.objects.filter(pk=image.pk), "submit")
        failed = sum(1 for check in checks if check["passed"] is False)
        record_event(order=image.order, actor=version.created_by, verb="version.submitted", audience=Audience.STUDIO,
                     message=f"v{version.number} of {image.filename} handed to QC after {minutes} min "
                             f"(estimate {estimate or '—'} min); {failed} automated check{'s' if failed != 1 else ''} failed",
                     data={"image": str(image.pk), "version": str(version.pk)})
    return VersionStatus.IN_QC


VERSION_FILES = ingest.IngestKind(
    name="version", model=Version, table=VERSIONS, task="jobs.tasks.process_version", file_field="file",
    prefix=_version_prefix,
    final_key=lambda version: f"{_version_prefix(version)}/file.{ingest.key_extension(_label(version))}",
    may_complete=lambda user, version: version.created_by_id == user.pk and permissions.can_work_on(user, version.image),
    accept=_accept,
)


def version_checks(version: Version, preview_bytes: bytes, info: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the automated checks on the version's preview (our own WebP, made by the sandbox)."""
    image = version.image
    siblings = list(Version.objects.filter(image__order_id=image.order_id, status__in=[
        VersionStatus.IN_QC, VersionStatus.PASSED]).exclude(image=image).order_by("image_id", "-number")
        .distinct().values_list("width", "height"))
    if not siblings:  # no other version yet: the originals of the series are the reference
        siblings = list(OrderImage.objects.filter(order_id=image.order_id).exclude(pk=image.pk).accepted()
                        .values_list("width", "height"))
    configure_pillow(settings.LOUPE_MAX_IMAGE_PIXELS)
    with Image.open(io.BytesIO(preview_bytes), formats=["WEBP"]) as preview:
        preview.load()
        return run_checks(preview, info, GuideSpec.from_guide(image.order.style_guide), siblings=siblings,
                          tolerance=settings.LOUPE_BACKGROUND_DELTA_E)


@transaction.atomic
def image_start(*, image: OrderImage, by: User) -> OrderImage:
    """The assigned retoucher starts (or restarts, after QC or a revision) work on an image: the clock
    of minutes-to-submission starts. Refused for anyone else, before production, while the order is
    on hold, and outside the image's table edges."""
    image = OrderImage.objects.select_for_update().select_related("order").get(pk=image.pk)
    if not permissions.can_work_on(by, image):
        raise NotPermitted(f"{image.filename} is not assigned to you.")
    if image.order.status not in WORKING_ORDERS:
        raise InvalidTransition(f"Order {image.order.number} is {ORDERS.label(image.order.status)}; work waits until it "
                                "is back in production.")
    IMAGES.move(image, "start", refusal=f"{image.filename} is {{state}}; work can start once it is assigned, sent "
                                        "back by QC or in a revision round.")
    image.work_started_at = timezone.now()
    image.save(update_fields=["status", "work_started_at"])
    record_event(order=image.order, actor=by, verb="image.started", audience=Audience.STUDIO,
                 message=f"{by.full_name} started work on {image.filename}", data={"image": str(image.pk)})
    return image


def version_create(*, image: OrderImage, by: User, file: dict[str, Any], base_url: str = "") -> tuple[Version, dict[str, Any]]:
    """Declare a retouched file for an image in progress; returns the version and its upload target.
    Storage answers before the image's row is locked (no network call under a lock)."""
    image = OrderImage.objects.select_related("order").get(pk=image.pk)
    if not permissions.can_work_on(by, image):
        raise NotPermitted(f"{image.filename} is not assigned to you.")
    if image.status != ImageStatus.IN_PROGRESS:
        raise InvalidTransition(f"{image.filename} is {IMAGES.label(image.status)}; start work on it before uploading "
                                "a version.")
    ingest.check_declaration(file["name"], file["size"], file.get("sha256") or "")
    version = Version(image=image, created_by=by, filename=ingest.safe_filename(file["name"]), declared_size=file["size"],
                      declared_sha256=(file.get("sha256") or "").lower(),
                      content_type=(file.get("content_type") or "application/octet-stream")[:100])
    version.upload_key = ingest.upload_key(VERSION_FILES, version, version.filename)
    backend = get_backend()
    target = ingest.target(version, backend, base_url, f"/api/v1/versions/{version.pk}/")
    try:
        with transaction.atomic():
            locked = OrderImage.objects.select_for_update().get(pk=image.pk)
            if locked.status != ImageStatus.IN_PROGRESS:
                raise InvalidTransition(f"{image.filename} is {IMAGES.label(locked.status)}; start work on it first.")
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
    return ingest.complete(VERSION_FILES, version, by=by, parts=parts, label=_label(version))


def version_sign_part(*, version: Version, by: User, number: int, sha256: str, base_url: str = "") -> dict[str, Any]:
    """Sign one part of a version's multipart upload with its SHA-256 (``jobs.ingest.sign_part``)."""
    version = Version.objects.select_related("image").get(pk=version.pk)
    return ingest.sign_part(VERSION_FILES, version, by=by, number=number, sha256=sha256, label=_label(version),
                            base_url=base_url)


def version_parts(*, version: Version, by: User) -> dict[str, Any]:
    """The parts storage holds for a version's upload, to resume it (``jobs.ingest.list_parts``)."""
    version = Version.objects.select_related("image").get(pk=version.pk)
    return ingest.list_parts(VERSION_FILES, version, by=by, label=_label(version))


def version_process(*, version_id: Any) -> str:
    """The ``process_version`` task body (``jobs.ingest.process``)."""
    return ingest.process(VERSION_FILES, version_id, label=_label)


def sweep_stuck_versions(**kwargs: Any) -> dict[str, int]:
    return ingest.sweep(VERSION_FILES, **kwargs)


def qc_decide(*, version: Version, by: User, decision: str, category: str = "", note: str = "") -> Version:
    """QC passes a version (the image is ready to deliver) or sends it back to the same retoucher with
    a category and a note. One decision per version: a second reviewer at the same moment gets 409."""
    if not permissions.can_review_qc(by):
        raise NotPermitted("Only QC reviewers pass or send back work.")
    if decision not in {"pass", "reject"}:
        raise RuleViolation("The decision is pass or reject.", field="decision")
    note = (note or "").strip()
    if decision == "reject":
        if category not in QcCategory.values:
            raise RuleViolation(f"Choose what is wrong: {', '.join(QcCategory.values)}.", field="category")
        if not note:
            raise RuleViolation("Tell the retoucher what to fix.", field="notes")
    if len(note) > NOTE_MAX:
        raise RuleViolation(f"A note has at most {NOTE_MAX} characters.", field="notes")
    with transaction.atomic():
        version = Version.objects.select_for_update().select_related("image__order").get(pk=version.pk)
        action = "pass" if decision == "pass" else "fail"
        VERSIONS.check(action, version, f"v{version.number} of {version.image.filename} is {{state}}; it was decided "
                                        "already or is not waiting for QC.")
        fields = {"qc_by": by, "qc_at": timezone.now(), "qc_note": note, "qc_category": category if action == "fail" else ""}
        if not VERSIONS.claim(Version.objects.filter(pk=version.pk), action, **fields):
            raise InvalidTransition(f"v{version.number} was decided by someone else a moment ago.")
        image = version.image
        IMAGES.move(image, "qc_pass" if action == "pass" else "qc_reject",
                    refusal=f"{image.filename} is {{state}}, not waiting for QC.")
        image.save(update_fields=["status"])
        if action == "pass":
            record_event(order=image.order, actor=by, verb="version.qc_passed", audience=Audience.STUDIO,
                         message=f"QC passed v{version.number} of {image.filename}", data={"image": str(image.pk)})
        else:
            record_event(order=image.order, actor=by, verb="version.qc_rejected", audience=Audience.STUDIO,
                         message=f"QC sent v{version.number} of {image.filename} back: "
                                 f"{QcCategory(category).label.lower()} — {note}",
                         data={"image": str(image.pk), "version": str(version.pk), "category": category,
                               "retoucher": str(version.created_by_id) if version.created_by_id else None})
    version.refresh_from_db()
    return version


VERSION_DOWNLOADS = {"file": "original", "preview": "preview", "thumbnail": "thumbnail"}
IMAGE_DOWNLOADS = (*DOWNLOADS, "version", "delivery")


def image_download_url(*, image: OrderImage, by: User, what: str) -> str:
    """A short-lived link for one image, after the permission check (DESIGN.md §7): ``original``,
    ``preview`` or ``thumbnail`` of the client's file; ``version``, the preview of the latest retouched
    version the user may see (for clients, the latest one delivered to them); ``delivery``, the ZIP of
    the latest ready delivery that holds the image."""
    if what == "version":
        version = (scope(Version.objects.filter(image=image), by).exclude(preview="")
                   .order_by("-number").first())
        if version is None:
            shown = "delivered" if by.is_client else "checked"
            raise InvalidTransition(f"{image.filename} has no retouched version {shown} yet.")
        return _version_file_url(version, by, "preview")
    if what == "delivery":
        delivery = (scope(Delivery.objects.filter(items__image=image, status=DeliveryStatus.READY), by)
                    .order_by("-created_at", "-number").first())
        if delivery is None:
            raise InvalidTransition(f"{image.filename} is in no delivery ready to download yet.")
        return delivery_download_url(delivery=delivery, by=by)
    if what not in IMAGE_DOWNLOADS:
        raise RuleViolation(f"'what' must be one of {', '.join(IMAGE_DOWNLOADS)}.", field="what")
    return original_download_url(image=image, by=by, what=what)


def version_download_url(*, version: Version, by: User, what: str) -> str:
    """A short-lived link to a version's file or previews, after the permission check: clients get
    the previews of versions published to them; the file itself is for the studio."""
    if what not in VERSION_DOWNLOADS:
        raise RuleViolation(f"'what' must be one of {', '.join(VERSION_DOWNLOADS)}.", field="what")
    if what == "file" and (by.is_client or not permissions.can_download_original(by, version.image.order)):
        raise NotPermitted("The retouched master is for the studio; clients download their delivery.")
    assert set(VERSION_DOWNLOADS.values()) <= set(DOWNLOADS)
    return _version_file_url(version, by, VERSION_DOWNLOADS[what])


def _version_file_url(version: Version, by: User, what: str) -> str:
    """A version's file or previews; a client whose order is paid before download gets watermarked
    previews until the invoice is paid (``jobs.payment_holds``)."""
    if what != "original" and payment_holds.is_held(version.image.order, by):
        stored = getattr(version, what)
        if not stored:
            raise InvalidTransition(f"{_label(version)} has no {what} yet.")
        key = payment_holds.held_preview(stored.name)
        return get_backend().download_url(key, filename=f"{_label(version)}_{what}_proof.webp",
                                          content_type="image/webp", inline=True)
    return file_download_url(version, what=what, filename=_label(version), file_field="file")


def version_make_reference(*, version: Version, by: User) -> Any:
    """Make an approved version's preview the golden reference of its order's style guide (the
    guide's current version; a new version when the guide is in use). For whoever may edit the guide."""
    version = Version.objects.select_related("image__order__style_guide__client").get(pk=version.pk)
    guide = version.image.order.style_guide
    if not can_edit_style_guide(by, guide.client):
        raise NotPermitted("Only the client's users or an account manager change the style guide.")
    if not version.approved or not version.preview:
        raise InvalidTransition(f"v{version.number} of {version.image.filename} is not approved; only approved work "
                                "becomes the reference.")
    current = StyleGuide.objects.get(family=guide.family, is_current=True)
    key = f"clients/{guide.client_id}/style-guides/{guide.family}/reference-{version.pk}.webp"
    with default_storage.open(version.preview.name, "rb") as source:
        stored = ingest.store(key, source.read())
    return style_guide_set_reference(guide=current, by=by, key=stored, label=f"{version.image.filename} (v{version.number})")
