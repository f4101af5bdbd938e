"""Finance exports: parsed back with the csv module (formula cells neutralised), Xero and QuickBooks
columns, the ZIP of PDF and UBL files, the streamed API answer and the page's background export."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing import exports, invoicing
from billing.models import Export, ExportStatus
from tests.billing.invoicing_setup import address, billing_profile, completed_order, issued_invoice, ubl_totals
from tests.conftest import api_for, web_for
from tests.factories import default_price_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(cast):
    """An invoice with a formula-looking line and a discount, a partial credit note, a void invoice, a
    draft (never exported) and another client's invoice."""
    default_price_list()
    billing_profile()
    address(cast.acme, name="=cmd|' /C calc'!A0 Jewels")
    address(cast.globex, country="FR", vat="FR12345678901", tax_rate="0")
    order = completed_order(cast.acme, cast.account_manager, po="+PO-1")
    [draft] = invoicing.invoice_generate(by=cast.finance, order=order)
    invoicing.invoice_line_add(invoice=draft, by=cast.finance, description="@SUM(A1) handling", quantity=Decimal("1"),
                               unit_price=Decimal("-2.50"))
    first = invoicing.invoice_issue(invoice=draft, by=cast.finance)
    note = invoicing.invoice_credit(invoice=first, by=cast.finance, reason="-Redone", amount=Decimal("10.00"))
    void = issued_invoice(cast.acme, cast, title="Void")
    invoicing.invoice_void(invoice=void, by=cast.finance, reason="Wrong company")
    invoicing.invoice_generate(by=cast.finance, order=completed_order(cast.acme, cast.account_manager, title="Draft"))
    other = issued_invoice(cast.globex, cast)
    today = invoicing.studio_today()
    return {"first": first, "note": note, "void": void, "other": other, "from": today, "to": today,
            "finance": cast.finance}


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _export(fmt: str, books) -> bytes:
    return b"".join(exports.stream(fmt, books["from"], books["to"], by=books["finance"]))


def test_lines_csv_parses_back_with_every_document_and_no_formula(books):
    rows = _rows(_export("csv", books))
    numbers = {row["number"] for row in rows}
    assert numbers == {books["first"].number, books["note"].number, books["void"].number, books["other"].number}
    first = [row for row in rows if row["number"] == books["first"].number]
    assert sum(Decimal(row["net_amount"]) for row in first) == books["first"].net_total
    note = [row for row in rows if row["number"] == books["note"].number]
    assert [Decimal(row["net_amount"]) for row in note] == [Decimal("-10.00")]
    assert note[0]["credits_invoice"] == books["first"].number
    assert {row["status"] for row in rows if row["number"] == books["void"].number} == {"void"}
    # text that a spreadsheet would run is neutralised; negative amounts stay numbers
    assert first[0]["client"] == "'=cmd|' /C calc'!A0 Jewels" and first[0]["po_number"] == "'+PO-1"
    assert any(row["description"] == "'@SUM(A1) handling" for row in first)
    assert any(row["unit_price"] == "-2.50" for row in first)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@")) or value.startswith("'"), value


def test_xero_rows_follow_the_import_template(books):
    rows = _rows(_export("xero", books))
    assert list(rows[0])[:3] == ["*ContactName", "EmailAddress", "POAddressLine1"]
    assert books["void"].number not in {row["*InvoiceNumber"] for row in rows}
    first = [row for row in rows if row["*InvoiceNumber"] == books["first"].number]
    total = sum(Decimal(r["*Quantity"]) * Decimal(r["*UnitAmount"]) for r in first)
    assert total == books["first"].net_total
    assert all(Decimal(r["*UnitAmount"]) >= 0 for r in rows)  # a discount is a negative quantity
    assert first[0]["*InvoiceDate"] == books["first"].issue_date.strftime("%d/%m/%Y")
    assert first[0]["*TaxType"] == "19% (VAT on Income)" and first[0]["*AccountCode"] == "200"
    note = [row for row in rows if row["*InvoiceNumber"] == books["note"].number]
    assert sum(Decimal(r["*Quantity"]) * Decimal(r["*UnitAmount"]) for r in note) == Decimal("-10.00")
    other = [row for row in rows if row["*InvoiceNumber"] == books["other"].number]
    assert other[0]["*TaxType"] == "Zero Rated EC Services"


def test_quickbooks_rows_are_invoices_only(books):
    rows = _rows(_export("quickbooks", books))
    assert {row["*InvoiceNo"] for row in rows} == {books["first"].number, books["other"].number}
    first = [row for row in rows if row["*InvoiceNo"] == books["first"].number]
    assert sum(Decimal(r["*ItemAmount"]) for r in first) == books["first"].net_total
    assert first[0]["TaxRate"] == "19%" and first[0]["Taxable"] == "Y"


def test_zip_holds_every_pdf_and_ubl_file(books):
    archive = zipfile.ZipFile(io.BytesIO(_export("zip", books)))
    names = set(archive.namelist())
    for doc, folder in ((books["first"], "invoices"), (books["note"], "credit-notes"), (books["other"], "invoices")):
        assert f"{folder}/{doc.number}.pdf" in names and f"{folder}/{doc.number}.xml" in names
        assert archive.read(f"{folder}/{doc.number}.pdf").startswith(b"%PDF")
        assert ubl_totals(archive.read(f"{folder}/{doc.number}.xml"))["PayableAmount"] == doc.total
    assert archive.testzip() is None


def test_the_api_streams_the_export(books):
    url = f"/api/v1/exports/invoices/?from={books['from']}&to={books['to']}&format=csv"
    response = api_for(books["first"].issued_by).get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv") and ".csv" in response["Content-Disposition"]
    assert len(_rows(b"".join(response.streaming_content))) > 3
    bad = api_for(books["first"].issued_by).get(f"/api/v1/exports/invoices/?from={books['to']}&to=2000-01-01&format=csv")
    assert bad.status_code == 400 and "ends before it starts" in bad.json()["detail"]
    assert api_for(books["first"].issued_by).get(
        f"/api/v1/exports/invoices/?from={books['from']}&to={books['to']}&format=pdf").status_code == 400


def test_the_export_page_builds_in_the_background_with_progress(books, cast, django_capture_on_commit_callbacks):
    web = web_for(cast.finance)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = web.post("/invoices/exports/", {"format": "xero", "date_from": books["from"], "date_to": books["to"]})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.status == ExportStatus.BUILDING and export.total == 4 and export.done == 0
    assert "Writing 0 of 4" in web.get("/invoices/exports/list/").content.decode()
    assert callbacks  # the build is enqueued after commit
    exports.export_build(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.READY and export.done == 4 and export.size > 0
    page = web.get("/invoices/exports/").content.decode()
    assert f"/invoices/exports/{export.pk}/download/" in page
    download = web.get(f"/invoices/exports/{export.pk}/download/")
    assert download.status_code == 302
    body = b"".join(web.get(download["Location"]).streaming_content)
    assert _rows(body)[0]["*InvoiceNumber"]
    refused = web.post("/invoices/exports/", {"format": "csv", "date_from": books["to"], "date_to": "2000-01-01"})
    assert refused.status_code == 400 and "ends before it starts" in refused.content.decode()
    assert Export.objects.count() == 1


def _export_row(books, cast) -> Export:
    return exports.export_start(by=cast.finance, fmt="csv", date_from=books["from"], date_to=books["to"])


def test_an_export_is_built_by_one_worker_at_a_time(books, cast, django_capture_on_commit_callbacks):
    """A second delivery of the task while the first builds finds the export taken and writes nothing."""
    with django_capture_on_commit_callbacks(execute=False):
        export = _export_row(books, cast)
    attempt = exports._claim(export.pk)
    assert attempt == 1
    assert exports.export_build(export_id=export.pk) == "nothing to do"
    export.refresh_from_db()
    assert export.status == ExportStatus.BUILDING and export.attempts == 1 and export.file == ""


def test_a_build_taken_over_after_its_lease_leaves_the_newer_file(books, cast, django_capture_on_commit_callbacks):
    """A worker that stalled past its lease finds another finished the export: it keeps nothing and
    never overwrites the file that stands (each build writes a key of its own)."""
    from django.core.files.storage import default_storage

    with django_capture_on_commit_callbacks(execute=False):
        export = _export_row(books, cast)
    assert exports._claim(export.pk) == 1  # the first worker, which then stalls
    with time_machine.travel(timezone.now() + exports.LEASE + timedelta(minutes=1)):
        key = exports.export_build(export_id=export.pk)  # the second takes over and finishes
    export.refresh_from_db()
    assert export.status == ExportStatus.READY and export.file == key and export.attempts == 2
    stale = Export.objects.filter(pk=export.pk, attempts=1, status__in=exports.EXPORTS.sources("finish"))
    assert exports.EXPORTS.claim(stale, "finish", file="late.csv") == 0  # the first cannot record its file
    export.refresh_from_db()
    assert export.file == key and default_storage.exists(key)


def test_an_export_is_read_as_its_creator_may_read_it(books, cast, django_capture_on_commit_callbacks):
    """A creator who is no longer finance gets a failed export with the reason, and no file."""
    from agency.models import Role

    with django_capture_on_commit_callbacks(execute=False):
        export = _export_row(books, cast)
    type(cast.finance).objects.filter(pk=cast.finance.pk).update(role=Role.ACCOUNT_MANAGER)
    assert exports.export_build(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and export.file == "" and "Only finance" in export.reason


def test_only_finance_streams_an_export(books, cast):
    from agency.exceptions import NotPermitted

    for person in (cast.account_manager, cast.acme_admin, cast.retoucher):
        with pytest.raises(NotPermitted):
            b"".join(exports.stream("csv", books["from"], books["to"], by=person))


def test_a_build_that_fails_three_times_stops_with_a_reason(books, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = _export_row(books, cast)
    Export.objects.filter(pk=export.pk).update(attempts=exports.MAX_ATTEMPTS)
    assert exports.export_build(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and "three times" in export.reason and export.claimed_until is None


def test_an_empty_range_is_refused_with_the_reason_on_the_page_and_in_the_api(books, cast):
    """A file of no documents is never what the accountant asked for: say so, make nothing."""
    empty_from, empty_to = books["from"] - timedelta(days=40), books["from"] - timedelta(days=35)
    web = web_for(cast.finance)
    refused = web.post("/invoices/exports/", {"format": "csv", "date_from": empty_from, "date_to": empty_to})
    assert refused.status_code == 400
    assert "No invoice or credit note was issued from" in refused.content.decode()
    assert Export.objects.count() == 0
    api = api_for(cast.finance).get(f"/api/v1/exports/invoices/?from={empty_from}&to={empty_to}&format=csv")
    assert api.status_code == 400 and "nothing to export" in api.json()["detail"]
    # the range's last day holds documents: one day is enough
    assert exports.documents_to_export(cast.finance, empty_from, books["from"]) == 4


def test_the_export_page_starts_with_this_month_so_far_and_says_what_each_file_holds(cast):
    with time_machine.travel(timezone.make_aware(timezone.datetime(2027, 3, 17, 12, 0)), tick=False):
        page = web_for(cast.finance).get("/invoices/exports/")
    form = page.context["form"]
    assert (str(form.initial["date_from"]), str(form.initial["date_to"])) == ("2027-03-01", "2027-03-17")
    text = page.content.decode()
    assert "docs/billing.md" not in text and "QuickBooks imports no credit notes" in text
