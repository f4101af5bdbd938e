"""The pages of a personal review link, ``/r/<token>/`` (``jobs.review.shares``): nobody signs in. The token in
the address opens the link; the guest confirms their name (and the link's password) once per browser session,
then sees the delivery's pictures through ``clients.tenancy.scope`` with the link as principal. A revoked or
expired link answers 410 and an unknown one 404, each saying whom to ask."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from agency.exceptions import DomainError, InvalidTransition, NotPermitted, RuleViolation
from agency.uploads import get_backend
from clients.tenancy import scope
from jobs import downloads, selectors
from jobs.canvas import canvases
from jobs.intake import tiles
from jobs.models import REVIEWABLE, Annotation, DeliveryItem, ItemKind, RoundStatus, ShareDownloads, ShareLink
from jobs.production.versions import version_label
from jobs.review import annotations, payment_holds, proofing, shares
from jobs.review.deliveries import delivery_download_url

SESSION_KEY = "review_links"  # link id → the digest's first characters, for each link confirmed in this session
PENDING_KEY = "review_links_pending"  # link id → the name given, while the code mailed to the link's address is awaited
NOT_FOUND = ("This review link does not exist. Check that the address is the whole one from your mail, "
             "or ask the person who sent it.")


class NotFound(DomainError):
    status_code = 404
    title = "Not found"


TITLES = {404: "This link does not open anything", 410: "This review link has ended",
          429: "This link is locked for a while", 402: "Released once paid"}


def guest_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A guest's page: never cached; a refusal is a page that says
    why and whom to ask, with the link's status (404 unknown, 410 ended, 403 not allowed, 402 held, 429 locked)."""

    @wraps(view)
    def page(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, token, *args, **kwargs)
        except DomainError as refusal:
            response = render(request, "jobs/guest/refused.html", {
                "title": TITLES.get(refusal.status_code, "Not possible"), "reason": refusal.message,
                "back": refusal.status_code not in (410, 429) and _confirmed_token(request, token),
                "token": token}, status=refusal.status_code)
        response.setdefault("Cache-Control", "no-store")  # tiles say their own (private, a day)
        # the token is in the address: the site's "same-origin" referrer policy never sends it to another site
        # ("no-referrer" would make the browser's Origin "null", and Django's CSRF check refuse every form)
        return response

    return page


def _confirmed_token(request: HttpRequest, token: str) -> bool:
    link = ShareLink.objects.filter(digest=shares.digest(token)).first()
    return link is not None and _confirmed(request, link)


def _opened(request: HttpRequest, token: str) -> ShareLink:
    try:
        link = shares.guest_link(token)
    except ShareLink.DoesNotExist as exc:
        raise NotFound(NOT_FOUND) from exc
    timezone.activate(link.delivery.order.client.time_zone)
    return link


def _confirmed(request: HttpRequest, link: ShareLink) -> bool:
    return request.session.get(SESSION_KEY, {}).get(str(link.pk)) == link.digest[:16]


def _guest(request: HttpRequest, token: str) -> ShareLink:
    """The link of a page behind the confirmation: 404 when this browser has not confirmed it."""
    link = _opened(request, token)
    if not _confirmed(request, link):
        raise NotFound("Open your review link first and tell us your name.")
    return link


@require_http_methods(["GET", "POST"])
@guest_page
def guest_review(request: HttpRequest, token: str) -> HttpResponse:
    link = _opened(request, token)
    if not _confirmed(request, link):
        return _confirmation(request, token, link)
    items = list(scope(DeliveryItem.objects.all(), link).select_related("image__order", "version")
                 .order_by("image__position"))
    drawn = canvases(link, [item.image for item in items], base_of=lambda kind, row: f"/r/{token}/{kind}s/{row.pk}/")
    threads: dict[Any, list[Any]] = {}
    for mark in selectors.annotation_queryset(link).filter(image__in=[i.image_id for i in items]).order_by("number"):
        mark.mine = annotations.may_change(mark, link)
        threads.setdefault(mark.image_id, []).append(mark)
    order = link.delivery.order
    marking = order.status not in annotations.CLOSED
    for item in items:
        item.canvas, item.threads = drawn[item.image_id], threads.get(item.image_id, [])
        item.marks_api = reverse("guest_marks", args=[token, item.pk]) if marking else ""
    return render(request, "jobs/guest/review.html", {
        "link": link, "order": order, "delivery": link.delivery, "items": items, "token": token,
        "held": payment_holds.is_held(order, link), "sender": shares.owner_of(link),
        "previews": link.downloads in (ShareDownloads.PREVIEWS, ShareDownloads.FINALS),
        "finals": link.downloads == ShareDownloads.FINALS,
        "deciding": link.can_decide and order.status in REVIEWABLE, "marking": marking,
        "edit_minutes": annotations.EDIT_WINDOW.seconds // 60,
    })


def _confirmation(request: HttpRequest, token: str, link: ShareLink) -> HttpResponse:
    """The guest's name (and the link's password); where the studio asks for it, then the code mailed to the link's
    address. The name waits in the session between the two steps, only once the password was right."""
    errors: dict[str, str] = {}
    pending = request.session.get(PENDING_KEY, {})
    waiting = str(link.pk) in pending and (request.POST.get("code") is not None or bool(request.POST.get("resend")))
    name = pending[str(link.pk)] if waiting else request.POST.get("name", "")
    opened = False
    if request.method == "POST":
        try:
            if request.POST.get("resend") and str(link.pk) in pending:
                shares.resend_code(link=link)
            elif request.POST.get("code") is not None and str(link.pk) in pending:
                opened = bool(shares.guest_confirm_code(link=link, name=name, code=request.POST["code"]))
            else:
                opened = shares.guest_confirm(link=link, name=name, password=request.POST.get("password", ""))
                if not opened:
                    request.session[PENDING_KEY] = {**pending, str(link.pk): " ".join(name.split())}
                    pending = request.session[PENDING_KEY]
        except RuleViolation as refusal:
            errors[refusal.field] = refusal.message
    if opened:
        request.session.cycle_key()
        request.session.pop(PENDING_KEY, None)
        request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}), str(link.pk): link.digest[:16]}
        return redirect("guest_review", token=token)
    return render(request, "jobs/guest/confirm.html", {
        "link": link, "order": link.delivery.order, "errors": errors, "name": name,
        "asking_code": str(link.pk) in pending, "code_minutes": shares.CODE_MINUTES,
        "sender": shares.owner_of(link)}, status=400 if errors else 200)


def _file(link: ShareLink, kind: str, pk: Any) -> Any:
    return selectors.image_get(link, pk) if kind == "image" else selectors.version_file_get(link, pk)


@require_http_methods(["GET"])
@guest_page
def guest_tiles(request: HttpRequest, token: str, kind: str, pk: Any) -> HttpResponse:
    """A file's tile source for the guest's canvas, as the API gives it to the company's people (a held order's
    pictures: the watermarked pyramid)."""
    link = _guest(request, token)
    row = _file(link, kind, pk)
    pyramid = tiles.pyramid_for(**{kind: row}, by=link)
    return JsonResponse(tiles.descriptor(pyramid, file_width=row.width, file_height=row.height, url=request.path))


@require_http_methods(["GET"])
@guest_page
def guest_tile(request: HttpRequest, token: str, kind: str, pk: Any, level: int, col: int, row: int) -> HttpResponse:
    link = _guest(request, token)
    pyramid = tiles.pyramid_for(**{kind: _file(link, kind, pk)}, by=link)
    response = HttpResponse(tiles.read_tile(pyramid, level=level, col=col, row=row), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@require_http_methods(["GET"])
@guest_page
def guest_preview(request: HttpRequest, token: str, kind: str, pk: Any) -> HttpResponse:
    """A file's preview (the canvas without JavaScript, and until its tiles are made): ``what=preview`` only."""
    link = _guest(request, token)
    if request.GET.get("what", "preview") != "preview":
        raise NotFound("A review link shows previews.")
    row = _file(link, kind, pk)
    url = (downloads.version_download_url(version=row, by=link, what="preview") if kind == "version"
           else downloads.original_download_url(image=row, by=link, what="preview"))
    return HttpResponseRedirect(url)


def _item(link: ShareLink, pk: Any) -> DeliveryItem:
    item = scope(DeliveryItem.objects.all(), link).select_related("image__order", "version").filter(pk=pk).first()
    if item is None:
        raise NotFound("This picture is not part of your review.")
    return item


@require_http_methods(["POST"])
@guest_page
def guest_decide(request: HttpRequest, token: str) -> HttpResponse:
    """A guest whose link lets them decide approves a picture or asks for changes with a note, through the same
    review service as the company's people (``jobs.review.proofing.review_submit``)."""
    link = _guest(request, token)
    try:
        image = uuid.UUID(request.POST.get("image", ""))
    except ValueError as exc:
        raise RuleViolation("Choose a picture of your review.", field="image") from exc
    decision = request.POST.get("decision", "")
    if decision not in {"approve", "revise"}:
        raise RuleViolation("Approve the picture or ask for changes.", field="decision")
    # the guest's own marks on the picture they judge, not sent yet, go with their changes
    drawn = (list(Annotation.objects.filter(author_share=link, image_id=image, deleted_at__isnull=True, item__isnull=True,
                                            version__delivery_items__delivery=link.delivery_id)
                  .values_list("pk", flat=True)) if decision == "revise" else [])
    result = proofing.review_submit(order=link.delivery.order, by=link, items=[
        {"image": image, "decision": decision, "note": request.POST.get("note", ""), "kind": ItemKind.CHANGE,
         "annotations": drawn}])
    if result.waiting:
        flash.success(request, result.waiting_note())
    elif result.approved:
        flash.success(request, "Approved. Thank you: the company and the studio see it.")
    elif result.round is not None and result.round.status == RoundStatus.AWAITING_CONFIRMATION:
        flash.success(request, "Your changes are noted; they go to the studio once the company's admin confirms them.")
    else:
        flash.success(request, "Your changes are sent to the studio.")
    return redirect("guest_review", token=token)


@require_http_methods(["GET"])
@guest_page
def guest_download(request: HttpRequest, token: str, pk: Any = None) -> HttpResponse:
    """What the link lets the guest keep: one picture's watermarked preview, or the delivery's final files
    (a ZIP, once the order is paid for when it is paid before download). Originals never."""
    link = _guest(request, token)
    if pk is None:
        shares.check_download(link, "finals")
        url = delivery_download_url(delivery=link.delivery, by=link)
        shares.noted_download(link, f"the ZIP of delivery {link.delivery.number}")
        return HttpResponseRedirect(url)
    shares.check_download(link, "previews")
    item = _item(link, pk)
    if not item.version.preview:
        raise NotFound(f"{item.image.filename} has no preview.")
    key = payment_holds.held_preview(item.version.preview.name)
    name = f"{version_label(item.version)}_preview.webp"
    url = get_backend().download_url(key, filename=name, content_type="image/webp")
    shares.noted_download(link, f"the watermarked preview of {item.image.filename}")
    return HttpResponseRedirect(url)


@require_http_methods(["POST"])
@guest_page
def guest_marks(request: HttpRequest, token: str, pk: Any) -> HttpResponse:
    """The canvas saves a guest's mark at once (``static/js/canvas.js``, as the studio's pages do through the API):
    JSON in, the mark as the API shows it out (201), or ``{"detail"}`` with the refusal's status."""
    from jobs.serializers import AnnotationSerializer

    link = _guest(request, token)
    item = _item(link, pk)
    try:
        given = json.loads(request.body or b"{}")
        if not isinstance(given, dict) or not isinstance(given.get("text", ""), str):
            raise RuleViolation("Send the mark as a JSON object with its text and target.", field="target")
        mark = annotations.annotation_create(image=item.image, version=item.version, by=link,
                                             target=given.get("target"), text=given.get("text"))
    except ValueError:
        return JsonResponse({"detail": "Send the mark as JSON."}, status=400)
    except DomainError as refusal:
        return JsonResponse({"detail": refusal.message}, status=refusal.status_code)
    return JsonResponse(AnnotationSerializer(selectors.annotation_get(link, mark.pk)).data, status=201)


@require_http_methods(["POST"])
@guest_page
def guest_threads(request: HttpRequest, token: str) -> HttpResponse:
    """The thread forms of a guest's review: a thread about a whole picture, a reply, taking back one's own mark
    (within the edit window). Each calls the service the company's people use; a refusal is shown on the review."""
    link = _guest(request, token)
    post, action = request.POST, request.POST.get("action", "")
    anchor = ""
    try:
        if action == "comment":
            item = _item(link, post.get("picture"))
            mark = annotations.annotation_create(image=item.image, version=item.version, by=link, target=None,
                                                 text=post.get("text", ""))
            said, anchor = f"Thread {mark.number} on {item.image.filename} started.", f"#picture-{item.pk}"
        else:
            mark = _mark(link, post.get("mark"))
            anchor = f"#mark-{mark.pk}"
            if action == "reply":
                annotations.reply_post(mark=mark, by=link, text=post.get("text", ""))
                said = f"Your reply on mark {mark.number} is posted."
            elif action == "delete":
                annotations.annotation_delete(mark=mark, by=link)
                said = f"Mark {mark.number} taken back."
            else:
                raise RuleViolation("Reply to a mark or start a thread.", field="action")
    except (RuleViolation, InvalidTransition, NotPermitted) as refusal:
        flash.error(request, refusal.message)
    else:
        flash.success(request, said)
    return HttpResponseRedirect(reverse("guest_review", args=[token]) + anchor)


def _mark(link: ShareLink, pk: Any) -> Any:
    try:
        return selectors.annotation_get(link, uuid.UUID(str(pk)))
    except (ValueError, Http404) as exc:
        raise NotFound("This mark is not part of your review.") from exc
