"""The invoices API (DESIGN.md §7): generate, issue, void, credit, pay, pdf, ubl; who sees what; the
refusals as problem documents with nothing changed; a constant number of queries for the list."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import invoicing
from billing.models import DocumentCounter, Invoice, InvoiceStatus
from tests.billing.invoicing_setup import address, completed_order, issued_invoice
from tests.conftest import api_for

pytestmark = pytest.mark.django_db
S = InvoiceStatus


@pytest.fixture(autouse=True)
def _globex_billed(ready):
    address(ready.globex, vat="DE111111111")



def test_generate_issue_pay_through_the_api(ready):
    order = completed_order(ready.acme, ready.account_manager)
    api = api_for(ready.finance)
    made = api.post("/api/v1/invoices/", {"order": str(order.pk)}, format="json")
    assert made.status_code == 201, made.content
    [draft] = made.json()
    assert draft["status"] == "draft" and draft["number"] == "" and draft["lines"][0]["order_number"] == order.number
    again = api.post("/api/v1/invoices/", {"order": str(order.pk)}, format="json")
    assert again.status_code == 409 and "invoiced already" in again.json()["detail"]
    issued = api.post(f"/api/v1/invoices/{draft['id']}/issue/")
    assert issued.status_code == 200 and issued.json()["number"].startswith("INV-")
    twice = api.post(f"/api/v1/invoices/{draft['id']}/issue/")
    assert twice.status_code == 409 and "keeps its number" in twice.json()["detail"]
    total = Decimal(issued.json()["total"])
    paid = api.post(f"/api/v1/invoices/{draft['id']}/pay/", {"amount": str(total)}, format="json")
    assert paid.status_code == 201 and paid.json()["status"] == "paid" and paid.json()["balance"] == "0.00"
    assert api.get(f"/api/v1/invoices/{draft['id']}/pdf/")["Content-Type"] == "application/pdf"
    ubl = api.get(f"/api/v1/invoices/{draft['id']}/ubl/")
    assert ubl["Content-Type"] == "application/xml" and issued.json()["number"].encode() in ubl.content
    assert f'{issued.json()["number"]}.xml' in ubl["Content-Disposition"]


def test_refusals_answer_with_the_reason_and_change_nothing(ready):
    invoice = issued_invoice(ready.acme, ready)
    api = api_for(ready.finance)
    url = f"/api/v1/invoices/{invoice.pk}"
    before = Invoice.objects.filter(pk=invoice.pk).values().get()
    over = api.post(f"{url}/pay/", {"amount": str(invoice.total + 1)}, format="json")
    assert over.status_code == 400 and "amount" in over.json()["errors"]
    credit = api.post(f"{url}/credit/", {"amount": str(invoice.net_total + 1), "reason": "Too much"}, format="json")
    assert credit.status_code == 400 and "more than was invoiced" in credit.json()["detail"]
    no_reason = api.post(f"{url}/void/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    assert Invoice.objects.filter(pk=invoice.pk).values().get() == before
    api.post(f"{url}/pay/", {"amount": str(invoice.total)}, format="json")
    paid = Invoice.objects.filter(pk=invoice.pk).values().get()
    void = api.post(f"{url}/void/", {"reason": "Oops"}, format="json")
    assert void.status_code == 409 and "credit note instead" in void.json()["detail"]
    assert Invoice.objects.filter(pk=invoice.pk).values().get() == paid
    empty = Invoice.objects.create(client=ready.acme, currency="EUR")
    refused = api.post(f"/api/v1/invoices/{empty.pk}/issue/")
    assert refused.status_code == 409 and "without lines" in refused.json()["detail"]
    assert Invoice.objects.get(pk=empty.pk).number == "" and DocumentCounter.objects.get(series="INV").last == 1


def test_a_non_finance_user_cannot_issue(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    response = api_for(ready.account_manager).post(f"/api/v1/invoices/{draft.pk}/issue/")
    assert response.status_code == 403 and "Only finance" in response.json()["detail"]
    assert Invoice.objects.get(pk=draft.pk).status == S.DRAFT
    invoice = issued_invoice(ready.acme, ready, title="Issued")
    response = api_for(ready.acme_admin).post(f"/api/v1/invoices/{invoice.pk}/pay/", {"amount": "1.00"}, format="json")
    assert response.status_code == 403 and Invoice.objects.get(pk=invoice.pk).paid_total == 0


def test_client_admins_read_their_own_issued_documents_only(ready):
    mine = issued_invoice(ready.acme, ready)
    draft = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager,
                                                                                title="Draft"))[0]
    theirs = issued_invoice(ready.globex, ready, title="CANARY-B-7f3a rings")
    body = api_for(ready.acme_admin).get("/api/v1/invoices/").json()
    assert [row["number"] for row in body["results"]] == [mine.number]
    assert "CANARY-B" not in str(body)
    for pk in (theirs.pk, draft.pk):
        response = api_for(ready.acme_admin).get(f"/api/v1/invoices/{pk}/")
        assert response.status_code == 404 and "CANARY" not in response.content.decode()
        assert api_for(ready.acme_admin).get(f"/api/v1/invoices/{pk}/pdf/").status_code == 404
    assert api_for(ready.acme_member).get("/api/v1/invoices/").status_code == 403
    assert api_for(ready.acme_member).get(f"/api/v1/invoices/{mine.pk}/").status_code == 404
    assert api_for(ready.retoucher).get(f"/api/v1/invoices/{mine.pk}/").status_code == 404


def test_list_filters(ready):
    paid = issued_invoice(ready.acme, ready)
    invoicing.invoice_pay(invoice=paid, by=ready.finance, amount=paid.total)
    open_ = issued_invoice(ready.acme, ready, title="Open")
    other = issued_invoice(ready.globex, ready)
    api = api_for(ready.finance)

    def numbers(query: str) -> set[str]:
        response = api.get(f"/api/v1/invoices/{query}")
        assert response.status_code == 200, response.content
        return {row["number"] for row in response.json()["results"]}

    assert numbers("?status=paid") == {paid.number}
    assert numbers(f"?client={ready.globex.pk}") == {other.number}
    assert numbers("?status=overdue") == set()
    Invoice.objects.filter(pk=open_.pk).update(due_date=open_.issue_date - timedelta(days=365))  # a year ago (leap days too)
    assert numbers("?status=overdue") == {open_.number}
    assert numbers("?currency=USD") == set()
    assert api.get("/api/v1/invoices/?status=lost").status_code == 400


def test_the_list_runs_a_constant_number_of_queries(ready):
    api = api_for(ready.finance)
    issued_invoice(ready.acme, ready)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/invoices/").status_code == 200
        return len(queries)

    few = count()
    for n in range(4):
        invoice = issued_invoice(ready.acme, ready, title=f"More {n}")
        invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("1.00"))
    assert count() == few


def test_generate_for_a_client_month(ready):
    """The month is any day of it; the work completed today (the studio's today) is in it."""
    completed_order(ready.acme, ready.account_manager)
    today = invoicing.studio_today()
    first, last = invoicing.month_of(today)
    response = api_for(ready.finance).post("/api/v1/invoices/", {"client": str(ready.acme.pk),
                                                                 "month": last.isoformat()}, format="json")
    assert response.status_code == 201
    assert (response.json()[0]["period_start"], response.json()[0]["period_end"]) == (first.isoformat(), last.isoformat())
    assert first.day == 1 and (last + timedelta(days=1)).day == 1 and first <= today <= last
    both = api_for(ready.finance).post("/api/v1/invoices/", {"client": str(ready.acme.pk), "order": str(ready.acme_order.pk)},
                                       format="json")
    assert both.status_code == 400
