"""Labels written the same way on pages, documents and exports."""

from __future__ import annotations

import pytest

from agency.labels import po_label


@pytest.mark.parametrize("number, shown", [
    ("4411", "PO 4411"), ("AUR-7731", "PO AUR-7731"), ("POL-12", "PO POL-12"), ("Polish-1", "PO Polish-1"),
    ("PO-AUR-7731", "PO-AUR-7731"), ("po 4411", "po 4411"), ("P.O. 12", "P.O. 12"), ("PO#12", "PO#12"),
    ("  PO 7 ", "PO 7"), ("", ""),
])
def test_a_po_number_that_says_po_is_not_prefixed_again(number, shown):
    assert po_label(number) == shown


@pytest.mark.django_db
def test_the_order_list_and_the_invoice_documents_do_not_double_the_prefix(cast, web):
    from billing import documents
    from tests.billing.invoicing_setup import address, billing_profile, completed_order
    from tests.factories import default_price_list

    default_price_list()
    billing_profile()
    address(cast.acme)
    order = completed_order(cast.acme, cast.account_manager, po="PO-AUR-7731")
    page = web(cast.account_manager).get("/orders/?status=all").content.decode()
    assert "PO-AUR-7731" in page and "PO PO-AUR-7731" not in page
    from billing import invoicing

    [draft] = invoicing.invoice_generate(by=cast.finance, order=order)
    invoice = invoicing.invoice_issue(invoice=draft, by=cast.finance)
    ubl = documents.render_ubl(invoice).decode()
    detail = web(cast.finance).get(f"/invoices/{invoice.pk}/").content.decode()
    assert "PO-AUR-7731" in detail and "PO PO-AUR-7731" not in detail
    assert "PO-AUR-7731" in ubl and "PO PO-AUR-7731" not in ubl
