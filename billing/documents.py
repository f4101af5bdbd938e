"""An issued invoice or credit note as files: a PDF for people and a UBL 2.1 e-invoice (EN 16931) for
software. Both are drawn from the frozen document alone (its seller, buyer, lines and totals), so a
later edit of the studio's or the client's details never changes a file.

The PDF uses reportlab (wheels only; the standard Helvetica, so no font is embedded). EUR invoices
carry an EPC "GiroCode" QR (EPC069-12: a SEPA credit transfer of the balance to the studio's IBAN with
the invoice number as the reference) that banking apps scan.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import segno
from django.core.files.storage import default_storage
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from agency.calendar import studio_zone
from agency.labels import po_label
from billing import tax
from billing.models import DocumentKind, Invoice, InvoiceLine, TaxCategory
from billing.pricing import MINOR_UNITS

INK, MUTED, RULE, ACCENT = colors.HexColor("#1d2330"), colors.HexColor("#5b6472"), colors.HexColor("#d5d9e0"), \
    colors.HexColor("#7a5f2f")
BASE = ParagraphStyle("base", fontName="Helvetica", fontSize=9, leading=12, textColor=INK)
SMALL = ParagraphStyle("small", parent=BASE, fontSize=8, leading=10, textColor=MUTED)
RIGHT = ParagraphStyle("right", parent=BASE, alignment=TA_RIGHT)
TITLE = ParagraphStyle("title", parent=BASE, fontName="Helvetica-Bold", fontSize=18, leading=22)
HEAD = ParagraphStyle("head", parent=BASE, fontName="Helvetica-Bold")
TAX_NOTES = tax.NOTES  # the legal note of each VAT treatment, written once (billing/tax.py)


def money(amount: Decimal, currency: str) -> str:
    places = MINOR_UNITS.get(currency, 2)
    return f"{amount:,.{places}f} {currency}"


def quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def title(document: Invoice) -> str:
    return f"{'Invoice' if document.kind == DocumentKind.INVOICE else 'Credit note'} {document.number}"


def filename(document: Invoice, ext: str) -> str:
    return f"{document.number or 'draft'}.{ext}"


# PDF -------------------------------------------------------------------------------------------------

def epc_payload(document: Invoice) -> str | None:
    """The EPC069-12 QR payload of an EUR invoice (its total, as issued), else None."""
    seller = document.seller
    due = document.total
    if (document.kind != DocumentKind.INVOICE or document.currency != "EUR" or not seller.get("iban")
            or not Decimal("0.01") <= due <= Decimal("999999999.99")):
        return None
    return "\n".join(["BCD", "002", "1", "SCT", seller.get("bic", ""), seller["legal_name"][:70],
                      seller["iban"].replace(" ", "").upper(), f"EUR{due:.2f}", "", "", document.number[:140]])


class QrCode(Flowable):
    """A QR code drawn as filled runs of dark modules (segno encodes; EPC069-12 asks for level M)."""

    def __init__(self, payload: str, size: float = 32 * mm) -> None:
        super().__init__()
        self.matrix = segno.make(payload, error="m", micro=False, boost_error=False).matrix
        self.width = self.height = size

    def draw(self) -> None:
        count = len(self.matrix) + 8  # the quiet zone: four modules on each side
        module = self.width / count
        canvas = self.canv
        canvas.setFillColor(colors.black)
        for y, row in enumerate(self.matrix):
            x = 0
            while x < len(row):
                if row[x]:
                    start = x
                    while x < len(row) and row[x]:
                        x += 1
                    canvas.rect((start + 4) * module, self.height - (y + 5) * module, (x - start) * module, module,
                                stroke=0, fill=1)
                x += 1


def logo_data(name: str) -> bytes | None:
    """The studio's logo file as it was when the document was issued (a new upload gets a new name,
    so the file an issued document names is never replaced), or None."""
    if not name:
        return None
    try:
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def logo_image(data: bytes | None) -> Any:
    """A fresh flowable for the logo (flowables keep layout state: one per document), or None."""
    if not data:
        return None
    try:
        image = Image(io.BytesIO(data))
        scale = min(45 * mm / image.imageWidth, 18 * mm / image.imageHeight)
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        image.hAlign = "LEFT"
        return image
    except Exception:  # a broken logo file must not stop an invoice; the name is printed instead
        return None


def _accent(seller: dict[str, str]) -> Any:
    """The studio's accent as it was when the document was issued (``agency.brand``), else Loupe's."""
    value = seller.get("accent", "")
    return colors.HexColor(value) if re.fullmatch(r"#[0-9A-Fa-f]{6}", value or "") else ACCENT


def _p(text: str, style: ParagraphStyle = BASE) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _address(party: dict[str, str], *, with_vat: bool = True, with_name: bool = True) -> str:
    lines = [(party.get("legal_name") or party.get("name", "")) if with_name else "", party.get("street", ""),
             f"{party.get('postcode', '')} {party.get('city', '')}".strip(), party.get("country", "")]
    if with_vat and party.get("vat_number"):
        lines.append(f"VAT id {party['vat_number']}")
    return "\n".join(line for line in lines if line)


def supply(document: Invoice, lines: list[Any]) -> tuple[date, date] | None:
    """When the work was supplied, which a German invoice must state (UStG §14; EN 16931 BT-72 or BG-14):
    the document's period (a monthly invoice), else the days its orders were completed, in the studio's
    zone (one day: the date of supply; several: the period from the first to the last), else the issue
    date. A credit note states the supply it corrects the same way."""
    if document.period_start and document.period_end:
        return document.period_start, document.period_end
    zone = studio_zone()
    days = sorted({timezone.localtime(line.order.completed_at, zone).date() for line in lines
                   if line.order is not None and getattr(line.order, "completed_at", None)})
    if days:
        return days[0], days[-1]
    return (document.issue_date, document.issue_date) if document.issue_date else None


def supply_words(span: tuple[date, date]) -> tuple[str, str]:
    start, end = span
    if start == end:
        return "Supplied", f"{start:%d %b %Y}"
    return "Period", f"{start:%d %b} – {end:%d %b %Y}" if start.year == end.year else f"{start:%d %b %Y} – {end:%d %b %Y}"


def render_pdf(document: Invoice, lines: Iterable[InvoiceLine] | None = None, logo: Any = None) -> bytes:
    """The document as an A4 PDF."""
    lines = list(document.lines.select_related("order") if lines is None else lines)
    seller, buyer, cur = document.seller, document.buyer, document.currency
    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=title(document), author=seller.get("legal_name", ""),
                            invariant=True,  # no creation time or random id: the same document, the same bytes
                            subject=f"{title(document)} for {buyer.get('name', '')}")
    story: list[Any] = []
    head_left = [logo] if logo is not None else [_p(seller.get("legal_name", ""), TITLE)]
    head_left.append(_p(_address(seller, with_name=logo is not None), SMALL))
    contact = " · ".join(x for x in (seller.get("email"), seller.get("phone")) if x)
    if contact:
        head_left.append(_p(contact, SMALL))
    meta = [["Number", document.number], ["Date", f"{document.issue_date:%d %b %Y}" if document.issue_date else "draft"]]
    if document.due_date:
        meta.append(["Due", f"{document.due_date:%d %b %Y}"])
    span = supply(document, lines)
    if span:
        meta.append(list(supply_words(span)))
    if document.credited_invoice_id:
        meta.append(["Credits", document.credited_invoice.number])
    pos = sorted({line.po_number for line in lines if line.po_number})
    if pos:
        meta.append(["Your PO", ", ".join(pos)])
    head_right = [_p(title(document).split(" ")[0] if document.kind == DocumentKind.INVOICE else "Credit note", TITLE),
                  Table([[_p(k, SMALL), _p(v, HEAD)] for k, v in meta], colWidths=[22 * mm, 50 * mm],
                        style=[("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])]
    story.append(Table([[head_left, head_right]], colWidths=[102 * mm, 72 * mm],
                       style=[("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [Spacer(1, 8 * mm), _p("Bill to", SMALL), _p(_address(buyer)), Spacer(1, 7 * mm)]

    # Plain strings in the cells (a Paragraph only where a description must wrap): a table of strings
    # lays out several times faster, which matters when an export renders thousands of documents.
    rows: list[list[Any]] = [["Description", "Order · PO", "Qty", "Unit price", "Amount"]]
    for line in lines:
        ref = "\n".join(x for x in (line.order.number if line.order else "", po_label(line.po_number)) if x)
        description = line.description if len(line.description) <= 48 else _p(line.description)
        rows.append([description, ref, quantity(line.quantity), money(line.unit_price, cur), money(line.amount, cur)])
    table = Table(rows, colWidths=[80 * mm, 30 * mm, 14 * mm, 25 * mm, 25 * mm], repeatRows=1)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 9, 11), ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                               ("FONT", (1, 1), (1, -1), "Helvetica", 7.5, 9), ("TEXTCOLOR", (1, 1), (1, -1), MUTED),
                               ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9, 11), ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                               ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK), ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, -1), 0),
                               ("RIGHTPADDING", (-1, 0), (-1, -1), 0)]))
    story.append(table)

    rate = f"{document.tax_rate.normalize():f}"
    # The document as issued: payments and credit notes come later and never change it (the invoice
    # page and the API show the balance).
    totals = [["Net", money(document.net_total, cur)], [f"VAT {rate} %", money(document.tax_total, cur)],
              ["Total", money(document.total, cur)]]
    total_table = Table([[_p(k, HEAD if k == "Total" else BASE), _p(v, RIGHT)] for k, v in totals],
                        colWidths=[35 * mm, 39 * mm], hAlign="RIGHT")
    total_table.setStyle(TableStyle([("LINEABOVE", (0, 2), (-1, 2), 0.8, INK), ("RIGHTPADDING", (-1, 0), (-1, -1), 0)]))
    story += [Spacer(1, 3 * mm), total_table, Spacer(1, 6 * mm)]

    notes = []
    if TAX_NOTES.get(document.tax_category):
        notes.append(_p(TAX_NOTES[document.tax_category]))
    if document.kind == DocumentKind.CREDIT_NOTE:
        notes.append(_p(f"This credit note corrects invoice {document.credited_invoice.number}: {document.reason}"))
    if document.note:
        notes.append(_p(document.note))
    story += notes
    if document.kind == DocumentKind.INVOICE:
        bank = [f"Please pay {money(document.total, cur)} by "
                f"{document.due_date:%d %b %Y}" if document.due_date else "",
                f"to {seller.get('legal_name', '')}", f"IBAN {seller.get('iban', '')}"
                + (f" · BIC {seller['bic']}" if seller.get("bic") else "")
                + (f" · {seller['bank_name']}" if seller.get("bank_name") else ""),
                f"Reference: {document.number}"]
        payment = [_p("Payment", HEAD), _p("\n".join(x for x in bank if x))]
        payload = epc_payload(document)
        cells = [[payment, [QrCode(payload), _p("Scan to pay (GiroCode)", SMALL)]]] if payload else [[payment, ""]]
        story += [Spacer(1, 4 * mm), KeepTogether(Table(cells, colWidths=[134 * mm, 40 * mm], style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("BOX", (0, 0), (-1, -1), 0.5, RULE), ("LEFTPADDING", (0, 0), (0, 0), 4 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 3 * mm), ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm)]))]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(MUTED)
        parts = [seller.get("legal_name", ""), seller.get("registration", ""), f"VAT id {seller.get('vat_number', '')}",
                 seller.get("footer", "")]
        canvas.drawString(18 * mm, 10 * mm, " · ".join(p for p in parts if p)[:170])
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{document.number} · page {doc.page}")
        canvas.setStrokeColor(_accent(seller))
        canvas.setLineWidth(2)
        canvas.line(0, A4[1] - 4, A4[0], A4[1] - 4)
        canvas.restoreState()

    pdf.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def pdf_for(document: Invoice) -> bytes:
    return render_pdf(document, logo=logo_image(logo_data(document.seller.get("logo", ""))))


# UBL 2.1 (EN 16931) ----------------------------------------------------------------------------------

NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ET.register_namespace("cac", NS["cac"])
ET.register_namespace("cbc", NS["cbc"])
CUSTOMIZATION = "urn:cen.eu:en16931:2017"
EXEMPTION = {TaxCategory.REVERSE_CHARGE: ("VATEX-EU-AE", "Reverse charge")}


def _amount(value: Decimal, currency: str) -> str:
    return f"{value:.{MINOR_UNITS.get(currency, 2)}f}"


class _Builder:
    def __init__(self, root: ET.Element, currency: str) -> None:
        self.root, self.currency = root, currency

    def cbc(self, parent: ET.Element, name: str, text: Any, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{NS['cbc']}}}{name}", attrs)
        el.text = str(text)
        return el

    def money(self, parent: ET.Element, name: str, value: Decimal) -> ET.Element:
        return self.cbc(parent, name, _amount(value, self.currency), currencyID=self.currency)

    def cac(self, parent: ET.Element, name: str) -> ET.Element:
        return ET.SubElement(parent, f"{{{NS['cac']}}}{name}")


def _party(b: _Builder, parent: ET.Element, party: dict[str, str], *, seller: bool) -> None:
    node = b.cac(b.cac(parent, "AccountingSupplierParty" if seller else "AccountingCustomerParty"), "Party")
    name = party.get("legal_name") or party.get("name", "")
    b.cbc(b.cac(node, "PartyName"), "Name", name)
    address = b.cac(node, "PostalAddress")
    b.cbc(address, "StreetName", party.get("street", ""))
    b.cbc(address, "CityName", party.get("city", ""))
    b.cbc(address, "PostalZone", party.get("postcode", ""))
    b.cbc(b.cac(address, "Country"), "IdentificationCode", party.get("country", ""))
    if party.get("vat_number"):
        scheme = b.cac(node, "PartyTaxScheme")
        b.cbc(scheme, "CompanyID", party["vat_number"].replace(" ", ""))
        b.cbc(b.cac(scheme, "TaxScheme"), "ID", "VAT")
    legal = b.cac(node, "PartyLegalEntity")
    b.cbc(legal, "RegistrationName", name)
    if seller and party.get("registration"):
        b.cbc(legal, "CompanyLegalForm", party["registration"])
    if party.get("email"):
        b.cbc(b.cac(node, "Contact"), "ElectronicMail", party["email"])


def _tax_category(b: _Builder, parent: ET.Element, name: str, document: Invoice, *, reason: bool) -> None:
    node = b.cac(parent, name)
    b.cbc(node, "ID", document.tax_category)
    b.cbc(node, "Percent", f"{document.tax_rate:.2f}")
    if reason and document.tax_category in EXEMPTION:
        code, text = EXEMPTION[document.tax_category]
        b.cbc(node, "TaxExemptionReasonCode", code)
        b.cbc(node, "TaxExemptionReason", text)
    b.cbc(b.cac(node, "TaxScheme"), "ID", "VAT")


def render_ubl(document: Invoice, lines: Iterable[InvoiceLine] | None = None) -> bytes:
    """The document as a UBL 2.1 ``Invoice`` or ``CreditNote`` following EN 16931. Figures are the
    stored ones: line amounts, their sum, VAT on that sum, total. A negative line (a discount) goes
    out as a negative quantity at a positive price (BR-27: a price is never negative)."""
    lines = list(document.lines.select_related("order") if lines is None else lines)
    invoice = document.kind == DocumentKind.INVOICE
    tag = "Invoice" if invoice else "CreditNote"
    root = ET.Element(f"{{{NS[tag]}}}{tag}")
    b = _Builder(root, document.currency)
    b.cbc(root, "CustomizationID", CUSTOMIZATION)
    b.cbc(root, "ID", document.number)
    b.cbc(root, "IssueDate", document.issue_date.isoformat())
    if invoice and document.due_date:
        b.cbc(root, "DueDate", document.due_date.isoformat())
    b.cbc(root, "InvoiceTypeCode" if invoice else "CreditNoteTypeCode", "380" if invoice else "381")
    notes = [document.note] + ([document.reason] if not invoice else [])
    for note in filter(None, notes):
        b.cbc(root, "Note", note)
    b.cbc(root, "DocumentCurrencyCode", document.currency)
    pos = sorted({line.po_number for line in lines if line.po_number})
    span = supply(document, lines)
    if span and span[0] != span[1]:  # BG-14, the invoicing period
        period = b.cac(root, "InvoicePeriod")
        b.cbc(period, "StartDate", span[0].isoformat())
        b.cbc(period, "EndDate", span[1].isoformat())
    if len(pos) == 1:
        b.cbc(b.cac(root, "OrderReference"), "ID", pos[0])
    if not invoice:
        ref = b.cac(b.cac(root, "BillingReference"), "InvoiceDocumentReference")
        b.cbc(ref, "ID", document.credited_invoice.number)
        b.cbc(ref, "IssueDate", document.credited_invoice.issue_date.isoformat())
    _party(b, root, document.seller, seller=True)
    _party(b, root, document.buyer, seller=False)
    if span and span[0] == span[1]:  # BT-72, the actual delivery date
        b.cbc(b.cac(root, "Delivery"), "ActualDeliveryDate", span[0].isoformat())
    if invoice and document.seller.get("iban"):
        means = b.cac(root, "PaymentMeans")
        b.cbc(means, "PaymentMeansCode", "58" if document.currency == "EUR" else "30")
        b.cbc(means, "PaymentID", document.number)
        account = b.cac(means, "PayeeFinancialAccount")
        b.cbc(account, "ID", document.seller["iban"].replace(" ", "").upper())
        b.cbc(account, "Name", document.seller.get("legal_name", ""))
        if document.seller.get("bic"):
            b.cbc(b.cac(account, "FinancialInstitutionBranch"), "ID", document.seller["bic"])
    terms = (f"Payment due by {document.due_date:%d %B %Y}." if invoice and document.due_date
             else f"Credited against invoice {document.credited_invoice.number}." if not invoice else "")
    if terms:
        b.cbc(b.cac(root, "PaymentTerms"), "Note", terms)
    tax_total = b.cac(root, "TaxTotal")
    b.money(tax_total, "TaxAmount", document.tax_total)
    subtotal = b.cac(tax_total, "TaxSubtotal")
    b.money(subtotal, "TaxableAmount", document.net_total)
    b.money(subtotal, "TaxAmount", document.tax_total)
    _tax_category(b, subtotal, "TaxCategory", document, reason=True)
    totals = b.cac(root, "LegalMonetaryTotal")
    b.money(totals, "LineExtensionAmount", document.net_total)
    b.money(totals, "TaxExclusiveAmount", document.net_total)
    b.money(totals, "TaxInclusiveAmount", document.total)
    b.money(totals, "PayableAmount", document.total)
    for index, line in enumerate(lines, start=1):
        node = b.cac(root, "InvoiceLine" if invoice else "CreditNoteLine")
        b.cbc(node, "ID", index)
        sign = -1 if line.amount < 0 or line.unit_price < 0 else 1
        b.cbc(node, "InvoicedQuantity" if invoice else "CreditedQuantity", quantity(line.quantity * sign), unitCode="C62")
        b.money(node, "LineExtensionAmount", line.amount)
        item = b.cac(node, "Item")
        ref = " · ".join(x for x in (f"Order {line.order.number}" if line.order_id else "",
                                     po_label(line.po_number)) if x)
        if ref:
            b.cbc(item, "Description", ref)
        b.cbc(item, "Name", line.description[:100])
        _tax_category(b, item, "ClassifiedTaxCategory", document, reason=False)
        b.money(b.cac(node, "Price"), "PriceAmount", abs(line.unit_price))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)



def file_response(document: Invoice, kind: str) -> Any:
    """The PDF (``kind="pdf"``) or UBL file of an issued document as a download (pages and API)."""
    from django.http import HttpResponse

    from agency.exceptions import InvalidTransition
    from agency.uploads import content_disposition

    if not document.number:
        raise InvalidTransition("A draft has no document yet; issue it first.")
    if kind == "pdf":
        body, content_type, ext = pdf_for(document), "application/pdf", "pdf"
    else:
        body, content_type, ext = render_ubl(document), "application/xml", "xml"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename(document, ext))
    response["Cache-Control"] = "private, no-store"
    return response
