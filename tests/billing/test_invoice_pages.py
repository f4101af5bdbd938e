"""Invoice pages as finance and as a client's admin: every button works, refusals keep what was typed
and say why, and the list runs a constant number of queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import invoicing
from billing.models import DocumentKind, Invoice, InvoiceStatus
from tests.billing.invoicing_setup import completed_order, issued_invoice
from tests.conftest import web_for

pytestmark = pytest.mark.django_db
S = InvoiceStatus



def test_finance_makes_edits_issues_and_is_paid_through_the_pages(ready):
    completed_order(ready.acme, ready.account_manager)
    web = web_for(ready.finance)
    assert "Invoices" in web.get("/orders/").content.decode()  # in the navigation
    made = web.post("/invoices/generate/", {"client": ready.acme.pk})
    draft = Invoice.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/invoices/{draft.pk}/"
    page = web.get(f"/invoices/{draft.pk}/").content.decode()
    assert "Add an extra charge" in page and "Issue" in page and "PO-4711" in page and "PO PO-4711" not in page
    refused = web.post(f"/invoices/{draft.pk}/line/", {"description": "Rush", "quantity": "1", "unit_price": "abc"})
    assert refused.status_code == 400 and 'value="Rush"' in refused.content.decode()
    web.post(f"/invoices/{draft.pk}/line/", {"description": "Rush handling", "quantity": "1", "unit_price": "12.00"})
    assert draft.lines.filter(description="Rush handling").exists()
    web.post(f"/invoices/{draft.pk}/note/", {"note": "Thank you"})
    issued = web.post(f"/invoices/{draft.pk}/issue/", follow=True).content.decode()
    draft.refresh_from_db()
    assert draft.status == S.ISSUED and draft.note == "Thank you" and f"Invoice {draft.number} is issued" in issued
    over = web.post(f"/invoices/{draft.pk}/pay/", {"amount": str(draft.total + 1), "received_on": "2026-01-02",
                                                   "method": "transfer"})
    assert over.status_code == 400 and "is due" in over.content.decode()
    assert value_of(over, "amount") == str(draft.total + 1)
    web.post(f"/invoices/{draft.pk}/pay/", {"amount": str(draft.total), "received_on": "2026-01-02", "method": "transfer",
                                            "reference": "SEPA 42"})
    draft.refresh_from_db()
    assert draft.status == S.PAID
    assert web.get(f"/invoices/{draft.pk}/pdf/")["Content-Type"] == "application/pdf"
    assert web.get(f"/invoices/{draft.pk}/ubl/")["Content-Type"] == "application/xml"


def value_of(response, name: str) -> str:
    import re

    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', response.content.decode())
    return match.group(1) if match else ""


def test_credit_and_void_from_the_invoice_page(ready):
    web = web_for(ready.finance)
    invoice = issued_invoice(ready.acme, ready)
    response = web.post(f"/invoices/{invoice.pk}/credit/", {"amount": "5.00", "reason": "Redone"})
    note = Invoice.objects.get(kind=DocumentKind.CREDIT_NOTE)
    assert response["Location"] == f"/invoices/{note.pk}/"
    assert invoice.number in web.get(f"/invoices/{note.pk}/").content.decode()
    too_much = web.post(f"/invoices/{invoice.pk}/credit/", {"amount": "9999.00", "reason": "All"})
    assert too_much.status_code == 400 and "more than was invoiced" in too_much.content.decode()
    other = issued_invoice(ready.acme, ready, title="Wrong")
    missing = web.post(f"/invoices/{other.pk}/void/", {"reason": ""})
    assert missing.status_code == 400 and Invoice.objects.get(pk=other.pk).status == S.ISSUED
    web.post(f"/invoices/{other.pk}/void/", {"reason": "Wrong company"})
    assert Invoice.objects.get(pk=other.pk).status == S.VOID
    assert "Void" in web.get(f"/invoices/{other.pk}/").content.decode()


def test_issue_all_drafts_reports_each_refusal(ready):
    completed_order(ready.acme, ready.account_manager)
    completed_order(ready.globex, ready.account_manager, title="No address")
    web = web_for(ready.finance)
    invoicing.invoice_generate(by=ready.finance, client=ready.acme)
    invoicing.invoice_generate(by=ready.finance, client=ready.globex)
    page = web.post("/invoices/issue-drafts/", follow=True).content.decode()
    assert "1 invoice issued" in page and "no complete billing address" in page
    assert Invoice.objects.get(client=ready.acme).status == S.ISSUED
    assert Invoice.objects.get(client=ready.globex).status == S.DRAFT


def test_list_filters_and_totals_per_currency(ready):
    paid = issued_invoice(ready.acme, ready)
    invoicing.invoice_pay(invoice=paid, by=ready.finance, amount=paid.total)
    open_ = issued_invoice(ready.acme, ready, title="Open")
    web = web_for(ready.finance)
    page = web.get("/invoices/?status=paid").content.decode()
    assert paid.number in page and open_.number not in page
    assert f"{paid.total} EUR" in page
    everything = web.get("/invoices/").content.decode()
    assert f"{paid.total + open_.total} EUR" in everything and f"{open_.total} open" in everything
    assert web.get("/invoices/?status=nonsense").status_code == 200  # an invalid filter is shown, not a crash


def test_the_totals_count_issued_documents_only(ready):
    """A draft is not invoiced yet: the totals per currency are the issued amounts."""
    issued = issued_invoice(ready.acme, ready)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager,
                                                                                  counts={"standard": 3}))
    page = web_for(ready.finance).get("/invoices/").content.decode()
    assert f"{issued.total} EUR</strong>" in page and f"{issued.total + draft.total} EUR" not in page
    assert f"{issued.total} open" in page and "Issued in EUR" in page


def test_search_finds_an_invoice_by_number_order_po_client_or_amount(ready):
    from tests.billing.invoicing_setup import copy_of
    from tests.conftest import api_for

    wanted = issued_invoice(ready.acme, ready, po="AUR-7731", title="Wanted")
    other = issued_invoice(ready.acme, ready, po="ZZ-1", counts={"standard": 4})
    order = wanted.lines.exclude(order=None).first().order
    web = web_for(ready.finance)
    for q in (wanted.number, order.number, "aur-7731", f"{wanted.total:,}", str(wanted.total), f" {wanted.number} "):
        page = web.get("/invoices/", {"q": q}).content.decode()
        assert wanted.number in page and other.number not in page, q
        found = api_for(ready.finance).get("/api/v1/invoices/", {"q": q}).json()["results"]
        assert [row["number"] for row in found] == [wanted.number], q
    assert "No invoice matches" in web.get("/invoices/", {"q": "nothing-like-this"}).content.decode()
    # the list shows each document's orders and POs
    listing = web.get("/invoices/").content.decode()
    assert order.number in listing and "PO AUR-7731" in listing
    # a client's search never reaches another company's documents
    theirs = copy_of(other, client_id=ready.globex.pk, number="RE-GLOBEX-1", sequence=999)
    assert theirs.number in web.get("/invoices/", {"q": "RE-GLOBEX"}).content.decode()  # finance finds it
    assert theirs.number not in web_for(ready.acme_admin).get("/invoices/", {"q": "RE-GLOBEX"}).content.decode()
    assert api_for(ready.acme_admin).get("/api/v1/invoices/", {"q": "RE-GLOBEX"}).json()["results"] == []


def test_the_filters_offer_the_viewers_currencies_and_a_client_no_client_column(ready):
    from tests.billing.invoicing_setup import copy_of

    invoice = issued_invoice(ready.acme, ready)
    admin_page = web_for(ready.acme_admin).get("/invoices/")
    assert "currency" not in admin_page.context["form"].fields  # one currency: nothing to choose
    text = admin_page.content.decode()
    assert "<th>Client</th>" not in text and "Acme Jewels invoices" in text
    copy_of(invoice, client_id=ready.globex.pk, currency="USD", number="RE-USD-1", sequence=998)
    finance_form = web_for(ready.finance).get("/invoices/").context["form"]
    assert [value for value, _label in finance_form.fields["currency"].choices] == ["", "EUR", "USD"]
    assert "<th>Client</th>" in web_for(ready.finance).get("/invoices/").content.decode()


def test_the_list_runs_a_constant_number_of_queries(ready):
    web = web_for(ready.finance)
    issued_invoice(ready.acme, ready)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert web.get("/invoices/").status_code == 200
        return len(queries)

    few = count()
    for n in range(4):
        issued_invoice(ready.acme, ready, title=f"More {n}")
    assert count() == few


def test_aging_page(ready):
    invoice = issued_invoice(ready.acme, ready)
    page = web_for(ready.finance).get("/invoices/aging/").content.decode()
    assert "Acme Jewels" in page and str(invoice.total) in page and "Over 90" in page


def test_client_admins_see_their_issued_documents_and_how_to_pay(ready):
    mine = issued_invoice(ready.acme, ready)
    draft = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager,
                                                                                title="Draft"))[0]
    page = web_for(ready.acme_admin).get("/invoices/").content.decode()
    assert mine.number in page and str(draft.pk) not in page and "Make drafts" not in page
    detail = web_for(ready.acme_admin).get(f"/invoices/{mine.pk}/").content.decode()
    assert "How to pay" in detail and "DE89 3704 0044 0532 0130 00" in detail and "Record a payment" not in detail
    assert web_for(ready.acme_admin).get(f"/invoices/{draft.pk}/").status_code == 404
    assert web_for(ready.acme_admin).post(f"/invoices/{mine.pk}/pay/", {"amount": "1"}).status_code == 403
    assert web_for(ready.acme_member).get("/invoices/").status_code == 403
    assert "/invoices/" not in web_for(ready.acme_member).get("/orders/").content.decode()
    assert web_for(ready.retoucher).get("/invoices/").status_code == 403
    assert web_for(ready.globex_admin).get(f"/invoices/{mine.pk}/").status_code == 404


def test_the_client_form_edits_the_billing_address_and_terms(ready):
    web = web_for(ready.account_manager)
    page = web.get(f"/clients/{ready.acme.pk}/edit/").content.decode()
    for name in ("billing_street", "billing_postcode", "billing_city", "billing_country", "invoicing",
                 "pay_before_download"):
        assert f'name="{name}"' in page, name
    form = {name: value for name, value in {
        "name": "Acme Jewels", "billing_email": "ap@acme.test", "vat_number": "FR12345678901",
        "billing_street": "1 rue de Rivoli", "billing_postcode": "75001", "billing_city": "Paris", "billing_country": "FR",
        "currency": "EUR", "time_zone": "Europe/Paris", "tax_rate": "0", "payment_terms_days": "14",
        "invoicing": "monthly", "pay_before_download": "on", "free_revision_rounds": "1", "pilot_size": "3",
        "auto_approve_days": "", "is_active": "on"}.items()}
    response = web.post(f"/clients/{ready.acme.pk}/edit/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    ready.acme.refresh_from_db()
    assert (ready.acme.billing_city, ready.acme.invoicing, ready.acme.pay_before_download) == ("Paris", "monthly", True)
    bad = web.post(f"/clients/{ready.acme.pk}/edit/", {**form, "billing_country": "France"})
    assert bad.status_code == 200 and "ISO 3166" in bad.content.decode()
    ready.acme.refresh_from_db()
    assert ready.acme.billing_country == "FR" and ready.acme.tax_rate == Decimal("0")
