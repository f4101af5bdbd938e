"""Client proofing: approve delivered images, or request changes with numbered marks and a note, which
opens revision round N with its own SLA target. Rounds beyond the client's free rounds that contain
change items are billable: they wait for a client admin's confirmation, and billing records their
charge (``revision_round_changed``). The account manager classes each item as defect or change.
When every image is approved the order completes and its final files are packed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from agency import live
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.notifications import notify
from agency.permissions import is_guest
from clients import webhooks
from clients.models import WebhookEvent
from clients.tenancy import scope
from jobs import permissions, selectors, workflow
from jobs.events import on_behalf, record_event
from jobs.models import (
    REVIEWABLE,
    Annotation,
    Audience,
    Delivery,
    DeliveryItem,
    DeliveryKind,
    DeliveryStatus,
    ImageStatus,
    ItemKind,
    Order,
    OrderImage,
    OrderStatus,
    RequiredReviewer,
    RevisionItem,
    RevisionRound,
    RoundStatus,
    Verdict,
    Version,
)
from jobs.notifications import client_users
from jobs.production import pilots
from jobs.review import annotations, deliveries, reviewers, shares
from jobs.workflow import IMAGES, ROUNDS

logger = logging.getLogger("loupe.review")
MAX_MARKS = 50
TEXT_MAX = 2000

# Sent inside the transaction whenever a round's billable content may have changed (opened,
# confirmed, reclassed): billing prices it from the client's price list and records the charge.
revision_round_changed = Signal()  # kwargs: round


def beyond_free_rounds(client: Any, number: int) -> bool:
    """Is round ``number`` past the client's free rounds? With N free rounds, round N is free and round
    N + 1 is not."""
    return number > client.free_revision_rounds


def change_count(round_: RevisionRound) -> int:
    """The round's change items (what the client wants beyond the brief); defects are never counted."""
    return round_.items.filter(kind=ItemKind.CHANGE).count()


def is_billable_round(client: Any, number: int, changes: int) -> bool:
    """The one answer to "is this revision round billable?": beyond the free rounds and with at least
    one change item (defects, the studio's misses, are always free). The round, its charge in billing
    and the proofing page all ask here."""
    return beyond_free_rounds(client, number) and changes > 0


@dataclass
class ReviewResult:
    approved: int
    round: RevisionRound | None
    completed: bool
    # pictures this reviewer approved that wait for other required reviewers: filename → the names awaited
    waiting: dict[str, list[str]] = field(default_factory=dict)

    def waiting_note(self) -> str:
        """What the pages tell a reviewer whose approval waits for the others ("" when none does)."""
        return " ".join(f"Your approval of {name} is noted; it waits for {_names(names)}."
                        for name, names in self.waiting.items())


def _locked_order(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("client").get(pk=order.pk)


def _latest_delivered(image_ids: list[Any]) -> dict[Any, Version]:
    """The version each image was last published with (the rule is ``selectors.delivered_versions``)."""
    return {image_id: version for image_id, (_, version) in selectors.delivered_versions(image_ids).items()}


def _pending(image_ids: list[Any]) -> set[Any]:
    return set(RevisionItem.objects.filter(image_id__in=image_ids, round__status=RoundStatus.AWAITING_CONFIRMATION)
               .values_list("image_id", flat=True))


def _clean_text(value: str, field: str, *, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise RuleViolation("Write what should change.", field=field)
    if len(text) > TEXT_MAX:
        raise RuleViolation(f"A note has at most {TEXT_MAX} characters.", field=field)
    return text


def _check_items(order: Order, items: list[dict[str, Any]]) -> dict[Any, OrderImage]:
    if not items:
        raise RuleViolation("Choose at least one image to approve or revise.", field="items")
    ids = [item["image"] for item in items]
    if len(set(ids)) != len(ids):
        raise RuleViolation("An image appears twice in this review.", field="items")
    images = {i.pk: i for i in OrderImage.objects.filter(order=order, pk__in=ids)}
    if len(images) != len(ids):
        raise RuleViolation("Some of these images are not part of this order's deliveries.", field="items")
    published = set(DeliveryItem.objects.filter(image_id__in=ids).values_list("image_id", flat=True))
    not_delivered = [i for i in images.values() if i.pk not in published]
    if not_delivered:
        raise RuleViolation(f"{not_delivered[0].filename} was not delivered to you; only delivered images are reviewed.",
                            field="items")
    pending = _pending(ids)
    for image in images.values():
        if image.status != ImageStatus.DELIVERED:
            raise InvalidTransition(f"{image.filename} is {IMAGES.label(image.status)} already; reload the page.")
        if image.pk in pending:
            raise InvalidTransition(f"Changes to {image.filename} wait for your admin's confirmation.")
    for item in items:
        if item["decision"] == "revise":
            item["note"] = _clean_text(item.get("note", ""), "items")
            marks, drawn = item.get("marks") or [], item.get("annotations") or []
            if not item["note"] and not marks and not drawn:
                raise RuleViolation(f"Say what should change on {images[item['image']].filename}: a note or a mark.",
                                    field="items")
            if len(marks) + len(drawn) > MAX_MARKS:
                raise RuleViolation(f"At most {MAX_MARKS} marks per image and round.", field="marks")
    return images


@transaction.atomic
def review_submit(*, order: Order, by: User, items: list[dict[str, Any]], note: str = "",
                  confirm: bool = False) -> ReviewResult:
    """Approve or revise delivered images in one go. ``items``: ``[{"image", "decision": "approve" |
    "revise", "note", "kind": "defect" | "change", "marks": [{"target", "text"}], "annotations": [ids]}]``:
    new marks (W3C targets in the delivered version's pixels) and marks already drawn on it. A billable round is
    opened at once only when a client admin sends it with ``confirm`` (having seen the price);
    otherwise it waits for their confirmation. Refused without a permission (403), on an order that is
    not waiting for a review or an image that is not delivered (409), and for malformed items (400)."""
    order = _locked_order(order)
    if not permissions.can_review_delivery(by, order):
        raise NotPermitted("Only the client's users (or their account manager) review deliveries.")
    if order.status not in REVIEWABLE:
        raise InvalidTransition(f"Order {order.number} is {workflow.ORDERS.label(order.status)}; there is nothing to review.")
    note = _clean_text(note, "note")
    images = _check_items(order, items)
    # A guest (a review link that may decide) decides for the company on their link's pictures only, and is
    # nobody's account: the rows and the workflow name no user, the timeline names them ("by Dora (guest)").
    guest = by if is_guest(by) else None
    actor = None if guest else by
    if guest is not None:
        _check_guest_items(guest, items, images)
    latest = selectors.delivered_items(list(images))
    versions = {pk: item.version for pk, item in latest.items()}
    approve = [item["image"] for item in items if item["decision"] == "approve"]
    revise = [item for item in items if item["decision"] == "revise"]
    behalf = on_behalf(by, order)
    # each reviewer's own decision is kept; with required reviewers named, a member's or a guest's approval
    # waits for the others (the company's admins and the studio's managers decide alone)
    reviewers.record(by=by, decisions=[(latest[item["image"]], Verdict.APPROVED if item["decision"] == "approve"
                                        else Verdict.CHANGES, item.get("note") or "") for item in items])
    waiting = {} if permissions.decides_review_alone(by, order) else reviewers.awaited({pk: latest[pk] for pk in approve})
    if waiting:
        approve = [pk for pk in approve if pk not in waiting]
        who = by.full_name if actor else guest.display_name
        for pk, names in waiting.items():
            record_event(audience=Audience.CLIENT, order=order, actor=actor, verb="review.decided",
                         message=f"{who} approved {images[pk].filename}; it waits for {_names(names)}",
                         data={"image": str(pk), "awaiting": names, **_guest_data(guest)})
    if approve:
        _approve(order, approve, images, versions, actor=actor, how=behalf, data=_guest_data(guest))
    round_ = _open_round(order, actor, revise, images, versions, note, confirm=confirm, behalf=behalf,
                         guest=guest) if revise else None
    if guest is not None:
        shares.noted_decisions(guest, approved=[images[pk].filename for pk in [*approve, *waiting]],
                               revised=[images[item["image"]].filename for item in revise])
    reviewers_webhook(order, by, [latest[item["image"]] for item in items], images)
    for delivery_id in {latest[item["image"]].delivery_id for item in items}:  # open review pages, a guest's too
        live.publish(f"review:{delivery_id}", "review.decided", ref=delivery_id)
    completed = _complete_if_done(order, actor)
    return ReviewResult(len(approve), round_, completed, {images[pk].filename: names for pk, names in waiting.items()})


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _approve(order: Order, approve: list[Any], images: dict[Any, OrderImage], versions: dict[Any, Version], *,
             actor: Any, how: str, data: dict[str, Any]) -> None:
    """Approve pictures for the company: their status, their versions, one timeline line (``how`` says by whom)."""
    if IMAGES.claim(OrderImage.objects.filter(pk__in=approve), "approve", approved_at=timezone.now()) != len(approve):
        raise InvalidTransition("Some of these images were reviewed by someone else a moment ago; reload the page.")
    Version.objects.filter(pk__in=[versions[pk].pk for pk in approve]).update(approved=True)
    names = ", ".join(images[pk].filename for pk in approve[:3]) + ("…" if len(approve) > 3 else "")
    record_event(audience=Audience.CLIENT, order=order, actor=actor, verb="images.approved",
                 message=f"{len(approve)} image{'s' if len(approve) != 1 else ''} approved{how}: {names}",
                 data={"images": [str(pk) for pk in approve], **data})


def reviewers_webhook(order: Order, by: Any, items: list[DeliveryItem], images: dict[Any, OrderImage]) -> None:
    """``review.decided`` for the company's and the studio's endpoints: who decided what on which pictures, and
    each picture's reviewers with their status (the company's decision is the image's status, as it is now). The
    tallies are counted only when an endpoint wants the event."""

    def payload() -> dict[str, Any]:
        ids = [item.image_id for item in items]
        tallies = reviewers.tallies(None, ids)
        status = dict(OrderImage.objects.filter(pk__in=ids).values_list("pk", "status"))
        pictures = [{"image": {"id": str(item.image_id), "filename": images[item.image_id].filename,
                               "status": status[item.image_id]},
                     "delivery": item.delivery.number, "version": item.version.number,
                     "reviews": tallies[item.image_id].as_data()} for item in items]
        reviewer = ({"name": by.guest_name or by.email, "email": by.email, "guest": True} if is_guest(by)
                    else {"id": str(by.pk), "name": by.full_name, "guest": False})
        return {**webhooks.order_data(order), "reviewer": reviewer, "pictures": pictures}

    webhooks.emit(WebhookEvent.REVIEW_DECIDED, client_id=order.client_id, data=payload)


def _guest_data(guest: Any) -> dict[str, Any]:
    return {"guest": {"share": str(guest.pk), "name": guest.guest_name, "email": guest.email}} if guest else {}


def _check_guest_items(guest: Any, items: list[dict[str, Any]], images: dict[Any, OrderImage]) -> None:
    """A guest decides on the pictures of their link's delivery; their changes are a note and the marks they drew
    on the canvas themselves (saved as they drew them, ``jobs.review.annotations``), never anyone else's."""
    theirs = set(scope(OrderImage.objects.filter(pk__in=list(images)), guest).values_list("pk", flat=True))
    for item in items:
        if item["image"] not in theirs:
            raise RuleViolation(f"{images[item['image']].filename} is not part of your review.", field="items")
        if item.get("marks"):
            raise RuleViolation("Draw your marks on the picture first; they are sent with your changes.", field="marks")
        drawn = {str(pk) for pk in item.get("annotations") or []}
        if drawn and Annotation.objects.filter(pk__in=drawn, author_share=guest).count() != len(drawn):
            raise RuleViolation("Only the marks you drew are sent with your changes.", field="annotations")


def _open_round(order: Order, by: User | None, revise: list[dict[str, Any]], images: dict[Any, OrderImage],
                versions: dict[Any, Version], note: str, *, confirm: bool, behalf: str = "",
                guest: Any = None) -> RevisionRound:
    number = order.revision_rounds.count() + 1
    kinds = [item.get("kind") or ItemKind.CHANGE for item in revise]
    if any(kind not in ItemKind.values for kind in kinds):
        raise RuleViolation("Each change is a defect or a change.", field="items")
    billable = is_billable_round(order.client, number, kinds.count(ItemKind.CHANGE))
    awaiting = billable and not (confirm and permissions.can_confirm_round(by, order))
    round_ = RevisionRound.objects.create(order=order, number=number, note=note, billable=billable, requested_by=by,
                                          requested_by_share=guest,
                                          status=RoundStatus.AWAITING_CONFIRMATION if awaiting else RoundStatus.OPEN,
                                          confirmed_by=None if awaiting or not billable else by,
                                          confirmed_at=None if awaiting or not billable else timezone.now())
    made = RevisionItem.objects.bulk_create([
        RevisionItem(round=round_, image_id=item["image"], version=versions.get(item["image"]), note=item["note"],
                     proposed_kind=kind, kind=kind) for item, kind in zip(revise, kinds, strict=True)])
    _attach_marks(made, revise, images, versions)
    annotations.add_marks([annotations.NewMark(images[item["image"]], versions.get(item["image"]), mark.get("target"),
                                               mark.get("text"), row)
                           for row, item in zip(made, revise, strict=True) for mark in item.get("marks") or []],
                          by=by, audience=Audience.CLIENT)  # the client's request, whoever sends it
    changes = kinds.count(ItemKind.CHANGE)
    if awaiting:
        asked = f", asked{behalf}," if guest is not None else ""
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="revision.awaiting_confirmation",
                     message=f"Revision round {number}{asked} waits for a client admin's confirmation: {changes} "
                             f"change{'s' if changes != 1 else ''} beyond the free rounds are billable",
                     data={"round": str(round_.pk), **_guest_data(guest)})
    else:
        _start_round(order, round_, by, behalf=behalf if guest is not None else None)
    revision_round_changed.send(sender=RevisionRound, round=round_)
    return round_


def _attach_marks(made: list[RevisionItem], revise: list[dict[str, Any]], images: dict[Any, OrderImage],
                  versions: dict[Any, Version]) -> None:
    """Marks the client drew on the delivered version before the review (client-visible, not yet sent)
    join their item; anything else named is refused."""
    for row, item in zip(made, revise, strict=True):
        drawn = list(dict.fromkeys(str(pk) for pk in item.get("annotations") or []))
        if not drawn:
            continue
        image = images[item["image"]]
        joined = Annotation.objects.filter(pk__in=drawn, image=image, version=versions.get(item["image"]),
                                           audience=Audience.CLIENT, deleted_at__isnull=True,
                                           item__isnull=True).update(item=row)
        if joined != len(drawn):
            raise RuleViolation(f"Some marks are not on the version of {image.filename} you are reviewing, or were "
                                "sent already; reload the page.", field="annotations")


def _start_round(order: Order, round_: RevisionRound, by: User | None, behalf: str | None = None) -> None:
    image_ids = list(round_.items.values_list("image_id", flat=True))
    if IMAGES.claim(OrderImage.objects.filter(pk__in=image_ids), "request_revision") != len(image_ids):
        raise InvalidTransition("Some of these images were reviewed by someone else a moment ago; reload the page.")
    count = len(image_ids)
    behalf = on_behalf(by, order) if behalf is None else behalf
    message = f"Revision round {round_.number} opened{behalf}: changes requested on {count} " \
              f"image{'s' if count != 1 else ''}"
    data = {"round": str(round_.pk), "images": [str(pk) for pk in image_ids]}
    if order.status == OrderStatus.DELIVERED:  # the order's own transition is the timeline line
        workflow.order_request_revision(order=order, by=by, message=message, data=data)
    else:
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="revision.requested", message=message, data=data)


def _complete_if_done(order: Order, by: User | None) -> bool:
    if pilots.ready_to_release(order):  # the pilot's last approval starts the rest, if any
        pilots.release(order=order, by=by)
    images = OrderImage.objects.filter(order=order).accepted()
    if order.status != OrderStatus.DELIVERED or images.exclude(status=ImageStatus.APPROVED).exists():
        return False
    workflow.order_complete(order=order, by=by, message="Every image approved; the order is complete")
    deliveries.delivery_final(order=order, by=by)
    return True


@transaction.atomic
def round_answer(*, round_: RevisionRound, by: User, confirm: bool) -> RevisionRound:
    """A client admin confirms a billable round (it opens, with its own SLA target) or declines it
    (the images stay delivered, to approve or revise differently)."""
    order = _locked_order(round_.order)
    if not permissions.can_confirm_round(by, order):
        raise NotPermitted("Only an admin of the client's company confirms a billable revision round.")
    round_ = RevisionRound.objects.select_for_update().get(pk=round_.pk)
    ROUNDS.move(round_, "confirm" if confirm else "decline",
                refusal=f"Revision round {round_.number} is {{state}}; only a round waiting for confirmation is answered.")
    if confirm:
        round_.confirmed_by, round_.confirmed_at = by, timezone.now()
        round_.save(update_fields=["status", "confirmed_by", "confirmed_at"])
        _start_round(order, round_, by)
        revision_round_changed.send(sender=RevisionRound, round=round_)
    else:
        round_.save(update_fields=["status"])
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="revision.declined",
                     message=f"Revision round {round_.number} was not confirmed; its images stay delivered",
                     data={"round": str(round_.pk)})
        revision_round_changed.send(sender=RevisionRound, round=round_)
    return round_


@transaction.atomic
def item_reclassify(*, item: RevisionItem, by: User, kind: str, reason: str) -> RevisionItem:
    """The account manager classes a revision item as defect (the studio missed the brief: free, and
    counted against first-time approval) or change (billable beyond the free rounds), with a reason
    that the client reads on the timeline."""
    if not permissions.can_classify_revisions(by):
        raise NotPermitted("Only an account manager classes revision items.")
    if kind not in ItemKind.values:
        raise RuleViolation("The class is defect or change.", field="kind")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise RuleViolation("Give the client a reason (at most 500 characters).", field="reason")
    order = _locked_order(item.round.order)
    item = RevisionItem.objects.select_for_update().select_related("round", "image").get(pk=item.pk)
    if item.kind == kind:
        raise RuleViolation(f"{item.image.filename} is already classed as {kind}.", field="kind")
    before = item.kind
    item.kind, item.reclass_reason, item.reclassed_by = kind, reason, by
    item.save(update_fields=["kind", "reclass_reason", "reclassed_by"])
    round_ = item.round
    round_.billable = is_billable_round(order.client, round_.number, change_count(round_))
    round_.save(update_fields=["billable"])
    record_event(audience=Audience.CLIENT, order=order, actor=by, verb="revision.reclassed",
                 message=f"{item.image.filename} in round {round_.number} classed as {kind} (was {before}): {reason}",
                 data={"round": str(round_.pk), "item": str(item.pk), "from": before, "to": kind})
    revision_round_changed.send(sender=RevisionRound, round=round_)
    return item


@transaction.atomic
def required_reviewers_set(*, delivery: Delivery, by: User, users: list[Any], shares: list[Any]) -> list[RequiredReviewer]:
    """Name the people whose approval a delivery waits for (``jobs.review.reviewers``): the company's people and
    guests whose link may decide; an empty list names nobody (any reviewer's decision is the company's again). The
    company's admins for their company, the studio's managers for any. Pictures every remaining required reviewer
    approved are approved at once. Unchanged: nothing happens (a double click is harmless)."""
    order = _locked_order(delivery.order)
    if not permissions.can_share_delivery(by, order):
        raise NotPermitted("Only the company's admins and the studio's managers name required reviewers.")
    if delivery.kind != DeliveryKind.REVIEW or order.status not in REVIEWABLE:
        raise InvalidTransition(f"Order {order.number} is {workflow.ORDERS.label(order.status)}; its deliveries are not "
                                "waiting for a review.")
    people, links = reviewers.chosen(delivery, users, shares)
    wanted = {("user", p.pk) for p in people} | {("share", link.pk) for link in links}
    current = {(("user", r.user_id) if r.user_id else ("share", r.share_id)): r
               for r in RequiredReviewer.objects.select_for_update().filter(delivery=delivery)}
    if set(current) == wanted:
        return list(current.values())
    RequiredReviewer.objects.filter(pk__in=[r.pk for key, r in current.items() if key not in wanted]).delete()
    RequiredReviewer.objects.bulk_create(
        [RequiredReviewer(delivery=delivery, user=p, added_by=by) for p in people if ("user", p.pk) not in current]
        + [RequiredReviewer(delivery=delivery, share=link, added_by=by) for link in links
           if ("share", link.pk) not in current])
    names = [p.full_name for p in people] + [link.display_name for link in links]
    record_event(audience=Audience.CLIENT, order=order, actor=by, verb="delivery.reviewers_set",
                 message=f"Delivery {delivery.number} waits for the approval of {_names(names)}" if names else
                 f"Delivery {delivery.number} names no required reviewers: any reviewer's decision is the company's",
                 data={"delivery": str(delivery.pk), "reviewers": names})
    agreed = reviewers.agreed(delivery)
    if agreed:
        images = {i.pk: i for i in OrderImage.objects.filter(pk__in=agreed)}
        _approve(order, agreed, images, _latest_delivered(agreed), actor=by,
                 how=" (every required reviewer had approved)", data={})
        _complete_if_done(order, by)
    return list(RequiredReviewer.objects.filter(delivery=delivery).select_related("user", "share"))


def auto_approve_due(*, now: Any = None) -> dict[str, int]:
    """Hourly: for clients who chose it, approve what a delivery published N days ago still waits
    for (the studio acting for the client, which the timeline says), after a reminder the day before."""
    now = now or timezone.now()
    reminded = approved = 0
    due = (Delivery.objects.filter(kind=DeliveryKind.REVIEW, status=DeliveryStatus.READY,
                                   order__client__auto_approve_days__isnull=False,
                                   order__status__in=REVIEWABLE, items__image__status=ImageStatus.DELIVERED)
           .select_related("order__client").distinct())
    for delivery in due:
        days = delivery.order.client.auto_approve_days
        if now >= delivery.created_at + timedelta(days=days):
            approved += _auto_approve(delivery, days)
        elif now >= delivery.created_at + timedelta(days=days - 1):
            order = delivery.order
            reminded += bool(notify(client_users(order), kind="approval_reminder", source=f"reminder:{delivery.pk}",
                                    title=f"{order.number}: delivery {delivery.number} will be approved tomorrow",
                                    body=f"Images of delivery {delivery.number} you have not answered will be approved "
                                         f"automatically after {days} days.",
                                    url=f"/orders/{order.pk}/review/"))
            shares.remind_guests(delivery=delivery, closes_at=delivery.created_at + timedelta(days=days))
    return {"reminded": reminded, "approved": approved}


def _auto_approve(delivery: Delivery, days: int) -> int:
    with transaction.atomic():
        order = _locked_order(delivery.order)
        if order.status not in REVIEWABLE:
            return 0
        waiting = list(OrderImage.objects.filter(delivery_items__delivery=delivery, status=ImageStatus.DELIVERED)
                       .exclude(pk__in=_pending([i.image_id for i in delivery.items.all()])).values_list("pk", flat=True))
        if not waiting:
            return 0
        versions = _latest_delivered(waiting)
        IMAGES.claim(OrderImage.objects.filter(pk__in=waiting), "approve", approved_at=timezone.now())
        Version.objects.filter(pk__in=[v.pk for v in versions.values()]).update(approved=True)
        record_event(audience=Audience.CLIENT, order=order, actor=None, verb="images.approved",
                     message=f"{len(waiting)} image{'s' if len(waiting) != 1 else ''} of delivery {delivery.number} "
                             f"approved automatically after {days} days without an answer",
                     data={"images": [str(pk) for pk in waiting], "automatic": True})
        _complete_if_done(order, None)
    return len(waiting)
