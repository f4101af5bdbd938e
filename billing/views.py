"""Quote and price-list pages. The order page loads the quote panel from here (htmx), because
``jobs`` never imports ``billing``."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agency.exceptions import RuleViolation
from agency.forms import run_service
from agency.permissions import require
from billing import permissions, selectors, services, workflow
from billing.forms import PriceListForm, QuoteDeclineForm, QuoteLineForm, QuoteSendForm
from billing.models import OPEN_QUOTES, LineKind, Quote, QuoteStatus
from jobs.models import OrderStatus
from jobs.production.planning import order_promise
from jobs.selectors import order_get


@login_required
def order_quote(request: HttpRequest, pk: Any) -> HttpResponse:
    """The quote panel of an order page: drafting and editing for staff, the answer for clients."""
    order = order_get(request.user, pk)
    if not permissions.can_view_price_lists(request.user):
        return HttpResponse("")  # retouchers and QC never see prices
    quote = selectors.quote_queryset(request.user).filter(order=order).order_by("-created_at").first()
    return render(request, "billing/_quote.html", _panel(request, order, quote))


def _panel(request: HttpRequest, order: Any, quote: Quote | None, **editor: Any) -> dict[str, Any]:
    editing = quote is not None and quote.status == QuoteStatus.DRAFT and permissions.can_prepare_quote(request.user)
    return {
        "order": order, "quote": quote, "editing": editing,
        "promise": order_promise(order) if editing else None,
        "rows": editor.get("rows") or (_rows(quote) if editing else []),
        "errors": editor.get("errors", {}), "totals": editor.get("totals"),
        "can_prepare": permissions.can_prepare_quote(request.user),
        "can_draft": permissions.can_prepare_quote(request.user) and order.status == OrderStatus.SUBMITTED
        and (quote is None or quote.status not in OPEN_QUOTES),
        "can_answer": quote is not None and workflow.can_answer(request.user, quote),
        "send_form": QuoteSendForm(), "decline_form": QuoteDeclineForm(),
    }


def _rows(quote: Quote, data: Any = None, amounts: dict[Any, Any] | None = None) -> list[dict[str, Any]]:
    """The editor's rows: each line (the derived ones read-only, the surcharge waivable) and an empty row to add one, with
    what was typed when ``data`` is given and the amounts a save would give when ``amounts`` is."""
    rows = []
    for line in quote.lines.all():
        key = str(line.pk)
        row = {"key": key, "line": line, "editable": line.kind not in services.DERIVED,
               "waivable": line.kind == LineKind.SURCHARGE,
               "description": line.description, "quantity": line.quantity, "unit_price": line.unit_price,
               "amount": line.amount, "delete": False}
        if data is not None and row["waivable"]:
            row["delete"] = bool(data.get(f"{key}-delete"))
        if data is not None and row["editable"]:
            row.update(description=data.get(f"{key}-description", ""), quantity=data.get(f"{key}-quantity", ""),
                       unit_price=data.get(f"{key}-unit_price", ""), delete=bool(data.get(f"{key}-delete")))
            row["amount"] = (amounts or {}).get(line.pk, "—")
        rows.append(row)
    new = {"key": "new", "line": None, "editable": True, "description": "", "quantity": 1, "unit_price": "",
           "amount": "", "delete": False}
    if data is not None:
        new.update(description=data.get("new-description", ""), quantity=data.get("new-quantity", "1"),
                   unit_price=data.get("new-unit_price", ""))
        new["amount"] = (amounts or {}).get("new", "")
    return [*rows, new]


def _edits(quote: Quote, data: Any) -> tuple[list[services.LineEdit], dict[str, str]]:
    """The editor's rows as edits, or field errors keyed like the inputs ("<line>-quantity")."""
    edits, errors = [], {}
    for line in quote.lines.exclude(kind=LineKind.MINIMUM):
        key = str(line.pk)
        if not any(f"{key}-{name}" in data for name in ("description", "quantity", "unit_price", "delete")):
            continue  # not in this form: unchanged
        if data.get(f"{key}-delete"):
            edits.append(services.LineEdit(line.pk, line.description, line.quantity, line.unit_price, delete=True))
            continue
        if line.kind in services.DERIVED:
            continue  # computed from the others
        form = QuoteLineForm(data, prefix=key)
        if form.is_valid():
            edits.append(services.LineEdit(line.pk, **form.cleaned_data))
        else:
            errors.update({f"{key}-{field}": " ".join(e) for field, e in form.errors.items()})
    if data.get("new-description", "").strip() or data.get("new-unit_price", "").strip():
        form = QuoteLineForm(data, prefix="new")
        if form.is_valid():
            edits.append(services.LineEdit(None, **form.cleaned_data))
        else:
            errors.update({f"new-{field}": " ".join(e) for field, e in form.errors.items()})
    return edits, errors


def _edit(request: HttpRequest, quote: Quote, *, preview: bool) -> tuple[Any, dict[str, str]]:
    edits, errors = _edits(quote, request.POST)
    if errors:
        return None, errors
    try:
        return services.quote_lines_edit(quote=quote, by=request.user, edits=edits, preview=preview), {}
    except RuleViolation as exc:
        return None, {exc.field if exc.field and "-" in exc.field else "form": exc.message}


@login_required
@require_POST
def quote_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    """Save every line of a draft at once (one form, one Save). A refusal shows the editor again with
    what was typed and the reason beside the field."""
    quote = _quote(request, pk)
    result, errors = _edit(request, quote, preview=False)
    if result is not None:
        messages.success(request, "The quote has been saved." if result.changed else "Nothing to change.")
        return redirect(reverse("jobs:order_detail", args=[quote.order_id]) + "#quote")
    panel = _panel(request, quote.order, quote, rows=_rows(quote, request.POST), errors=errors)
    return render(request, "billing/quote_edit.html", panel, status=400)


@login_required
@require_POST
def quote_preview(request: HttpRequest, pk: Any) -> HttpResponse:
    """What a save would give, while the manager types: the same rules and arithmetic, rolled back."""
    quote = _quote(request, pk)
    result, errors = _edit(request, quote, preview=True)
    rows = _rows(quote, request.POST, result.amounts if result else None)
    totals = result.quote if result else None
    return render(request, "billing/_quote_preview.html", {"quote": quote, "rows": rows, "errors": errors,
                                                            "totals": totals})


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
    require(permissions.can_view_price_lists(request.user), "Price lists are for the studio.")
    return render(request, "billing/price_list_list.html", {
        "price_lists": selectors.price_list_list(request.user), "can_edit": permissions.can_edit_price_lists(request.user),
    })


@login_required
def price_list_edit(request: HttpRequest, pk: Any = None) -> HttpResponse:
    instance = get_object_or_404(selectors.price_list_list(request.user), pk=pk) if pk else None
    require(permissions.can_edit_price_lists(request.user), "Only finance edits price lists.")
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
        price = services.round_price(round_)
    else:
        price = services.revision_price(order=order, changes=1)
    return render(request, "billing/_revision_price.html", {"price": price, "round": round_})


def _uuid_or_404(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Http404 from exc
