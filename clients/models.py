"""Client companies, their users' seats, and their versioned style guides."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agency.models import HEX_COLOUR, studio_time_zone, validate_time_zone

hex_colour = HEX_COLOUR  # one colour rule (agency.models), kept under this name for the migrations


class Currency(models.TextChoices):
    EUR = "EUR", "Euro (EUR)"
    USD = "USD", "US dollar (USD)"
    GBP = "GBP", "Pound sterling (GBP)"
    CHF = "CHF", "Swiss franc (CHF)"
    JPY = "JPY", "Japanese yen (JPY)"
    AED = "AED", "UAE dirham (AED)"
    HKD = "HKD", "Hong Kong dollar (HKD)"


class Invoicing(models.TextChoices):
    PER_ORDER = "per_order", "One invoice per order, when it completes"
    MONTHLY = "monthly", "One invoice per month, on the 1st"


def validate_country(value: str) -> None:
    from clients.countries import CODES

    if value not in CODES:
        raise ValidationError("Give the ISO 3166 country code in two capital letters, e.g. DE or US.")


class Client(models.Model):
    """A company that buys retouching, with its contract terms."""

    tenant_path = "pk"
    # The contract terms the studio edits, in form order (the page form and the API share this list).
    TERMS_FIELDS = ("name", "billing_email", "vat_number", "billing_street", "billing_postcode", "billing_city",
                    "billing_country", "currency", "time_zone", "tax_rate", "payment_terms_days", "invoicing",
                    "pay_before_download", "free_revision_rounds", "pilot_size", "auto_approve_days", "keep_files_days",
                    "keep_deliveries_days", "legal_hold", "account_manager", "notes", "is_active")
    BILLING_ADDRESS = ("billing_street", "billing_postcode", "billing_city", "billing_country")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    billing_email = models.EmailField(blank=True)
    vat_number = models.CharField("VAT number", max_length=32, blank=True)
    billing_street = models.CharField("street and number", max_length=200, blank=True)
    billing_postcode = models.CharField("postcode", max_length=20, blank=True)
    billing_city = models.CharField("city", max_length=100, blank=True)
    billing_country = models.CharField("country", max_length=2, blank=True, validators=[validate_country],
                                       help_text="ISO 3166 code, e.g. DE, FR, US.")
    invoicing = models.CharField(max_length=10, choices=Invoicing.choices, default=Invoicing.PER_ORDER)
    pay_before_download = models.BooleanField(
        default=False, help_text="Until an order's invoice is paid, the client sees watermarked previews and "
                                 "cannot download the files (for new or risky clients).")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    time_zone = models.CharField(max_length=64, default=studio_time_zone, validators=[validate_time_zone])
    tax_rate = models.DecimalField(
        "tax rate (%)", max_digits=5, decimal_places=2, default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Only until the studio's billing profile is filled in; then VAT follows the studio's country and "
                  "the client's country and VAT id (billing/tax.py).",
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=30, validators=[MaxValueValidator(365)])
    free_revision_rounds = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(20)])
    auto_approve_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Approve a delivery automatically after this many days without an answer (a reminder goes out "
                  "the day before). Empty: never.")
    # Pilot batches (jobs/production/pilots.py): a new style guide's first order starts with this many pictures.
    pilot_size = models.PositiveSmallIntegerField(
        "pilot pictures", default=5, validators=[MaxValueValidator(50)],
        help_text="A style guide never delivered under starts with a pilot: this many pictures of its first order are "
                  "produced, delivered and approved before the rest start. 0: no pilot.")
    # How long an order's files are kept after it completes (jobs/retention.py); empty: the studio's default.
    keep_files_days = models.PositiveSmallIntegerField(
        "keep originals and versions (days)", null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Days after an order completes until its originals, versions, previews and tiles are deleted. "
                  "Empty: the studio's default.")
    keep_deliveries_days = models.PositiveSmallIntegerField(
        "keep deliveries (days)", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Days after an order completes until its delivered final files are deleted. Empty: the studio's "
                  "default.")
    legal_hold = models.BooleanField(
        default=False, help_text="Keep every file of this company whatever the terms (a dispute, an audit). "
                                 "Invoices are kept ten years in any case.")
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_clients",
        limit_choices_to={"role__in": ["account_manager", "admin"]},
    )
    notes = models.TextField(blank=True, max_length=5000)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A VAT id in its country's format, with the country's prefix (``clients.vat``)."""
        from clients import vat

        if self.vat_number:
            reason = vat.problem(self.vat_number, self.billing_country)
            if reason:
                raise ValidationError({"vat_number": reason})
            self.vat_number = vat.clean(self.vat_number)


class Membership(models.Model):
    """A user's seat in a client company. Removing it ends the user's access at once."""

    tenant_path = "client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["client__name", "user__full_name"]

    def __str__(self) -> str:
        return f"{self.user.email} at {self.client.name}"

    @property
    def seat_role(self) -> str:
        """The person's role in the company (client admin or member)."""
        return self.user.role  # a target's role


class Background(models.TextChoices):
    WHITE = "white", "White #FFFFFF"
    TRANSPARENT = "transparent", "Transparent"
    COLOUR = "colour", "Colour"


class Shadow(models.TextChoices):
    NONE = "none", "None"
    NATURAL = "natural", "Natural"
    DROP = "drop", "Drop shadow"
    REFLECTION = "reflection", "Reflection"


class Metal(models.TextChoices):
    NONE = "", "Not specified"
    YELLOW_GOLD = "yellow_gold", "Yellow gold"
    WHITE_GOLD = "white_gold", "White gold"
    ROSE_GOLD = "rose_gold", "Rose gold"
    SILVER = "silver", "Silver"
    PLATINUM = "platinum", "Platinum"


class Finish(models.TextChoices):
    NONE = "", "Not specified"
    POLISHED = "polished", "Polished"
    BRUSHED = "brushed", "Brushed"
    MATTE = "matte", "Matte"


OUTPUT_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")


class StyleGuide(models.Model):
    """One version of a client's standing instructions for a product line.

    Versions of the same guide share ``family``. A version is locked once an order uses it; editing a
    locked version makes a new one (``clients.services.style_guide_update``), so an order always keeps
    the exact instructions it was made with.
    """

    tenant_path = "client"
    # Retouchers and QC read the guides of the orders they work on (lookups only: no import of jobs).
    retoucher_filter = staticmethod(lambda user: {"orders__images__assignments__retoucher": user,
                                                  "orders__images__assignments__active": True})
    qc_filter = staticmethod(lambda user: {"orders__images__versions__isnull": False})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="style_guides")
    family = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_current = models.BooleanField(default=True, editable=False)
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    name = models.CharField(max_length=120)

    background = models.CharField(max_length=12, choices=Background.choices, default=Background.WHITE)
    background_colour = models.CharField(max_length=7, blank=True, validators=[hex_colour])
    output_formats = models.JSONField(default=list)
    long_edge_px = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(64), MaxValueValidator(20000)],
        help_text="Long edge of the delivered image in pixels.",
    )
    square_canvas = models.BooleanField(default=False)
    margin_percent = models.DecimalField(
        max_digits=4, decimal_places=1, default=Decimal("5.0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("40"))],
    )
    shadow = models.CharField(max_length=12, choices=Shadow.choices, default=Shadow.NONE)
    colour_profile = models.CharField(max_length=20, default="sRGB", choices=[("sRGB", "sRGB IEC61966-2.1")])
    dpi = models.PositiveIntegerField(default=300, validators=[MinValueValidator(72), MaxValueValidator(1200)])
    filename_pattern = models.CharField(
        max_length=120, default="{sku}_{n}", help_text="Placeholders: {sku}, {n}, {order}, {name}.",
    )
    metal = models.CharField(max_length=12, choices=Metal.choices, blank=True)
    finish = models.CharField(max_length=12, choices=Finish.choices, blank=True)
    gemstone_notes = models.TextField(blank=True, max_length=2000)
    reflection_style = models.CharField(max_length=200, blank=True)
    keep_hallmarks = models.BooleanField("keep hallmarks and engravings", default=True)
    notes = models.TextField(blank=True, max_length=5000)
    # The golden reference: the preview of an approved image chosen as the example to match.
    reference_key = models.CharField(max_length=300, blank=True, editable=False)
    reference_label = models.CharField(max_length=255, blank=True, editable=False)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # Fields copied from version to version; everything a person can edit.
    CONTENT_FIELDS = (
        "name", "background", "background_colour", "output_formats", "long_edge_px", "square_canvas",
        "margin_percent", "shadow", "colour_profile", "dpi", "filename_pattern", "metal", "finish",
        "gemstone_notes", "reflection_style", "keep_hallmarks", "notes",
    )
    # Carried to the next version too, but set by their own service (not typed into the form).
    COPIED_FIELDS = (*CONTENT_FIELDS, "reference_key", "reference_label")

    class Meta:
        ordering = ["client__name", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["family", "version"], name="styleguide_family_version_unique"),
            models.UniqueConstraint(fields=["family"], condition=models.Q(is_current=True),
                                    name="styleguide_one_current_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.client.name})" if self.client_id else self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        formats = self.output_formats
        if not isinstance(formats, list) or not formats:
            errors["output_formats"] = "Choose at least one output format."
        elif any(f not in OUTPUT_FORMATS for f in formats) or len(set(formats)) != len(formats):
            errors["output_formats"] = f"Output formats must be distinct values from {', '.join(OUTPUT_FORMATS)}."
        if self.background == Background.COLOUR and not self.background_colour:
            errors["background_colour"] = "A colour background needs a hex colour such as #F4F1EC."
        if self.background == Background.TRANSPARENT and isinstance(formats, list) and formats == ["JPEG"]:
            errors["background"] = "JPEG cannot carry transparency; add PNG, TIFF or WebP, or choose a background."
        pattern = self.filename_pattern or ""
        if "/" in pattern or "\\" in pattern or ".." in pattern:
            errors["filename_pattern"] = "The file-name pattern cannot contain slashes or '..'."
        if errors:
            raise ValidationError(errors)

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None



class WebhookEvent(models.TextChoices):
    ORDER_SUBMITTED = "order.submitted", "An order was submitted"
    QUOTE_SENT = "quote.sent", "A quote was sent"
    ORDER_IN_PRODUCTION = "order.in_production", "An order went into production"
    ORDER_DELIVERED = "order.delivered", "An order was delivered"
    REVISION_REQUESTED = "revision.requested", "Revisions were requested"
    REVIEW_DECIDED = "review.decided", "A reviewer approved pictures or asked for changes"
    PILOT_APPROVED = "order.pilot_approved", "A pilot was approved and the rest of its order started"
    ORDER_COMPLETED = "order.completed", "An order was completed"
    INVOICE_ISSUED = "invoice.issued", "An invoice was issued"
    PING = "ping", "Test delivery"


class WebhookEndpoint(models.Model):
    """A URL that receives signed event deliveries: a company's (``client``) for its own orders and
    invoices, or the studio's (no client) for every client's. The secret signs each delivery
    (``clients.webhooks``); it is shown once, when made or rotated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks",
                               help_text="Empty: the studio's endpoint, for every client's events.")
    url = models.URLField("URL", max_length=500)
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    tenant_path = "client"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one endpoint. The body is frozen when the event happens; the signature is made at
    each attempt (so a rotated secret applies to queued deliveries). Retried with a growing delay for
    24 hours, then given up."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, help_text="The same for every endpoint of one event.")
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    tenant_path = "endpoint__client"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One try of a delivery: when, the answer's status code (none: no answer) and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    tenant_path = "delivery__endpoint__client"

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
