"""Invoices from completed work, issuing with gapless numbers, payments, credit notes, void, aging,
and every refusal leaving the rows as they were."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from billing import invoicing
from billing.models import (
    DocumentCounter,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineSource,
    Payment,
    Quote,
    QuoteStatus,
    RevisionCharge,
    TaxCategory,
)
from clients.models import Invoicing
from jobs.models import Event, Order, OrderStatus, RevisionRound, RoundStatus
from tests.billing.invoicing_setup import address, completed_order, copy_of, issued_invoice
from tests.conftest import api_for

pytestmark = pytest.mark.django_db
S = InvoiceStatus



def snapshot(invoice: Invoice) -> dict:
    row = Invoice.objects.get(pk=invoice.pk)
    return {**model_to_dict(row), "lines": list(row.lines.values_list("description", "amount", "work", "released")),
            "payments": Payment.objects.filter(invoice=row).count()}


# Drafts from completed work ---------------------------------------------------------------------------

def test_a_completed_order_becomes_a_draft_with_the_quote_lines_its_order_and_po(ready):
    order = completed_order(ready.acme, ready.account_manager, counts={"standard": 10, "complex": 2})
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    quote = order.quotes.get()
    assert draft.status == S.DRAFT and draft.number == "" and draft.currency == "EUR"
    assert [(line.description, line.amount, line.order_id, line.po_number) for line in draft.lines.all()] == [
        (q.description, q.amount, order.pk, "PO-4711") for q in quote.lines.all()]
    assert (draft.net_total, draft.tax_total, draft.total) == (quote.net_total, quote.tax_total, quote.total)
    assert draft.tax_rate == Decimal("19")


def test_the_same_work_is_never_invoiced_twice(ready):
    order = completed_order(ready.acme, ready.account_manager)
    invoicing.invoice_generate(by=ready.finance, order=order)
    with pytest.raises(InvalidTransition, match="invoiced already"):
        invoicing.invoice_generate(by=ready.finance, order=order)
    assert invoicing.invoice_order_completed(order.pk) == 0  # the task run twice makes nothing more
    with pytest.raises(InvalidTransition, match="no completed work"):
        invoicing.invoice_generate(by=ready.finance, client=ready.acme)
    assert Invoice.objects.count() == 1


def test_billable_revision_rounds_become_lines(ready):
    order = completed_order(ready.acme, ready.account_manager)
    round_ = RevisionRound.objects.create(order=order, number=2, status=RoundStatus.OPEN, billable=True)
    RevisionCharge.objects.create(round=round_, currency="EUR", fee=Decimal("4.00"), items=3, amount=Decimal("12.00"))
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    revision = draft.lines.get(source=LineSource.REVISION)
    assert (revision.description, revision.quantity, revision.unit_price, revision.amount) == (
        "Revision round 2: 3 changes", Decimal("3"), Decimal("4.00"), Decimal("12.00"))
    assert revision.order_id == order.pk


def test_per_order_clients_get_a_draft_when_the_order_completes(ready, django_capture_on_commit_callbacks):
    from jobs import workflow

    order = completed_order(ready.acme, ready.account_manager)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED, completed_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_complete(order=Order.objects.get(pk=order.pk), by=None, message="All approved")
    draft = Invoice.objects.get(client=ready.acme)
    assert draft.status == S.DRAFT and draft.lines.filter(order=order).exists()
    assert Order.objects.get(pk=order.pk).completed_at is not None


def test_monthly_clients_get_one_draft_per_month_on_the_first(ready):
    ready.acme.invoicing = Invoicing.MONTHLY
    ready.acme.save()
    first = completed_order(ready.acme, ready.account_manager, title="October rings")
    second = completed_order(ready.acme, ready.account_manager, title="October pendants", po="PO-9")
    october = timezone.make_aware(timezone.datetime(2026, 10, 20, 12))
    Order.objects.filter(pk__in=[first.pk, second.pk]).update(completed_at=october)
    later = completed_order(ready.acme, ready.account_manager, title="November")  # completed now: next month
    Order.objects.filter(pk=later.pk).update(completed_at=timezone.make_aware(timezone.datetime(2026, 11, 3, 12)))
    assert invoicing.invoice_month(today=date(2026, 11, 1)) == 1
    draft = Invoice.objects.get()
    assert (draft.period_start, draft.period_end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert {line.order_id for line in draft.lines.all()} == {first.pk, second.pk}
    assert invoicing.invoice_month(today=date(2026, 11, 1)) == 0  # run twice: nothing more


def test_extra_charges_and_discounts_on_a_draft(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    before = draft.net_total
    invoicing.invoice_line_add(invoice=draft, by=ready.finance, description="Rush file preparation",
                               quantity=Decimal("1.5"), unit_price=Decimal("3.33"))
    draft.refresh_from_db()
    assert draft.net_total == before + Decimal("5.00")  # 4.995 rounded half-up
    assert draft.tax_total == (draft.net_total * Decimal("0.19")).quantize(Decimal("0.01"))
    with pytest.raises(RuleViolation):
        invoicing.invoice_line_add(invoice=draft, by=ready.finance, description=" ", quantity=Decimal("1"),
                                   unit_price=Decimal("1"))
    with pytest.raises(RuleViolation, match="at most 2 decimals"):
        invoicing.invoice_line_add(invoice=draft, by=ready.finance, description="x", quantity=Decimal("1"),
                                   unit_price=Decimal("1.005"))
    with pytest.raises(NotPermitted):
        invoicing.invoice_line_add(invoice=draft, by=ready.account_manager, description="x", quantity=Decimal("1"),
                                   unit_price=Decimal("1"))


# Issuing ---------------------------------------------------------------------------------------------

def test_issue_numbers_freezes_details_and_sets_the_due_date(ready):
    invoice = issued_invoice(ready.acme, ready)
    year = invoicing.studio_today().year
    assert invoice.number == f"INV-{year}-00001" and invoice.status == S.ISSUED
    assert invoice.due_date == invoice.issue_date + timedelta(days=ready.acme.payment_terms_days)
    assert invoice.seller["vat_number"] == "DE123456789" and invoice.buyer["city"] == "Köln"
    assert invoice.tax_category == TaxCategory.STANDARD
    ready.acme.billing_city = "Düsseldorf"
    ready.acme.save()
    invoice.refresh_from_db()
    assert invoice.buyer["city"] == "Köln"  # later edits never change an issued document
    second = issued_invoice(ready.acme, ready, title="More rings")
    assert second.number == f"INV-{year}-00002"
    assert Event.objects.filter(verb="invoice.issued", audience="managers").count() == 2


@pytest.mark.parametrize("country,vat,rate,category", [
    ("DE", "DE987654321", "19", TaxCategory.STANDARD),
    ("FR", "FR12345678901", "0", TaxCategory.REVERSE_CHARGE),
    ("US", "", "0", TaxCategory.ZERO),
    ("DE", "DE987654321", "0", TaxCategory.STANDARD),  # a client's own rate no longer decides
])
def test_vat_category(ready, country, vat, rate, category):
    address(ready.acme, country=country, vat=vat, tax_rate=rate)
    invoice = issued_invoice(ready.acme, ready)
    assert invoice.tax_category == category
    assert invoice.tax_rate == (Decimal("19.00") if category == TaxCategory.STANDARD else Decimal("0"))


def test_issuing_twice_is_refused_and_keeps_the_number(ready):
    invoice = issued_invoice(ready.acme, ready)
    before = snapshot(invoice)
    with pytest.raises(InvalidTransition, match="issued once and keeps its number"):
        invoicing.invoice_issue(invoice=invoice, by=ready.finance)
    assert snapshot(invoice) == before


def test_an_empty_draft_cannot_be_issued(ready):
    draft = Invoice.objects.create(client=ready.acme, currency="EUR")
    with pytest.raises(InvalidTransition, match="without lines"):
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert snapshot(draft)["status"] == S.DRAFT and not DocumentCounter.objects.exists()


def test_issuing_says_why_not_in_full_and_a_cent_is_enough(ready):
    empty = Invoice.objects.create(client=ready.acme, currency="EUR")
    with pytest.raises(InvalidTransition) as refused:
        invoicing.invoice_issue(invoice=empty, by=ready.finance)
    assert refused.value.message == "An invoice without lines cannot be issued; add a line or void the draft."
    [draft] = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager))
    Invoice.objects.filter(pk=draft.pk).update(total=Decimal("0.00"))
    with pytest.raises(InvalidTransition) as refused:
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert refused.value.message == ("The draft's total is 0.00 EUR; an invoice must be for more than nothing "
                                     "(a credit is a credit note).")
    assert snapshot(draft)["status"] == S.DRAFT
    Invoice.objects.filter(pk=draft.pk).update(total=Decimal("0.01"))  # the check reads the stored total
    issued = invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert issued.status == S.ISSUED


def test_the_issued_line_on_the_orders_timeline(ready):
    invoice = issued_invoice(ready.acme, ready)
    event = Event.objects.get(verb="invoice.issued")
    assert (event.actor, event.audience, event.data, event.message) == (
        ready.finance, "managers", {"invoice": str(invoice.pk)},
        f"Invoice {invoice.number} issued: {invoice.total} EUR, due {invoice.due_date:%d %b %Y}")


def test_a_failed_issue_takes_no_number_and_leaves_no_gap(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    ready.acme.billing_street = ""
    ready.acme.save()
    before = snapshot(draft)
    with pytest.raises(InvalidTransition, match="no complete billing address"):
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert snapshot(draft) == before
    assert DocumentCounter.objects.filter(last__gt=0).count() == 0
    address(ready.acme)
    assert invoicing.invoice_issue(invoice=draft, by=ready.finance).number.endswith("-00001")


def test_an_incomplete_billing_profile_or_a_vat_id_without_country_is_refused(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    ready.acme.vat_number = "987654321"
    ready.acme.save()
    with pytest.raises(InvalidTransition, match="starts with DE"):
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    address(ready.acme)
    from billing.models import BillingProfile

    BillingProfile.objects.update(iban="")
    with pytest.raises(InvalidTransition, match="billing details are incomplete"):
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert snapshot(draft)["status"] == S.DRAFT


def test_only_finance_issues(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    for person in (ready.account_manager, ready.acme_admin, ready.retoucher):
        with pytest.raises(NotPermitted):
            invoicing.invoice_issue(invoice=draft, by=person)
    assert snapshot(draft)["status"] == S.DRAFT
    with pytest.raises(NotPermitted):
        invoicing.invoice_generate(by=ready.account_manager, order=order)


def test_an_issued_invoice_never_changes(ready):
    invoice = issued_invoice(ready.acme, ready)
    before = snapshot(invoice)
    with pytest.raises(InvalidTransition, match="never changes"):
        invoicing.invoice_line_add(invoice=invoice, by=ready.finance, description="More", quantity=Decimal("1"),
                                   unit_price=Decimal("5"))
    with pytest.raises(InvalidTransition):
        invoicing.invoice_line_remove(line=invoice.lines.first(), by=ready.finance)
    assert snapshot(invoice) == before


# Payments --------------------------------------------------------------------------------------------

def test_partial_then_full_payment(ready):
    invoice = issued_invoice(ready.acme, ready)
    total = invoice.total
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("10.00"), reference="SEPA 1")
    invoice.refresh_from_db()
    assert invoice.status == S.PARTIALLY_PAID and invoice.balance == total - Decimal("10.00")
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=invoice.balance)
    invoice.refresh_from_db()
    assert invoice.status == S.PAID and invoice.balance == 0


def test_paying_more_than_is_due_is_refused(ready):
    invoice = issued_invoice(ready.acme, ready)
    before = snapshot(invoice)
    with pytest.raises(RuleViolation, match="is due"):
        invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=invoice.total + Decimal("0.01"))
    for amount in (Decimal("0"), Decimal("-5"), Decimal("1.001")):
        with pytest.raises(RuleViolation):
            invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=amount)
    with pytest.raises(RuleViolation, match="future"):
        invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("1"),
                              received_on=invoicing.studio_today() + timedelta(days=1))
    assert snapshot(invoice) == before


def test_after_a_part_payment_only_the_balance_is_due(ready):
    """The limit is the balance, not the total: one cent above what is still due is refused; exactly the
    balance settles the invoice."""
    invoice = issued_invoice(ready.acme, ready)
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("10.00"))
    invoice.refresh_from_db()
    balance = invoice.balance
    assert balance == invoice.total - Decimal("10.00")
    before = snapshot(invoice)
    with pytest.raises(RuleViolation, match="is due"):
        invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=balance + Decimal("0.01"))
    refused = api_for(ready.finance).post(f"/api/v1/invoices/{invoice.pk}/pay/", {"amount": str(balance + Decimal("0.01"))},
                                          format="json")
    assert refused.status_code == 400 and snapshot(invoice) == before
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=balance)
    invoice.refresh_from_db()
    assert invoice.status == S.PAID and invoice.balance == 0


def test_drafts_and_void_invoices_take_no_payment(ready):
    order = completed_order(ready.acme, ready.account_manager)
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    with pytest.raises(InvalidTransition, match="draft"):
        invoicing.invoice_pay(invoice=draft, by=ready.finance, amount=Decimal("1"))
    assert snapshot(draft)["payments"] == 0


def test_overdue_is_derived_from_the_due_date(ready):
    invoice = issued_invoice(ready.acme, ready)
    assert not invoice.is_overdue
    Invoice.objects.filter(pk=invoice.pk).update(due_date=invoicing.studio_today() - timedelta(days=1))
    invoice.refresh_from_db()
    assert invoice.is_overdue and invoice.status == S.ISSUED


# Credit notes and void ---------------------------------------------------------------------------------

def test_a_full_credit_note_copies_the_lines_and_takes_the_cn_series(ready):
    invoice = issued_invoice(ready.acme, ready)
    note = invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="Wrong client")
    year = invoicing.studio_today().year
    assert note.kind == DocumentKind.CREDIT_NOTE and note.number == f"CN-{year}-00001"
    assert (note.net_total, note.tax_total, note.total) == (invoice.net_total, invoice.tax_total, invoice.total)
    assert note.lines.count() == invoice.lines.count() and note.credited_invoice == invoice
    invoice.refresh_from_db()
    assert invoice.credited_total == invoice.total and invoice.balance == 0


def test_a_partial_credit_note_and_never_more_than_was_invoiced(ready):
    invoice = issued_invoice(ready.acme, ready)
    note = invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="Two images redone",
                                    amount=Decimal("10.00"))
    assert (note.net_total, note.tax_total, note.total) == (Decimal("10.00"), Decimal("1.90"), Decimal("11.90"))
    invoice.refresh_from_db()
    before = snapshot(invoice)
    room = invoice.net_total - Decimal("10.00")
    with pytest.raises(RuleViolation, match="more than was invoiced"):
        invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="Again", amount=room + Decimal("0.01"))
    with pytest.raises(RuleViolation, match="give the amount"):
        invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="All of it")
    with pytest.raises(RuleViolation, match="Say why"):
        invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason=" ", amount=Decimal("1"))
    assert snapshot(invoice) == before
    assert Invoice.objects.filter(kind=DocumentKind.CREDIT_NOTE).count() == 1
    invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="The rest", amount=room)
    with pytest.raises(InvalidTransition, match="credited in full"):
        invoicing.invoice_credit(invoice=invoice, by=ready.finance, reason="More", amount=Decimal("1"))


def test_void_keeps_the_number_and_releases_the_work(ready):
    invoice = issued_invoice(ready.acme, ready)
    order = invoice.lines.first().order
    invoicing.invoice_void(invoice=invoice, by=ready.finance, reason="Issued to the wrong company")
    invoice.refresh_from_db()
    assert invoice.status == S.VOID and invoice.number.endswith("-00001") and invoice.reason
    assert Invoice.objects.filter(pk=invoice.pk).exists()  # never deleted
    [again] = invoicing.invoice_generate(by=ready.finance, order=order)
    assert again.lines.count() == invoice.lines.count()
    assert invoicing.invoice_issue(invoice=again, by=ready.finance).number.endswith("-00002")


def test_a_paid_invoice_cannot_be_voided(ready):
    invoice = issued_invoice(ready.acme, ready)
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=invoice.total)
    before = snapshot(invoice)
    with pytest.raises(InvalidTransition, match="paid"):
        invoicing.invoice_void(invoice=invoice, by=ready.finance, reason="Oops")
    with pytest.raises(RuleViolation):
        invoicing.invoice_void(invoice=invoice, by=ready.finance, reason="")
    assert snapshot(invoice) == before
    assert not InvoiceLine.objects.filter(released=True).exists()


def test_a_partly_paid_invoice_cannot_be_voided(ready):
    invoice = issued_invoice(ready.acme, ready)
    invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("1.00"))
    before = snapshot(invoice)
    with pytest.raises(InvalidTransition, match="credit note instead"):
        invoicing.invoice_void(invoice=invoice, by=ready.finance, reason="Oops")
    assert snapshot(invoice) == before


# The state table ------------------------------------------------------------------------------------

INVOICE_EDGES = {("issue", S.DRAFT, S.ISSUED), ("pay_part", S.ISSUED, S.PARTIALLY_PAID),
                 ("pay_part", S.PARTIALLY_PAID, S.PARTIALLY_PAID), ("settle", S.ISSUED, S.PAID),
                 ("settle", S.PARTIALLY_PAID, S.PAID), ("void", S.DRAFT, S.VOID), ("void", S.ISSUED, S.VOID)}


def test_invoice_table_is_the_documented_one():
    found = {(name, source, spec.to) for name, spec in invoicing.INVOICES.actions.items() for source in spec.sources}
    assert found == INVOICE_EDGES


@pytest.mark.parametrize("state", S.values)
def test_every_invoice_state_against_issue_pay_and_void(ready, state):
    invoice = issued_invoice(ready.acme, ready)
    Invoice.objects.filter(pk=invoice.pk).update(status=state)
    invoice.refresh_from_db()
    calls = {
        "issue": lambda: invoicing.invoice_issue(invoice=invoice, by=ready.finance),
        "settle": lambda: invoicing.invoice_pay(invoice=invoice, by=ready.finance, amount=Decimal("1.00")),
        "void": lambda: invoicing.invoice_void(invoice=invoice, by=ready.finance, reason="Test"),
    }
    for action, call in calls.items():
        invoice.refresh_from_db()
        allowed = invoicing.INVOICES.can(action, invoice)
        before = snapshot(invoice)
        if allowed and action != "issue":  # issue from draft is covered above; this row keeps its number
            call()
            assert Invoice.objects.get(pk=invoice.pk).status != before["status"] or action == "settle"
            Invoice.objects.filter(pk=invoice.pk).update(status=state, paid_total=0)
            Payment.objects.filter(invoice=invoice).delete()
            InvoiceLine.objects.filter(invoice=invoice).update(released=False)
        elif not allowed:
            with pytest.raises(InvalidTransition):
                call()
            assert snapshot(invoice) == before, f"{action} changed a {state} invoice"


# Aging and totals ------------------------------------------------------------------------------------

def test_aging_buckets_per_client_and_currency(ready):
    today = invoicing.studio_today()
    amounts = {}
    for days, title in ((-5, "current"), (10, "ten"), (45, "forty-five"), (75, "seventy-five"), (120, "late")):
        invoice = issued_invoice(ready.acme, ready, title=title)
        Invoice.objects.filter(pk=invoice.pk).update(due_date=today - timedelta(days=days))
        amounts[days] = invoice.total
    paid = issued_invoice(ready.acme, ready, title="paid")
    invoicing.invoice_pay(invoice=paid, by=ready.finance, amount=paid.total)
    # a draft and a voided invoice owe nothing yet or any more, however much they say
    [draft] = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager,
                                                                                  title="draft"))
    voided = issued_invoice(ready.acme, ready, title="voided")
    invoicing.invoice_void(invoice=voided, by=ready.finance, reason="Sent to the wrong company")
    assert draft.total > 0 and Invoice.objects.get(pk=voided.pk).status == "void"
    rows, totals = invoicing.aging(Invoice.objects.all())
    [row] = rows
    assert row.client == ready.acme and row.currency == "EUR"
    assert row.buckets == {"current": amounts[-5], "1-30": amounts[10], "31-60": amounts[45], "61-90": amounts[75],
                           "90+": amounts[120]}
    assert [t.currency for t in totals] == ["EUR"] and totals[0].total == sum(amounts.values())


def test_currencies_are_never_added_together(ready):
    from billing.models import PriceList, PriceRule

    eur = issued_invoice(ready.acme, ready)
    address(ready.globex, country="US", vat="", tax_rate="0", currency="USD")
    usd = PriceList.objects.create(name="USD prices", client=ready.globex, currency="USD", minimum_order=Decimal("50"))
    PriceRule.objects.bulk_create([PriceRule(price_list=usd, service=r.service, complexity=r.complexity,
                                             unit_price=r.unit_price) for r in PriceRule.objects.exclude(price_list=usd)])
    usd = issued_invoice(ready.globex, ready)
    totals = invoicing.totals_per_currency(Invoice.objects.all())
    assert [(t["currency"], t["total"]) for t in totals] == [("EUR", eur.total), ("USD", usd.total)]
    _, aging_totals = invoicing.aging(Invoice.objects.all())
    assert {t.currency: t.total for t in aging_totals} == {"EUR": eur.total, "USD": usd.total}


def test_aging_rows_go_by_client_then_currency(ready):
    """A client owing in two currencies has a row for each, in the order of the currency codes, whichever
    invoice came first."""
    dollars = issued_invoice(ready.acme, ready, title="first, in dollars")
    Invoice.objects.filter(pk=dollars.pk).update(currency="USD")
    issued_invoice(ready.acme, ready, title="then in euros")
    address(ready.globex)
    issued_invoice(ready.globex, ready, title="another client")
    rows, _ = invoicing.aging(Invoice.objects.all())
    assert [(row.client.name, row.currency) for row in rows] == [
        (ready.acme.name, "EUR"), (ready.acme.name, "USD"), (ready.globex.name, "EUR")]


def test_client_admins_are_told_when_a_document_is_issued(ready):
    from agency.models import Notification
    from billing import tasks

    invoice = issued_invoice(ready.acme, ready)
    assert tasks.notify_issued(str(invoice.pk)) == 1
    note = Notification.objects.get(kind="invoice_issued")
    assert note.user == ready.acme_admin and invoice.number in note.title and note.url == f"/invoices/{invoice.pk}/"
    assert tasks.notify_issued(str(invoice.pk)) == 0  # a task delivered twice notifies once


def test_the_monthly_run_is_scheduled_for_the_first():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="Monthly invoices")
    assert schedule.func == "billing.tasks.invoice_monthly" and schedule.schedule_type == Schedule.MONTHLY
    assert timezone.localtime(schedule.next_run).day == 1 and timezone.localtime(schedule.next_run).hour == 2


@pytest.mark.parametrize("late,bucket", [(-1, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"),
                                         (60, "31-60"), (61, "61-90"), (90, "61-90"), (91, "90+")])
def test_aging_buckets_at_their_edges(late, bucket):
    due = date(2027, 3, 1)
    assert invoicing.aging_bucket(due, due + timedelta(days=late)) == bucket


def test_aging_counts_what_is_still_owed_in_one_query(ready, django_assert_num_queries):
    """Owed = total − paid − credited, rounded in its currency; credit notes and settled invoices are not
    owed; rows by client name, then currency."""
    today = invoicing.studio_today()
    address(ready.globex)
    globex_first = issued_invoice(ready.globex, ready, title="Globex")  # created first, listed second
    partly = issued_invoice(ready.acme, ready, title="Partly")
    Invoice.objects.filter(pk=partly.pk).update(paid_total=Decimal("10.00"), credited_total=Decimal("5.00"),
                                                due_date=today)
    cents = issued_invoice(ready.acme, ready, title="Cents")
    Invoice.objects.filter(pk=cents.pk).update(paid_total=cents.total - Decimal("0.50"), due_date=today)
    settled = issued_invoice(ready.acme, ready, title="Settled by payment and credit")
    Invoice.objects.filter(pk=settled.pk).update(paid_total=settled.total - 1, credited_total=1)
    yen = issued_invoice(ready.acme, ready, title="Yen")
    Invoice.objects.filter(pk=yen.pk).update(currency="JPY", total=Decimal("100.40"), due_date=today)

    copy_of(settled, kind=DocumentKind.CREDIT_NOTE, number="CN-TEST-1", paid_total=0, credited_total=0)
    with django_assert_num_queries(1):
        rows, totals = invoicing.aging(Invoice.objects.all())
    assert [(row.client, row.currency) for row in rows] == [(ready.acme, "EUR"), (ready.acme, "JPY"),
                                                            (ready.globex, "EUR")]
    owed = partly.total - Decimal("15.00") + Decimal("0.50")
    assert rows[0].buckets["current"] == owed and sum(rows[0].buckets.values()) == owed
    assert rows[1].buckets["current"] == Decimal("100")
    assert sum(rows[2].buckets.values()) == globex_first.total
    assert [(t.currency, t.buckets["current"]) for t in totals][1] == ("JPY", Decimal("100"))


def test_the_monthly_run_drafts_only_active_monthly_clients_with_work(ready):
    """On 1 January: December's work of each active monthly client, one draft each; a monthly client with
    nothing to bill, an inactive one and a per-order one get nothing (and do not stop the run)."""
    from clients.models import Client

    december = timezone.make_aware(timezone.datetime(2026, 12, 31, 12))
    for name, invoicing_kind, active, work in (("Aurum", Invoicing.MONTHLY, True, True),
                                               ("Beryl", Invoicing.MONTHLY, True, False),
                                               ("Cameo", Invoicing.MONTHLY, False, True),
                                               ("Dorado", Invoicing.PER_ORDER, True, True),
                                               ("Electrum", Invoicing.MONTHLY, True, True)):
        client = Client.objects.create(name=name, invoicing=invoicing_kind, currency="EUR")
        address(client)
        if work:
            order = completed_order(client, ready.account_manager, title=f"{name} December")
            Order.objects.filter(pk=order.pk).update(completed_at=december)
        Client.objects.filter(pk=client.pk).update(is_active=active)  # Cameo left after its last order
    assert invoicing.invoice_month(today=date(2027, 1, 1)) == 2
    drafted = Invoice.objects.values_list("client__name", "period_start", "period_end")
    assert sorted(drafted) == [("Aurum", date(2026, 12, 1), date(2026, 12, 31)),
                               ("Electrum", date(2026, 12, 1), date(2026, 12, 31))]


# The page guards, held against a hand-written table: (finance sees) edit, issue, pay, void, credit.
GUARDS = ("can_edit", "can_issue", "can_pay", "can_void", "can_credit")
GUARD_TABLE = [
    ("a draft", {"status": "draft"}, None, (True, True, False, True, False)),
    ("issued, nothing paid", {}, None, (False, False, True, True, True)),
    ("a cent still due", {"status": "partially_paid", "paid_total": "total-0.01"}, None,
     (False, False, True, False, True)),
    ("issued, nothing due (credited in full)", {"credited_total": "total"}, None, (False, False, False, False, True)),
    ("paid", {"status": "paid", "paid_total": "total"}, None, (False, False, False, False, True)),
    ("a cent left to credit", {"credited_total": "0.01"}, "net-0.01", (False, False, True, False, True)),
    ("nothing left to credit", {"credited_total": "0.01"}, "net", (False, False, True, False, False)),
    ("void", {"status": "void"}, None, (False, False, False, False, False)),
    ("a credit note", {"kind": "credit_note"}, None, (False, False, False, False, False)),
]


@pytest.mark.parametrize("label,changes,credited,expected", GUARD_TABLE, ids=[row[0] for row in GUARD_TABLE])
def test_the_invoice_buttons_follow_a_hand_written_table(ready, label, changes, credited, expected):
    invoice = issued_invoice(ready.acme, ready)

    def amount(text):
        base = {"total": invoice.total, "net": invoice.net_total}
        name, _, minus = text.partition("-")
        return base[name] - Decimal(minus or "0") if name in base else Decimal(text)

    Invoice.objects.filter(pk=invoice.pk).update(**{
        k: amount(v) if k.endswith("_total") else v for k, v in changes.items()})
    if credited:
        copy_of(invoice, kind=DocumentKind.CREDIT_NOTE, number="CN-T-1", credited_invoice_id=invoice.pk,
                net_total=amount(credited), status="issued")
    invoice.refresh_from_db()
    assert tuple(getattr(invoicing, guard)(ready.finance, invoice) for guard in GUARDS) == expected
    for someone in (ready.account_manager, ready.retoucher, ready.acme_admin):
        assert not any(getattr(invoicing, guard)(someone, invoice) for guard in GUARDS), someone


def test_the_monthly_schedule_is_the_next_first_at_two_in_the_studios_zone():
    import time_machine

    from agency.calendar import studio_zone

    zone = studio_zone()
    for now, expected in (("2026-12-31T23:30:00+01:00", date(2027, 1, 1)), ("2027-01-01T00:05:00+01:00", date(2027, 2, 1)),
                          ("2028-02-29T12:00:00+01:00", date(2028, 3, 1)), ("2027-01-31T23:59:00+01:00", date(2027, 2, 1))):
        with time_machine.travel(now, tick=False):
            first = invoicing.first_of_next_month()
        assert (first.date(), first.hour, first.minute, first.tzinfo) == (expected, 2, 0, zone), now


def test_editing_an_issued_invoice_says_why_not(ready):
    invoice = issued_invoice(ready.acme, ready)
    with pytest.raises(NotPermitted) as refused:
        invoicing.invoice_note_set(invoice=invoice, by=ready.account_manager, note="x")
    assert refused.value.message == "Only finance edits invoices."
    with pytest.raises(InvalidTransition) as refused:
        invoicing.invoice_note_set(invoice=invoice, by=ready.finance, note="x")
    assert refused.value.message == (f"Invoice {invoice.number} is issued; an issued invoice never changes. "
                                     "Correct it with a credit note.")


def test_totals_per_currency_count_issued_documents_credit_notes_negative_and_owed_only_on_open_invoices(ready):
    partly = issued_invoice(ready.acme, ready, title="Partly")
    Invoice.objects.filter(pk=partly.pk).update(status="partially_paid", paid_total=Decimal("10.00"),
                                                credited_total=Decimal("2.00"))
    paid = issued_invoice(ready.acme, ready, title="Paid")
    Invoice.objects.filter(pk=paid.pk).update(status="paid", paid_total=paid.total)
    void = issued_invoice(ready.acme, ready, title="Void")
    Invoice.objects.filter(pk=void.pk).update(status="void")
    draft = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager))[0]
    copy_of(paid, kind=DocumentKind.CREDIT_NOTE, number="CN-T-2", credited_invoice_id=paid.pk, status="issued",
            net_total=Decimal("5.00"), tax_total=Decimal("0.95"), total=Decimal("5.95"), paid_total=0)
    yen = issued_invoice(ready.acme, ready, title="Yen")
    Invoice.objects.filter(pk=yen.pk).update(currency="JPY", net_total=Decimal("100.40"), tax_total=Decimal("0"),
                                             total=Decimal("100.40"))
    invoices = {i.pk: i for i in Invoice.objects.all()}
    partly, paid, draft = invoices[partly.pk], invoices[paid.pk], invoices[draft.pk]
    eur, jpy = invoicing.totals_per_currency(Invoice.objects.all())
    counted = (partly, paid)  # the draft is not invoiced yet, the void one no longer
    assert draft.total > 0
    assert eur == {"currency": "EUR", "net": sum(i.net_total for i in counted) - Decimal("5.00"),
                   "tax": sum(i.tax_total for i in counted) - Decimal("0.95"),
                   "total": sum(i.total for i in counted) - Decimal("5.95"),
                   "owed": partly.total - Decimal("10.00") - Decimal("2.00")}
    assert jpy == {"currency": "JPY", "net": Decimal("100"), "tax": Decimal("0"), "total": Decimal("100"),
                   "owed": Decimal("100")}
    only_paid = invoicing.totals_per_currency(Invoice.objects.filter(pk=paid.pk))
    assert only_paid[0]["owed"] == Decimal("0")


def test_credit_room_counts_this_invoices_live_credit_notes_only(ready):
    invoice = issued_invoice(ready.acme, ready, title="Credited")
    other = issued_invoice(ready.acme, ready, title="Other")

    def note(against, number, net, status="issued"):
        copy_of(against, kind=DocumentKind.CREDIT_NOTE, number=number, credited_invoice_id=against.pk, status=status,
                net_total=Decimal(net))

    note(invoice, "CN-T-10", "3.00")
    note(invoice, "CN-T-11", "100.00", status="void")
    note(other, "CN-T-12", "7.00")
    assert invoicing.credit_room(invoice) == invoice.net_total - Decimal("3.00")
    assert invoicing.credit_room(other) == other.net_total - Decimal("7.00")


def test_each_series_and_year_counts_on_its_own():
    """Invoices and credit notes have their own gapless series, and each year starts again at 1."""
    from billing.models import DocumentCounter

    DocumentCounter.objects.create(series="INV", year=2025, last=41)
    taken = [invoicing.next_number(DocumentKind.INVOICE, 2026), invoicing.next_number(DocumentKind.INVOICE, 2026),
             invoicing.next_number(DocumentKind.CREDIT_NOTE, 2026), invoicing.next_number(DocumentKind.INVOICE, 2025),
             invoicing.next_number(DocumentKind.INVOICE, 2027), invoicing.next_number(DocumentKind.INVOICE, 2026),
             invoicing.next_number(DocumentKind.CREDIT_NOTE, 2026)]
    assert taken == [("INV-2026-00001", 1), ("INV-2026-00002", 2), ("CN-2026-00001", 1), ("INV-2025-00042", 42),
                     ("INV-2027-00001", 1), ("INV-2026-00003", 3), ("CN-2026-00002", 2)]  # taking one moves no other


def test_the_buyer_on_an_invoice_and_what_is_missing(ready):
    client = ready.acme
    client.vat_number = " de 123.456-789 "
    snapshot = invoicing.buyer_snapshot(client)
    assert (snapshot["vat_number"], snapshot["email"], snapshot["name"], snapshot["country"]) == (
        "DE123456789", client.billing_email, client.name, "DE")
    for wrong, reason in (("DE12", "DE12 is not in the format of a DE VAT id (for example DE123456789)."),
                          ("DE1234567890", "DE1234567890 is not in the format of a DE VAT id (for example DE123456789)."),
                          ("123456789", "A VAT id of a company in DE starts with DE (for example DE123456789); "
                                        "123456789 does not."),
                          ("FR12345678901", "A VAT id of a company in DE starts with DE (for example DE123456789); "
                                            "FR12345678901 does not.")):
        client.vat_number = wrong
        with pytest.raises(InvalidTransition) as refused:
            invoicing.buyer_snapshot(client)
        assert refused.value.message == (f"{client.name}'s VAT id cannot go on an invoice: {reason} Correct it on the "
                                         "client's page, then issue.")
    client.vat_number, client.billing_city = "", ""
    with pytest.raises(InvalidTransition) as refused:
        invoicing.buyer_snapshot(client)
    assert refused.value.message == (f"{client.name} has no complete billing address (street, postcode, city and "
                                     "country); add it on the client's page, then issue.")


def test_the_studio_needs_complete_billing_details_to_issue(ready):
    from billing.models import BillingProfile

    assert invoicing.billing_profile().legal_name
    BillingProfile.objects.update(iban="")
    message = ("The studio's billing details are incomplete (legal name, address, VAT id and IBAN): an admin fills "
               "them in under Admin → Billing profile before anything is issued.")
    with pytest.raises(InvalidTransition) as refused:
        invoicing.billing_profile()
    assert refused.value.message == message
    BillingProfile.objects.all().delete()
    with pytest.raises(InvalidTransition) as refused:
        invoicing.billing_profile()
    assert refused.value.message == message


@pytest.mark.parametrize("country, vat, rate, category", [
    ("DE", "DE111111111", "19.00", TaxCategory.STANDARD),  # the studio's country, business or not
    ("DE", "", "19.00", TaxCategory.STANDARD),
    ("", "", "19.00", TaxCategory.STANDARD),  # no country yet: as at home
    ("FR", "FR12345678901", "0", TaxCategory.REVERSE_CHARGE),  # a business in another member state
    ("GR", "EL123456789", "0", TaxCategory.REVERSE_CHARGE),
    ("FR", "", "19.00", TaxCategory.STANDARD),  # another member state without a VAT id: the studio's VAT
    ("US", "", "0", TaxCategory.ZERO), ("GB", "GB123456789", "0", TaxCategory.ZERO),  # outside the EU
])
def test_vat_follows_the_parties(ready, country, vat, rate, category):
    from billing import tax

    ready.acme.billing_country, ready.acme.vat_number, ready.acme.tax_rate = country, vat, Decimal("20")  # ignored
    treatment = tax.treatment(ready.acme)
    assert (treatment.rate, treatment.category) == (Decimal(rate), category)
    assert bool(treatment.note) == (category != TaxCategory.STANDARD)


def test_a_german_studio_reverse_charges_a_french_business_whatever_the_price_list_says(ready):
    """The finding: the price list's 20 % went to a French business with a VAT number."""
    from billing import services as quoting
    from billing.models import PriceList

    PriceList.objects.update(tax_rate=Decimal("20"))
    address(ready.globex, country="FR", vat="FR12345678901", tax_rate="20")
    order = completed_order(ready.globex, ready.account_manager)
    assert order.quotes.get().tax_rate == Decimal("0")
    [draft] = invoicing.invoice_generate(by=ready.finance, order=order)
    invoice = invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert (invoice.tax_rate, invoice.tax_total, invoice.tax_category) == (Decimal("0"), Decimal("0.00"),
                                                                          TaxCategory.REVERSE_CHARGE)
    # the VAT id removed before the next invoice: an EU consumer pays the studio's VAT, recomputed at issue
    second = completed_order(ready.globex, ready.account_manager, title="Second")
    [draft] = invoicing.invoice_generate(by=ready.finance, order=second)
    type(ready.globex).objects.filter(pk=ready.globex.pk).update(vat_number="")
    ready.globex.refresh_from_db()
    issued = invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert (issued.tax_rate, issued.tax_category) == (Decimal("19.00"), TaxCategory.STANDARD)
    assert issued.tax_total == (issued.net_total * Decimal("0.19")).quantize(Decimal("0.01"))
    assert quoting.tax.rate_for(ready.globex) == Decimal("19.00")


def test_why_an_invoice_is_not_issued(ready):
    invoice = issued_invoice(ready.acme, ready)
    with pytest.raises(NotPermitted) as refused:
        invoicing.invoice_issue(invoice=invoice, by=ready.account_manager)
    assert refused.value.message == "Only finance issues invoices."
    with pytest.raises(InvalidTransition) as refused:
        invoicing.invoice_issue(invoice=invoice, by=ready.finance)
    assert refused.value.message == f"Invoice {invoice.number} is issued: it was issued once and keeps its number."
    draft = invoicing.invoice_generate(by=ready.finance, order=completed_order(ready.acme, ready.account_manager))[0]
    Invoice.objects.filter(pk=draft.pk).update(status="void")
    with pytest.raises(InvalidTransition) as refused:
        invoicing.invoice_issue(invoice=draft, by=ready.finance)
    assert refused.value.message == "This invoice is void; only a draft can be issued."


def test_a_monthly_run_extends_that_months_open_draft_and_nothing_else(ready):
    """Work that arrives late for a month goes on the month's draft of that client, currency and rate;
    never on an issued invoice, another month's, another currency's or rate's, or another client's."""
    from clients.models import Client

    november = timezone.make_aware(timezone.datetime(2026, 11, 20, 12))
    ready.acme.invoicing = Invoicing.MONTHLY
    ready.acme.save()

    def completed(client, title):
        order = completed_order(client, ready.account_manager, title=title)
        Order.objects.filter(pk=order.pk).update(completed_at=november)
        return order

    first = completed(ready.acme, "First")
    assert invoicing.invoice_month(today=date(2026, 12, 1)) == 1
    draft = Invoice.objects.get()

    def distractor(**changes):
        copy_of(draft, **changes)

    other = Client.objects.create(name="Beryl", invoicing=Invoicing.MONTHLY, currency="EUR")
    distractor(client_id=other.pk)
    distractor(currency="USD")
    distractor(tax_rate=Decimal("7.00"))
    distractor(period_start=date(2026, 10, 1), period_end=date(2026, 10, 31))
    late = completed(ready.acme, "Late")
    assert invoicing.invoice_month(today=date(2026, 12, 1)) == 1
    assert {line.order_id for line in Invoice.objects.get(pk=draft.pk).lines.all()} == {first.pk, late.pk}
    assert Invoice.objects.count() == 5  # the draft and the four others, untouched
    assert not InvoiceLine.objects.exclude(invoice=draft).exists()
    invoicing.invoice_issue(invoice=draft, by=ready.finance)
    later = completed(ready.acme, "Later still")
    assert invoicing.invoice_month(today=date(2026, 12, 1)) == 1
    newest = Invoice.objects.exclude(pk=draft.pk).get(lines__order=later)
    assert (newest.status, newest.period_start, newest.client_id) == ("draft", date(2026, 11, 1), ready.acme.pk)


def test_invoicing_names_one_order_or_one_client_never_both_nor_neither(ready):
    cast = ready
    order = completed_order(cast.acme, cast.account_manager)
    for kwargs in ({}, {"order": order, "client": cast.acme}):
        with pytest.raises(RuleViolation) as refused:
            invoicing.invoice_generate(by=cast.finance, **kwargs)
        assert (str(refused.value), refused.value.field) == ("Name an order or a client to invoice.", "order")
    assert not Invoice.objects.exists()


def test_an_invoice_total_of_exactly_the_largest_amount_is_kept_and_a_cent_more_is_refused(ready):
    from billing.models import MAX_AMOUNT
    from billing.pricing import totals

    cast = ready
    [draft] = invoicing.invoice_generate(by=cast.finance, order=completed_order(cast.acme, cast.account_manager))
    amounts = list(draft.lines.values_list("amount", flat=True))
    # the extra line whose gross total is exactly the largest amount (the tax is rounded once, on the net)
    guess = ((MAX_AMOUNT / (1 + draft.tax_rate / 100)) - sum(amounts)).quantize(Decimal("0.01"))
    price = next(guess + Decimal(n) / 100 for n in range(-5, 6)
                 if totals([*amounts, guess + Decimal(n) / 100], tax_rate=draft.tax_rate, currency="EUR")[2] == MAX_AMOUNT)
    invoicing.invoice_line_add(invoice=draft, by=cast.finance, description="Archive", quantity=Decimal(1), unit_price=price)
    assert Invoice.objects.get(pk=draft.pk).total == MAX_AMOUNT
    lines = draft.lines.count()
    with pytest.raises(RuleViolation) as refused:
        invoicing.invoice_line_add(invoice=draft, by=cast.finance, description="One cent", quantity=Decimal(1),
                                   unit_price=Decimal("0.01"))
    assert (str(refused.value), refused.value.field) == ("The invoice's total is too large for an amount.", "unit_price")
    assert draft.lines.count() == lines and Invoice.objects.get(pk=draft.pk).total == MAX_AMOUNT


def test_unbilled_work_is_this_orders_accepted_quote_and_its_charged_rounds_in_order(ready):
    """Whose: another order's quote and charges stay out; a quote not accepted bills nothing; a free round
    (0.00) is no line, a round of half a euro is one; rounds come in their order."""
    cast = ready
    this, other = completed_order(cast.acme, cast.account_manager), completed_order(cast.acme, cast.account_manager)
    accepted = Quote.objects.get(order=this, status=QuoteStatus.ACCEPTED)
    declined = Quote.objects.get(pk=accepted.pk)  # an earlier quote of the same order, declined: bills nothing
    declined.pk, declined.status = None, QuoteStatus.DECLINED
    declined.save()
    line = accepted.lines.first()
    line.pk, line.quote = None, declined
    line.save()
    charges = {}
    for order, number, amount in ((this, 2, Decimal("0.50")), (this, 1, Decimal("15.00")), (this, 3, Decimal("0.00")),
                                  (other, 1, Decimal("7.50"))):
        round_ = RevisionRound.objects.create(order=order, number=number, billable=True, status=RoundStatus.OPEN,
                                              requested_by=cast.acme_admin)
        charges[(order.pk, number)] = RevisionCharge.objects.create(round=round_, currency="EUR", fee=amount, items=1,
                                                                    amount=amount)
    work = invoicing.unbilled_work(Order.objects.filter(pk=this.pk))
    assert [w.key for w in work] == [f"quote-line:{line.pk}" for line in accepted.lines.order_by("position")] + [
        f"revision:{charges[(this.pk, 1)].pk}", f"revision:{charges[(this.pk, 2)].pk}"]
    assert {w.order.pk for w in work} == {this.pk}


def test_a_monthly_draft_is_reused_only_when_everything_matches_and_names_who_made_it(ready):
    cast = ready
    period, other_period = (date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 10, 1), date(2026, 10, 31))
    rate = Decimal("19.00")
    base = {"client": cast.acme, "currency": "EUR", "tax_rate": rate, "period_start": period[0], "period_end": period[1]}
    decoys = {"another currency": {"currency": "USD"}, "another rate": {"tax_rate": Decimal("0.00")},
              "another start": {"period_start": other_period[0]}, "another end": {"period_end": other_period[1]},
              "a credit note": {"kind": DocumentKind.CREDIT_NOTE}, "issued": {"status": InvoiceStatus.ISSUED},
              "another client": {"client": cast.globex}}
    for label, change in decoys.items():
        decoy = Invoice.objects.create(**{**base, **change})
        made = invoicing._draft(cast.acme, "EUR", rate, by=cast.finance, period=period, reuse=True)
        assert made.pk != decoy.pk, label
        assert (made.client_id, made.currency, made.tax_rate, made.created_by_id, made.period_start, made.period_end,
                made.kind, made.status) == (cast.acme.pk, "EUR", rate, cast.finance.pk, *period, "invoice", "draft"), label
        Invoice.objects.filter(pk__in=[decoy.pk, made.pk]).delete()
    kept = Invoice.objects.create(**base)
    assert invoicing._draft(cast.acme, "EUR", rate, by=cast.finance, period=period, reuse=True).pk == kept.pk
    # not for reuse (an order invoiced on its own), or without a period: a draft of its own
    for reuse, when in ((False, period), (True, None)):
        made = invoicing._draft(cast.acme, "EUR", rate, by=None, period=when, reuse=reuse)
        assert made.pk != kept.pk and made.created_by_id is None
        assert (made.period_start, made.period_end) == (when or (None, None))


def test_only_finance_makes_invoices_and_says_so(ready):
    cast = ready
    order = completed_order(cast.acme, cast.account_manager)
    with pytest.raises(NotPermitted) as refused:
        invoicing.invoice_generate(by=cast.account_manager, order=order)
    assert str(refused.value) == "Only finance makes invoices."
    assert not Invoice.objects.exists()
