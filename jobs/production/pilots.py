"""Pilot batches: a style guide never delivered under starts with a pilot (issue 23, docs/pilots.md).

The rule, in one place:
- **When.** Production starts (``workflow.order_start_production``) on an order whose client's ``pilot_size`` K is
  more than 0, which has more than K accepted pictures, and whose style guide (any version of it) has never been
  delivered under nor piloted by another order. Otherwise there is no pilot and nothing here changes anything.
- **Which.** The pictures the studio chose (``OrderImage.in_pilot``, at most K, chosen before production), then
  the first by position until there are K. They are produced, checked and delivered like any others; the rest
  wait (``waiting_pilot``: never scheduled, never booked, not on the clock).
- **Promise.** The quote promises the pilot (its pictures against the live schedule and the tier) and says the
  rest start when the pilot is approved, with their own turnaround from then (``planning.order_promise``).
- **Release.** When the client approved every pilot picture (by hand, by their required reviewers, or
  automatically after the contract's days), the pilot is approved: what the client asked to change on the
  pilot (the items classed *change*, not the studio's defects) goes into the style guide as a new version,
  which the rest of the order follows; the waiting pictures are received again and the order is back in
  production with a new SLA clock (``order.pilot_approved``, on the timeline and as a webhook).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.timefmt import stamp
from jobs import permissions
from jobs.events import record_event
from jobs.models import (
    BEFORE_PRODUCTION,
    Audience,
    ImageStatus,
    ItemKind,
    Order,
    OrderImage,
    OrderStatus,
    PilotStatus,
    RevisionItem,
)

NOTES_MAX = 5000  # StyleGuide.notes


@dataclass(frozen=True)
class Plan:
    """An order's pilot: the pictures produced first, and those that wait for its approval."""

    pilot: list[OrderImage]
    rest: list[OrderImage]

    @property
    def total(self) -> int:
        return len(self.pilot) + len(self.rest)


def guide_tried(order: Order) -> bool:
    """Has another order of this style guide (any version) been delivered, or run a pilot?"""
    others = Order.objects.filter(style_guide__family=order.style_guide.family).exclude(pk=order.pk)
    return others.filter(~Q(pilot_status=PilotStatus.NONE) | Q(deliveries__isnull=False)).exists()


def plan(order: Order, images: Iterable[OrderImage] | None = None) -> Plan | None:
    """Whether ``order`` starts with a pilot and which pictures make it (the module's rule), or None."""
    if order.pilot_status != PilotStatus.NONE:
        return None
    pictures = sorted(order.images.accepted() if images is None else images, key=lambda i: (i.position, i.created_at))
    if order.free_pictures is not None:  # a free trial is a pilot as a whole
        return Plan(pictures, []) if pictures else None
    size = order.client.pilot_size
    if not size:
        return None
    if len(pictures) <= size or guide_tried(order):
        return None
    chosen = [i for i in pictures if i.in_pilot][:size]
    picked = {i.pk for i in chosen}
    pilot = chosen + [i for i in pictures if i.pk not in picked][:size - len(chosen)]
    ids = {i.pk for i in pilot}
    return Plan(sorted(pilot, key=lambda i: (i.position, i.created_at)), [i for i in pictures if i.pk not in ids])


def promise_words(plan_: Plan, due: Any, turnaround: str) -> str:
    """What the quote says about the pilot (everyone reads it)."""
    count, rest = len(plan_.pilot), len(plan_.rest)
    return (f"Pilot first: {count} of {plan_.total} pictures by {stamp(due)}; the other {rest} start when you approve "
            f"the pilot, with the {turnaround} turnaround from then.")


def begin(order: Order, *, by: User | None) -> dict[str, Any]:
    """Production starts (``workflow.order_start_production``, order row locked): set the pilot going when the rule
    says so. Returns the order's fields to save with the transition."""
    from jobs.workflow import IMAGES, PILOTS

    plan_ = plan(order)
    if plan_ is None:
        OrderImage.objects.filter(order=order, in_pilot=True).update(in_pilot=False)  # a choice that no longer applies
        return {}
    pilot = [i.pk for i in plan_.pilot]
    OrderImage.objects.filter(order=order).exclude(pk__in=pilot).update(in_pilot=False)
    OrderImage.objects.filter(pk__in=pilot).update(in_pilot=True)
    waiting = IMAGES.claim(OrderImage.objects.filter(pk__in=[i.pk for i in plan_.rest]), "wait_for_pilot")
    PILOTS.move(order, "start")
    record_event(audience=Audience.CLIENT, order=order, actor=by, verb="order.pilot_started",
                 message=f"Pilot: {len(pilot)} pictures are retouched and delivered first; the other {waiting} start "
                         f"when the pilot is approved",
                 data={"pilot": [str(pk) for pk in pilot], "waiting": waiting})
    return {"pilot_status": order.pilot_status}


@transaction.atomic
def pilot_choose(*, order: Order, by: User, images: list[Any]) -> list[OrderImage]:
    """The studio chooses which pictures make the pilot (before production; fewer than K are topped up with the
    first by position when production starts). Account managers and admins only; the choice is refused when the
    order will have no pilot, names more than K pictures or pictures of another order or not accepted."""
    if not permissions.runs_orders(by):
        raise NotPermitted("Only an account manager chooses the pilot's pictures.")
    order = Order.objects.select_for_update().select_related("client", "style_guide").get(pk=order.pk)
    if order.status not in BEFORE_PRODUCTION:
        raise InvalidTransition(f"Order {order.number} is already in production; its pilot was set when it started.")
    if order.free_pictures is not None:
        raise InvalidTransition(f"Order {order.number} is a free trial: every picture of it is the pilot.")
    size = order.client.pilot_size
    chosen = list(dict.fromkeys(str(pk) for pk in images))
    if len(chosen) > size:
        raise RuleViolation(f"The pilot has {size} picture{'s' if size != 1 else ''} for {order.client.name}; "
                            f"choose at most {size}.", field="images")
    found = {str(i.pk): i for i in OrderImage.objects.filter(order=order, pk__in=chosen).accepted()}
    if len(found) != len(chosen):
        raise RuleViolation("Choose among this order's received pictures.", field="images")
    if plan(order) is None:
        raise InvalidTransition(no_pilot_reason(order))
    current = {str(pk) for pk in OrderImage.objects.filter(order=order, in_pilot=True).values_list("pk", flat=True)}
    if current == set(chosen):
        return [found[pk] for pk in chosen]  # the same choice again: nothing to change or to say
    OrderImage.objects.filter(order=order).update(in_pilot=False)
    OrderImage.objects.filter(pk__in=chosen).update(in_pilot=True)
    names = ", ".join(found[pk].filename for pk in chosen[:3]) + ("…" if len(chosen) > 3 else "")
    record_event(audience=Audience.CLIENT, order=order, actor=by, verb="order.pilot_chosen",
                 message=f"Pilot pictures chosen: {names}" if chosen else "Pilot pictures: the first by position",
                 data={"images": chosen})
    return [found[pk] for pk in chosen]


def no_pilot_reason(order: Order) -> str:
    """Why ``order`` will run no pilot, in words (for refusals and the order page)."""
    size = order.client.pilot_size
    if order.pilot_status != PilotStatus.NONE:
        return f"Order {order.number}'s pilot was set when production started."
    if not size:
        return f"{order.client.name} has no pilot batches (pilot size 0 in the company's settings)."
    if guide_tried(order):
        return f"Style guide {order.style_guide.name} has been delivered under before; only a new guide starts with a pilot."
    return f"The order has no more than {size} pictures, so all of them are the pilot."


def ready_to_release(order: Order) -> bool:
    """Every pilot picture is approved (``proofing`` asks after each approval)."""
    if order.pilot_status != PilotStatus.RUNNING or order.status != OrderStatus.DELIVERED:
        return False
    return not OrderImage.objects.filter(order=order, in_pilot=True).exclude(status=ImageStatus.APPROVED).exists()


def release(*, order: Order, by: User | None) -> Order:
    """The pilot is approved (order row locked, inside the approving transaction): its changes go into the style
    guide, and the waiting pictures are received again and the rest of the order starts with its own clock. An
    order that was a pilot as a whole (a free trial) has no rest: it completes as any order does."""
    from clients.services import style_guide_amend
    from jobs import workflow
    from jobs.production import planning

    workflow.PILOTS.check("approve", order, f"Order {order.number}'s pilot is {{state}}; only a pilot in work is approved.")
    changes = pilot_changes(order)
    guide = style_guide_amend(guide=order.style_guide, note=_guide_note(order, changes)) if changes else None
    released = workflow.IMAGES.claim(OrderImage.objects.filter(order=order), "release")
    workflow.PILOTS.move(order, "approve")
    fields: dict[str, Any] = {"pilot_status": order.pilot_status}
    if guide is not None:
        fields["style_guide"] = guide
    guide_words = f"; the changes asked on it are in style guide {guide.name} v{guide.version}" if guide else ""
    data = {"released": released, **({"style_guide": str(guide.pk), "version": guide.version} if guide else {})}
    if not released:
        for name, value in fields.items():
            setattr(order, name, value)
        order.save(update_fields=[*fields, "updated_at"])
        record_event(audience=Audience.CLIENT, order=order, actor=by, verb="order.pilot_approved",
                     message=f"Pilot approved{guide_words}", data=data)
        return order
    promise = planning.order_promise(order, images=list(order.images.filter(status=ImageStatus.RECEIVED)))
    return workflow.order_start_rest(
        order=order, by=by, promised=promise.due_at,
        message=f"Pilot approved{guide_words}: the other {released} pictures are in production", data=data, **fields)


def pilot_changes(order: Order) -> list[RevisionItem]:
    """What the client asked to change on the pilot's pictures (the studio's own defects are not style)."""
    return list(RevisionItem.objects.filter(round__order=order, image__in_pilot=True, kind=ItemKind.CHANGE)
                .exclude(note="").select_related("round", "image").order_by("round__number", "image__position"))


def _guide_note(order: Order, changes: list[RevisionItem]) -> str:
    lines = [f"- {item.image.filename} (round {item.round.number}): {' '.join(item.note.split())}" for item in changes]
    return f"Pilot of order {order.number}, changes the client asked for:\n" + "\n".join(lines)


def facts(order: Order) -> dict[str, Any] | None:
    """The pilot as plain data for pages, the API and webhooks (None: no pilot). Lists read the counts their rows
    carry (``next_step.with_next_step``); a single order counts them in one query."""
    if order.pilot_status == PilotStatus.NONE:
        return None
    if hasattr(order, "pilot_count"):
        counts = {"pilot": order.pilot_count, "approved": order.pilot_approved_count, "waiting": order.waiting_count}
    else:
        counts = {"pilot": 0, "approved": 0, "waiting": 0}
        for in_pilot, status in OrderImage.objects.filter(order=order).values_list("in_pilot", "status"):
            counts["pilot"] += in_pilot
            counts["approved"] += in_pilot and status == ImageStatus.APPROVED
            counts["waiting"] += status == ImageStatus.WAITING_PILOT
    return {"status": order.pilot_status, "pictures": counts["pilot"], "approved": counts["approved"],
            "waiting": counts["waiting"]}

