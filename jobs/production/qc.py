"""Quality control: QC passes a retouched version (its image is ready to deliver) or sends it back to
the same retoucher with a category and a note. One decision per version, claimed on the table."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from jobs import permissions
from jobs.events import record_event
from jobs.models import Audience, QcCategory, Version
from jobs.workflow import IMAGES, VERSIONS

NOTE_MAX = 2000


def can_decide(user: Any, version: Version) -> bool:
    """Show Pass and Send back: a QC reviewer, on a version waiting for QC."""
    return permissions.can_review_qc(user) and VERSIONS.can("pass", version)


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
