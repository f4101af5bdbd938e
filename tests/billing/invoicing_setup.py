"""Set-up shared by the invoicing tests: the studio's billing profile, billing addresses, and completed
orders with accepted quotes (moved to their states directly, as the state-table tests do)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from django.utils import timezone

from billing import invoicing, services
from billing.documents import NS
from billing.models import BillingProfile, Invoice, Quote, QuoteStatus
from clients.models import Client
from jobs.models import Order, OrderStatus
from tests.factories import make_order, submitted_order

SELLER = {"legal_name": "Loupe Studio GmbH", "street": "Torstraße 1", "postcode": "10119", "city": "Berlin",
          "country": "DE", "vat_number": "DE123456789", "registration": "Amtsgericht Berlin HRB 12345",
          "email": "billing@loupe.example", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
          "bank_name": "Commerzbank"}


def billing_profile(**overrides: Any) -> BillingProfile:
    return BillingProfile.objects.create(**{**SELLER, **overrides})


def address(client: Client, *, country: str = "DE", vat: str = "DE987654321", tax_rate: str = "19",
            **fields: Any) -> Client:
    client.billing_street, client.billing_postcode, client.billing_city = "Goldgasse 7", "50667", "Köln"
    client.billing_country, client.vat_number, client.tax_rate = country, vat, Decimal(tax_rate)
    for name, value in fields.items():
        setattr(client, name, value)
    client.save()
    return client


def completed_order(client: Client, by: Any, *, counts: dict[str, int] | None = None, po: str = "PO-4711",
                    title: str = "Rings") -> Order:
    """A completed order whose accepted quote was drafted from the price list (client's tax rate)."""
    order = submitted_order(make_order(client, title=title), counts or {"standard": 10})
    quote = services.quote_draft(order=order, by=by)
    Quote.objects.filter(pk=quote.pk).update(status=QuoteStatus.ACCEPTED)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED, completed_at=timezone.now(), po_number=po)
    order.refresh_from_db()
    return order


def issued_invoice(client: Client, cast: Any, **kwargs: Any) -> Invoice:
    order = completed_order(client, cast.account_manager, **kwargs)
    [draft] = invoicing.invoice_generate(by=cast.finance, order=order)
    return invoicing.invoice_issue(invoice=draft, by=cast.finance)


def ubl_totals(data: bytes) -> dict[str, Decimal]:
    """The monetary totals a UBL file states, and the sum of its line amounts."""
    root = ET.fromstring(data)  # noqa: S314 (our own output)
    found = {el.tag.split("}")[1]: Decimal(el.text) for el in root.find("cac:LegalMonetaryTotal", NS)}
    found["TaxAmount"] = Decimal(root.find("cac:TaxTotal/cbc:TaxAmount", NS).text)
    lines = root.findall("cac:InvoiceLine/cbc:LineExtensionAmount", NS) + root.findall(
        "cac:CreditNoteLine/cbc:LineExtensionAmount", NS)
    found["Lines"] = sum((Decimal(el.text) for el in lines), Decimal("0"))
    return found


def copy_of(invoice: Invoice, **changes: Any) -> Invoice:
    """A new row with ``invoice``'s fields and ``changes`` (a credit note against it, another month's
    draft…), written directly: for tests of the rules that read such rows."""
    row = {k: v for k, v in Invoice.objects.filter(pk=invoice.pk).values()[0].items() if k != "id"}
    return Invoice.objects.create(**{**row, **changes})
