"""Production and review pages: the retoucher's queue and workspace, the QC queue and review page,
delivery publishing, client proofing with marks, revision rounds and the order's thread. Thin: each
reads through selectors, calls one service and redirects; a refusal propagates (403/409/400 page)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from agency.exceptions import InvalidTransition, RuleViolation
from agency.idempotency import shown_once
from agency.permissions import require
from jobs import permissions, quality, selectors
from jobs.canvas import canvases
from jobs.intake import ingest
from jobs.models import (
    REVIEWABLE,
    Assignment,
    DeliveryKind,
    ImageStatus,
    ItemKind,
    OrderImage,
    OrderStatus,
    QcCategory,
    RoundStatus,
    ShareDownloads,
)
from jobs.production import qc, versions
from jobs.review import annotations, deadlines, deliveries, messages, payment_holds, proofing, references, reviewers, shares


@login_required
def work_queue(request: HttpRequest) -> HttpResponse:
    """A retoucher's assigned images, earliest due first, grouped by what comes next."""
    require(permissions.can_view_work_queue(request.user))
    images = list(selectors.work_queue(request.user))
    groups = [
        ("Sent back to you", [i for i in images if i.status in {ImageStatus.QC_REJECTED, ImageStatus.REVISION_REQUESTED}]),
        ("In progress", [i for i in images if i.status == ImageStatus.IN_PROGRESS]),
        ("To start", [i for i in images if i.status == ImageStatus.ASSIGNED]),
        ("Waiting for QC", [i for i in images if i.status == ImageStatus.IN_QC]),
    ]
    return render(request, "jobs/work_queue.html", {"groups": groups, "count": len(images)})


def _canvas_context(user: Any, image: Any, version: Any = None) -> dict[str, Any]:
    """The canvas of a studio page: the files and marks of one image; marks are saved at once (through
    the API) by whoever may mark it, on ``version`` (the latest with a preview when not given)."""
    versions = list(selectors.versions_of(user, image))
    shown = version or next((v for v in versions if v.preview), None)
    can_mark = shown is not None and annotations.may_mark(user, image)
    return {"image": image, "order": image.order, "versions": versions, "shown": shown,
            "requests": list(selectors.items_of_image(user, image)), "canvas": canvases(user, [image])[image.pk],
            "marks_api": f"/api/v1/versions/{shown.pk}/annotations/" if can_mark else ""}


@login_required
def image_work(request: HttpRequest, pk: Any) -> HttpResponse:
    """The workspace for one image: the original and the latest version on the canvas, the brief,
    the marks of earlier rounds, every version with its checks and QC decision, and the next action."""
    image = selectors.image_get(request.user, pk)
    require(permissions.can_open_studio_work(request.user), "This page is for the studio.")
    user, order = request.user, image.order
    strip = list(selectors.work_queue(user).filter(order=order)) if permissions.can_view_work_queue(user) else \
        list(selectors.image_list(user, order))
    assignment = Assignment.objects.filter(image=image, active=True).select_related("retoucher").first()
    canvas = _canvas_context(user, image)
    return render(request, "jobs/image_work.html", {
        **canvas, "strip": strip, "assignment": assignment, "guide": order.style_guide,
        "sent_back_marks": _studio_marks(canvas, canvas["versions"][0] if canvas["versions"] else None),
        "can_start": versions.can_start(user, image),
        "can_upload": versions.can_upload_version(user, image),
        "can_download": permissions.can_download_original(user, order) and bool(image.original),
        "reference_choices": {v.pk for v in canvas["versions"] if references.can_make_reference(user, v)},
        "max_upload_bytes": ingest.max_upload_bytes(),
    })


@login_required
@require_POST
def image_start(request: HttpRequest, pk: Any) -> HttpResponse:
    image = selectors.image_get(request.user, pk)
    versions.image_start(image=image, by=request.user)
    flash.success(request, f"Work on {image.filename} has started; upload your version when it is ready.")
    return redirect("jobs:image_work", pk=image.pk)


@login_required
def qc_queue(request: HttpRequest) -> HttpResponse:
    require(permissions.can_view_qc_queue(request.user))
    return render(request, "jobs/qc_queue.html", {"versions": list(selectors.qc_queue(request.user))})


@login_required
def version_qc(request: HttpRequest, pk: Any) -> HttpResponse:
    """QC's review page: original and version side by side, as a slider, with a loupe and the
    background switch; the automated checks; pass or send back with a category and a note."""
    version = selectors.version_get(request.user, pk)
    require(permissions.can_open_studio_work(request.user), "This page is for the studio.")
    if request.method == "POST":
        # the form names the version and the state QC looked at: a decision meant for another page, or
        # for a version that changed since, is refused rather than applied to what is here now
        seen = request.POST.get("version"), request.POST.get("seen")
        if seen != (str(version.pk), version.status) and any(seen):
            raise InvalidTransition(f"v{version.number} of {version.image.filename} is {version.get_status_display().lower()} "
                                    "now, not what your page showed; look at it again before deciding.")
        qc.qc_decide(version=version, by=request.user, decision=request.POST.get("decision", ""),
                             category=request.POST.get("category", ""), note=request.POST.get("notes", ""))
        verb = "passed" if request.POST.get("decision") == "pass" else "sent back to the retoucher"
        flash.success(request, f"v{version.number} of {version.image.filename} {verb}.")
        following = selectors.qc_queue(request.user).exclude(pk=version.pk).first()
        return redirect("jobs:version_qc", pk=following.pk) if following else redirect("jobs:qc_queue")
    image = version.image
    context = _canvas_context(request.user, image, version)
    return render(request, "jobs/version_qc.html", {
        **context, "version": version, "shown": version, "categories": QcCategory.choices,
        "studio_marks": _studio_marks(context, version),
        "can_decide": qc.can_decide(request.user, version),
        "queue_size": selectors.qc_queue(request.user).count(),
    })


def _studio_marks(context: dict[str, Any], version: Any) -> list[dict[str, Any]]:
    """The studio's open marks on one version (QC's, a manager's): what a rejection points at."""
    key = f"v{version.number}" if version is not None else None
    return [m for m in context["canvas"]["marks"] if m["file"] == key and m["studio"] and not m["resolved"]]


def _review_items(post: Any) -> list[dict[str, Any]]:
    """The proofing form: per image a decision, a note, a class and its new marks (W3C targets in the
    delivered version's pixels, JSON from the canvas)."""
    items = []
    for pk in post.getlist("images"):
        try:
            image_id = uuid.UUID(pk)
        except ValueError as exc:
            raise RuleViolation("The review names an image that does not exist.", field="items") from exc
        decision = post.get(f"decision_{pk}", "")
        if decision not in {"approve", "revise"}:
            continue
        try:
            marks = json.loads(post.get(f"marks_{pk}") or "[]")
            marks = [{"target": m.get("target"), "text": str(m.get("text", ""))} for m in marks]
        except (ValueError, TypeError, AttributeError) as exc:
            raise RuleViolation("The marks could not be read; place them again.", field="marks") from exc
        items.append({"image": image_id, "decision": decision, "note": post.get(f"note_{pk}", ""),
                      "kind": post.get(f"kind_{pk}") or ItemKind.CHANGE, "marks": marks})
    return items


@login_required
def order_review(request: HttpRequest, pk: Any) -> HttpResponse:
    """Client proofing: every delivered image beside its original, approve or request changes with
    numbered marks, one submit for the whole review. The account manager can act for the client."""
    order = selectors.order_get(request.user, pk)
    require(permissions.can_review_delivery(request.user, order))
    if request.method == "POST":
        result = proofing.review_submit(order=order, by=request.user, items=_review_items(request.POST),
                                      note=request.POST.get("note", ""), confirm=bool(request.POST.get("confirm")))
        parts = []
        if result.approved:
            parts.append(f"{result.approved} image{'s' if result.approved != 1 else ''} approved")
        if result.round is not None:
            parts.append(f"revision round {result.round.number} "
                         + ("waits for your admin's confirmation" if result.round.status == RoundStatus.AWAITING_CONFIRMATION
                            else "sent to the studio"))
        said = (", ".join(parts).capitalize() + ". ") if parts else ("" if result.waiting else "Nothing changed. ")
        flash.success(request, (said + result.waiting_note()).strip()
                      + (" The order is complete; its final files are being packed." if result.completed else ""))
        return redirect("jobs:order_detail" if result.completed else "jobs:order_review", pk=order.pk)
    entries = selectors.proofing_images(request.user, order)
    drawn = canvases(request.user, [entry["image"] for entry in entries])
    tallies = reviewers.tallies(request.user, [entry["image"] for entry in entries])
    waiting = [e for e in entries if e["image"].status == ImageStatus.DELIVERED]
    for entry in entries:  # the canvas writes the new marks of each image waiting for an answer into its own field
        entry["canvas"], entry["tally"] = drawn[entry["image"].pk], tallies.get(entry["image"].pk)
        if order.status in REVIEWABLE and entry in waiting:
            entry["pins_field"], entry["pins_list"] = f"marks-{entry['image'].pk}", f"marklist-{entry['image'].pk}"
    rounds = list(selectors.round_list(request.user, order))
    return render(request, "jobs/order_review.html", {
        "order": order, "entries": entries, "waiting": waiting, "kinds": ItemKind.choices,
        "pending_rounds": [r for r in rounds if r.status == RoundStatus.AWAITING_CONFIRMATION],
        "can_confirm": permissions.can_confirm_round(request.user, order),
        "reviewable": order.status in REVIEWABLE and bool(waiting),
        "next_round": len(rounds) + 1, "free_rounds": order.client.free_revision_rounds,
        "next_round_beyond_free": proofing.beyond_free_rounds(order.client, len(rounds) + 1),
    })


@login_required
@require_POST
def round_answer(request: HttpRequest, pk: Any) -> HttpResponse:
    round_ = selectors.round_get(request.user, pk)
    confirm = request.POST.get("confirm") == "1"
    proofing.round_answer(round_=round_, by=request.user, confirm=confirm)
    flash.success(request, f"Revision round {round_.number} " + ("confirmed: the studio starts on it."
                                                                 if confirm else "declined."))
    return redirect("jobs:order_review", pk=round_.order_id)


@login_required
@require_POST
def item_classify(request: HttpRequest, pk: Any) -> HttpResponse:
    item = selectors.revision_item_get(request.user, pk)
    proofing.item_reclassify(item=item, by=request.user, kind=request.POST.get("kind", ""),
                           reason=request.POST.get("reason", ""))
    flash.success(request, f"{item.image.filename} is classed as {request.POST.get('kind')}.")
    return redirect(reverse("jobs:order_detail", args=[item.round.order_id]) + "#rounds")


@login_required
@require_POST
def delivery_create(request: HttpRequest, pk: Any) -> HttpResponse:
    """Publish the ready images (the ticked ones, or all of them) to the client."""
    order = selectors.order_get(request.user, pk)
    chosen = request.POST.getlist("images") or None
    delivery = deliveries.delivery_publish(order=order, by=request.user, images=chosen,
                                           review_by=request.POST.get("review_by") or None)
    flash.success(request, f"Delivery {delivery.number} is published; the client is told when its files are packed.")
    return redirect(reverse("jobs:order_detail", args=[order.pk]) + "#deliveries")


@login_required
def order_deliveries(request: HttpRequest, pk: Any) -> HttpResponse:
    """The deliveries panel alone, for a live page to swap in when its stream says the order changed (htmx); an
    empty placeholder while there is nothing to show."""
    order = selectors.order_get(request.user, pk)
    return render(request, "jobs/_deliveries_or_none.html", deliveries_context(request.user, order))


def deliveries_context(user: Any, order: Any) -> dict[str, Any]:
    rows = list(selectors.delivery_list(user, order).prefetch_related("items"))
    can_share = permissions.can_share_delivery(user, order)
    if can_share:  # each delivery's review links, with their activity (two queries for all of them)
        links: dict[Any, list[Any]] = {}
        for link in selectors.share_queryset(user).filter(delivery__order=order).order_by("-created_at"):
            links.setdefault(link.delivery_id, []).append(link)
        for delivery in rows:
            delivery.links = links.get(delivery.pk, [])
            delivery.live_links = sum(link.is_active for link in delivery.links)
    _reviews_of(user, order, rows, can_share)
    for delivery in rows:  # the review's deadline while the company is still answering
        delivery.deadline = (deadlines.review_deadline(delivery) if delivery.kind == DeliveryKind.REVIEW
                             and order.status in REVIEWABLE else None)
    return {"order": order, "deliveries": rows, "building": any(d.status == "building" for d in rows),
            "held": payment_holds.is_held(order, user),
            "can_deliver": permissions.can_deliver(user, order),
            "can_share": can_share and order.status not in shares.CLOSED,
            "can_let_decide": permissions.can_let_guests_decide(user, order),
            "share_downloads": ShareDownloads.choices, "share_days": shares.DEFAULT_DAYS, "share_max": shares.MAX_DAYS,
            "ready_images": list(selectors.image_list(user, order, status=ImageStatus.READY))
            if permissions.can_deliver(user, order) else []}


def _reviews_of(user: Any, order: Any, rows: list[Any], can_share: bool) -> None:
    """Each review delivery's required reviewers and the tally of its pictures' reviewers (``jobs.review.reviewers``),
    for the company's people and the studio's managers; whom one could require, for those who name them. A fixed
    number of queries however many deliveries and pictures."""
    if not permissions.can_review_delivery(user, order):
        return
    review = [d for d in rows if d.kind == DeliveryKind.REVIEW]
    required = reviewers.required_of([d.pk for d in review])
    images = {item.image_id for d in review for item in d.items.all()}
    tallies = reviewers.tallies(user, list(images))
    names = dict(OrderImage.objects.filter(pk__in=images).values_list("pk", "filename"))
    people = reviewers.company_people(order) if can_share and order.status in REVIEWABLE else None
    for delivery in review:
        delivery.required = required.get(delivery.pk, [])
        delivery.required_keys = {str(r.user_id or r.share_id) for r in delivery.required}
        delivery.tallies = sorted((names[pk], tally) for pk, tally in tallies.items()  # as the delivery last left them
                                  if tally.delivery_id == delivery.pk and tally.reviewers)
        if people is not None:
            delivery.offered_people = people
            delivery.offered_links = [link for link in delivery.links if reviewers.may_decide(link)]


@login_required
@require_POST
def delivery_reviewers(request: HttpRequest, pk: Any) -> HttpResponse:
    """The order page's form naming a delivery's required reviewers (``proofing.required_reviewers_set``)."""
    delivery = selectors.delivery_get(request.user, pk)
    named = proofing.required_reviewers_set(delivery=delivery, by=request.user, users=request.POST.getlist("users"),
                                            shares=request.POST.getlist("shares"))
    flash.success(request, f"Delivery {delivery.number} waits for the approval of "
                           f"{', '.join(r.name for r in named)}." if named else
                  f"Delivery {delivery.number} names no required reviewers: any reviewer's decision is the company's.")
    return redirect(reverse("jobs:order_detail", args=[delivery.order_id]) + "#deliveries")


@login_required
@require_POST
def delivery_share(request: HttpRequest, pk: Any) -> HttpResponse:
    """Send a review link; the page that answers shows the link once (it is in the guest's mail too)."""
    delivery = selectors.delivery_get(request.user, pk)
    post = request.POST
    try:  # the service holds the rule (in the future, at most MAX_DAYS); the page only reads the number
        days = int(post.get("days") or shares.DEFAULT_DAYS)
    except ValueError as exc:
        raise RuleViolation(f"Give the number of days the link works, from 1 to {shares.MAX_DAYS}.", field="days") from exc
    link, token = shares.share_create(
        delivery=delivery, by=request.user, email=post.get("email", ""), password=post.get("password", ""),
        expires_at=timezone.now() + timedelta(days=days), can_decide=post.get("can_decide") == "1",
        downloads=post.get("downloads") or ShareDownloads.NONE)
    return shown_once(render(request, "jobs/share_created.html", {
        "link": link, "order": delivery.order, "delivery": delivery, "url": shares.absolute_link(token)}))


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: Any) -> HttpResponse:
    link = selectors.share_get(request.user, pk)
    shares.share_revoke(link=link, by=request.user)
    flash.success(request, f"The review link for {link.email} is revoked: it opens nothing any more.")
    return redirect(reverse("jobs:order_detail", args=[link.delivery.order_id]) + "#deliveries")


@login_required
@require_POST
def delivery_shares_revoke(request: HttpRequest, pk: Any) -> HttpResponse:
    delivery = selectors.delivery_get(request.user, pk)
    count = shares.share_revoke_all(delivery=delivery, by=request.user)
    flash.success(request, f"{count} review link{'s' if count != 1 else ''} revoked." if count
                  else "No live review link was left to revoke.")
    return redirect(reverse("jobs:order_detail", args=[delivery.order_id]) + "#deliveries")


@login_required
@require_POST
def delivery_retry(request: HttpRequest, pk: Any) -> HttpResponse:
    delivery = selectors.delivery_get(request.user, pk)
    deliveries.delivery_retry(delivery=delivery, by=request.user)
    flash.success(request, f"Delivery {delivery.number} is being prepared again.")
    return redirect(reverse("jobs:order_detail", args=[delivery.order_id]) + "#deliveries")


@login_required
@require_POST
def message_post(request: HttpRequest, pk: Any) -> HttpResponse:
    order = selectors.order_get(request.user, pk)
    internal = request.POST.get("internal") == "1"
    messages.message_post(order=order, by=request.user, body=request.POST.get("body", ""), internal=internal)
    flash.success(request, "Your note is saved for the studio." if internal else "Your message is sent.")
    return redirect(reverse("jobs:order_detail", args=[order.pk]) + "#messages")


@login_required
@require_POST
def image_marks(request: HttpRequest, pk: Any) -> HttpResponse:
    """The thread forms of the image page: a new thread about a whole picture, a reply, resolve, reopen, and
    taking back one's own mark. Each calls one service; a refusal is shown on the page it came from."""
    image = selectors.image_get(request.user, pk)
    user, post, action = request.user, request.POST, request.POST.get("action", "")
    mentions = [m for m in [post.get("mention", "")] if m]
    if action == "comment":
        key = post.get("file", "o")
        version = None if key == "o" else next((v for v in selectors.versions_of(user, image)
                                                 if f"v{v.number}" == key), None)
        if key != "o" and version is None:
            raise RuleViolation("Choose a picture of this image.", field="file")
        mark = annotations.annotation_create(image=image, version=version, by=user, target=None,
                                             text=post.get("text", ""), mentions=mentions,
                                             for_client=True if post.get("to_client") else None)
        said = f"Thread {mark.number} started."
    else:
        mark = selectors.annotation_get(user, post.get("mark"))
        if mark.image_id != image.pk:
            raise RuleViolation("This mark is on another image.", field="mark")
        if action == "reply":
            annotations.reply_post(mark=mark, by=user, text=post.get("text", ""), mentions=mentions,
                                   internal=bool(post.get("internal")))
            said = f"Your reply on mark {mark.number} is posted."
        elif action in {"resolve", "reopen"}:
            settle = annotations.annotation_resolve if action == "resolve" else annotations.annotation_reopen
            settle(mark=mark, by=user)
            said = f"Mark {mark.number} {'resolved' if action == 'resolve' else 'reopened'}."
        elif action == "delete":
            annotations.annotation_delete(mark=mark, by=user)
            said = f"Mark {mark.number} taken back."
        else:
            raise RuleViolation("Unknown action.", field="action")
    flash.success(request, said)
    return redirect(reverse("jobs:image_detail", args=[image.pk]) + f"#mark-{mark.number}")


@login_required
def quality_report(request: HttpRequest) -> HttpResponse:
    """First-time approval, QC reject rates and grade overrides per retoucher, client and month, with their counts."""
    require(permissions.can_view_quality_report(request.user))
    report = quality.report(request.user)
    sections = [("First-time approval per retoucher", report["ftar_retoucher"], "Retoucher"),
                ("QC reject rate per retoucher", report["qc_retoucher"], "Retoucher"),
                ("First-time approval per client", report["ftar_client"], "Client"),
                ("QC reject rate per client", report["qc_client"], "Client"),
                ("First-time approval per month", report["ftar_month"], "Month"),
                ("QC reject rate per month", report["qc_month"], "Month"),
                ("Grades changed from the measured one, per client", report["override_client"], "Client"),
                ("Grades changed from the measured one, per month", report["override_month"], "Month")]
    return render(request, "jobs/quality.html", {"report_sections": sections})


def production_context(user: Any, order: Any) -> dict[str, Any]:
    """What the order page shows of production and review (the deliveries, rounds and thread)."""
    thread = list(selectors.message_list(user, order))
    rounds = list(selectors.round_list(user, order))
    for number, round_ in enumerate(rounds):  # newest first
        round_.shown_status, round_.shown_label = round_.status, round_.get_status_display()
        in_revision = OrderStatus.REVISION in {order.status, order.held_from}
        if round_.status == RoundStatus.OPEN and (number or not in_revision):
            # an open round the studio has answered: a later round came, or the order moved on
            round_.shown_status, round_.shown_label = "done", "Redelivered"
    return {
        **deliveries_context(user, order),
        "rounds": rounds,
        "thread": [m for m in thread if not m.internal], "notes": [m for m in thread if m.internal],
        "can_message": permissions.can_post_message(user, order, internal=False),
        "can_note": permissions.can_post_message(user, order, internal=True),
        "can_classify": permissions.can_classify_revisions(user),
        "can_review": permissions.can_review_delivery(user, order) and order.status in REVIEWABLE,
        "review_waiting": order.status in {OrderStatus.DELIVERED, OrderStatus.REVISION}
        and order.images.filter(status=ImageStatus.DELIVERED).exists(),
        "kinds": ItemKind.choices,
    }


@login_required
@require_POST
def version_reference(request: HttpRequest, pk: Any) -> HttpResponse:
    version = selectors.version_get(request.user, pk)
    guide = references.version_make_reference(version=version, by=request.user)
    flash.success(request, f"{version.image.filename} is now the golden reference of {guide.name} (v{guide.version}).")
    return redirect("jobs:image_work", pk=version.image_id)
