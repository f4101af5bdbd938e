"""The studio's public face (DESIGN.md §12): what clients say about finished orders, and which approved
pictures they let the studio show.

``storefront`` sits above every other app (it reads orders, pictures and prices); nothing imports it but
the composition roots. Its rows are a client's own data: each declares ``tenant_path`` for
``clients.tenancy.scope``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

RATING_COMMENT_MAX = 2000


class Rating(models.Model):
    """A client admin's verdict on one completed order: 1 to 5 stars and a comment. Every rating counts in
    the public average; the comment is shown only when its author agreed, with the name and company as
    they chose to be named."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField("jobs.Order", on_delete=models.CASCADE, related_name="rating")
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="ratings")
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True, max_length=RATING_COMMENT_MAX)
    publish = models.BooleanField(default=False, help_text="The author agreed to show the comment on the studio's page.")
    shown_name = models.CharField(max_length=80, blank=True, help_text="The name shown beside a published comment.")
    shown_company = models.CharField(max_length=120, blank=True,
                                     help_text="The company shown beside a published comment (may be left empty).")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="ratings_given")
    # When the current answer was given: a changed rating counts from its change (the public page's
    # twelve months are counted on it).
    rated_at = models.DateTimeField(default=timezone.now)
    # The studio may take an abusive published comment off its page (``services.comment_visibility``); the rating
    # still counts. A changed comment is shown again until the studio hides it anew.
    hidden_at = models.DateTimeField(null=True, blank=True, editable=False)
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", editable=False)
    hidden_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_path = "client"

    class Meta:
        ordering = ["-rated_at"]
        indexes = [models.Index(fields=["rated_at"], name="rating_rated_at")]
        constraints = [models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.score}/5"

    @property
    def attribution(self) -> str:
        return ", ".join(part for part in (self.shown_name, self.shown_company) if part)


class PortfolioConsent(models.Model):
    """A client admin's yes to showing approved work on the studio's public page: a whole order's pictures
    (``image`` empty) or one picture. Withdrawn at any time; a withdrawn consent stays as the record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="portfolio_consents")
    order = models.ForeignKey("jobs.Order", on_delete=models.CASCADE, related_name="portfolio_consents")
    image = models.ForeignKey("jobs.OrderImage", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="portfolio_consents")
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    given_at = models.DateTimeField(default=timezone.now)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    tenant_path = "client"

    class Meta:
        ordering = ["-given_at"]
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=Q(image__isnull=True, withdrawn_at__isnull=True),
                                    name="one_live_consent_per_order"),
            models.UniqueConstraint(fields=["image"], condition=Q(image__isnull=False, withdrawn_at__isnull=True),
                                    name="one_live_consent_per_picture"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}{f' / {self.image_id}' if self.image_id else ''}"


class PortfolioService(models.TextChoices):
    COLOUR = "colour", "Colour correction"
    DETAIL = "detail", "Detail"
    BACKGROUND = "background", "Clipping path and background"
    SHINE = "shine", "Reflections and shine"
    SERIES = "series", "Series consistency"


class Piece(models.TextChoices):
    RING = "ring", "Rings"
    EARRINGS = "earrings", "Earrings"
    NECKLACE = "necklace", "Necklaces and pendants"
    BRACELET = "bracelet", "Bracelets"
    WATCH = "watch", "Watches"
    OTHER = "other", "Other pieces"


class PortfolioPair(models.Model):
    """A before/after pair the studio chose to show: an approved picture's original beside the version its
    client approved, as web-size copies with the studio's mark (never the files). Shown on the public page
    only while published **and** a consent for the picture is in force (``selectors.public_pairs``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="portfolio_pairs")
    image = models.OneToOneField("jobs.OrderImage", on_delete=models.CASCADE, related_name="portfolio_pair")
    version = models.ForeignKey("jobs.Version", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=120)
    service = models.CharField(max_length=12, choices=PortfolioService.choices)
    piece = models.CharField(max_length=12, choices=Piece.choices)
    position = models.PositiveIntegerField(default=0, help_text="Lower numbers are shown first.")
    published = models.BooleanField(default=False)
    # The web-size copies (storage keys; a new pair of names each time they are made, so no cache holds an
    # old picture under a current name) and their common size.
    before = models.CharField(max_length=300, blank=True)
    after = models.CharField(max_length=300, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    copies_at = models.DateTimeField(null=True, blank=True)
    copy_error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_path = "client"

    class Meta:
        ordering = ["position", "-created_at"]

    def __str__(self) -> str:
        return self.title


class Estimate(models.Model):
    """What an anonymous visitor was told for their own pictures (``storefront.estimates``): the figures only. The
    sample photos themselves are graded in the sandbox and deleted before the answer is sent; the figures are
    kept a day (``expires_at``: the trial refers to them), then deleted by an hourly task. Not a tenant's data:
    no company yet; it is read by its unguessable id only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(db_index=True)
    services = models.JSONField(default=list, help_text="The service codes chosen.")
    turnaround = models.CharField(max_length=10)
    count = models.PositiveIntegerField(help_text="How many pictures like the samples the visitor has.")
    price = models.DecimalField(max_digits=12, decimal_places=2, help_text="Net, as the quote would price them.")
    currency = models.CharField(max_length=3)
    ready_by = models.DateTimeField(null=True, blank=True)
    schedule_note = models.CharField(max_length=200, blank=True)
    samples = models.JSONField(default=list, help_text="Per sample: its name, grade, score and features.")
    mix = models.JSONField(default=dict, help_text="The pictures priced per grade (the samples' shares of count).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.count} pictures: {self.price} {self.currency}"


class TrialStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class TrialRequest(models.Model):
    """A prospect's request for a free trial (``storefront.trials``), usually from their estimate. A manager
    accepts it (the company is created with the contact invited as its admin, and a free first order that is a
    pilot) or declines it with a reason the contact is told. Not a tenant's data until accepted: the studio's
    managers read it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.CharField(max_length=200)
    contact_name = models.CharField(max_length=150)
    email = models.EmailField()
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    vat_number = models.CharField("VAT number", max_length=32, blank=True)
    pictures = models.PositiveSmallIntegerField(help_text="Free pictures asked for (at most the studio's offer).")
    services = models.JSONField(default=list, help_text="The service codes wanted.")
    message = models.TextField(blank=True, max_length=2000)
    estimate = models.ForeignKey(Estimate, null=True, blank=True, on_delete=models.SET_NULL, related_name="trials")
    # the estimate's figures, kept with the request (the estimate itself is deleted after a day)
    estimate_summary = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=TrialStatus.choices, default=TrialStatus.REQUESTED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=500, blank=True)
    client = models.ForeignKey("clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               help_text="The company created when it was accepted.")
    order = models.ForeignKey("jobs.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The free first order created when it was accepted.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="trial_status_created")]

    def __str__(self) -> str:
        return f"{self.company} ({self.get_status_display().lower()})"
