"""Price lists and quotes. Money is ``Decimal``; every amount is rounded half-up to the currency's
minor unit per line, tax on the total, and totals always equal the sum of their lines."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agency.calendar import studio_today
from clients.models import Client, Currency, validate_country
from jobs.models import Complexity, Order, Service

MONEY = {"max_digits": 12, "decimal_places": 2}


def validate_iban(value: str) -> None:
    """ISO 13616: country, check digits, then the account; the mod-97 check must give 1."""
    compact = value.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum()):
        raise ValidationError("This is not an IBAN (two letters, two digits, then the account).")
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    if int(digits) % 97 != 1:
        raise ValidationError("This IBAN's check digits do not match: check it for a typo.")


def validate_logo(upload: Any) -> None:
    """A real PNG or JPEG of sensible size (it is decoded by reportlab when invoices are drawn)."""
    from PIL import Image, UnidentifiedImageError

    if upload.size > 2 * 1024 * 1024:
        raise ValidationError("The logo file is larger than 2 MB.")
    try:
        upload.seek(0)
        with Image.open(upload, formats=["PNG", "JPEG"]) as picture:
            if picture.width * picture.height > 16_000_000:
                raise ValidationError("The logo has more than 16 million pixels.")
            picture.verify()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValidationError("The logo must be a PNG or JPEG picture.") from exc
    finally:
        upload.seek(0)


class PriceList(models.Model):
    """Unit prices per service and complexity, volume tiers, turnaround multipliers, fees and the
    minimum order. One default list (no client) and optional per-client lists in their currency."""

    tenant_path = "client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    client = models.OneToOneField(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="price_list",
                                  help_text="Empty for the studio's default list.")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    volume_tiers = models.JSONField(default=list, blank=True,
                                    help_text='Discounts by image count: [{"min_images": 50, "percent": "10"}, …]')
    express_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.50"),
                                             validators=[MinValueValidator(Decimal("1"))])
    rush_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("2.00"),
                                          validators=[MinValueValidator(Decimal("1"))])
    revision_fee_per_image = models.DecimalField(**MONEY, default=Decimal("0.00"),
                                                 validators=[MinValueValidator(Decimal("0"))])
    minimum_order = models.DecimalField(**MONEY, default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))])
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                   validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
                                   help_text="Percent; only until the studio's billing profile is filled in, after "
                                             "which VAT follows the parties (billing/tax.py). Empty: the client's rate.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client__name", "name"]
        constraints = [models.UniqueConstraint(fields=["client"], condition=models.Q(client__isnull=True),
                                               name="one_default_price_list"),
                       models.UniqueConstraint(fields=["name"], condition=models.Q(client__isnull=True),
                                               name="default_price_list_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.client.name if self.client_id else 'default'}, {self.currency})"

    def clean(self) -> None:
        tiers = self.volume_tiers
        try:
            parsed = [(int(t["min_images"]), Decimal(str(t["percent"]))) for t in tiers]
        except (TypeError, KeyError, ValueError, ArithmeticError) as exc:
            raise ValidationError({"volume_tiers": 'Give tiers as [{"min_images": 50, "percent": "10"}].'}) from exc
        if any(n < 1 or not Decimal("0") <= p < Decimal("100") for n, p in parsed):
            raise ValidationError({"volume_tiers": "Each tier needs at least 1 image and a discount from 0 to 99 %."})
        if len({n for n, _ in parsed}) != len(parsed):
            raise ValidationError({"volume_tiers": "Two tiers start at the same image count."})
        if self.client_id and self.currency != self.client.currency:
            raise ValidationError({"currency": f"{self.client.name} is billed in {self.client.currency}."})

    def discount_percent(self, images: int) -> Decimal:
        best = Decimal("0")
        for tier in sorted(self.volume_tiers, key=lambda t: int(t["min_images"])):
            if images >= int(tier["min_images"]):
                best = Decimal(str(tier["percent"]))
        return best

    def multiplier(self, turnaround: str) -> Decimal:
        return {"express": self.express_multiplier, "rush": self.rush_multiplier}.get(turnaround, Decimal("1"))


class PriceRule(models.Model):
    tenant_path = "price_list__client"

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="rules")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    complexity = models.CharField(max_length=10, choices=Complexity.choices)
    unit_price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        ordering = ["service__position", "complexity"]
        constraints = [models.UniqueConstraint(fields=["price_list", "service", "complexity"], name="one_price_per_rule")]

    def __str__(self) -> str:
        return f"{self.service.name} ({self.complexity}): {self.unit_price}"


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    SUSPENDED = "suspended", "On hold"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class LineKind(models.TextChoices):
    SERVICE = "service", "Service"
    DISCOUNT = "discount", "Volume discount"
    SURCHARGE = "surcharge", "Turnaround surcharge"
    MINIMUM = "minimum", "Minimum order"
    CUSTOM = "custom", "Other"


# What a client may read: everything but drafts (clients never see drafts).
ANSWERABLE_OR_ANSWERED = ["sent", "suspended", "accepted", "declined", "expired", "withdrawn"]
OPEN_QUOTES = ["draft", "sent", "suspended"]
MAX_AMOUNT = Decimal("9999999999.99")  # what MONEY's 12 digits with 2 decimals hold


class Quote(models.Model):
    """Priced lines for an order with a promised delivery date. Prices are copied from the price list
    when drafted, so a later price change never alters a quote already made."""

    tenant_path = "order__client"
    client_visible_filter = {"status__in": ANSWERABLE_OR_ANSWERED}  # clients never see drafts

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="quotes")
    status = models.CharField(max_length=10, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    price_list_name = models.CharField(max_length=200, blank=True)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2)
    surcharge_multiplier = models.DecimalField(
        max_digits=4, decimal_places=2, null=True, blank=True,
        help_text="The turnaround multiplier the surcharge line follows (1: waived; empty: a quote from before).")
    minimum_order = models.DecimalField(**MONEY, default=Decimal("0"),
                                        help_text="Copied from the price list; the top-up line follows every edit.")
    net_total = models.DecimalField(**MONEY, default=Decimal("0"))
    tax_total = models.DecimalField(**MONEY, default=Decimal("0"))
    total = models.DecimalField(**MONEY, default=Decimal("0"))
    valid_until = models.DateTimeField(null=True, blank=True)
    promised_due_at = models.DateTimeField(null=True, blank=True)
    promise_note = models.CharField(max_length=500, blank=True)
    promise_pilot = models.CharField("pilot", max_length=300, blank=True,
                                     help_text="What the promise says about the order's pilot (jobs.production.pilots).")
    decline_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True, help_text="When the order was put on hold.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["order"], condition=models.Q(status__in=OPEN_QUOTES),
                                               name="one_open_quote_per_order")]
        indexes = [models.Index(fields=["status", "valid_until"])]

    def __str__(self) -> str:
        return f"Quote for {self.order.number}: {self.total} {self.currency} ({self.status})"


class QuoteLine(models.Model):
    tenant_path = "quote__order__client"
    client_visible_filter = {"quote__status__in": ANSWERABLE_OR_ANSWERED}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=LineKind.choices)
    description = models.CharField(max_length=200)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    complexity = models.CharField(max_length=10, choices=Complexity.choices, blank=True)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["quote", "position"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class RevisionCharge(models.Model):
    """A billable revision round, priced when it opened (the price list's revision fee per change
    item, in the client's currency) and kept as it was for invoicing."""

    tenant_path = "round__order__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    round = models.OneToOneField("jobs.RevisionRound", on_delete=models.PROTECT, related_name="charge")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    fee = models.DecimalField(**MONEY)
    items = models.PositiveIntegerField()
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Round {self.round.number}: {self.amount} {self.currency}"


class BillingProfile(models.Model):
    """The studio as seller: printed on every invoice and frozen on it at issue. One row, edited by
    the admin (Django admin, "Billing profile")."""

    legal_name = models.CharField(max_length=200)
    street = models.CharField("street and number", max_length=200)
    postcode = models.CharField(max_length=20)
    city = models.CharField(max_length=100)
    country = models.CharField(max_length=2, validators=[validate_country], help_text="ISO 3166 code, e.g. DE.")
    vat_number = models.CharField("VAT id", max_length=32, help_text="With its country prefix, e.g. DE123456789.")
    vat_rate = models.DecimalField("standard VAT rate", max_digits=5, decimal_places=2, default=Decimal("19.00"),
                                   validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
                                   help_text="Percent, the studio's country's standard rate: charged to clients in "
                                             "that country and to EU clients without a VAT id (billing/tax.py).")
    registration = models.CharField("company registration", max_length=100, blank=True,
                                    help_text="Register court and number, e.g. Amtsgericht Berlin HRB 12345.")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    bank_name = models.CharField(max_length=100, blank=True)
    iban = models.CharField("IBAN", max_length=34, validators=[validate_iban])
    bic = models.CharField("BIC", max_length=11, blank=True)
    logo = models.FileField(upload_to="billing/logo/", blank=True, validators=[validate_logo],
                            help_text="PNG or JPEG up to 2 MB, shown on invoices (about 45 × 18 mm).")
    footer = models.CharField(max_length=300, blank=True, help_text="A line at the foot of every invoice.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing profile"

    def __str__(self) -> str:
        return self.legal_name

    def snapshot(self) -> dict[str, str]:
        """What an invoice freezes of the seller, the logo by its stored name (the billing profile's, else the studio
        brand's, ``agency.brand``) and the brand's accent colour for the document's rule."""
        from agency import brand

        shown = brand.current()
        return {**{name: getattr(self, name) for name in SELLER_FIELDS}, "logo": self.logo.name or shown.logo,
                "accent": shown.accent}

    @classmethod
    def from_snapshot(cls, seller: dict[str, str]) -> BillingProfile:
        """The seller an issued document froze, as a profile again (a credit note follows its invoice's seller)."""
        return cls(**{name: seller.get(name, "") for name in SELLER_FIELDS}, logo=seller.get("logo", ""))


SELLER_FIELDS = ("legal_name", "street", "postcode", "city", "country", "vat_number", "registration", "email",
                 "phone", "bank_name", "iban", "bic", "footer")


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


SERIES = {DocumentKind.INVOICE: "INV", DocumentKind.CREDIT_NOTE: "CN"}


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PARTIALLY_PAID = "partially_paid", "Partly paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


OPEN_INVOICES = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)


class TaxCategory(models.TextChoices):
    """EN 16931 VAT category codes (UNCL5305) Loupe issues."""

    STANDARD = "S", "Standard rate"
    ZERO = "Z", "Zero rate"
    REVERSE_CHARGE = "AE", "Reverse charge (EU client with a VAT id)"


class DocumentCounter(models.Model):
    """The last number given in a series and year. Locked while a number is taken, in the issuing
    transaction: a failed issue rolls the counter back with it, so numbers have no gaps."""

    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="one_counter_per_series_year")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last}"


class Invoice(models.Model):
    """An invoice or a credit note. Drafts are edited; issuing freezes seller, buyer, lines and totals,
    takes the next number, and from then on the document never changes: corrections are credit notes
    and cancellation is ``void`` with a reason."""

    tenant_path = "client"
    # Clients read issued documents only (and only client admins: billing.permissions).
    client_visible_filter = {"number__gt": ""}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=12, choices=DocumentKind.choices, default=DocumentKind.INVOICE)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    number = models.CharField(max_length=20, blank=True, help_text="Given at issue; drafts have none.")
    year = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    sequence = models.PositiveIntegerField(null=True, blank=True, editable=False)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    tax_category = models.CharField(max_length=2, choices=TaxCategory.choices, default=TaxCategory.STANDARD)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    net_total = models.DecimalField(**MONEY, default=Decimal("0"))
    tax_total = models.DecimalField(**MONEY, default=Decimal("0"))
    total = models.DecimalField(**MONEY, default=Decimal("0"))
    paid_total = models.DecimalField(**MONEY, default=Decimal("0"), editable=False)
    credited_total = models.DecimalField(**MONEY, default=Decimal("0"), editable=False,
                                         help_text="What credit notes took back from this invoice (with tax).")
    credited_invoice = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="credit_notes", help_text="For a credit note: the invoice.")
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    seller = models.JSONField(default=dict, blank=True, editable=False, help_text="Frozen at issue.")
    buyer = models.JSONField(default=dict, blank=True, editable=False, help_text="Frozen at issue.")
    note = models.CharField(max_length=500, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was credited or voided.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-issue_date", "-sequence", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["number"], condition=~models.Q(number=""), name="invoice_number_unique"),
        ]
        indexes = [models.Index(fields=["client", "status"]), models.Index(fields=["issue_date"]),
                   models.Index(fields=["status", "due_date"])]

    def __str__(self) -> str:
        return self.number or f"Draft {self.get_kind_display().lower()} for {self.client_id}"

    @property
    def balance(self) -> Decimal:
        """What the client still owes: total − payments − credit notes (0 for drafts and void)."""
        if self.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID) or self.kind != DocumentKind.INVOICE:
            return Decimal("0")
        return self.total - self.paid_total - self.credited_total

    @property
    def is_overdue(self) -> bool:
        return (self.status in OPEN_INVOICES and self.due_date is not None
                and self.due_date < studio_today() and self.balance > 0)


class LineSource(models.TextChoices):
    QUOTE = "quote", "Accepted quote"
    REVISION = "revision", "Billable revision round"
    EXTRA = "extra", "Extra charge"
    CREDIT = "credit", "Credit"


class InvoiceLine(models.Model):
    """One line, naming its order and PO number. ``work`` keys the work it bills (a quote, a revision
    round) so that work is invoiced once; voiding the invoice releases it."""

    tenant_path = "invoice__client"
    client_visible_filter = {"invoice__number__gt": ""}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=10, choices=LineSource.choices)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines")
    po_number = models.CharField("PO number", max_length=64, blank=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    work = models.CharField(max_length=60, blank=True, help_text="quote:<id> or revision:<id>; empty for extras.")
    released = models.BooleanField(default=False, help_text="The invoice was voided: the work may be billed again.")

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [models.UniqueConstraint(fields=["work"], condition=~models.Q(work="") & models.Q(released=False),
                                               name="work_invoiced_once")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class PaymentMethod(models.TextChoices):
    TRANSFER = "transfer", "Bank transfer"
    CARD = "card", "Card"
    CASH = "cash", "Cash"
    OTHER = "other", "Other"


class Payment(models.Model):
    tenant_path = "invoice__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    received_on = models.DateField()
    method = models.CharField(max_length=10, choices=PaymentMethod.choices, default=PaymentMethod.TRANSFER)
    reference = models.CharField(max_length=140, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["invoice", "received_on", "created_at"]

    def __str__(self) -> str:
        return f"{self.amount} on {self.received_on}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "Invoice lines (CSV)"
    XERO = "xero", "Xero sales invoices (CSV)"
    QUICKBOOKS = "quickbooks", "QuickBooks Online invoices (CSV)"
    ZIP = "zip", "Every PDF and UBL file (ZIP)"


class ExportStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Export(models.Model):
    """A finance export built in the background (the page shows its progress); the API streams the
    same content directly."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    format = models.CharField(max_length=12, choices=ExportFormat.choices)
    date_from = models.DateField()
    date_to = models.DateField()
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.BUILDING)
    total = models.PositiveIntegerField(default=0, help_text="Documents in the range.")
    done = models.PositiveIntegerField(default=0, help_text="Documents written so far.")
    file = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False,
                                         help_text="A worker builds it until then; after that another may take over.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_format_display()} {self.date_from}–{self.date_to}"
