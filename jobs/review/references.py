"""The golden reference: an approved version's preview becomes the picture the style guide judges
later work against."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage

from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import User
from clients.models import StyleGuide
from clients.services import style_guide_set_reference
from jobs import permissions
from jobs.intake import ingest
from jobs.models import Version
from jobs.review import payment_holds


def can_make_reference(user: Any, version: Version) -> bool:
    """Show "Make it the golden reference": who may choose it, on approved work whose order is not held
    for payment."""
    order = version.image.order
    return (permissions.can_choose_reference(user, order) and version.approved and bool(version.preview)
            and not order.downloads_held)


def version_make_reference(*, version: Version, by: User) -> Any:
    """Make an approved version's preview the golden reference of its order's style guide (the
    guide's current version; a new version when the guide is in use). For the company's admins and the
    studio's managers; refused for work that is not approved, and while the order is held for payment
    (the reference is a copy of the work: a held order's work leaves no way until it is paid)."""
    version = Version.objects.select_related("image__order__style_guide__client").get(pk=version.pk)
    order = version.image.order
    guide = order.style_guide
    if not permissions.can_choose_reference(by, order):
        raise NotPermitted("Only the company's admins or the studio's account managers choose the golden reference.")
    if not version.approved or not version.preview:
        raise InvalidTransition(f"This version of {version.image.filename} is not approved; only approved work "
                                "becomes the reference.")
    payment_holds.check_download(order, by)
    if order.downloads_held:
        raise InvalidTransition(f"Order {order.number} is paid before download; its work can become the reference once "
                                "its invoice is paid.")
    current = StyleGuide.objects.get(family=guide.family, is_current=True)
    key = f"clients/{guide.client_id}/style-guides/{guide.family}/reference-{version.pk}.webp"
    with default_storage.open(version.preview.name, "rb") as source:
        stored = ingest.store(key, source.read())
    return style_guide_set_reference(guide=current, by=by, key=stored, label=f"{version.image.filename} (order {order.number})")
