"""Marks on pictures and their threads (the review canvas). A mark is stored in the pixels of the exact
file it was drawn on (an original, or one version) as a W3C Web Annotation selector, numbered per image;
its thread holds replies with @mentions, and it is resolved and reopened as the work goes. Studio
authors' marks and the studio's internal replies are studio-only (the event audiences apply): clients
never receive them, in pages, API, mail or webhooks. A guest (a review link, ``jobs.review.shares``) marks and
replies on their delivery's pictures under their own name, to the client and the studio; they mention nobody
and resolve nothing. Views, the API and the review service call here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from agency import live
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.notifications import notify
from agency.permissions import is_guest
from agency.tasks import enqueue_on_commit
from clients.tenancy import scope
from jobs import permissions, workflow
from jobs.models import (
    Annotation,
    AnnotationReply,
    Audience,
    DeliveryItem,
    MarkShape,
    Order,
    OrderImage,
    OrderStatus,
    Version,
    VersionStatus,
)
from jobs.review import shares

TEXT_MAX = 2000
MAX_MARKS_PER_FILE = 200
MAX_POINTS = 2000
SVG_MAX = 40_000
MAX_MENTIONS = 20
EDIT_WINDOW = timedelta(minutes=15)
# Marks and threads are open while the order is worked on and reviewed; a finished order's are its record.
CLOSED = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})
FRAGMENT = "http://www.w3.org/TR/media-frags/"
_NUMBER = r"-?\d+(?:\.\d+)?"
_XYWH = re.compile(rf"^xywh=(?:pixel:)?({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})$")
_SVG = re.compile(r'^\s*<svg(?:\s+xmlns="http://www\.w3\.org/2000/svg")?\s*>\s*<(ellipse|polygon|polyline|line)'
                  r'((?:\s+[a-z0-9-]+="[^"<>]*")*)\s*/>\s*</svg>\s*$')
_ATTR = re.compile(r'([a-z0-9-]+)="([^"<>]*)"')
_SVG_SHAPES = {"ellipse": MarkShape.ELLIPSE, "polygon": MarkShape.POLYGON, "polyline": MarkShape.FREEHAND,
               "line": MarkShape.ARROW}


@dataclass(frozen=True)
class Target:
    """A validated selector in one file's pixels and the box around it."""

    shape: str
    selector: dict[str, Any]
    box: tuple[int, int, int, int]


def _number(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise RuleViolation(f"{what} is not a number.", field="target") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RuleViolation(f"{what} is not a number.", field="target")
    return round(number, 2)


def _inside(x: float, y: float, width: int, height: int) -> None:
    if not (0 <= x <= width and 0 <= y <= height):
        raise RuleViolation(f"The mark reaches outside the picture ({width} × {height} pixels): "
                            f"{x:g}, {y:g} is not on it.", field="target")


def _box(points: list[tuple[float, float]]) -> tuple[int, int, int, int]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, top = int(min(xs)), int(min(ys))
    return left, top, int(round(max(xs))) - left, int(round(max(ys))) - top


def _fragment(value: Any, width: int, height: int) -> Target:
    match = _XYWH.match(str(value or "").replace(" ", ""))
    if not match:
        raise RuleViolation('A FragmentSelector reads "xywh=pixel:x,y,w,h".', field="target")
    x, y, w, h = (_number(v, "A coordinate") for v in match.groups())
    if w < 0 or h < 0 or (w == 0) != (h == 0):
        raise RuleViolation("A rectangle has a width and a height above 0 (a point has both 0).", field="target")
    if w == 0:  # a point is a pixel: it lies on the picture
        if not (0 <= x < width and 0 <= y < height):
            raise RuleViolation(f"The mark reaches outside the picture ({width} × {height} pixels): "
                                f"{x:g}, {y:g} is not on it.", field="target")
        shape = MarkShape.POINT
    else:
        _inside(x, y, width, height)
        _inside(x + w, y + h, width, height)
        shape = MarkShape.RECT
    selector = {"type": "FragmentSelector", "conformsTo": FRAGMENT, "value": f"xywh=pixel:{x:g},{y:g},{w:g},{h:g}"}
    return Target(shape, selector, (int(x), int(y), int(round(x + w)) - int(x), int(round(y + h)) - int(y)))


def _points(text: str, least: int) -> list[tuple[float, float]]:
    numbers = [n for n in re.split(r"[\s,]+", text.strip()) if n]
    if len(numbers) % 2:
        raise RuleViolation("The points of a shape come in x,y pairs.", field="target")
    points = [(_number(numbers[i], "A point"), _number(numbers[i + 1], "A point")) for i in range(0, len(numbers), 2)]
    if not least <= len(points) <= MAX_POINTS:
        raise RuleViolation(f"A shape has {least} to {MAX_POINTS} points.", field="target")
    return points


def _svg(value: Any, width: int, height: int) -> Target:
    text = str(value or "")
    match = _SVG.match(text) if len(text) <= SVG_MAX else None
    if not match:
        raise RuleViolation("An SvgSelector holds one ellipse, polygon, polyline (freehand) or line (arrow) "
                            "in the picture's pixels, and nothing else.", field="target")
    tag, attrs = match.group(1), dict(_ATTR.findall(match.group(2)))
    if tag == "ellipse":
        try:
            cx, cy, rx, ry = (_number(attrs[k], "A coordinate") for k in ("cx", "cy", "rx", "ry"))
        except KeyError:
            raise RuleViolation("An ellipse has cx, cy, rx and ry.", field="target") from None
        if rx <= 0 or ry <= 0:
            raise RuleViolation("An ellipse has radii above 0.", field="target")
        points = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        shape_svg = f'<ellipse cx="{cx:g}" cy="{cy:g}" rx="{rx:g}" ry="{ry:g}"/>'
    elif tag == "line":
        try:
            x1, y1, x2, y2 = (_number(attrs[k], "A coordinate") for k in ("x1", "y1", "x2", "y2"))
        except KeyError:
            raise RuleViolation("An arrow has x1, y1, x2 and y2.", field="target") from None
        if (x1, y1) == (x2, y2):
            raise RuleViolation("An arrow has two different ends.", field="target")
        points = [(x1, y1), (x2, y2)]
        shape_svg = f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}"/>'
    else:
        if "points" not in attrs:
            raise RuleViolation(f"A {tag} has points.", field="target")
        points = _points(attrs["points"], 3 if tag == "polygon" else 2)
        shape_svg = f'<{tag} points="{" ".join(f"{x:g},{y:g}" for x, y in points)}"/>'
    for x, y in points:
        _inside(x, y, width, height)
    selector = {"type": "SvgSelector", "value": f'<svg xmlns="http://www.w3.org/2000/svg">{shape_svg}</svg>'}
    return Target(_SVG_SHAPES[tag], selector, _box(points))


def parse_target(target: Any, width: int, height: int) -> Target:
    """Validate a W3C Web Annotation ``target`` (or its ``selector``) against a file of ``width`` ×
    ``height`` pixels. No selector: the thread is about the whole picture. Anything else is a 400."""
    selector = target.get("selector") if isinstance(target, dict) and "selector" in target else target
    if selector in (None, {}, ""):
        return Target(MarkShape.WHOLE, {}, (0, 0, width, height))
    if isinstance(selector, list) and len(selector) == 1:
        selector = selector[0]
    if not isinstance(selector, dict):
        raise RuleViolation("A target has one selector: a FragmentSelector or an SvgSelector.", field="target")
    kind = selector.get("type")
    if kind == "FragmentSelector":
        return _fragment(selector.get("value"), width, height)
    if kind == "SvgSelector":
        return _svg(selector.get("value"), width, height)
    raise RuleViolation("A target has one selector: a FragmentSelector or an SvgSelector.", field="target")


def _text(value: Any, *, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise RuleViolation("Write what the mark is about.", field="text")
    if len(text) > TEXT_MAX:
        raise RuleViolation(f"A note has at most {TEXT_MAX} characters.", field="text")
    return text


def _open(order: Order) -> None:
    if order.status in CLOSED:
        raise InvalidTransition(f"Order {order.number} is {workflow.ORDERS.label(order.status)}; "
                                "its marks and threads are kept as they are.")


def may_mark(user: Any, image: OrderImage) -> bool:
    """Can ``user`` draw on this image now (the pages show the Mark tool and the thread forms when so)?"""
    return permissions.can_annotate(user, image.order, image) and image.order.status not in CLOSED


def mentionable(order: Order, *, studio_only: bool) -> list[User]:
    """The people a thread on ``order`` can name: its client's users (not on a studio-only thread), the
    account managers, QC, admins and the retouchers working on it, by name."""
    from jobs.notifications import account_managers, client_users, retouchers_of

    people = {u.pk: u for u in account_managers(order) + retouchers_of(order.images.values_list("pk", flat=True))}
    people.update({u.pk: u for u in User.objects.filter(is_active=True, role__in=permissions.ACROSS_ORDERS)})
    if not studio_only:
        people.update({u.pk: u for u in client_users(order)})
    seeing = [u for u in people.values() if scope(Order.objects.filter(pk=order.pk), u).exists()]
    return sorted(seeing, key=lambda u: u.full_name.lower())


def _mentioned(order: Order, ids: Iterable[Any], audience: str, by: Any) -> list[User]:
    """The people named: each must be able to read what mentions them (the order, and a studio-only
    thread only if they are studio)."""
    ids = list(dict.fromkeys(str(pk) for pk in ids or []))
    if ids and is_guest(by):
        raise RuleViolation("A guest mentions nobody; write the name in the text.", field="mentions")
    if len(ids) > MAX_MENTIONS:
        raise RuleViolation(f"Mention at most {MAX_MENTIONS} people.", field="mentions")
    people = {str(u.pk): u for u in User.objects.filter(pk__in=ids, is_active=True)} if ids else {}
    for pk in ids:
        person = people.get(pk)
        if person is None or not scope(Order.objects.filter(pk=order.pk), person).exists():
            raise RuleViolation("You can mention only people who can see this order.", field="mentions")
        if audience != Audience.CLIENT and not person.is_studio:
            raise RuleViolation(f"{person.full_name} cannot read studio-only marks.", field="mentions")
    return [people[pk] for pk in ids]


def _audience(by: User, order: Order, for_client: bool | None, *, default: bool) -> str:
    """Clients (and their guests) always write to the studio. Managers speak for the studio to the client
    (``for_client``; ``default`` when unsaid); retouchers and QC write studio-only, like their notes."""
    if permissions.is_client_user(by) or is_guest(by):
        if for_client is False:
            raise NotPermitted("Studio-only marks are for the studio.")
        return Audience.CLIENT
    speaks = permissions.can_write_to_client(by, order)
    if for_client and not speaks:
        raise NotPermitted("Your marks and replies are for the studio; the account manager writes to the client.")
    return Audience.CLIENT if speaks and (default if for_client is None else for_client) else Audience.STUDIO


def _file(image: OrderImage, version: Version | None) -> tuple[int, int]:
    if version is not None and version.image_id != image.pk:
        raise RuleViolation("This version belongs to another image.", field="version")
    stored = version or image
    if not stored.width or not stored.height or (version is not None and version.status in
                                                  (VersionStatus.UPLOADING, VersionStatus.REJECTED)):
        raise InvalidTransition("This file is not ready to be marked: it has not been received and checked.")
    return stored.width, stored.height


@dataclass(frozen=True)
class NewMark:
    """A mark to draw: on ``image``'s original (``version`` None) or on ``version``, with what the client or
    the studio sent (``target`` and ``text``), for a revision ``item`` or none."""

    image: OrderImage
    version: Version | None
    target: Any
    text: Any
    item: Any = None


def _author(by: Any) -> dict[str, Any]:
    """The row's writer: an account, or a guest's review link."""
    return {"author_share": by} if is_guest(by) else {"author": by}


def _wrote(row: Annotation | AnnotationReply, by: Any) -> bool:
    return (row.author_share_id if is_guest(by) else row.author_id) == by.pk


def add_marks(marks: list[NewMark], *, by: User, audience: str) -> list[Annotation]:
    """The one place marks are written, in the caller's transaction: each validated against its file's
    pixels, the images' rows locked so numbers never repeat, numbered after every mark of the image, in a
    fixed number of queries however many there are."""
    if not marks:
        return []
    rows = []
    for mark in marks:
        width, height = _file(mark.image, mark.version)
        rows.append((mark, parse_target(mark.target, width, height), _text(mark.text), width, height))
    image_ids = {mark.image.pk for mark in marks}
    list(OrderImage.objects.select_for_update().filter(pk__in=image_ids).order_by("pk").values_list("pk", flat=True))
    existing = Annotation.objects.filter(image_id__in=image_ids).order_by()
    numbers = dict(existing.values("image").annotate(n=Max("number")).values_list("image", "n"))
    per_file = dict(((i, v), n) for i, v, n in existing.filter(deleted_at__isnull=True).values("image", "version")
                    .annotate(n=Count("pk")).values_list("image", "version", "n"))
    made = []
    for mark, parsed, text, width, height in rows:
        key = (mark.image.pk, mark.version.pk if mark.version else None)
        per_file[key] = per_file.get(key, 0) + 1
        if per_file[key] > MAX_MARKS_PER_FILE:
            raise RuleViolation(f"At most {MAX_MARKS_PER_FILE} marks per file.", field="target")
        numbers[mark.image.pk] = number = (numbers.get(mark.image.pk) or 0) + 1
        x, y, w, h = parsed.box
        made.append(Annotation(order_id=mark.image.order_id, image_id=mark.image.pk, version=mark.version, width=width,
                               height=height, number=number, shape=parsed.shape, selector=parsed.selector, x=x, y=y,
                               w=w, h=h, text=text, audience=audience, item=mark.item, **_author(by)))
    return Annotation.objects.bulk_create(made)


@transaction.atomic
def annotation_create(*, image: OrderImage, version: Version | None, by: User, target: Any, text: Any,
                      mentions: Iterable[Any] = (), for_client: bool | None = None) -> Annotation:
    """Draw a mark on an original (``version`` None) or a version the user can see. Refused without
    a part in the order (403), on a finished order or a file not yet checked (409), and for a target
    off the picture or malformed (400)."""
    order = image.order
    if not permissions.can_annotate(by, order, image):
        raise NotPermitted("You cannot mark this picture.")
    _open(order)
    audience = _audience(by, order, for_client, default=False)
    people = _mentioned(order, mentions, audience, by)
    (mark,) = add_marks([NewMark(image, version, target, text)], by=by, audience=audience)
    if people:
        mark.mentions.set(people)
    if is_guest(by):
        shares.noted_mark(by, f"mark {mark.number} on {image.filename}")
    announce(mark, "mark.created", mark.pk, mark.audience)
    enqueue_on_commit("jobs.tasks.notify_mark", "mark", str(mark.pk), group="notifications")
    return mark


def _own_and_recent(row: Annotation | AnnotationReply, by: User, what: str) -> None:
    if not _wrote(row, by):
        raise NotPermitted(f"Only its author changes a {what}.")
    if timezone.now() - row.created_at > EDIT_WINDOW:
        raise InvalidTransition(f"A {what} can be changed for {EDIT_WINDOW.seconds // 60} minutes after it is "
                                "written; reply instead.")


def may_change(row: Annotation | AnnotationReply, by: User) -> bool:
    """Would ``by`` be let edit or take back ``row`` now? (The pages offer the button only then; the services
    below decide.)"""
    try:
        _own_and_recent(row, by, "mark")
    except (NotPermitted, InvalidTransition):
        return False
    return row.deleted_at is None and getattr(row, "item_id", None) is None


def _editable(mark: Annotation, by: User) -> Annotation:
    mark = Annotation.objects.select_for_update(of=("self",)).select_related("order", "item__round").get(pk=mark.pk)
    if mark.deleted_at is not None:
        raise InvalidTransition(f"Mark {mark.number} was deleted.")
    _own_and_recent(mark, by, "mark")
    _open(mark.order)
    if mark.item_id is not None:
        raise InvalidTransition(f"Mark {mark.number} was sent in revision round {mark.item.round.number}; reply instead.")
    return mark


@transaction.atomic
def annotation_edit(*, mark: Annotation, by: User, text: Any = None, target: Any = None) -> Annotation:
    """Its author rewrites or moves a mark within the edit window, until a review sends it."""
    mark = _editable(mark, by)
    if target is not None:
        parsed = parse_target(target, mark.width, mark.height)
        mark.shape, mark.selector = parsed.shape, parsed.selector
        mark.x, mark.y, mark.w, mark.h = parsed.box
    if text is not None:
        mark.text = _text(text)
    mark.edited_at = timezone.now()
    mark.save(update_fields=["shape", "selector", "x", "y", "w", "h", "text", "edited_at"])
    return mark


@transaction.atomic
def annotation_delete(*, mark: Annotation, by: User) -> None:
    """Its author takes a mark back within the edit window; the row stays for the audit."""
    mark = _editable(mark, by)
    mark.deleted_at = timezone.now()
    mark.save(update_fields=["deleted_at"])


@transaction.atomic
def reply_post(*, mark: Annotation, by: User, text: Any, mentions: Iterable[Any] = (),
               internal: bool = False) -> AnnotationReply:
    """Answer in a mark's thread. The studio may keep a reply internal; on a studio mark every reply is."""
    mark = Annotation.objects.select_related("order").get(pk=mark.pk)
    if not permissions.can_annotate(by, mark.order, mark.image):
        raise NotPermitted("You cannot write in this thread.")
    _open(mark.order)
    if mark.deleted_at is not None:
        raise InvalidTransition(f"Mark {mark.number} was deleted.")
    audience = (Audience.STUDIO if mark.is_studio
                else _audience(by, mark.order, False if internal else None, default=True))
    people = _mentioned(mark.order, mentions, audience, by)
    reply = AnnotationReply.objects.create(annotation=mark, text=_text(text), audience=audience, **_author(by))
    if people:
        reply.mentions.set(people)
    if is_guest(by):
        shares.noted_mark(by, f"a reply on mark {mark.number} of {mark.image.filename}")
    announce(mark, "mark.replied", reply.pk, audience)
    enqueue_on_commit("jobs.tasks.notify_mark", "reply", str(reply.pk), group="notifications")
    return reply


@transaction.atomic
def reply_edit(*, reply: AnnotationReply, by: User, text: Any) -> AnnotationReply:
    reply = AnnotationReply.objects.select_for_update(of=("self",)).select_related("annotation__order").get(pk=reply.pk)
    _own_and_recent(reply, by, "reply")
    _open(reply.annotation.order)
    reply.text, reply.edited_at = _text(text), timezone.now()
    reply.save(update_fields=["text", "edited_at"])
    return reply


@transaction.atomic
def reply_delete(*, reply: AnnotationReply, by: User) -> None:
    reply = AnnotationReply.objects.select_for_update(of=("self",)).select_related("annotation__order").get(pk=reply.pk)
    _own_and_recent(reply, by, "reply")
    _open(reply.annotation.order)
    reply.deleted_at = timezone.now()
    reply.save(update_fields=["deleted_at"])


def _settle(mark: Annotation, by: User, *, resolve: bool) -> Annotation:
    mark = Annotation.objects.select_for_update(of=("self",)).select_related("order", "image", "resolved_by").get(pk=mark.pk)
    if not permissions.can_annotate(by, mark.order, mark.image) or is_guest(by):
        raise NotPermitted("You cannot resolve marks on this picture."
                           if not is_guest(by) else "Marks are resolved by the company and the studio; reply instead.")
    _open(mark.order)
    if mark.deleted_at is not None:
        raise InvalidTransition(f"Mark {mark.number} was deleted.")
    if resolve and mark.resolved_at is not None:
        who = mark.resolved_by.full_name if mark.resolved_by else "someone"
        raise InvalidTransition(f"Mark {mark.number} was resolved already by {who}.")
    if not resolve and mark.resolved_at is None:
        raise InvalidTransition(f"Mark {mark.number} is open; there is nothing to reopen.")
    mark.resolved_at, mark.resolved_by = (timezone.now(), by) if resolve else (None, None)
    mark.save(update_fields=["resolved_at", "resolved_by"])
    announce(mark, "mark.resolved" if resolve else "mark.reopened", mark.pk, mark.audience)
    return mark


@transaction.atomic
def annotation_resolve(*, mark: Annotation, by: User) -> Annotation:
    """Settle a mark (the retoucher as they fix, QC, the client, the manager)."""
    return _settle(mark, by, resolve=True)


@transaction.atomic
def annotation_reopen(*, mark: Annotation, by: User) -> Annotation:
    """Open a resolved mark again: the fix did not hold."""
    return _settle(mark, by, resolve=False)


def announce(mark: Annotation, kind: str, ref: Any, audience: str) -> None:
    """Open pages hear of a mark's change (``agency.live``): the order's, and the reviews of the deliveries that
    hold the file it is on (a guest's page among them, when the audience is the client's)."""
    items = DeliveryItem.objects.filter(version_id=mark.version_id) if mark.version_id else DeliveryItem.objects.filter(
        image_id=mark.image_id)
    for delivery_id in set(items.values_list("delivery_id", flat=True)):
        live.publish(f"review:{delivery_id}", kind, ref=ref, audience=audience)
    live.publish(f"order:{mark.order_id}", kind, ref=ref, audience=audience)


def mark_notify(*, kind: str, pk: Any) -> int:
    """The task body: tell the people mentioned (and, for a reply, the mark's author) once each. Only
    people who may read it are told; the writer never is."""
    if kind == "reply":
        row = (AnnotationReply.objects.select_related("annotation__order", "annotation__image", "author", "author_share")
               .filter(pk=pk).first())
        mark = row.annotation if row else None
    else:
        row = mark = Annotation.objects.select_related("order", "image", "author", "author_share").filter(pk=pk).first()
    if row is None or row.deleted_at is not None:
        return 0
    people = list(row.mentions.filter(is_active=True))
    if kind == "reply" and mark.author is not None:
        people.append(mark.author)
    readers = [p for p in people if scope(Annotation.objects.filter(pk=mark.pk), p).exists()
               and (row.audience == Audience.CLIENT or p.is_studio)]
    who = row.author_name or "Someone"
    verb = "replied on" if kind == "reply" else "marked"
    return notify(readers, kind="mention", source=f"mark:{kind}:{row.pk}", actor=row.author,
                  title=f"{mark.order.number}: {who} {verb} {mark.image.filename} (mark {mark.number})",
                  body=row.text, url=reverse("jobs:image_detail", args=[mark.image_id]) + f"#mark-{mark.number}")
