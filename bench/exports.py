"""Finance export benchmark (issue 9). Makes 2,000 issued invoices with 100,000 lines (and a second,
ten times smaller range of 200 invoices with 10,000 lines) on a throw-away SQLite database (or
``DATABASE_URL``), then prints for the whole range:

- the median time and the peak Python memory (tracemalloc) of each export format (csv, xero,
  quickbooks; zip once: it renders every PDF and UBL file),
- beside a baseline measured in the same run: the same lines read with ``.values_list()`` and written
  with the csv module, and the ratio to it (goal: CSV exports within 2x),
- the peak memory of each CSV format on the small range against the large one (goal: within 10 %),
- PDF rendering in invoices per second, in one process and in two (goal: at least 20 per second on
  this machine's two cores).

    .venv/bin/python bench/exports.py [--runs 5] [--invoices 2000] [--lines 50]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIG = (date(2026, 1, 1), date(2026, 6, 30))
SMALL = (date(2025, 1, 1), date(2025, 6, 30))


def setup_django() -> None:
    scratch = tempfile.mkdtemp(prefix="loupe-bench-")
    os.environ.setdefault("LOUPE_VAR_DIR", scratch)
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("LOUPE_BASE_URL", "http://localhost")
    os.environ.setdefault("LOUPE_TASKS_SYNC", "1")
    os.environ.setdefault("EMAIL_URL", "locmem://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "agency.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_books(invoices: int, lines: int, period: tuple[date, date], series_start: int) -> None:
    """Issued invoices with frozen parties, ``lines`` lines each, spread over ``period``."""
    from django.db import transaction

    from billing.models import Invoice, InvoiceLine, InvoiceStatus
    from clients.models import Client

    client, _ = Client.objects.get_or_create(name="Bench Jewels", defaults={
        "billing_street": "Goldgasse 7", "billing_postcode": "50667", "billing_city": "Köln", "billing_country": "DE",
        "vat_number": "DE987654321", "tax_rate": Decimal("19")})
    seller = {"legal_name": "Loupe Studio GmbH", "street": "Torstraße 1", "postcode": "10119", "city": "Berlin",
              "country": "DE", "vat_number": "DE123456789", "registration": "HRB 1", "email": "b@loupe.test",
              "phone": "", "bank_name": "Bank", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "footer": ""}
    buyer = {"name": client.name, "street": client.billing_street, "postcode": client.billing_postcode,
             "city": client.billing_city, "country": "DE", "vat_number": client.vat_number, "email": ""}
    days = (period[1] - period[0]).days
    with transaction.atomic():
        for start in range(0, invoices, 200):
            batch = []
            for n in range(start, min(start + 200, invoices)):
                issued = period[0] + timedelta(days=n * days // invoices)
                net = Decimal("3.50") * lines
                tax = (net * Decimal("0.19")).quantize(Decimal("0.01"))
                seq = series_start + n
                batch.append(Invoice(client=client, status=InvoiceStatus.ISSUED, currency="EUR", tax_category="S",
                                     tax_rate=Decimal("19"), net_total=net, tax_total=tax, total=net + tax,
                                     number=f"INV-{issued.year}-{seq:05d}", year=issued.year, sequence=seq,
                                     issue_date=issued, due_date=issued + timedelta(days=30), seller=seller,
                                     buyer=buyer))
            Invoice.objects.bulk_create(batch)
            InvoiceLine.objects.bulk_create([
                InvoiceLine(invoice=invoice, position=p, source="extra", po_number=f"PO-{p % 7}",
                            description=f"Colour correction — standard, image {p}", quantity=Decimal("1"),
                            unit_price=Decimal("3.50"), amount=Decimal("3.50"))
                for invoice in batch for p in range(1, lines + 1)], batch_size=5000)


class Sink:
    """Counts bytes, keeps nothing (what a streamed response does with a fast client)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: str | bytes) -> int:
        self.size += len(data)
        return len(data)


def baseline(period: tuple[date, date]) -> int:
    """The same rows read with values_list() and written with the csv module."""
    from billing.models import InvoiceLine

    sink = Sink()
    writer = csv.writer(sink)
    rows = (InvoiceLine.objects.filter(invoice__issue_date__gte=period[0], invoice__issue_date__lte=period[1])
            .order_by("invoice__issue_date", "invoice__sequence", "position")
            .values_list("invoice__number", "invoice__status", "invoice__issue_date", "invoice__due_date",
                         "invoice__client__name", "invoice__currency", "po_number", "position", "description",
                         "quantity", "unit_price", "amount", "invoice__tax_rate"))
    for row in rows.iterator(chunk_size=2000):
        writer.writerow(row)
    return sink.size


def export(fmt: str, period: tuple[date, date]) -> int:
    from agency.models import Role, User
    from billing import exports

    finance = User(role=Role.FINANCE, is_active=True)  # reads as finance (scope: every client's documents)
    sink = Sink()
    for chunk in exports.stream(fmt, *period, by=finance):
        sink.write(chunk)
    return sink.size


def measure(fn, runs: int) -> tuple[float, float, int]:
    """(median seconds, peak MiB of Python allocations, bytes written)."""
    times = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        size = fn()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20, size


def _render(ids: list[str]) -> int:
    setup_django()
    from billing import documents
    from billing.models import Invoice

    for invoice in Invoice.objects.filter(pk__in=ids).prefetch_related("lines__order"):
        documents.render_pdf(invoice, list(invoice.lines.all()))
    return len(ids)


def pdf_rate(count: int, workers: int) -> float:
    from billing.models import Invoice

    ids = [str(pk) for pk in Invoice.objects.filter(issue_date__gte=BIG[0]).values_list("pk", flat=True)[:count]]
    chunks = [ids[i::workers] for i in range(workers)]
    started = time.perf_counter()
    if workers == 1:
        done = _render(ids)
    else:
        with ProcessPoolExecutor(workers) as pool:
            done = sum(pool.map(_render, chunks))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--zip-runs", type=int, default=1)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    started = time.perf_counter()
    make_books(args.invoices, args.lines, BIG, 1)
    make_books(args.invoices // 10, args.lines, SMALL, 1)
    print(f"database: {connection.vendor}; made {args.invoices} + {args.invoices // 10} invoices with "
          f"{args.lines} lines each in {time.perf_counter() - started:.1f} s")

    base_t, base_m, base_size = measure(lambda: baseline(BIG), args.runs)
    print(f"\nwhole range: {args.invoices} invoices, {args.invoices * args.lines:,} lines; median of {args.runs}")
    print(f"{'format':<12}{'time':>10}{'ratio':>9}{'peak MiB':>10}{'MiB out':>9}")
    print(f"{'baseline':<12}{base_t:>9.2f}s{1:>8.2f}x{base_m:>10.1f}{base_size / 2**20:>9.1f}")
    peaks = {}
    for fmt in ("csv", "xero", "quickbooks"):
        t, m, size = measure(lambda fmt=fmt: export(fmt, BIG), args.runs)
        peaks[fmt] = m
        print(f"{fmt:<12}{t:>9.2f}s{t / base_t:>8.2f}x{m:>10.1f}{size / 2**20:>9.1f}   (goal: within 2x)")
    t, m, size = measure(lambda: export("zip", BIG), max(1, args.zip_runs))
    print(f"{'zip':<12}{t:>9.2f}s{t / base_t:>8.2f}x{m:>10.1f}{size / 2**20:>9.1f}   "
          f"({args.invoices / t:.1f} documents/s, PDF and UBL each)")

    print(f"\npeak memory, {args.invoices // 10 * args.lines:,} lines vs {args.invoices * args.lines:,} lines "
          "(goal: within 10 %)")
    for fmt in ("csv", "xero", "quickbooks", "zip"):
        small = measure(lambda fmt=fmt: export(fmt, SMALL), 1)[1]
        big = peaks.get(fmt) or m
        print(f"{fmt:<12}{small:>8.1f} MiB vs {big:>6.1f} MiB: {abs(big - small) / small * 100:>5.1f} %")

    print("\nPDF rendering (goal: at least 20 invoices/s on two cores)")
    one = pdf_rate(200, 1)
    connection.close()
    two = pdf_rate(400, 2)
    print(f"1 process: {one:.1f} invoices/s; 2 processes: {two:.1f} invoices/s")


if __name__ == "__main__":
    main()
