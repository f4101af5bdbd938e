"""Invoice pages: the list with filters and totals per currency, one invoice with its actions, the
aging report and the export page (finance); client admins read and download their own documents."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agency.exceptions import RuleViolation
from agency.forms import run_service
from agency.permissions import is_studio_user, require
from billing import documents, exports, invoicing, permissions, selectors
from billing.forms import (
    ExportForm,
    InvoiceCreditForm,
    InvoiceFilterForm,
    InvoiceGenerateForm,
    InvoiceLineForm,
    InvoiceNoteForm,
    InvoicePayForm,
    InvoiceVoidForm,
)
from billing.models import DocumentKind, Export, ExportStatus, InvoiceLine, InvoiceStatus
from clients.selectors import client_list


def _viewer(request: HttpRequest) -> None:
    require(permissions.can_view_invoices(request.user), "Invoices are for finance, the studio's managers and client admins.")


def _finance(request: HttpRequest) -> None:
    require(permissions.can_manage_invoices(request.user), "Only finance changes invoices.")


# The order numbers and PO numbers of the listed documents: one query for the page, whatever its length.
_ORDER_REFS = Prefetch("lines", queryset=InvoiceLine.objects.select_related("order").only(
    "invoice", "order", "po_number", "order__number").order_by("position"))


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    _viewer(request)
    user = request.user
    studio = is_studio_user(user)
    clients = client_list(user).order_by("name") if studio else client_list(user).none()
    form = InvoiceFilterForm(request.GET or None, clients=clients, currencies=selectors.invoice_currencies(user))
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    if "client" in filters:
        filters["client"] = filters["client"].pk
    invoices = selectors.invoice_list(user, **filters).order_by("-issue_date", "-sequence", "-created_at")
    page = Paginator(invoices.prefetch_related(_ORDER_REFS), 30).get_page(request.GET.get("page"))
    for invoice in page.object_list:
        invoice.order_refs = sorted({(line.order.number, line.po_number) for line in invoice.lines.all() if line.order})
    drafts = selectors.invoice_list(user, **{**filters, "status": InvoiceStatus.DRAFT}) \
        if permissions.can_manage_invoices(user) else None
    return render(request, "billing/invoice_list.html", {
        "form": form, "page": page, "invoices": page.object_list, "filtered": bool(filters), "studio": studio,
        "viewer_client": None if studio else getattr(getattr(user, "membership", None), "client", None),
        "totals": invoicing.totals_per_currency(invoices), "query": request.GET,
        "can_manage": permissions.can_manage_invoices(user), "draft_count": drafts.count() if drafts is not None else 0,
        "generate_form": InvoiceGenerateForm(clients=clients), "today": invoicing.studio_today(),
    })


@login_required
@require_POST
def invoice_generate(request: HttpRequest) -> HttpResponse:
    """Draft invoices for a client's completed, unbilled work (the monthly run does the same on the 1st)."""
    _finance(request)
    form = InvoiceGenerateForm(request.POST, clients=client_list(request.user))
    if not form.is_valid():
        raise RuleViolation("Choose a client to invoice.", field="client")
    drafts = invoicing.invoice_generate(by=request.user, client=form.cleaned_data["client"])
    messages.success(request, f"{len(drafts)} draft invoice{'s' if len(drafts) != 1 else ''} for "
                              f"{form.cleaned_data['client'].name}; check and issue {'them' if len(drafts) != 1 else 'it'}.")
    if len(drafts) == 1:
        return redirect("billing:invoice_detail", pk=drafts[0].pk)
    return redirect(reverse("billing:invoice_list") + f"?status=draft&client={form.cleaned_data['client'].pk}")


@login_required
@require_POST
def invoice_issue_drafts(request: HttpRequest) -> HttpResponse:
    """Issue every draft the list shows (each on its own: one refusal does not stop the others)."""
    _finance(request)
    drafts = selectors.invoice_list(request.user, status=InvoiceStatus.DRAFT).select_related("client")
    if request.POST.get("client"):
        drafts = drafts.filter(client_id=request.POST["client"])
    issued, refusals = invoicing.invoices_issue_drafts(by=request.user, invoices=list(drafts))
    if issued:
        messages.success(request, f"{len(issued)} invoice{'s' if len(issued) != 1 else ''} issued: "
                                  + ", ".join(i.number for i in issued[:10]) + ("…" if len(issued) > 10 else ""))
    for refusal in refusals:
        messages.error(request, refusal)
    if not issued and not refusals:
        messages.info(request, "There are no drafts to issue.")
    return redirect("billing:invoice_list")


def _forms(invoice: Any, request: HttpRequest, **bound: Any) -> dict[str, Any]:
    due = invoice.balance
    return {
        "line_form": bound.get("line_form") or InvoiceLineForm(),
        "note_form": bound.get("note_form") or InvoiceNoteForm(initial={"note": invoice.note}),
        "pay_form": bound.get("pay_form") or InvoicePayForm(initial={
            "amount": due if due > 0 else None, "received_on": invoicing.studio_today(), "method": "transfer"}),
        "credit_form": bound.get("credit_form") or InvoiceCreditForm(),
        "void_form": bound.get("void_form") or InvoiceVoidForm(),
    }


def _detail(request: HttpRequest, invoice: Any, status: int = 200, **bound: Any) -> HttpResponse:
    user = request.user
    lines = list(invoice.lines.select_related("order"))
    manage = permissions.can_manage_invoices(user)
    is_invoice = invoice.kind == DocumentKind.INVOICE
    context = {
        "invoice": invoice, "lines": lines, "payments": list(invoice.payments.all()) if is_invoice else [],
        "credit_notes": list(selectors.invoice_queryset(user).filter(credited_invoice=invoice)) if is_invoice else [],
        "can_manage": manage, "editable": invoicing.can_edit(user, invoice),
        "can_issue": invoicing.can_issue(user, invoice), "can_pay": invoicing.can_pay(user, invoice),
        "can_void": invoicing.can_void(user, invoice), "can_credit": invoicing.can_credit(user, invoice),
        "credit_room": invoicing.credit_room(invoice) if is_invoice and invoice.number else None,
        "orders": sorted({line.order for line in lines if line.order}, key=lambda o: o.number),
        "held_orders": sorted({line.order for line in lines if line.order and line.order.downloads_held},
                              key=lambda o: o.number),
        "epc": documents.epc_payload(invoice) if invoice.number else None,
        **(_forms(invoice, request, **bound) if manage else {}),
    }
    return render(request, "billing/invoice_detail.html", context, status=status)


@login_required
def invoice_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _detail(request, selectors.invoice_get(request.user, pk))


def _back(invoice: Any, anchor: str = "") -> HttpResponseRedirect:
    return redirect(reverse("billing:invoice_detail", args=[invoice.pk]) + anchor)


FORMS = {"line": (InvoiceLineForm, "line_form"), "note": (InvoiceNoteForm, "note_form"),
         "pay": (InvoicePayForm, "pay_form"), "credit": (InvoiceCreditForm, "credit_form"),
         "void": (InvoiceVoidForm, "void_form")}


@login_required
@require_POST
def invoice_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    """Every button of the invoice page. A refusal re-renders the page with what was typed and the
    reason; a permission refusal answers 403."""
    invoice = selectors.invoice_get(request.user, pk)
    _finance(request)
    user = request.user
    if action == "issue":
        invoice = invoicing.invoice_issue(invoice=invoice, by=user)
        messages.success(request, f"Invoice {invoice.number} is issued; the client's admins are told.")
        return _back(invoice)
    if action.startswith("remove-line-"):
        line = get_object_or_404(invoice.lines.all(), pk=action.removeprefix("remove-line-"))
        invoicing.invoice_line_remove(line=line, by=user)
        messages.success(request, "The line is off the draft; its work can be invoiced again later.")
        return _back(invoice, "#lines")
    if action not in FORMS:
        raise RuleViolation("Unknown action.", field="action")
    form_class, name = FORMS[action]
    form = form_class(request.POST)
    calls = {
        "line": lambda data: invoicing.invoice_line_add(invoice=invoice, by=user, **data),
        "note": lambda data: invoicing.invoice_note_set(invoice=invoice, by=user, **data),
        "pay": lambda data: invoicing.invoice_pay(invoice=invoice, by=user, **data),
        "credit": lambda data: invoicing.invoice_credit(invoice=invoice, by=user, **data),
        "void": lambda data: invoicing.invoice_void(invoice=invoice, by=user, **data),
    }
    result = run_service(form, lambda: calls[action](form.cleaned_data)) if form.is_valid() else None
    if result is None:
        invoice.refresh_from_db()
        return _detail(request, invoice, status=400, **{name: form})
    done = {"line": "The line is added.", "note": "The note is saved.",
            "pay": "The payment is recorded.", "void": "The invoice is void."}
    if action == "credit":
        messages.success(request, f"Credit note {result.number} is issued.")
        return _back(result)
    invoice.refresh_from_db()
    if action == "pay" and invoice.status == InvoiceStatus.PAID:
        messages.success(request, f"{invoice.number} is paid in full; held files are released to the client.")
    else:
        messages.success(request, done[action])
    return _back(invoice, "#lines" if action == "line" else "")


@login_required
def invoice_file(request: HttpRequest, pk: Any, kind: str) -> HttpResponse:
    """The PDF or the UBL file of an issued document (the API serves the same bytes)."""
    return documents.file_response(selectors.invoice_get(request.user, pk), "pdf" if kind == "pdf" else "ubl")


@login_required
def aging_report(request: HttpRequest) -> HttpResponse:
    _finance(request)
    rows, totals = invoicing.aging(selectors.invoice_queryset(request.user))
    return render(request, "billing/aging.html", {"rows": rows, "totals": totals, "buckets": invoicing.AGING_BUCKETS,
                                                  "today": invoicing.studio_today()})


@login_required
def export_page(request: HttpRequest) -> HttpResponse:
    _finance(request)
    today = invoicing.studio_today()
    form = ExportForm(request.POST or None, initial={"date_from": today.replace(day=1), "date_to": today, "format": "csv"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        export = run_service(form, lambda: exports.export_start(by=request.user, fmt=data["format"],
                                                                date_from=data["date_from"], date_to=data["date_to"]))
        if export:
            messages.success(request, f"The export of {export.total} document{'s' if export.total != 1 else ''} is being "
                                      "prepared; it appears below when ready.")
            return redirect("billing:export_page")
    return render(request, "billing/exports.html", {"form": form, **_exports(request)},
                  status=400 if form.errors else 200)


def _exports(request: HttpRequest) -> dict[str, Any]:
    rows = list(Export.objects.filter(created_by=request.user)[:10])
    return {"exports": rows, "building": any(e.status == ExportStatus.BUILDING for e in rows)}


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    """The exports panel alone, polled while one is building (htmx)."""
    _finance(request)
    return render(request, "billing/_exports.html", _exports(request))


@login_required
def export_download(request: HttpRequest, pk: Any) -> HttpResponse:
    export = get_object_or_404(Export.objects.filter(created_by=request.user, status=ExportStatus.READY), pk=pk)
    _finance(request)
    response = redirect(exports.export_download_url(export))
    response["Cache-Control"] = "no-store"
    return response
