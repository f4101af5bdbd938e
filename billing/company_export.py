"""Billing's part of a company's archive (``jobs.company_export``): each issued invoice and credit note the asker
may read, as its PDF and its UBL file (EN 16931), the same documents the invoice pages hand out."""

from __future__ import annotations

import zipfile
from typing import Any

from billing import documents
from billing.selectors import invoice_queryset
from clients.models import Client


def invoices(user: Any, client: Client, archive: zipfile.ZipFile) -> dict[str, int]:
    written = 0
    for document in invoice_queryset(user).filter(client=client).exclude(number="").order_by("issued_at", "number"):
        archive.writestr(f"invoices/{documents.filename(document, 'pdf')}", documents.pdf_for(document))
        archive.writestr(f"invoices/{documents.filename(document, 'xml')}", documents.render_ubl(document))
        written += 1
    return {"invoices": written}
