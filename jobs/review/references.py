"""The golden reference: an approved version's preview becomes the picture the style guide judges
later work against."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage

from agency.exceptions import InvalidTransition, NotPermitted
from agency.models import User
from clients.models import StyleGuide
from clients.permissions import can_edit_style_guide
from clients.services import style_guide_set_reference
from jobs.intake import ingest
from jobs.models import Version


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
