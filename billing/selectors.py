"""Reads for prices and quotes, always through the tenant scope."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from agency.permissions import is_client_user
from billing import permissions
from billing.models import OPEN_INVOICES, Invoice, InvoiceLine, PriceList, Quote, QuoteLine
from clients.tenancy import scope


def price_list_list(user: Any) -> QuerySet[PriceList]:
    """The price lists ``user`` reads: the studio's roles every list; a client user the list that applies
    to their company (its own, else the studio's default, which is what its quotes are priced from)."""
    lists = scope(PriceList.objects.all(), user)
    if is_client_user(user) and not lists.exists():
        lists = PriceList.objects.filter(client__isnull=True)  # the studio's default applies to the company
    return lists.prefetch_related("rules__service").select_related("client")


def _amount_in(text: str) -> Decimal | None:
    """The amount a search names, if it is one: "1,234.50", "1234.5", "-20" (grouping commas ignored)."""
    cleaned = text.replace(",", "").replace(" ", "")
    if not re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{1,2})?", cleaned):
        return None
    return Decimal(cleaned)


def invoice_currencies(user: Any) -> list[str]:
    """The currencies of the documents ``user`` reads (the list offers only those as a filter)."""
    return sorted(set(invoice_queryset(user).order_by().values_list("currency", flat=True).distinct()))


def quote_queryset(user: Any) -> QuerySet[Quote]:
    return scope(Quote.objects.select_related("order__client"), user).prefetch_related("lines")


def latest_quote(user: Any, order: Any) -> Quote:
    return get_object_or_404(quote_queryset(user).filter(order=order).order_by("-created_at")[:1])


def quote_line_queryset(user: Any) -> QuerySet[QuoteLine]:
    return scope(QuoteLine.objects.select_related("quote__order"), user)


def invoice_queryset(user: Any) -> QuerySet[Invoice]:
    """Invoices and credit notes the user may read (none for roles that never see invoices)."""
    if not permissions.can_view_invoices(user):
        return Invoice.objects.none()
    return scope(Invoice.objects.select_related("client", "credited_invoice"), user)


def invoice_get(user: Any, pk: Any) -> Invoice:
    return get_object_or_404(invoice_queryset(user), pk=pk)


def invoice_line_queryset(user: Any) -> QuerySet[InvoiceLine]:
    if not permissions.can_view_invoices(user):
        return InvoiceLine.objects.none()
    return scope(InvoiceLine.objects.select_related("invoice", "order"), user)


def invoice_list(user: Any, *, client: Any = None, status: str = "", currency: str = "", kind: str = "",
                 issued_from: Any = None, issued_to: Any = None, q: str = "") -> QuerySet[Invoice]:
    """The invoice list's filters, for the page and the API alike. ``status="overdue"`` is derived:
    open, past its due date and with something still owed. ``q`` finds a document by its number, its
    client, an order number or PO number of its lines, or its total ("1,234.50" and "1234.5" alike)."""
    from agency.calendar import studio_today

    qs = invoice_queryset(user)
    if q := " ".join((q or "").split())[:100]:
        lines = invoice_line_queryset(user).filter(invoice=OuterRef("pk")).filter(
            Q(order__number__icontains=q) | Q(po_number__icontains=q))
        found = Q(number__icontains=q) | Q(client__name__icontains=q) | Exists(lines)
        amount = _amount_in(q)
        if amount is not None:
            found |= Q(total=abs(amount))  # a credit note's total is stored positive
        qs = qs.filter(found)
    if client:
        qs = qs.filter(client_id=client)
    if status == "overdue":
        qs = (qs.filter(status__in=OPEN_INVOICES, due_date__lt=studio_today())
              .alias(owed=F("total") - F("paid_total") - F("credited_total")).filter(owed__gt=0))
    elif status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency)
    if kind:
        qs = qs.filter(kind=kind)
    if issued_from:
        qs = qs.filter(issue_date__gte=issued_from)
    if issued_to:
        qs = qs.filter(issue_date__lte=issued_to)
    return qs
