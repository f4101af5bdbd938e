"""Quote and price-list pages. The order page loads the quote panel from here (htmx), because
``jobs`` never imports ``billing``."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agency.exceptions import RuleViolation
from agency.forms import run_service
from billing import permissions, selectors, services, workflow
from billing.forms import PriceListForm, QuoteDeclineForm, QuoteLineForm, QuoteSendForm
from billing.models import OPEN_QUOTES, Quote, QuoteStatus
from jobs.models import OrderStatus
from jobs.planning import order_promise
from jobs.selectors import order_get


@login_required
def order_quote(request: HttpRequest, pk: Any) -> HttpResponse:
    """The quote panel of an order page: drafting and editing for staff, the answer for clients."""
    order = order_get(request.user, pk)
    if not permissions.can_view_price_lists(request.user):
        return HttpResponse("")  # retouchers and QC never see prices
    quote = selectors.quote_queryset(request.user).filter(order=order).order_by("-created_at").first()
    promise = None
    if quote and quote.status == QuoteStatus.DRAFT:
        promise = order_promise(order)
    return render(request, "billing/_quote.html", {
        "order": order, "quote": quote, "promise": promise,
        "can_prepare": permissions.can_prepare_quote(request.user),
        "can_draft": permissions.can_prepare_quote(request.user) and order.status == OrderStatus.SUBMITTED
        and (quote is None or quote.status not in OPEN_QUOTES),
        "can_answer": quote is not None and workflow.can_answer(request.user, quote),
        "send_form": QuoteSendForm(), "decline_form": QuoteDeclineForm(), "line_form": QuoteLineForm(),
    })


def _quote(request: HttpRequest, pk: Any) -> Quote:
    return get_object_or_404(selectors.quote_queryset(request.user), pk=pk)


def _invalid(form: Any) -> RuleViolation:
    field, errors = next(iter(form.errors.items()))
    return RuleViolation(f"{form.fields[field].label or field}: {' '.join(errors)}" if field in form.fields
                         else " ".join(errors), field=field)


@login_required
@require_POST
def quote_draft(request: HttpRequest, pk: Any) -> HttpResponse:
    order = order_get(request.user, pk)
    services.quote_draft(order=order, by=request.user)
    messages.success(request, "A quote has been drafted from the price list; check it and send it.")
    return redirect("jobs:order_detail", pk=order.pk)


@login_required
@require_POST
def quote_line(request: HttpRequest, pk: Any, line_id: Any = None) -> HttpResponse:
    """Add a line, or change or remove one. Refusals answer 400/403/409 with the reason."""
    quote = _quote(request, pk)
    line = get_object_or_404(quote.lines, pk=line_id) if line_id else None
    if request.POST.get("delete") and line is not None:
        services.quote_line_delete(quote=quote, by=request.user, line=line)
        messages.success(request, "The line has been removed.")
        return redirect("jobs:order_detail", pk=quote.order_id)
    form = QuoteLineForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    services.quote_line_save(quote=quote, by=request.user, line=line, **form.cleaned_data)
    messages.success(request, "The quote has been updated.")
    return redirect("jobs:order_detail", pk=quote.order_id)


@login_required
@require_POST
def quote_send(request: HttpRequest, pk: Any) -> HttpResponse:
    quote = _quote(request, pk)
    form = QuoteSendForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    workflow.quote_send(quote=quote, by=request.user, valid_days=form.cleaned_data["valid_days"])
    messages.success(request, "The quote has been sent to the client.")
    return redirect("jobs:order_detail", pk=quote.order_id)


@login_required
@require_POST
def quote_answer(request: HttpRequest, pk: Any, answer: str) -> HttpResponse:
    quote = _quote(request, pk)
    if answer == "accept":
        workflow.quote_accept(quote=quote, by=request.user)
        messages.success(request, "Thank you: the quote is accepted and production has started.")
    elif answer == "decline":
        form = QuoteDeclineForm(request.POST)
        if not form.is_valid():
            raise RuleViolation("Tell the studio why you decline, so that it can quote again.", field="reason")
        workflow.quote_decline(quote=quote, by=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, "The quote has been declined; the studio will come back to you.")
    else:
        raise Http404
    return redirect("jobs:order_detail", pk=quote.order_id)


@login_required
def price_list_list(request: HttpRequest) -> HttpResponse:
    if not permissions.can_view_price_lists(request.user):
        raise PermissionDenied
    return render(request, "billing/price_list_list.html", {
        "price_lists": selectors.price_list_list(request.user), "can_edit": permissions.can_edit_price_lists(request.user),
    })


@login_required
def price_list_edit(request: HttpRequest, pk: Any = None) -> HttpResponse:
    instance = get_object_or_404(selectors.price_list_list(request.user), pk=pk) if pk else None
    if not permissions.can_edit_price_lists(request.user):
        raise PermissionDenied
    form = PriceListForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if not k.startswith("price_") and k != "tiers"}
        fields["volume_tiers"] = form.cleaned_data["tiers"]
        saved = run_service(form, lambda: services.price_list_save(by=request.user, fields=fields, rules=form.rules(),
                                                                   price_list=instance))
        if saved:
            messages.success(request, f"{saved.name} has been saved. Quotes already made keep their prices.")
            return redirect("billing:price_list_list")
    return render(request, "billing/price_list_form.html", {"form": form, "instance": instance})


@login_required
def revision_price(request: HttpRequest, pk: Any) -> HttpResponse:
    """The price panel of the proofing page (loaded over htmx: jobs never shows money itself): the
    charge of a round waiting for confirmation, or the fee per change of the next round."""
    order = order_get(request.user, pk)
    if not permissions.can_view_price_lists(request.user):
        return HttpResponse("")
    round_ = None
    if request.GET.get("round"):
        round_ = get_object_or_404(order.revision_rounds.all(), pk=_uuid_or_404(request.GET["round"]))
        changes = round_.items.filter(kind="change").count()
        price = services.revision_price(order=order, changes=changes, number=round_.number)
    else:
        price = services.revision_price(order=order, changes=1)
    return render(request, "billing/_revision_price.html", {"price": price, "round": round_})


def _uuid_or_404(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Http404 from exc
