"""Decisions by several people (issue 22). Every reviewer's decision on every delivered picture is kept
(``ReviewDecision``: a person with an account or a guest's review link, one per reviewer and version, the latest
answer standing until the company decides). A delivery may name **required reviewers** (``RequiredReviewer``):
then a picture is approved for the company once every one of them still able to decide approved it. The company's
admins and the studio's managers acting for it decide alone, whatever the delivery names; a request for changes
from anyone who may review opens the revision round at once (one "changes" is enough, as in the proofing tools
studios know). ``jobs.review.proofing`` calls here inside its transaction (the order's row locked, so two
reviewers deciding at once are taken one after the other); pages, the API and the webhooks read the tallies.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from agency.exceptions import RuleViolation
from agency.permissions import is_guest
from clients.tenancy import scope
from jobs import selectors
from jobs.models import DeliveryItem, ImageStatus, OrderImage, RequiredReviewer, ReviewDecision, ShareLink, Verdict

MAX_REQUIRED = 20


@dataclass
class Tally:
    """What the reviewers of one delivered picture said: ``approved`` and ``changes`` of ``of`` reviewers (the
    required ones when the delivery names them, otherwise everyone who answered), and each reviewer's status."""

    delivery_id: Any = None  # the delivery that last published the picture (its reviewers are that delivery's)
    approved: int = 0
    changes: int = 0
    of: int = 0
    required: bool = False
    reviewers: list[dict[str, Any]] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {"approved": self.approved, "changes": self.changes, "of": self.of, "required": self.required,
                "reviewers": self.reviewers}


def _who(by: Any) -> dict[str, Any]:
    return {"reviewer_share": by} if is_guest(by) else {"reviewer": by}


def record(*, by: Any, decisions: list[tuple[DeliveryItem, str, str]]) -> None:
    """``by``'s decision on each picture (its latest delivery item, ``Verdict``, the note): one row per reviewer and
    version, replaced when they answer again. Three queries however many pictures (the caller holds the order's lock)."""
    now = timezone.now()
    kept = {row.version_id: row for row in ReviewDecision.objects.filter(
        version_id__in=[item.version_id for item, _, _ in decisions], **_who(by))}
    fresh, changed = [], []
    for item, verdict, note in decisions:
        row = kept.get(item.version_id) or ReviewDecision(version_id=item.version_id, **_who(by))
        row.delivery_id, row.image_id, row.verdict, row.note, row.decided_at = (
            item.delivery_id, item.image_id, verdict, note[:2000], now)
        (changed if row.pk else fresh).append(row)
    ReviewDecision.objects.bulk_create(fresh)
    ReviewDecision.objects.bulk_update(changed, ["delivery", "image", "verdict", "note", "decided_at"])


def may_decide(link: ShareLink) -> bool:
    """A guest who can answer for the company: their link lasts and lets them decide."""
    return link.is_active and link.can_decide


def still_deciding(required: RequiredReviewer) -> bool:
    """A required reviewer who can still answer: an active person of the company, or a guest who ``may_decide``.
    Whoever left is not waited for (the company's admins can always decide)."""
    if required.share_id is not None:
        return may_decide(required.share)
    return required.user.is_active and required.user.is_client  # a target's role


def required_of(delivery_ids: Any) -> dict[Any, list[RequiredReviewer]]:
    """Each delivery's required reviewers, with their accounts and links (one query)."""
    rows: dict[Any, list[RequiredReviewer]] = defaultdict(list)
    for row in RequiredReviewer.objects.filter(delivery_id__in=delivery_ids).select_related("user", "share"):
        rows[row.delivery_id].append(row)
    return rows


def _approvals(version_ids: set[Any]) -> set[tuple[Any, Any, Any]]:
    return set(ReviewDecision.objects.filter(version_id__in=version_ids, verdict=Verdict.APPROVED)
               .values_list("version_id", "reviewer_id", "reviewer_share_id"))


def awaited(latest: dict[Any, DeliveryItem]) -> dict[Any, list[str]]:
    """Of the pictures given (image → its latest delivery item), those whose delivery names required reviewers not
    all of whom approved that version yet, with the names still awaited. Two queries."""
    required = required_of({item.delivery_id for item in latest.values()})
    approvals = _approvals({item.version_id for item in latest.values()})
    waiting: dict[Any, list[str]] = {}
    for image_id, item in latest.items():
        names = [r.name for r in required.get(item.delivery_id, []) if still_deciding(r)
                 and (item.version_id, r.user_id, r.share_id) not in approvals]
        if names:
            waiting[image_id] = names
    return waiting


def agreed(delivery: Any) -> list[Any]:
    """The delivery's pictures still waiting for the company whose every required reviewer approved them (after the
    list of required reviewers changed)."""
    if not RequiredReviewer.objects.filter(delivery=delivery).exists():
        return []
    latest = {pk: item for pk, item in selectors.delivered_items(list(
        OrderImage.objects.filter(delivery_items__delivery=delivery, status=ImageStatus.DELIVERED).values_list(
            "pk", flat=True))).items()
        if item.delivery_id == delivery.pk}
    waiting = awaited(latest)
    return [pk for pk in latest if pk not in waiting]


def tallies(user: Any, images: list[Any]) -> dict[Any, Tally]:
    """Per image (ids or rows the caller scoped), the tally of its latest delivered version, as ``user`` may read the
    decisions; ``None``: the company's own record, for its webhooks. Three queries."""
    latest = selectors.delivered_items(images)
    required = required_of({item.delivery_id for item in latest.values()})
    said: dict[Any, list[ReviewDecision]] = defaultdict(list)
    decisions = ReviewDecision.objects.filter(version_id__in={i.version_id for i in latest.values()})
    for row in ((decisions if user is None else scope(decisions, user))
                .select_related("reviewer", "reviewer_share").order_by("decided_at", "id")):
        said[row.version_id].append(row)
    result = {}
    for image_id, item in latest.items():
        named = [r for r in required.get(item.delivery_id, []) if still_deciding(r)]
        rows = said.get(item.version_id, [])
        by_key = {(row.reviewer_id, row.reviewer_share_id): row for row in rows}
        people = []
        for r in named:
            row = by_key.pop((r.user_id, r.share_id), None)
            people.append(_status(r.name, r.share_id is not None, True, row))
        people += [_status(row.reviewer_name, row.reviewer_share_id is not None, False, row) for row in by_key.values()]
        counted = people if not named else people[:len(named)]
        result[image_id] = Tally(delivery_id=item.delivery_id, approved=sum(p["decision"] == Verdict.APPROVED for p in counted),
                                 changes=sum(p["decision"] == Verdict.CHANGES for p in counted),
                                 of=len(counted), required=bool(named), reviewers=people)
    return result


def _status(name: str, guest: bool, required: bool, row: ReviewDecision | None) -> dict[str, Any]:
    return {"name": name, "guest": guest, "required": required, "decision": row.verdict if row else "waiting",
            "note": row.note if row else "", "at": row.decided_at.isoformat() if row else None}


def company_people(order: Any) -> list[Any]:
    """The people of the order's company who can be required reviewers: its active accounts, by name."""
    from agency.models import User

    return sorted(User.objects.filter(is_active=True, membership__client_id=order.client_id),
                  key=lambda u: u.full_name.lower())


def reviewers_for(delivery: Any) -> dict[str, list[Any]]:
    """Whom a delivery could require: the company's active people, and the guests whose live link to it may decide."""
    people = company_people(delivery.order)
    links = [link for link in ShareLink.objects.filter(delivery=delivery, can_decide=True, revoked_at__isnull=True)
             if may_decide(link)]
    return {"users": people, "shares": links}


def chosen(delivery: Any, users: list[Any], shares: list[Any]) -> tuple[list[Any], list[Any]]:
    """The people and links named, each checked against ``reviewers_for``; anything else is a 400 naming it."""
    offered = reviewers_for(delivery)
    people = {str(u.pk): u for u in offered["users"]}
    links = {str(link.pk): link for link in offered["shares"]}
    user_ids, share_ids = list(dict.fromkeys(map(str, users))), list(dict.fromkeys(map(str, shares)))
    if len(user_ids) + len(share_ids) > MAX_REQUIRED:
        raise RuleViolation(f"Name at most {MAX_REQUIRED} required reviewers.", field="users")
    if any(pk not in people for pk in user_ids):
        raise RuleViolation(f"A required reviewer is a person of {delivery.order.client.name} with an active account.",
                            field="users")
    if any(pk not in links for pk in share_ids):
        raise RuleViolation("A guest is a required reviewer only while their link to this delivery lasts and lets them "
                            "decide.", field="shares")
    return [people[pk] for pk in user_ids], [links[pk] for pk in share_ids]
