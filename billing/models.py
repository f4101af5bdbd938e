"""Price lists and quotes. Money is ``Decimal``; every amount is rounded half-up to the currency's
minor unit per line, tax on the total, and totals always equal the sum of their lines."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from clients.models import Client, Currency
from jobs.models import Complexity, Order, Service

MONEY = {"max_digits": 12, "decimal_places": 2}


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
                                   help_text="Percent; empty uses the client's tax rate.")
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
    minimum_order = models.DecimalField(**MONEY, default=Decimal("0"),
                                        help_text="Copied from the price list; the top-up line follows every edit.")
    net_total = models.DecimalField(**MONEY, default=Decimal("0"))
    tax_total = models.DecimalField(**MONEY, default=Decimal("0"))
    total = models.DecimalField(**MONEY, default=Decimal("0"))
    valid_until = models.DateTimeField(null=True, blank=True)
    promised_due_at = models.DateTimeField(null=True, blank=True)
    promise_note = models.CharField(max_length=500, blank=True)
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
