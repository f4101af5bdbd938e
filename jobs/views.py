"""Order pages (thin: form → service/workflow → redirect; reads through selectors)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from agency.calendar import studio_calendar, studio_today
from agency.exceptions import RuleViolation
from agency.forms import run_service
from agency.models import Role, User
from agency.permissions import require
from clients.selectors import client_get, client_list, style_guide_list
from clients.tenancy import client_id_of
from jobs import company_export, permissions, retention, selectors, services, workflow
from jobs.forms import ImageForm, OrderFilterForm, OrderForm, TransitionForm
from jobs.intake import uploads
from jobs.models import (
    BEFORE_PRODUCTION,
    DELIVERED_WORK,
    NOT_ACCEPTED,
    CompanyExport,
    DeliveryStatus,
    ImageStatus,
    OrderStatus,
)
from jobs.next_step import next_step
from jobs.production import assignment, pilots, planning, sla
from jobs.review import annotations, payment_holds
from jobs.views_production import production_context


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    clients = client_list(user) if permissions.can_view_studio_reports(user) else None
    form = OrderFilterForm(request.GET or None, clients=clients, statuses=OrderStatus.choices)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {"status": data.get("status") or None, "client": data.get("client"), "search": data.get("q", ""),
                   "mine": data.get("mine", False)}
    orders = selectors.order_list(user, **filters)
    action_count = selectors.action_count(user)
    paginator = Paginator(orders, 25)
    # Counting the annotated list would compile its next-step SQL once more (bench/load.py): without
    # "mine" a plain count of the same filters, with "mine" alone the action count itself.
    narrowing = {k: filters.get(k) for k in ("status", "client", "search")}
    if not filters.get("mine"):
        paginator.count = selectors.order_count(user, **narrowing)
    elif not any(narrowing.values()):
        paginator.count = action_count
    page = paginator.get_page(request.GET.get("page"))
    rows = [(order, next_step(order, user)) for order in page.object_list]
    base = request.GET.copy()
    for key in ("page", "mine"):
        base.pop(key, None)
    chips = {"all": f"?{base.urlencode()}", "mine": f"?{base.urlencode()}{'&' if base else ''}mine=on"}
    return render(request, "jobs/order_list.html", {
        "filter_form": form, "page": page, "rows": rows,
        "action_count": action_count,
        "mine": filters.get("mine", False), "query": request.GET.copy(), "chips": chips,
        "can_create": permissions.can_create_order(user), "show_client": clients is not None,
        "filtered": any(request.GET.get(k) for k in ("status", "client", "q", "mine")),
    })


def _order_form(request: HttpRequest, **kwargs: Any) -> OrderForm:
    user = request.user
    return OrderForm(
        request.POST or None,
        services=selectors.service_list(),
        style_guides=style_guide_list(user),
        clients=None if permissions.is_client_user(user) else client_list(user).filter(is_active=True),
        **kwargs,
    )


@login_required
def order_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    require(permissions.can_create_order(user), "Only a client's users or an account manager create orders.")
    guides = list(style_guide_list(user)[:2])
    # A company with one style guide has nothing to choose: it is preselected.
    form = _order_form(request, initial={"turnaround": "standard", **({"style_guide": guides[0]} if len(guides) == 1 else {})})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        client = data.pop("client", None) or client_get(user, client_id_of(user))
        order = run_service(form, lambda: services.order_create(client=client, created_by=user, **data))
        if order:
            messages.success(request, f"Order {order.number} has been saved as a draft. Submit it when it is complete.")
            return redirect("jobs:order_detail", pk=order.pk)
    return render(request, "jobs/order_form.html", {"form": form, "title": "New order"})


@login_required
def order_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    order = selectors.order_get(request.user, pk)
    require(permissions.can_edit_order(request.user, order), "Only the client's users or an account manager edit an order.")
    form = _order_form(request, instance=order)
    if request.method == "POST" and form.is_valid():
        saved = run_service(form, lambda: services.order_update(order=order, by=request.user, **form.cleaned_data))
        if saved:
            messages.success(request, f"Order {saved.number} has been saved.")
            return redirect("jobs:order_detail", pk=saved.pk)
    return render(request, "jobs/order_form.html", {"form": form, "title": f"Edit {order.number}", "order": order})


@login_required
def order_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    user = request.user
    order = selectors.order_get(user, pk)
    return render(request, "jobs/order_detail.html", {
        **_images_context(user, order),
        **production_context(user, order),
        "can_schedule": assignment.can_assign_work(user, order),
        "sla": _sla(order),
        "max_upload_bytes": uploads.max_upload_bytes(),
        "events": selectors.event_list(user, order),
        "actions": workflow.available_actions(user, order),
        "show_internal": permissions.can_see_internal_events(user),
        "step": next_step(order, user),
        "kept": retention.kept(order),
        "can_hold_files": permissions.can_hold_files(user),
    })


@login_required
def company_exports(request: HttpRequest, pk: Any) -> HttpResponse:
    """A company's archives (loaded into the Team page and the client's page over htmx; a page of its own
    without JavaScript): POST asks for a new one."""
    client = client_get(request.user, pk)
    require(company_export.can_export(request.user, client))
    if request.method == "POST":
        company_export.export_request(client=client, by=request.user)
        if not request.headers.get("HX-Request"):
            messages.success(request, "The archive is being made; it appears here in a moment.")
            return redirect("jobs:company_exports", pk=client.pk)
    exports = list(selectors.company_export_queryset(request.user).filter(client=client)[:10])
    context = {"client": client, "exports": exports, "keep_days": CompanyExport.KEEP_DAYS,
               "building": any(e.status == DeliveryStatus.BUILDING for e in exports)}
    template = "jobs/_company_exports.html" if request.headers.get("HX-Request") else "jobs/company_exports.html"
    return render(request, template, context)


@login_required
def company_export_download(request: HttpRequest, pk: Any) -> HttpResponse:
    export = selectors.company_export_get(request.user, pk)
    response = redirect(company_export.export_download_url(export=export, by=request.user))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def order_legal_hold(request: HttpRequest, pk: Any) -> HttpResponse:
    """Place or lift an order's legal hold (``jobs.retention``); the form says which, so a second click of
    the same button changes nothing."""
    order = selectors.order_get(request.user, pk)
    hold = request.POST.get("hold") == "1"
    retention.set_legal_hold(order=order, by=request.user, hold=hold, reason=request.POST.get("reason", ""))
    messages.success(request, f"Legal hold {'placed on' if hold else 'lifted from'} order {order.number}.")
    return redirect("jobs:order_detail", pk=order.pk)


def _sla(order: Any) -> Any:
    return sla.status(order, now=timezone.now(), calendar=studio_calendar())


TRANSITIONS = {
    "submit": (workflow.order_submit, False, "Order {number} has been submitted to the studio."),
    "cancel": (workflow.order_cancel, True, "Order {number} has been cancelled."),
    "hold": (workflow.order_hold, True, "Order {number} is on hold."),
    "resume": (workflow.order_resume, False, "Order {number} has been resumed."),
}


@login_required
@require_POST
def order_transition(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    if action not in TRANSITIONS:
        raise Http404
    order = selectors.order_get(request.user, pk)
    func, takes_reason, done = TRANSITIONS[action]
    form = TransitionForm(request.POST)
    if not form.is_valid():
        raise RuleViolation("The reason can be at most 500 characters.", field="reason")
    kwargs: dict[str, Any] = {"reason": form.cleaned_data["reason"]} if takes_reason else {}
    func(order_id=order.pk, by=request.user, **kwargs)
    messages.success(request, done.format(number=order.number))
    return redirect("jobs:order_detail", pk=order.pk)


def _uuid_or_none(value: Any) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _images_context(user: Any, order: Any) -> dict[str, Any]:
    """The order's images: before production with the pre-flight advice on what was sent (the client can
    still act on it); once work was delivered, each image as last delivered (a finished order shows the
    finished pictures, not the dusty originals)."""
    images = list(selectors.image_list(user, order))
    before_production = order.status in BEFORE_PRODUCTION
    if order.status in DELIVERED_WORK:
        delivered = selectors.delivered_versions(images)
        for image in images:
            image.delivery_number, image.delivered_version = delivered.get(image.pk, (None, None))
    return {
        "order": order, "images": images, "preflight": before_production,
        "series_warnings": uploads.series_warnings(images) if before_production else [],
        "busy": any(i.status == ImageStatus.UPLOADING for i in images),
        "rejected_count": sum(1 for i in images if i.status == ImageStatus.REJECTED),
        "can_upload": uploads.images_editable(user, order),
        "grades": permissions.can_grade_complexity(user),  # the measured grade beside each picture
        **_pilot_context(user, order, images, before_production),
    }


def _pilot_context(user: Any, order: Any, images: list[Any], before_production: bool) -> dict[str, Any]:
    """The order's pilot (``jobs.production.pilots``): before production the one it will run (the studio may choose
    its pictures), afterwards its counts. The grid marks the pilot's pictures."""
    plan = pilots.plan(order, [i for i in images if i.status not in NOT_ACCEPTED]) if before_production else None
    if plan is not None:
        return {"pilot_plan": plan, "pilot_ids": {i.pk for i in plan.pilot},
                "can_choose_pilot": permissions.runs_orders(user) and order.status in BEFORE_PRODUCTION}
    facts = pilots.facts(order)
    return {"pilot": facts, "pilot_ids": {i.pk for i in images if i.in_pilot} if facts else set()}


@login_required
@require_POST
def order_pilot(request: HttpRequest, pk: Any) -> HttpResponse:
    """The studio chooses the pilot's pictures (``pilots.pilot_choose``); the same choice twice changes nothing."""
    order = selectors.order_get(request.user, pk)
    chosen = pilots.pilot_choose(order=order, by=request.user, images=request.POST.getlist("images"))
    messages.success(request, f"The pilot is {len(chosen)} chosen picture{'s' if len(chosen) != 1 else ''}, topped up "
                              "with the first by position." if chosen else "The pilot is the first pictures by position.")
    return redirect(f"{reverse('jobs:order_detail', args=[order.pk])}#images")


@login_required
def order_images(request: HttpRequest, pk: Any) -> HttpResponse:
    """The images grid alone, for the upload area and status polling (htmx)."""
    order = selectors.order_get(request.user, pk)
    return render(request, "jobs/_images.html", _images_context(request.user, order))


@login_required
def image_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One original: its file facts and pre-flight, its own instructions (editable until production
    starts), and what became of it (versions for the studio, the delivered preview for the client)."""
    image = selectors.image_get(request.user, pk)
    user, order = request.user, image.order
    editable = uploads.images_editable(user, order)
    form = None
    if editable:
        form = ImageForm(request.POST or None, instance=image, grade=permissions.can_grade_complexity(user))
        if request.method == "POST" and form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.fields}
            # The form validated against a copy; the service re-reads the row under its lock.
            image = selectors.image_get(user, pk)
            if run_service(form, lambda: uploads.image_update(image=image, by=user, **fields)):
                messages.success(request, f"{image.filename} has been saved.")
                return redirect("jobs:image_detail", pk=image.pk)
    elif request.method == "POST":
        uploads.image_update(image=image, by=user)  # refuses with the reason (403 or 409)
    versions = list(selectors.versions_of(user, image).exclude(preview=""))
    marks = list(selectors.marks_of(user, image, every_file=True))
    for mark in marks:
        mark.may_change = annotations.may_change(mark, user)
    may_mark = annotations.may_mark(user, image)
    return render(request, "jobs/image_detail.html", {
        "marks": marks, "may_mark": may_mark, "mark_files": [("o", "Original")] + [
            (f"v{v.number}", f"v{v.number}" if permissions.can_open_studio_work(user) else
             "Retouched" if len(versions) == 1 else f"Retouched {n}")
            for n, v in enumerate(sorted(versions, key=lambda v: v.number), start=1)],
        "people": annotations.mentionable(order, studio_only=not permissions.can_write_to_client(user, order))
        if may_mark else [],
        "edit_minutes": annotations.EDIT_WINDOW.seconds // 60,
        "can_write_to_client": permissions.can_write_to_client(user, order),
        "image": image, "order": order, "form": form, "versions": versions,
        "delivered": permissions.is_client_user(user) and bool(versions), "held": payment_holds.is_held(image.order, user),
        "can_remove": editable,
        "can_download": bool(image.original) and permissions.can_download_original(user, order),
    })


@login_required
@require_POST
def order_remove_rejected(request: HttpRequest, pk: Any) -> HttpResponse:
    order = selectors.order_get(request.user, pk)
    removed = uploads.images_remove_rejected(order=order, by=request.user)
    messages.success(request, f"{removed} refused file{'s' if removed != 1 else ''} removed.")
    return redirect(reverse("jobs:order_detail", args=[order.pk]) + "#images")


@login_required
@require_POST
def image_remove(request: HttpRequest, pk: Any) -> HttpResponse:
    image = selectors.image_get(request.user, pk)
    order_id = image.order_id
    uploads.image_remove(image=image, by=request.user)
    messages.success(request, f"{image.filename} has been removed.")
    return redirect(reverse("jobs:order_detail", args=[order_id]) + "#images")




@login_required
def order_schedule(request: HttpRequest, pk: Any) -> HttpResponse:
    """Proposed assignments for the order, applied in one click or changed per image."""
    order = selectors.order_get(request.user, pk)
    require(permissions.can_schedule(request.user))
    if request.method == "POST":
        made = assignment.schedule_apply(order=order, by=request.user)
        messages.success(request, f"{len(made)} image{'s' if len(made) != 1 else ''} assigned.")
        return redirect("jobs:order_schedule", pk=order.pk)
    images = list(selectors.image_list(request.user, order).prefetch_related("assignments__retoucher"))
    schedulable = assignment.can_assign_work(request.user, order)
    return render(request, "jobs/schedule.html", {
        "order": order, "proposal": planning.proposal_rows(order) if schedulable else None,
        "images": images, "retouchers": User.objects.filter(role=Role.RETOUCHER, is_active=True).order_by("full_name"),
        "schedulable": schedulable,
    })


@login_required
@require_POST
def image_assign(request: HttpRequest, pk: Any) -> HttpResponse:
    image = selectors.image_get(request.user, pk)
    require(permissions.can_schedule(request.user))
    retoucher = User.objects.filter(pk=_uuid_or_none(request.POST.get("retoucher")), role=Role.RETOUCHER).first()
    if retoucher is None:
        raise RuleViolation("Choose a retoucher.", field="retoucher")
    assignment.image_assign(image=image, retoucher=retoucher, by=request.user, reassign=bool(request.POST.get("reassign")))
    messages.success(request, f"{image.filename} is now with {retoucher.full_name}.")
    return redirect("jobs:order_schedule", pk=image.order_id)


@login_required
def workload_board(request: HttpRequest) -> HttpResponse:
    """Each retoucher's booked minutes per day for two weeks."""
    require(permissions.can_view_workload(request.user))
    rows = planning.workload(start=studio_today(), days=14)
    days = [cell["day"] for cell in rows[0]["days"]] if rows else []
    return render(request, "jobs/workload.html", {"rows": rows, "days": days})


@login_required
def sla_dashboard(request: HttpRequest) -> HttpResponse:
    """Open orders by due time with their SLA state."""
    require(permissions.can_view_studio_reports(request.user))
    calendar, now = studio_calendar(), timezone.now()
    orders = list(selectors.order_list(request.user).filter(
        status__in=[OrderStatus.IN_PRODUCTION, OrderStatus.REVISION, OrderStatus.ON_HOLD], due_at__isnull=False
    ).order_by("due_at"))
    rows = [{"order": o, "sla": sla.status(o, now=now, calendar=calendar)} for o in orders]
    counts = {state: sum(1 for r in rows if r["sla"] and r["sla"].state == state)
              for state in ("on_track", "at_risk", "breached", "paused")}
    return render(request, "jobs/dashboard.html", {"rows": rows, "counts": counts})


@login_required
def on_time_report(request: HttpRequest) -> HttpResponse:
    """On-time delivery per client and month (delivered by the due date)."""
    require(permissions.can_view_studio_reports(request.user))
    return render(request, "jobs/report.html", {"rows": selectors.on_time_by_client_month(request.user)})
