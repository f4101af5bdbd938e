"""Files leave Loupe here: short-lived links to an original, its previews, a retouched version or a
delivery's package, each after the permission check, watermarked while an order is held for payment
(``jobs.review.payment_holds``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.permissions import is_client_user
from agency.uploads import get_backend
from clients.tenancy import scope
from jobs import permissions
from jobs.models import Delivery, DeliveryStatus, OrderImage, Version
from jobs.production.versions import version_label
from jobs.review import payment_holds
from jobs.review.deliveries import delivery_download_url

DOWNLOADS = {"original": ("original", None), "preview": ("preview", "image/webp"), "thumbnail": ("thumbnail", "image/webp")}


# Originals go out with the type Loupe detected from their bytes, never the one the client declared.
DETECTED_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "PSD": "image/vnd.adobe.photoshop",
                  "PSB": "image/vnd.adobe.photoshop", "WEBP": "image/webp"}


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
            shown = "delivered" if is_client_user(by) else "checked"
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
    if what == "file" and not permissions.can_download_master(by, version.image.order):
        raise NotPermitted("The retouched master is for the studio; clients download their delivery.")
    assert set(VERSION_DOWNLOADS.values()) <= set(DOWNLOADS)
    return _version_file_url(version, by, VERSION_DOWNLOADS[what])


def _version_file_url(version: Version, by: User, what: str) -> str:
    """A version's file or previews; a client whose order is paid before download gets watermarked
    previews until the invoice is paid (``jobs.review.payment_holds``)."""
    if what != "original" and payment_holds.is_held(version.image.order, by):
        stored = getattr(version, what)
        if not stored:
            raise InvalidTransition(f"{version_label(version)} has no {what} yet.")
        key = payment_holds.held_preview(stored.name)
        return get_backend().download_url(key, filename=f"{version_label(version)}_{what}_proof.webp",
                                          content_type="image/webp", inline=True)
    return file_download_url(version, what=what, filename=version_label(version), file_field="file")


def file_download_url(row: Any, *, what: str, filename: str, file_field: str) -> str:
    """A short-lived link to one stored file of an original or a version (after the caller's checks)."""
    field, content_type = DOWNLOADS[what]
    field = file_field if what == "original" else field
    stored = getattr(row, field)
    if not stored:
        from jobs.retention import deleted_because

        order = row.order if isinstance(row, OrderImage) else row.image.order
        raise InvalidTransition(deleted_because(order, filename) or f"{filename} has no {what} yet.")
    name = filename if what == "original" else f"{Path(filename).stem}_{what}.webp"
    detected = DETECTED_TYPES.get(row.format.upper(), "application/octet-stream")
    return get_backend().download_url(stored.name, filename=name, content_type=content_type or detected,
                                      inline=what != "original")


def original_download_url(*, image: OrderImage, by: User, what: str) -> str:
    """A short-lived link to the client's file or its previews, after the permission check."""
    if what not in DOWNLOADS:
        raise RuleViolation(f"'what' must be one of {', '.join(DOWNLOADS)}.", field="what")
    if what == "original" and not permissions.can_download_original(by, image.order):
        raise NotPermitted("Your role cannot download originals.")
    return file_download_url(image, what=what, filename=image.filename, file_field="original")
