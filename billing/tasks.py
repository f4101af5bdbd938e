"""django-q2 tasks for billing. Tasks take ids, re-read state and are idempotent (DESIGN.md §8)."""

from __future__ import annotations

import logging

from django.urls import reverse

from agency.notifications import notify
from billing import exports, invoicing
from billing.models import DocumentKind, Invoice
from billing.workflow import quotes_expire_due
from clients.models import Membership

logger = logging.getLogger("loupe.billing")


def expire_quotes() -> int:
    """Hourly: quotes past their validity expire and their orders go back for a new quote."""
    return quotes_expire_due()


def invoice_order(order_id: str) -> int:
    """After a per-order client's order completes: its draft invoice (nothing when already billed)."""
    return invoicing.invoice_order_completed(order_id)


def invoice_monthly() -> int:
    """On the 1st: last month's drafts for every monthly client."""
    made = invoicing.invoice_month()
    logger.info("monthly invoicing: %d drafts", made)
    return made


def notify_issued(invoice_id: str) -> int:
    """Tell the client's admins that an invoice or credit note is issued (bell and mail, once each)."""
    document = Invoice.objects.select_related("client").get(pk=invoice_id)
    admins = [m.user for m in Membership.objects.filter(client=document.client, user__role="client_admin")
              .select_related("user")]
    what = "Invoice" if document.kind == DocumentKind.INVOICE else "Credit note"
    due = f", due {document.due_date:%d %b %Y}" if document.due_date else ""
    return notify(admins, kind="invoice_issued", source=f"invoice:{document.pk}", title=f"{what} {document.number}",
                  body=f"{what} {document.number}: {document.total} {document.currency}{due}.",
                  url=reverse("billing:invoice_detail", args=[document.pk]))


def build_export(export_id: str) -> str:
    """Write a finance export to storage, counting documents as it goes (the page shows progress)."""
    return exports.export_build(export_id=export_id)
