"""Finance exports of the documents issued in a date range, streamed in constant memory.

Formats (columns documented in docs/billing.md):
- ``csv``: every line of every invoice and credit note (credit notes negative), with the document's
  header fields repeated on each line; void documents are listed with their status.
- ``xero``: Xero's sales-invoice import template (one row per line, ``*`` marks Xero's required
  columns, dates DD/MM/YYYY, credit notes as negative quantities, which Xero imports as credit notes).
- ``quickbooks``: QuickBooks Online's invoice import (one row per line); QuickBooks imports invoices
  only, so credit notes are left out of this file (they are in the CSV and the ZIP).
- ``zip``: every document's PDF and UBL file.

Documents are read in batches of ``BATCH`` with their lines (one query per batch), each batch is
written, and the memory is released: the peak does not grow with the range. Text cells that begin
with ``=``, ``+``, ``-``, ``@``, tab or carriage return are prefixed with ``'`` so a spreadsheet never
runs them as formulas; amounts are written as plain numbers.
"""

from __future__ import annotations

import csv
import functools
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from agency import live
from agency.exceptions import NotPermitted, RuleViolation
from agency.statemachine import StateTable
from agency.tasks import enqueue_on_commit
from billing import documents, permissions
from billing.models import DocumentKind, Export, ExportFormat, ExportStatus, Invoice, InvoiceLine, InvoiceStatus
from billing.selectors import invoice_queryset

logger = logging.getLogger("loupe.billing")
MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=30)

X = ExportStatus
# A background export is built once: it becomes ready with its file, or fails with the reason.
EXPORTS = StateTable("export", dict(X.choices))
EXPORTS.add("finish", {X.BUILDING}, X.READY)
EXPORTS.add("fail", {X.BUILDING}, X.FAILED)
BATCH = 50
MAX_DAYS = 366 * 5
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xero": "text/csv; charset=utf-8",
                 "quickbooks": "text/csv; charset=utf-8", "zip": "application/zip"}
DATE = "%d/%m/%Y"


def safe(value: Any) -> Any:
    """A text cell a spreadsheet will not evaluate (numbers and dates pass as they are)."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from is None or date_to is None:
        raise RuleViolation("Give both dates of the range (from and to).", field="from")
    if date_to < date_from:
        raise RuleViolation("The range ends before it starts.", field="to")
    if (date_to - date_from).days > MAX_DAYS:
        raise RuleViolation("Export at most five years at once.", field="to")


def documents_to_export(user: Any, date_from: date, date_to: date) -> int:
    """How many documents an export of the range holds; refused for a bad range and for an empty one
    (a file of no documents is never what the accountant asked for)."""
    check_range(date_from, date_to)
    total = documents_in(user, date_from, date_to).count()
    if not total:
        raise RuleViolation(f"No invoice or credit note was issued from {date_from:%-d %b %Y} to {date_to:%-d %b %Y}, "
                            "so there is nothing to export. Choose a range with issued documents.", field="from")
    return total


def documents_in(user: Any, date_from: date, date_to: date) -> QuerySet[Invoice]:
    """Issued documents (void ones included: their numbers were given) in the range that ``user`` may
    read (the invoice selector: finance reads every client's), in number order."""
    return (invoice_queryset(user).filter(issue_date__gte=date_from, issue_date__lte=date_to).exclude(number="")
            .order_by("issue_date", "kind", "sequence"))


def _batches(queryset: QuerySet[Invoice]) -> Iterator[list[tuple[Invoice, list[LineRow]]]]:
    ids = queryset.values_list("pk", flat=True)
    pending: list[Any] = []
    for pk in ids.iterator(chunk_size=2000):
        pending.append(pk)
        if len(pending) == BATCH:
            yield _load(pending)
            pending = []
    if pending:
        yield _load(pending)


class _Order(NamedTuple):
    number: str
    completed_at: Any = None


class LineRow(NamedTuple):
    """An invoice line read as a plain row (``values_list``): what the exports and documents read of a
    line, without building model instances for a hundred thousand of them."""

    invoice_id: Any
    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    po_number: str
    order_number: str | None
    order_completed_at: Any = None

    @property
    def order_id(self) -> str | None:
        return self.order_number

    @property
    def order(self) -> _Order | None:
        return _Order(self.order_number, self.order_completed_at) if self.order_number else None


LINE_FIELDS = ("invoice_id", "position", "description", "quantity", "unit_price", "amount", "po_number", "order__number",
               "order__completed_at")


def _load(ids: list[Any]) -> list[tuple[Invoice, list[LineRow]]]:
    # ``ids`` come from the scoped ``documents_in``: these reads only add the rows of documents already allowed.
    # Lines name their invoice by the key's text (Cast): turning 100,000 keys into UUID objects would
    # cost more than writing the rows. The same Cast keys the documents, so both engines agree.
    docs = {d.key: d for d in Invoice.objects.filter(pk__in=ids).select_related("credited_invoice")
            .annotate(key=Cast("pk", CharField()))}
    lines: dict[str, list[LineRow]] = {key: [] for key in docs}
    rows = (InvoiceLine.objects.filter(invoice_id__in=ids).annotate(key=Cast("invoice_id", CharField()))
            .order_by("invoice", "position").values_list("key", *LINE_FIELDS[1:]))
    for row in rows:
        lines[row[0]].append(LineRow(*row))
    ordered = sorted(docs.values(), key=lambda d: ids.index(d.pk))
    return [(doc, lines[doc.key]) for doc in ordered]


LINE_COLUMNS = ["document", "number", "status", "issue_date", "due_date", "client", "client_vat_id",
                "client_country", "currency", "order", "po_number", "position", "description", "quantity",
                "unit_price", "net_amount", "vat_category", "vat_rate", "credits_invoice"]
XERO_COLUMNS = ["*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3", "POAddressLine4",
                "POCity", "PORegion", "POPostalCode", "POCountry", "*InvoiceNumber", "Reference", "*InvoiceDate",
                "*DueDate", "InventoryItemCode", "*Description", "*Quantity", "*UnitAmount", "Discount",
                "*AccountCode", "*TaxType", "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2",
                "Currency", "BrandingTheme"]
QUICKBOOKS_COLUMNS = ["*InvoiceNo", "*Customer", "*InvoiceDate", "*DueDate", "Terms", "Location", "Memo",
                      "Item(Product/Service)", "ItemDescription", "ItemQuantity", "ItemRate", "*ItemAmount",
                      "Taxable", "TaxRate", "Currency"]


def _sign(doc: Invoice) -> int:
    return -1 if doc.kind == DocumentKind.CREDIT_NOTE else 1


def _line_rows(doc: Invoice, lines: list[LineRow]) -> Iterator[list[Any]]:
    sign, buyer = _sign(doc), doc.buyer
    head = [doc.get_kind_display(), doc.number, doc.status, doc.issue_date.isoformat(),
            doc.due_date.isoformat() if doc.due_date else "", safe(buyer.get("name", "")),
            safe(buyer.get("vat_number", "")), buyer.get("country", ""), doc.currency]
    tail = [doc.tax_category, doc.tax_rate, doc.credited_invoice.number if doc.credited_invoice_id else ""]
    for line in lines:
        yield [*head, line.order_number or "", safe(line.po_number), line.position, safe(line.description),
               line.quantity, line.unit_price, sign * line.amount, *tail]


def xero_tax_type(doc: Invoice) -> str:
    names = settings.LOUPE_XERO_TAX_TYPES
    return names.get(doc.tax_category, "").format(rate=f"{doc.tax_rate.normalize():f}")


def _xero_rows(doc: Invoice, lines: list[LineRow]) -> Iterator[list[Any]]:
    if doc.status == InvoiceStatus.VOID:
        return
    sign, buyer = _sign(doc), doc.buyer
    due = doc.due_date or doc.issue_date
    contact = [safe(buyer.get("name", "")), safe(buyer.get("email", "")), safe(buyer.get("street", "")), "", "", "",
               safe(buyer.get("city", "")), "", safe(buyer.get("postcode", "")), buyer.get("country", ""), doc.number]
    dates = [doc.issue_date.strftime(DATE), due.strftime(DATE), ""]
    tail = ["", settings.LOUPE_XERO_ACCOUNT_CODE, xero_tax_type(doc), "", "", "", "", doc.currency, ""]
    credit = f"Credit on {doc.credited_invoice.number}" if doc.credited_invoice_id else ""
    for line in lines:
        quantity, price = line.quantity * sign, line.unit_price
        if price < 0:  # a discount line: negative quantity, positive price (as in the UBL file)
            quantity, price = -quantity, -price
        yield [*contact, safe(credit or _reference(line)), *dates, safe(line.description), quantity, price, *tail]


def _reference(line: LineRow) -> str:
    return " · ".join(x for x in (line.order_number, line.po_number) if x)


def _quickbooks_rows(doc: Invoice, lines: list[LineRow]) -> Iterator[list[Any]]:
    if doc.kind != DocumentKind.INVOICE or doc.status == InvoiceStatus.VOID:
        return
    head = [doc.number, safe(doc.buyer.get("name", "")), doc.issue_date.strftime(DATE), doc.due_date.strftime(DATE),
            f"Net {(doc.due_date - doc.issue_date).days}", "", safe(doc.note), settings.LOUPE_QUICKBOOKS_ITEM]
    tail = ["Y" if doc.tax_rate > 0 else "N", f"{doc.tax_rate.normalize():f}%", doc.currency]
    for line in lines:
        reference = _reference(line)
        yield [*head, safe(f"{reference} — {line.description}" if reference else line.description), line.quantity,
               line.unit_price, line.amount, *tail]


ROWS = {"csv": (LINE_COLUMNS, _line_rows), "xero": (XERO_COLUMNS, _xero_rows),
        "quickbooks": (QUICKBOOKS_COLUMNS, _quickbooks_rows)}


def stream(fmt: str, date_from: date, date_to: date, progress: Any = None, *, by: Any) -> Iterator[bytes]:
    """The export, for ``by``, as chunks of bytes (one per batch of documents, or per document for the
    ZIP); ``progress(done)`` is called as documents are written. Refused for anyone but finance."""
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance exports invoices.")
    if fmt not in ExportFormat.values:
        raise RuleViolation(f"'format' must be one of {', '.join(ExportFormat.values)}.", field="format")
    check_range(date_from, date_to)
    queryset = documents_in(by, date_from, date_to)
    if fmt == ExportFormat.ZIP:
        yield from _zip(queryset, progress)
        return
    columns, rows = ROWS[fmt]
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(columns)).encode()  # the BOM: spreadsheets then read UTF-8
    done = 0
    for batch in _batches(queryset):
        yield "".join(writer.writerow(row) for doc, lines in batch for row in rows(doc, lines)).encode()
        done += len(batch)
        if progress:
            progress(done)


class _Sink:
    """A write-only, unseekable file for ``zipfile`` that hands out what was written so far."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _zip(queryset: QuerySet[Invoice], progress: Any) -> Iterator[bytes]:
    sink = _Sink()
    logos: dict[str, Any] = {}
    done = 0
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:  # type: ignore[arg-type]
        for batch in _batches(queryset):
            for doc, lines in batch:
                folder = "credit-notes" if doc.kind == DocumentKind.CREDIT_NOTE else "invoices"
                name = doc.seller.get("logo", "")
                if name not in logos:
                    logos[name] = documents.logo_data(name)
                archive.writestr(f"{folder}/{documents.filename(doc, 'pdf')}",
                                 documents.render_pdf(doc, lines, logo=documents.logo_image(logos[name])))
                archive.writestr(f"{folder}/{documents.filename(doc, 'xml')}", documents.render_ubl(doc, lines))
                done += 1
                yield sink.take()
            if progress:
                progress(done)
    yield sink.take()


def export_name(fmt: str, date_from: date, date_to: date) -> str:
    ext = "zip" if fmt == ExportFormat.ZIP else "csv"
    return f"invoices-{fmt}-{date_from:%Y%m%d}-{date_to:%Y%m%d}.{ext}"


# Background exports for the page ---------------------------------------------------------------------

def export_start(*, by: Any, fmt: str, date_from: date, date_to: date) -> Export:
    if not permissions.can_manage_invoices(by):
        raise NotPermitted("Only finance exports invoices.")
    if fmt not in ExportFormat.values:
        raise RuleViolation("Choose a format.", field="format")
    with transaction.atomic():
        export = Export.objects.create(format=fmt, date_from=date_from, date_to=date_to, created_by=by,
                                       total=documents_to_export(by, date_from, date_to))
        enqueue_on_commit("billing.tasks.build_export", str(export.pk), group="exports")
    return export


def _claim(export_id: Any) -> int | None:
    """Take the build for ``LEASE`` with one conditional update (works on both engines): the first
    worker wins, a duplicate delivery of the task finds it taken, and a build whose worker died is
    taken over once its lease ran out. Returns the attempt number this worker builds, or None."""
    now = timezone.now()
    taken = Export.objects.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), pk=export_id,
                                  status__in=EXPORTS.sources("finish"))
    if not taken.update(claimed_until=now + LEASE, attempts=F("attempts") + 1, done=0):
        return None
    return Export.objects.values_list("attempts", flat=True).get(pk=export_id)


def _told(build: Any) -> Any:
    """After each build step, the open pages of the export's creator hear of it (``agency.live``)."""
    @functools.wraps(build)
    def run(*, export_id: Any) -> str:
        try:
            return build(export_id=export_id)
        finally:
            owner = Export.objects.filter(pk=export_id).values_list("created_by_id", flat=True).first()
            if owner:
                live.publish(f"me:{owner}", "export.changed", ref=export_id)
    return run


@_told
def export_build(*, export_id: Any) -> str:
    """Write the export to storage (a task). One worker builds it at a time (``_claim``); each build
    writes a new key, and only the build that still holds the claim records its file (the table's
    ``finish`` edge), so a late duplicate never overwrites or replaces a finished export. The export is
    read as its creator may read it: a creator who is no longer finance gets no file."""
    from django.core.files.storage import default_storage

    attempt = _claim(export_id)
    if attempt is None:
        return "nothing to do"
    export = Export.objects.select_related("created_by").get(pk=export_id)
    mine = Export.objects.filter(pk=export.pk, attempts=attempt, status__in=EXPORTS.sources("finish"))
    if attempt > MAX_ATTEMPTS:
        EXPORTS.claim(mine, "fail", claimed_until=None, reason="The export failed three times; try a shorter range.")
        return "failed"

    def progress(done: int) -> None:
        mine.update(done=done)
        live.publish(f"me:{export.created_by_id}", "export.progress", ref=export.pk)

    name = export_name(export.format, export.date_from, export.date_to)
    try:
        with tempfile.TemporaryFile() as scratch:
            for chunk in stream(export.format, export.date_from, export.date_to, progress, by=export.created_by):
                scratch.write(chunk)
            size = scratch.tell()
            scratch.seek(0)
            key = default_storage.save(f"exports/{export.pk}/{uuid.uuid4().hex}/{name}", File(scratch, name=name))
    except NotPermitted as exc:
        EXPORTS.claim(mine, "fail", claimed_until=None, reason=exc.message[:300])
        return "failed"
    except Exception:
        mine.update(claimed_until=None)  # the next attempt may start at once
        logger.exception("export %s failed", export.pk)
        raise
    if not EXPORTS.claim(mine, "finish", claimed_until=None, file=key, size=size, done=export.total):
        default_storage.delete(key)  # another worker took the build over meanwhile: its file stands
        return "superseded"
    return key


def export_download_url(export: Export) -> str:
    from agency.uploads import get_backend

    return get_backend().download_url(export.file, filename=export.file.rsplit("/", 1)[-1],
                                      content_type=CONTENT_TYPES[export.format])

