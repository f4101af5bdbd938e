"""Invoices, credit notes and payments: the one place their rules live (DESIGN.md §3, §4).

Drafts are made from completed work (``invoice_generate``): the accepted quote's lines and the billable
revision rounds of completed orders, each keyed by the work it bills (``InvoiceLine.work``) so the
same work is never invoiced twice (a unique constraint backs the check; voiding releases the work).
Finance adds extra charges to drafts, then issues them: issuing freezes the seller and buyer, decides
the VAT category, takes the next gapless number of the series and year inside the same transaction
(a refusal or an error rolls the number back with everything else) and from then on the document
never changes. Corrections are credit notes, cancellations a recorded ``void`` with a reason.

Arithmetic (``billing.pricing``): each line is rounded half-up to the currency's minor unit, the net
total is the sum of the rounded lines, VAT is computed once on the net total and rounded the same
way, and the total is net + VAT. The UBL file states exactly these figures (BR-CO-10 … BR-CO-16).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from agency.calendar import studio_today, studio_zone
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from agency.statemachine import StateTable
from agency.tasks import enqueue_on_commit
from billing import permissions, pricing, tax
from billing.models import (
    MAX_AMOUNT,
    OPEN_INVOICES,
    SERIES,
    BillingProfile,
    DocumentCounter,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineSource,
    Payment,
    PaymentMethod,
    Quote,
    QuoteStatus,
    RevisionCharge,
)
from clients import vat as vat_ids
from clients import webhooks
from clients.models import Client, Invoicing, WebhookEvent
from jobs.events import record_event
from jobs.models import Audience, Order, OrderStatus
from jobs.review import payment_holds

logger = logging.getLogger("loupe.billing")
S = InvoiceStatus

INVOICES = StateTable("invoice", dict(S.choices))
INVOICES.add("issue", {S.DRAFT}, S.ISSUED)
INVOICES.add("pay_part", set(OPEN_INVOICES), S.PARTIALLY_PAID)
INVOICES.add("settle", set(OPEN_INVOICES), S.PAID)
INVOICES.add("void", {S.DRAFT, S.ISSUED}, S.VOID, when=lambda inv: not inv.paid_total and not inv.credited_total)

# Issued invoices (paid ones too) may be corrected by credit notes while anything is left to credit.
CREDITABLE = frozenset({*OPEN_INVOICES, S.PAID})


def is_draft(invoice: Invoice) -> bool:
    """Only what has not been issued yet (what the table may still issue) is edited; an issued invoice
    never changes."""
    return invoice.status in INVOICES.sources("issue")


def can_edit(user: Any, invoice: Invoice) -> bool:
    """Show the line, note and extra-charge forms: finance, on a draft."""
    return permissions.can_manage_invoices(user) and is_draft(invoice)


def can_issue(user: Any, invoice: Invoice) -> bool:
    """Show Issue: finance, on a draft (the table's ``issue`` edge)."""
    return permissions.can_manage_invoices(user) and INVOICES.can("issue", invoice)


def can_pay(user: Any, invoice: Invoice) -> bool:
    """Show Record payment: finance, on an issued invoice (not a credit note) with something still due."""
    return (permissions.can_manage_invoices(user) and invoice.kind == DocumentKind.INVOICE
            and INVOICES.can("settle", invoice) and invoice.balance > 0)


def can_void(user: Any, invoice: Invoice) -> bool:
    """Show Void: finance, on a draft or an issued invoice with no payment and no credit note against it."""
    return permissions.can_manage_invoices(user) and invoice.kind == DocumentKind.INVOICE and INVOICES.can("void", invoice)


def can_credit(user: Any, invoice: Invoice) -> bool:
    """Show Credit: finance, on an issued (or paid) invoice with something left to credit."""
    return (permissions.can_manage_invoices(user) and invoice.kind == DocumentKind.INVOICE
            and invoice.status in CREDITABLE and credit_room(invoice) > 0)


AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


# Drafts from completed work ------------------------------------------------------------------------

@dataclass(frozen=True)
class Work:
    """One billable piece of completed work, before it is on an invoice."""

    key: str
    order: Order
    source: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    currency: str
    tax_rate: Decimal


def unbilled_work(orders: QuerySet[Order]) -> list[Work]:
    """The accepted quotes' lines and the billable revision rounds of ``orders`` (completed ones only)
    that no live invoice line bills yet, in order number and line order."""
    orders = orders.filter(status=OrderStatus.COMPLETED)
    work: list[Work] = []
    quotes = (Quote.objects.filter(order__in=orders, status=QuoteStatus.ACCEPTED)
              .select_related("order").prefetch_related("lines").order_by("order__number"))
    for quote in quotes:
        for line in quote.lines.all():
            work.append(Work(f"quote-line:{line.pk}", quote.order, LineSource.QUOTE, line.description, line.quantity,
                             line.unit_price, line.amount, quote.currency, quote.tax_rate))
    charges = (RevisionCharge.objects.filter(round__order__in=orders, amount__gt=0)
               .select_related("round__order__client").order_by("round__order__number", "round__number"))
    for charge in charges:
        order = charge.round.order
        work.append(Work(f"revision:{charge.pk}", order, LineSource.REVISION,
                         f"Revision round {charge.round.number}: {charge.items} change{'s' if charge.items != 1 else ''}",
                         Decimal(charge.items), charge.fee, charge.amount, charge.currency,
                         tax.rate_for(order.client)))
    billed = set(InvoiceLine.objects.filter(work__in=[w.key for w in work], released=False)
                 .values_list("work", flat=True))
    return [w for w in work if w.key not in billed]


def _recalculate(invoice: Invoice) -> None:
    amounts = list(invoice.lines.values_list("amount", flat=True))
    invoice.net_total, invoice.tax_total, invoice.total = pricing.totals(amounts, tax_rate=invoice.tax_rate,
                                                                         currency=invoice.currency)
    if abs(invoice.total) > MAX_AMOUNT:
        raise RuleViolation("The invoice's total is too large for an amount.", field="unit_price")
    invoice.save(update_fields=["net_total", "tax_total", "total"])


def first_of_next_month(hour: int = 2) -> datetime:
    """The next 1st of a month at ``hour`` o'clock in the studio's zone (the monthly schedule)."""
    today = studio_today()
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time(hour), tzinfo=studio_zone())


def month_of(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _draft(client: Client, currency: str, tax_rate: Decimal, *, by: User | None, period: tuple[date, date] | None,
           reuse: bool) -> Invoice:
    """A draft to add lines to: the month's open draft for a monthly client, else a new one."""
    if reuse and period:
        found = (Invoice.objects.select_for_update().filter(
            client=client, kind=DocumentKind.INVOICE, status=S.DRAFT, currency=currency, tax_rate=tax_rate,
            period_start=period[0], period_end=period[1]).first())
        if found:
            return found
    return Invoice.objects.create(client=client, currency=currency, tax_rate=tax_rate, created_by=by,
                                  period_start=period[0] if period else None, period_end=period[1] if period else None)


@transaction.atomic
def _draft_from(work: list[Work], *, client: Client, by: User | None, period: tuple[date, date] | None,
                reuse: bool) -> list[Invoice]:
    groups: dict[tuple[str, Decimal], list[Work]] = defaultdict(list)
    for item in work:
        groups[(item.currency, item.tax_rate)].append(item)
    drafts = []
    for (currency, tax_rate), items in groups.items():
        invoice = _draft(client, currency, tax_rate, by=by, period=period, reuse=reuse)
        start = invoice.lines.count() + 1
        lines = []
        for position, item in enumerate(items, start=start):
            lines.append(InvoiceLine(invoice=invoice, position=position, source=item.source, order=item.order,
                                     po_number=item.order.po_number, description=item.description[:200],
                                     quantity=item.quantity, unit_price=item.unit_price, amount=item.amount,
                                     work=item.key))
        try:
            with transaction.atomic():
                InvoiceLine.objects.bulk_create(lines)
        except IntegrityError as exc:  # another run billed the same work a moment ago
            raise InvalidTransition("This work was invoiced by someone else a moment ago; reload the page.") from exc
        _recalculate(invoice)
        for order in {item.order for item in items}:
            record_event(order=order, actor=by, verb="invoice.drafted", audience=Audience.MANAGERS,
                         message=f"Added to a draft invoice ({invoice.currency})", data={"invoice": str(invoice.pk)})
        drafts.append(invoice)
    return drafts


def _can_generate(by: User | None) -> None:
    if by is not None and not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance makes invoices.")


def invoice_generate(*, by: User | None, order: Order | None = None, client: Client | None = None,
                     period: tuple[date, date] | None = None) -> list[Invoice]:
    """Draft invoices for the unbilled completed work of one order, or of one client up to the end of
    ``period`` (a monthly client's drafts carry the period). Returns the drafts made or extended;
    refused (409) when there is nothing left to bill, so a second run never bills twice."""
    _can_generate(by)
    if (order is None) == (client is None):
        raise RuleViolation("Name an order or a client to invoice.", field="order")
    if order is not None:
        if order.status != OrderStatus.COMPLETED:
            raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}; only completed "
                                    "orders are invoiced.")
        work, client = unbilled_work(Order.objects.filter(pk=order.pk)), order.client
        if not work:
            raise InvalidTransition(f"Everything in order {order.number} is invoiced already.")
    else:
        orders = Order.objects.filter(client=client)
        if period:
            orders = orders.filter(completed_at__date__lte=period[1])
        work = unbilled_work(orders)
        if not work:
            raise InvalidTransition(f"{client.name} has no completed work left to invoice.")
    return _draft_from(work, client=client, by=by, period=period, reuse=period is not None)


def invoice_order_completed(order_id: Any) -> int:
    """Task: a per-order client's completed order gets its draft (idempotent: nothing left, nothing made)."""
    order = Order.objects.select_related("client").get(pk=order_id)
    if order.client.invoicing != Invoicing.PER_ORDER or not unbilled_work(Order.objects.filter(pk=order.pk)):
        return 0
    return len(invoice_generate(by=None, order=order))


def invoice_month(*, today: date | None = None) -> int:
    """Task for the 1st: every monthly client's completed work of last month (and anything completed
    earlier and still unbilled) on one draft per client and currency for last month."""
    today = today or studio_today()
    period = month_of(today.replace(day=1) - timedelta(days=1))
    made = 0
    for client in Client.objects.filter(invoicing=Invoicing.MONTHLY, is_active=True):
        orders = Order.objects.filter(client=client, completed_at__date__lte=period[1])
        if unbilled_work(orders):
            made += len(invoice_generate(by=None, client=client, period=period))
    return made


def order_completed(*, order: Order) -> None:
    """A completed order of a per-order client is invoiced after commit, in the background
    (``billing.receivers``); a monthly client's waits for the 1st."""
    if order.client.invoicing == Invoicing.PER_ORDER:
        enqueue_on_commit("billing.tasks.invoice_order", str(order.pk), group="billing")


# Editing drafts -------------------------------------------------------------------------------------

def _locked(invoice_id: Any) -> Invoice:
    return Invoice.objects.select_for_update().select_related("client").get(pk=invoice_id)


def _editable(invoice: Invoice, by: User) -> Invoice:
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance edits invoices.")
    invoice = _locked(invoice.pk)
    if not is_draft(invoice):
        raise InvalidTransition(f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; an issued invoice "
                                "never changes. Correct it with a credit note.")
    return invoice


@transaction.atomic
def invoice_line_add(*, invoice: Invoice, by: User, description: str, quantity: Decimal, unit_price: Decimal,
                     order: Order | None = None) -> InvoiceLine:
    """An extra charge (or a discount, with a negative price) on a draft, optionally for one order."""
    invoice = _editable(invoice, by)
    if not description.strip():
        raise RuleViolation("Describe the charge.", field="description")
    if quantity <= 0:
        raise RuleViolation("The quantity must be more than 0.", field="quantity")
    if order is not None and order.client_id != invoice.client_id:
        raise RuleViolation("This order belongs to another client.", field="order")
    if unit_price != pricing.round_money(unit_price, invoice.currency):
        raise RuleViolation(f"Prices in {invoice.currency} have at most "
                            f"{-pricing.quantum(invoice.currency).as_tuple().exponent} decimals.", field="unit_price")
    amount = pricing.line_amount(quantity, unit_price, invoice.currency, MAX_AMOUNT)
    if amount is None:
        raise RuleViolation("This line is too large for an amount.", field="unit_price")
    position = (invoice.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    line = InvoiceLine.objects.create(invoice=invoice, position=position, source=LineSource.EXTRA, order=order,
                                      po_number=order.po_number if order else "", description=description.strip()[:200],
                                      quantity=quantity, unit_price=unit_price, amount=amount)
    _recalculate(invoice)
    return line


@transaction.atomic
def invoice_line_remove(*, line: InvoiceLine, by: User) -> None:
    """Take a line off a draft; its work can be invoiced again later."""
    invoice = _editable(line.invoice, by)
    InvoiceLine.objects.filter(pk=line.pk, invoice=invoice).delete()
    _recalculate(invoice)


@transaction.atomic
def invoice_note_set(*, invoice: Invoice, by: User, note: str) -> Invoice:
    invoice = _editable(invoice, by)
    invoice.note = note.strip()[:500]
    invoice.save(update_fields=["note"])
    return invoice


# Issuing --------------------------------------------------------------------------------------------

def next_number(kind: str, year: int) -> tuple[str, int]:
    """The next gapless number of the series and year. Must run inside the issuing transaction: the
    UPDATE holds the counter row until commit (PostgreSQL row lock, SQLite's write lock), so numbers
    given at once never collide, and a rolled-back issue gives its number back."""
    series = SERIES[kind]
    DocumentCounter.objects.get_or_create(series=series, year=year)
    DocumentCounter.objects.filter(series=series, year=year).update(last=F("last") + 1)
    last = DocumentCounter.objects.values_list("last", flat=True).get(series=series, year=year)
    return f"{series}-{year}-{last:05d}", last


def billing_profile() -> BillingProfile:
    profile = BillingProfile.objects.order_by("pk").first()
    missing = [] if profile is None else [name for name in ("legal_name", "street", "postcode", "city", "country",
                                                              "vat_number", "iban") if not getattr(profile, name)]
    if profile is None or missing:
        raise InvalidTransition("The studio's billing details are incomplete (legal name, address, VAT id and IBAN): "
                                "an admin fills them in under Admin → Billing profile before anything is issued.")
    return profile


def buyer_snapshot(client: Client) -> dict[str, str]:
    missing = [name for name in Client.BILLING_ADDRESS if not getattr(client, name)]
    if missing:
        raise InvalidTransition(f"{client.name} has no complete billing address (street, postcode, city and country); "
                                "add it on the client's page, then issue.")
    vat = vat_ids.clean(client.vat_number)
    reason = vat_ids.problem(client.vat_number, client.billing_country)
    if reason:
        raise InvalidTransition(f"{client.name}'s VAT id cannot go on an invoice: {reason} Correct it on the client's "
                                "page, then issue.")
    return {"name": client.name, "street": client.billing_street, "postcode": client.billing_postcode,
            "city": client.billing_city, "country": client.billing_country, "vat_number": vat,
            "email": client.billing_email}


def _issue(invoice: Invoice, by: User | None, profile: BillingProfile, buyer: dict[str, str],
           due_days: int) -> None:
    """Freeze and number a draft (caller holds the row lock and the transaction)."""
    today = studio_today()
    INVOICES.move(invoice, "issue")
    invoice.number, invoice.sequence = next_number(invoice.kind, today.year)
    invoice.year, invoice.issue_date = today.year, today
    invoice.due_date = today + timedelta(days=due_days)
    invoice.seller, invoice.buyer = profile.snapshot(), buyer
    # VAT follows the parties as they are now (a VAT id added since the quote turns it into reverse charge)
    treatment = tax.treatment(invoice.client, profile)
    if treatment.rate != invoice.tax_rate:
        invoice.tax_rate = treatment.rate
        _recalculate(invoice)
    invoice.tax_category = treatment.category
    invoice.issued_at, invoice.issued_by = timezone.now(), by
    invoice.save()


def _orders_of(invoice: Invoice) -> list[Order]:
    return list(Order.objects.filter(invoice_lines__invoice=invoice).distinct().order_by("number"))


def invoice_issue(*, invoice: Invoice, by: User) -> Invoice:
    """Issue a draft: refused for anything but a non-empty draft with a positive total, and until the
    studio's and the client's billing details are complete."""
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance issues invoices.")
    with transaction.atomic():
        invoice = _locked(invoice.pk)
        refusal = (f"Invoice {invoice.number} is {{state}}: it was issued once and keeps its number."
                   if invoice.number else "This invoice is {state}; only a draft can be issued.")
        INVOICES.check("issue", invoice, refusal)
        if not invoice.lines.exists():
            raise InvalidTransition("An invoice without lines cannot be issued; add a line or void the draft.")
        if invoice.total <= 0:
            raise InvalidTransition(f"The draft's total is {invoice.total} {invoice.currency}; an invoice must be for more "
                                    "than nothing (a credit is a credit note).")
        _issue(invoice, by, billing_profile(), buyer_snapshot(invoice.client), invoice.client.payment_terms_days)
        for order in _orders_of(invoice):
            record_event(order=order, actor=by, verb="invoice.issued", audience=Audience.MANAGERS,
                         message=f"Invoice {invoice.number} issued: {invoice.total} {invoice.currency}, due "
                                 f"{invoice.due_date:%d %b %Y}", data={"invoice": str(invoice.pk)})
        enqueue_on_commit("billing.tasks.notify_issued", str(invoice.pk), group="notifications")
        webhooks.emit(WebhookEvent.INVOICE_ISSUED, client_id=invoice.client_id, data=webhooks.invoice_data(invoice))
    return invoice


def invoices_issue_drafts(*, by: User, invoices: Iterable[Invoice]) -> tuple[list[Invoice], list[str]]:
    """Issue several drafts, each in its own transaction: one refusal does not stop the others."""
    issued, refusals = [], []
    for invoice in invoices:
        try:
            issued.append(invoice_issue(invoice=invoice, by=by))
        except (InvalidTransition, RuleViolation) as exc:
            refusals.append(f"{invoice.client.name}: {exc.message}")
    return issued, refusals


# Void, payments, credit notes -------------------------------------------------------------------------

@transaction.atomic
def invoice_void(*, invoice: Invoice, by: User, reason: str) -> Invoice:
    """Void a draft or an unpaid, uncredited issued invoice with a reason; its number stays taken and
    its work may be invoiced again."""
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance voids invoices.")
    if not reason.strip():
        raise RuleViolation("Say why the invoice is void.", field="reason")
    invoice = _locked(invoice.pk)
    if invoice.kind != DocumentKind.INVOICE:
        raise InvalidTransition("A credit note cannot be voided; issue an invoice for the difference instead.")
    if invoice.status == S.PAID:
        refusal = "A paid invoice cannot be voided; issue a credit note instead."
    elif invoice.status in OPEN_INVOICES:
        refusal = "This invoice has payments or credit notes against it and cannot be voided; issue a credit note instead."
    else:
        refusal = "This invoice is {state} already."
    INVOICES.move(invoice, "void", refusal=refusal)
    invoice.reason, invoice.voided_at = reason.strip()[:500], timezone.now()
    invoice.save(update_fields=["status", "reason", "voided_at"])
    invoice.lines.exclude(work="").update(released=True)
    for order in _orders_of(invoice):
        record_event(order=order, actor=by, verb="invoice.voided", audience=Audience.MANAGERS,
                     message=f"Invoice {invoice.number or '(draft)'} void: {invoice.reason}", data={"invoice": str(invoice.pk)})
    return invoice


@transaction.atomic
def invoice_pay(*, invoice: Invoice, by: User, amount: Decimal, received_on: date | None = None,
                method: str = PaymentMethod.TRANSFER, reference: str = "") -> Payment:
    """Record money received: up to what is due. Paid in full, the invoice is ``paid`` and the files
    of a pay-before-download client's orders are released at once."""
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance records payments.")
    invoice = _locked(invoice.pk)
    if invoice.kind != DocumentKind.INVOICE:
        raise InvalidTransition("Payments are recorded against invoices, not credit notes.")
    INVOICES.check("settle", invoice, "This invoice is {state}; payments are recorded against issued invoices.")
    amount = Decimal(amount)
    if amount <= 0 or amount != pricing.round_money(amount, invoice.currency):
        raise RuleViolation(f"Give an amount above 0 in {invoice.currency} with at most "
                            f"{-pricing.quantum(invoice.currency).as_tuple().exponent} decimals.", field="amount")
    if amount > invoice.balance:
        raise RuleViolation(f"Only {invoice.balance} {invoice.currency} is due on {invoice.number}; {amount} is more than "
                            "that.", field="amount")
    received_on = received_on or studio_today()
    if received_on > studio_today():
        raise RuleViolation("A payment cannot be received in the future.", field="received_on")
    if method not in PaymentMethod.values:
        raise RuleViolation("Unknown payment method.", field="method")
    payment = Payment.objects.create(invoice=invoice, amount=amount, received_on=received_on, method=method,
                                     reference=reference.strip()[:140], recorded_by=by)
    invoice.paid_total += amount
    INVOICES.move(invoice, "settle" if invoice.balance <= 0 else "pay_part")
    invoice.save(update_fields=["status", "paid_total"])
    orders = _orders_of(invoice)
    for order in orders:
        record_event(order=order, actor=by, verb="invoice.paid", audience=Audience.MANAGERS,
                     message=f"Payment of {amount} {invoice.currency} on {invoice.number}; "
                             + ("paid in full" if invoice.status == S.PAID else f"{invoice.balance} still due"),
                     data={"invoice": str(invoice.pk)})
    if invoice.status == S.PAID:
        payment_holds.release(orders=[o for o in orders if o.downloads_held], by=by)
    return payment


def credit_room(invoice: Invoice) -> Decimal:
    """The net amount still open to credit notes: the invoice's net less what earlier notes took."""
    credited = (Invoice.objects.filter(credited_invoice=invoice, kind=DocumentKind.CREDIT_NOTE)
                .exclude(status=S.VOID).aggregate(net=Sum("net_total"))["net"] or Decimal("0"))
    return invoice.net_total - credited


@transaction.atomic
def invoice_credit(*, invoice: Invoice, by: User, reason: str, amount: Decimal | None = None) -> Invoice:
    """A credit note against an issued invoice, issued at once with the next ``CN`` number: the whole
    remaining invoice line by line (no ``amount``), or one line of ``amount`` net at the invoice's VAT
    rate. Never more than was invoiced."""
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance issues credit notes.")
    if not reason.strip():
        raise RuleViolation("Say why you credit the client; the reason is printed on the credit note.", field="reason")
    invoice = _locked(invoice.pk)
    if invoice.kind != DocumentKind.INVOICE or invoice.status not in CREDITABLE:
        raise InvalidTransition(f"Only an issued invoice can be credited; this one is {INVOICES.label(invoice.status)}.")
    room = credit_room(invoice)
    if room <= 0:
        raise InvalidTransition(f"{invoice.number} is credited in full already.")
    note = Invoice(kind=DocumentKind.CREDIT_NOTE, client=invoice.client, currency=invoice.currency,
                   tax_rate=invoice.tax_rate, credited_invoice=invoice, reason=reason.strip()[:500], created_by=by,
                   period_start=invoice.period_start, period_end=invoice.period_end)
    if amount is None:
        if room != invoice.net_total:
            raise RuleViolation(f"Part of {invoice.number} is credited already; give the amount to credit "
                                f"(at most {room} {invoice.currency} before VAT).", field="amount")
        note.save()
        InvoiceLine.objects.bulk_create([
            InvoiceLine(invoice=note, position=line.position, source=LineSource.CREDIT, order=line.order,
                        po_number=line.po_number, description=line.description, quantity=line.quantity,
                        unit_price=line.unit_price, amount=line.amount) for line in invoice.lines.all()])
    else:
        amount = Decimal(amount)
        if amount <= 0 or amount != pricing.round_money(amount, invoice.currency):
            raise RuleViolation(f"Give an amount above 0 in {invoice.currency}.", field="amount")
        if amount > room:
            raise RuleViolation(f"At most {room} {invoice.currency} (before VAT) of {invoice.number} can still be "
                                f"credited; {amount} is more than was invoiced.", field="amount")
        note.save()
        InvoiceLine.objects.create(invoice=note, position=1, source=LineSource.CREDIT,
                                   description=f"Credit on {invoice.number}: {reason.strip()}"[:200],
                                   quantity=Decimal("1"), unit_price=amount, amount=amount)
    _recalculate(note)
    _issue(note, by, BillingProfile.from_snapshot(invoice.seller), invoice.buyer, 0)
    note.tax_category = invoice.tax_category  # the note follows the invoice it corrects
    note.due_date = None
    note.save(update_fields=["tax_category", "due_date"])
    invoice.credited_total += note.total
    invoice.save(update_fields=["credited_total"])
    for order in _orders_of(invoice):
        record_event(order=order, actor=by, verb="invoice.credited", audience=Audience.MANAGERS,
                     message=f"Credit note {note.number} on {invoice.number}: {note.total} {note.currency}",
                     data={"invoice": str(invoice.pk), "credit_note": str(note.pk)})
    enqueue_on_commit("billing.tasks.notify_issued", str(note.pk), group="notifications")
    return note


# Reports ---------------------------------------------------------------------------------------------

@dataclass
class AgingRow:
    client: Any
    currency: str
    buckets: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal("0"))


def aging_bucket(due: date, today: date) -> str:
    late = (today - due).days
    if late <= 0:
        return "current"
    return "1-30" if late <= 30 else "31-60" if late <= 60 else "61-90" if late <= 90 else "90+"


def aging(invoices: QuerySet[Invoice], *, today: date | None = None) -> tuple[list[AgingRow], list[AgingRow]]:
    """What clients owe by days past due, per client and currency, and the totals per currency
    (amounts in different currencies are never added together). One query."""
    today = today or studio_today()
    rows: dict[tuple[Any, str], AgingRow] = {}
    totals: dict[str, AgingRow] = {}
    open_ = (invoices.filter(kind=DocumentKind.INVOICE, status__in=OPEN_INVOICES)
             .annotate(owed=F("total") - F("paid_total") - F("credited_total")).filter(owed__gt=0)
             .select_related("client").order_by("client__name", "currency"))
    for invoice in open_:
        bucket = aging_bucket(invoice.due_date, today)
        for key, store, who in (((invoice.client_id, invoice.currency), rows, invoice.client),
                                (invoice.currency, totals, None)):
            row = store.setdefault(key, AgingRow(who, invoice.currency, dict.fromkeys(AGING_BUCKETS, Decimal("0"))))
            row.buckets[bucket] += pricing.round_money(invoice.owed, invoice.currency)
    return list(rows.values()), [totals[c] for c in sorted(totals)]


def totals_per_currency(invoices: QuerySet[Invoice]) -> list[dict[str, Any]]:
    """Net, VAT, total and balance per currency of the issued documents of a filtered list (credit notes
    count negative; drafts are not invoiced yet and void documents no longer count)."""
    rows = (invoices.exclude(status__in=[S.VOID, S.DRAFT]).values("currency", "kind")
            .annotate(sum_net=Sum("net_total"), sum_tax=Sum("tax_total"), sum_total=Sum("total"),
                      sum_owed=Sum(F("total") - F("paid_total") - F("credited_total"),
                                   filter=Q(status__in=OPEN_INVOICES))))
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        sign = -1 if row["kind"] == DocumentKind.CREDIT_NOTE else 1
        entry = out.setdefault(row["currency"], {"currency": row["currency"], "net": Decimal("0"), "tax": Decimal("0"),
                                                 "total": Decimal("0"), "owed": Decimal("0")})
        # SQLite sums decimals as floats: each sum is rounded back to the currency's minor unit.
        for name in ("net", "tax", "total"):
            entry[name] += sign * pricing.round_money(row[f"sum_{name}"] or 0, row["currency"])
        if sign > 0:
            entry["owed"] += pricing.round_money(row["sum_owed"] or 0, row["currency"])
    return [out[c] for c in sorted(out)]
