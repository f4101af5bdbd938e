"""Orders, their images, the service catalog and the order timeline."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from clients.models import Client, StyleGuide


class Complexity(models.TextChoices):
    SIMPLE = "simple", "Simple"
    STANDARD = "standard", "Standard"
    COMPLEX = "complex", "Complex"


class Service(models.Model):
    """One kind of retouching work in the catalog, with estimated minutes per image."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    minutes_simple = models.PositiveIntegerField()
    minutes_standard = models.PositiveIntegerField()
    minutes_complex = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    skilled_staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="skills",
        limit_choices_to={"role": "retoucher"}, help_text="Retouchers who can do this work.",
    )

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes_simple__lte=models.F("minutes_standard"),
                                   minutes_standard__lte=models.F("minutes_complex")),
                name="service_minutes_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def minutes_for(self, complexity: str) -> int:
        return int(getattr(self, f"minutes_{complexity}"))


class Turnaround(models.TextChoices):
    STANDARD = "standard", "Standard"
    EXPRESS = "express", "Express"
    RUSH = "rush", "Rush"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    QUOTED = "quoted", "Quoted"
    IN_PRODUCTION = "in_production", "In production"
    DELIVERED = "delivered", "Delivered"
    REVISION = "revision", "Revision"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    ON_HOLD = "on_hold", "On hold"


class PilotStatus(models.TextChoices):
    """A new style guide's first order (jobs/production/pilots.py): none, its pilot in work, or approved."""

    NONE = "", "None"
    RUNNING = "running", "In work"
    APPROVED = "approved", "Approved"


# Named groups of order states, declared once (CONVENTIONS.md §2.3); the tables, the clock, scheduling,
# production, proofing and the lists import them.
# The studio owes work: its SLA clock runs, work is assigned, started and uploaded.
IN_WORK = frozenset({OrderStatus.IN_PRODUCTION, OrderStatus.REVISION})
# With the studio and not finished: what an account manager may put on hold.
OPEN_ORDERS = frozenset({OrderStatus.SUBMITTED, OrderStatus.QUOTED, *IN_WORK, OrderStatus.DELIVERED})
# Before production starts: what may still be cancelled, and when the pre-flight advice on the files sent
# still helps the client.
BEFORE_PRODUCTION = frozenset({OrderStatus.DRAFT, OrderStatus.SUBMITTED, OrderStatus.QUOTED})
CANCELLABLE = BEFORE_PRODUCTION
# Delivered work the client may approve or send back.
REVIEWABLE = frozenset({OrderStatus.DELIVERED, OrderStatus.REVISION})
# Work has reached the client: the order's pages show each image as last delivered.
DELIVERED_WORK = frozenset({*REVIEWABLE, OrderStatus.COMPLETED})


def _assigned_to(prefix: str) -> Any:
    def condition(user: Any) -> dict[str, Any]:
        return {f"{prefix}assignments__retoucher": user, f"{prefix}assignments__active": True}

    return staticmethod(condition)


def _retouched(prefix: str) -> Any:
    """QC reviews retouched work: whatever has a version."""
    return staticmethod(lambda user: {f"{prefix}versions__isnull": False})


class Order(models.Model):
    """A job: a set of images, the services wanted, a style guide version and a turnaround tier."""

    tenant_path = "client"
    guest_path = "deliveries"
    retoucher_filter = _assigned_to("images__")
    qc_filter = _retouched("images__")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=16, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="orders")
    title = models.CharField(max_length=200)
    style_guide = models.ForeignKey(StyleGuide, on_delete=models.PROTECT, related_name="orders")
    services = models.ManyToManyField(Service, related_name="orders")
    turnaround = models.CharField(max_length=10, choices=Turnaround.choices, default=Turnaround.STANDARD)
    instructions = models.TextField(blank=True, max_length=10_000)
    po_number = models.CharField("PO number", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    held_from = models.CharField(max_length=16, choices=OrderStatus.choices, blank=True, editable=False,
                                 help_text="The status an order on hold returns to when resumed.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    due_at = models.DateTimeField(null=True, blank=True, editable=False,
                                  help_text="Derived from the accepted quote's turnaround; never typed in.")
    # The SLA clock (jobs/production/sla.py): business seconds used so far, and while it runs, since when.
    sla_target_hours = models.PositiveIntegerField(null=True, blank=True, editable=False)
    sla_consumed_seconds = models.FloatField(default=0, editable=False)
    sla_running_since = models.DateTimeField(null=True, blank=True, editable=False)
    sla_remaining_seconds = models.FloatField(null=True, blank=True, editable=False,
                                              help_text="Business seconds left when the clock was paused.")
    sla_state = models.CharField(max_length=10, blank=True, editable=False)
    projected_finish_at = models.DateTimeField(null=True, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    free_pictures = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False,
        help_text="A free trial (storefront.trials): at most this many pictures, none charged, all of them a pilot.")
    pilot_status = models.CharField(max_length=10, choices=PilotStatus.choices, blank=True, default=PilotStatus.NONE,
                                    editable=False, help_text="Set when production starts (jobs/production/pilots.py).")
    # Pay before download (a client setting): billing releases the files through jobs.review.payment_holds.
    downloads_held = models.BooleanField(default=False, editable=False,
                                         help_text="The client sees watermarked previews until the invoice is paid.")
    # Retention (jobs/retention.py): a legal hold keeps the files whatever the terms; when they were deleted.
    legal_hold = models.BooleanField(default=False, help_text="Keep this order's files whatever the terms.")
    files_deleted_at = models.DateTimeField(null=True, blank=True, editable=False,
                                            help_text="When its originals and versions were deleted under the terms.")
    deliveries_deleted_at = models.DateTimeField(null=True, blank=True, editable=False,
                                                 help_text="When its delivered files were deleted under the terms.")
    # Its stored facts (jobs/facts.py): kept by database triggers on its pictures and rounds, read by the lists'
    # "whose move is it" (jobs.next_step); never written from Python (``save`` leaves them out).
    image_count = models.PositiveIntegerField(default=0, editable=False, help_text="Pictures accepted.")
    approved_count = models.PositiveIntegerField(default=0, editable=False)
    ready_count = models.PositiveIntegerField(default=0, editable=False)
    delivered_count = models.PositiveIntegerField(default=0, editable=False)
    to_schedule_count = models.PositiveIntegerField(default=0, editable=False)
    waiting_count = models.PositiveIntegerField(default=0, editable=False, help_text="Waiting for the pilot.")
    pilot_count = models.PositiveIntegerField(default=0, editable=False)
    pilot_approved_count = models.PositiveIntegerField(default=0, editable=False)
    awaiting_rounds = models.PositiveIntegerField(default=0, editable=False,
                                                  help_text="Revision rounds waiting for a client admin's confirmation.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["client", "-created_at"]),
            models.Index(fields=["due_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=OrderStatus.values), name="order_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The stored facts belong to the database's triggers: an instance read before its pictures moved must
        # not write its old counts back. A new order has none yet (0), so an insert writes every column.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name not in ORDER_FACTS]
        super().save(*args, **kwargs)


ORDER_FACTS = frozenset({"image_count", "approved_count", "ready_count", "delivered_count", "to_schedule_count",
                         "waiting_count", "pilot_count", "pilot_approved_count", "awaiting_rounds"})


class ImageStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    RECEIVED = "received", "Received"
    REJECTED = "rejected", "Rejected"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    IN_QC = "in_qc", "In QC"
    QC_REJECTED = "qc_rejected", "Sent back by QC"
    READY = "ready", "Ready"
    DELIVERED = "delivered", "Delivered"
    APPROVED = "approved", "Approved"
    REVISION_REQUESTED = "revision_requested", "Revision requested"
    WAITING_PILOT = "waiting_pilot", "Waiting for the pilot's approval"


# Work its retoucher still has to do on an image: booked against their capacity and counted in the
# SLA projection (an image QC sent back is work left too).
WORK_LEFT = frozenset({ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.QC_REJECTED,
                       ImageStatus.REVISION_REQUESTED})
# A retoucher's queue: their work left and what waits for QC.
QUEUED = frozenset({*WORK_LEFT, ImageStatus.IN_QC})

# Images that are not (yet) part of the work: still uploading or refused. They block an order's
# submission and are never priced or scheduled (the one place this rule is written).
NOT_ACCEPTED = (ImageStatus.UPLOADING, ImageStatus.REJECTED)


class ImageQuerySet(models.QuerySet["OrderImage"]):
    def blocking(self) -> ImageQuerySet:
        return self.filter(status__in=NOT_ACCEPTED)

    def accepted(self) -> ImageQuerySet:
        return self.exclude(status__in=NOT_ACCEPTED)


def image_prefix(image: OrderImage) -> str:
    """Every key of an image starts here (DESIGN.md §6); keys are made by the server only."""
    return f"clients/{image.order.client_id}/orders/{image.order_id}/{image.pk}"


def _legacy_key(instance: Any, filename: str) -> str:
    # Files saved through the FileField API (demo data, derived files) get a server-made name too.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    image = instance.image if isinstance(instance, Version) else instance
    return f"{image_prefix(image)}/files/{uuid.uuid4().hex}.{ext[:5]}"


def _version_key(instance: Version, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"{image_prefix(instance.image)}/versions/v{instance.number}/{uuid.uuid4().hex}.{ext[:5]}"


class StoredImage(models.Model):
    """An image file received through the upload contract (DESIGN.md §6): what was declared, where
    its bytes landed, what ``complete`` pinned, the worker's attempt counter, and what decoding found.
    Originals (``OrderImage``) and retouched versions (``Version``) share it, and one pipeline."""

    declared_size = models.PositiveBigIntegerField(null=True, blank=True)
    declared_sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    upload_key = models.CharField(max_length=300, blank=True, editable=False)
    upload_id = models.CharField(max_length=200, blank=True, editable=False, help_text="S3 multipart upload id")
    upload_etag = models.CharField(max_length=200, blank=True, editable=False,
                                   help_text="What `complete` saw; processing reads exactly this object.")
    part_checksums = models.JSONField(default=dict, blank=True, editable=False,
                                      help_text="Multipart uploads: the SHA-256 each part was signed with, by number.")
    parts_sha256 = models.CharField(
        "SHA-256 of the parts", max_length=80, blank=True, editable=False,
        help_text="Multipart uploads: the file's identity derived from its parts, as S3 reports it (base64-N).")
    uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    processing_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    thumbnail = models.FileField(upload_to=_legacy_key, max_length=300, blank=True)
    preview = models.FileField(upload_to=_legacy_key, max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    format = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=10, blank=True)
    bit_depth = models.PositiveSmallIntegerField(null=True, blank=True)
    icc_profile = models.CharField("colour profile", max_length=200, blank=True)
    has_alpha = models.BooleanField(default=False)
    dpi = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_processing(self) -> bool:
        return self.status == "uploading" and self.uploaded_at is not None  # type: ignore[attr-defined]

    @property
    def megapixels(self) -> float | None:
        return round(self.width * self.height / 1e6, 1) if self.width and self.height else None


def _image_work(user: Any) -> dict[str, Any]:
    return {"assignments__retoucher": user, "assignments__active": True}


class OrderImage(StoredImage):
    """One original photograph of an order and everything done to it."""

    tenant_path = "order__client"
    guest_path = "delivery_items__delivery"  # clients.tenancy.scope: a guest sees the images of their link's delivery
    retoucher_filter = staticmethod(_image_work)
    qc_filter = _retouched("")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="images")
    filename = models.CharField(max_length=255, help_text="The client's file name, for display only.")
    sku = models.CharField("SKU", max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=ImageStatus.choices, default=ImageStatus.UPLOADING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file was rejected.")
    complexity = models.CharField(max_length=10, choices=Complexity.choices, default=Complexity.STANDARD,
                                  help_text="The grade the quote and the schedule use: the measured one unless a "
                                            "manager overrode it.")
    # Measured at intake in the sandboxed worker (jobs.imaging.complexity, docs/complexity.md); empty before.
    complexity_estimate = models.CharField(max_length=10, choices=Complexity.choices, blank=True, editable=False)
    complexity_features = models.JSONField(default=dict, blank=True, editable=False,
                                           help_text="The measured features behind the estimate and its score.")
    complexity_reason = models.CharField("reason for the grade", max_length=300, blank=True,
                                         help_text="Why a manager graded it otherwise than measured.")
    instructions = models.TextField(blank=True, max_length=5000)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    original = models.FileField(upload_to=_legacy_key, max_length=300, blank=True)
    preflight = models.JSONField(default=list, blank=True, help_text="Pre-flight warnings: [{code, message}].")
    position = models.PositiveIntegerField(default=0)
    in_pilot = models.BooleanField("in the pilot", default=False,
                                   help_text="Produced and approved first; the studio may choose it before production.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Production: when the retoucher last started work on it (minutes to submission are measured from here).
    work_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["order", "position", "created_at"]
        # the quality report counts the months after its tallies live (jobs.quality): by approval and by intake
        indexes = [models.Index(fields=["status", "uploaded_at"]), models.Index(fields=["approved_at"]),
                   models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def complexity_overridden(self) -> bool:
        return bool(self.complexity_estimate) and self.complexity != self.complexity_estimate

    @property
    def complexity_words(self) -> list[str]:
        """The measured features in words, the heaviest first (``jobs.imaging.complexity.describe``)."""
        from jobs.imaging.complexity import describe

        return describe(self.complexity_features)


class VersionStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    REJECTED = "rejected", "File refused"
    IN_QC = "in_qc", "Waiting for QC"
    PASSED = "passed", "Passed QC"
    FAILED = "failed", "Sent back by QC"


class QcCategory(models.TextChoices):
    DUST = "dust", "Dust left"
    CLIPPING = "clipping", "Clipping path"
    COLOUR = "colour", "Colour"
    REFLECTIONS = "reflections", "Reflections"
    SHAPE = "shape", "Shape"
    OTHER = "other", "Other"


def _version_work(user: Any) -> dict[str, Any]:
    return {"image__assignments__retoucher": user, "image__assignments__active": True}


class Version(StoredImage):
    """A retouched file for an image (v1, v2 …) with its automated checks and its QC decision.
    Uploaded through the same contract and pipeline as originals; deliveries render it."""

    tenant_path = "image__order__client"
    # Clients see a version once it was published to them in a delivery: a subquery, not a join, so a
    # version in two deliveries (the review and the final one) is still one row.
    client_visible_filter = staticmethod(lambda: models.Q(Exists(DeliveryItem.objects.filter(version=OuterRef("pk")))))
    guest_path = "delivery_items__delivery"  # the versions published in the link's delivery, no other
    retoucher_filter = staticmethod(_version_work)
    qc_filter = staticmethod(lambda user: {})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=VersionStatus.choices, default=VersionStatus.UPLOADING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file was refused.")
    file = models.FileField(upload_to=_version_key, max_length=300, blank=True)
    filename = models.CharField(max_length=255, blank=True, help_text="The retoucher's file name, for display.")
    approved = models.BooleanField(default=False, help_text="The client approved this version.")
    round = models.ForeignKey("RevisionRound", null=True, blank=True, on_delete=models.SET_NULL, related_name="versions",
                              help_text="The revision round this version answers (empty: first production).")
    checks = models.JSONField(default=list, blank=True,
                              help_text="Automated style-guide checks: [{code, label, passed, measured, required}].")
    work_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="From start of work to submission.")
    estimate_minutes = models.PositiveIntegerField(null=True, blank=True)
    qc_category = models.CharField(max_length=12, choices=QcCategory.choices, blank=True)
    qc_note = models.TextField(blank=True, max_length=2000)
    qc_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    qc_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["image", "number"]
        constraints = [models.UniqueConstraint(fields=["image", "number"], name="version_number_unique"),
                       models.CheckConstraint(condition=models.Q(status__in=VersionStatus.values),
                                              name="version_status_valid")]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["qc_at"])]

    def __str__(self) -> str:
        return f"v{self.number} of {self.image.filename}"

    @property
    def checks_failed(self) -> int:
        return sum(1 for check in self.checks if check.get("passed") is False)


class TilePyramid(models.Model):
    """The deep-zoom tiles of one stored file, an original (no ``version``) or a retouched version, packed
    into one storage object with an index (``jobs.imaging.tiles``). Made by the worker after the file is
    received; the ``watermarked`` copy of a version is what a client sees while the order is held for
    payment (``jobs.review.payment_holds``), cut from the watermarked preview. Deleted with its file."""

    tenant_path = "image__order__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="pyramids")
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.CASCADE, related_name="pyramids")
    watermarked = models.BooleanField(default=False)
    pack = models.CharField(max_length=300, help_text="Storage key of the packed tiles.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    tile_size = models.PositiveSmallIntegerField()
    overlap = models.PositiveSmallIntegerField()
    format = models.CharField(max_length=10)
    index = models.JSONField(help_text='Each tile\'s place in the pack: {"level/col_row": [offset, length]}.')
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "watermarked"], condition=models.Q(version__isnull=True),
                                    name="pyramid_of_original_unique"),
            models.UniqueConstraint(fields=["version", "watermarked"], condition=models.Q(version__isnull=False),
                                    name="pyramid_of_version_unique"),
        ]

    def __str__(self) -> str:
        return f"tiles of {self.version or self.image}{' (watermarked)' if self.watermarked else ''}"


class DeliveryStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class CompanyExport(models.Model):
    """Everything of a company Loupe keeps, as one archive a client admin asked for (``jobs.company_export``):
    built by the worker as the person who asked sees it, kept for ``KEEP_DAYS`` days."""

    tenant_path = "client"
    KEEP_DAYS = 14

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.BUILDING)
    reason = models.CharField(max_length=300, blank=True)
    archive = models.CharField(max_length=300, blank=True, help_text="Storage key of the ZIP.")
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="What the archive holds: orders, images, invoices…")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["client"], condition=models.Q(status="building"),
                                               name="one_company_export_building")]

    def __str__(self) -> str:
        return f"{self.client_id} export {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class DeliveryKind(models.TextChoices):
    REVIEW = "review", "For review"
    FINAL = "final", "Final files"


class Delivery(models.Model):
    """Versions published to the client: each item is reviewed in the portal, and their renditions
    (as the style guide asks) are packed in one ZIP for download."""

    tenant_path = "order__client"
    guest_path = "pk"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="deliveries")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=DeliveryKind.choices, default=DeliveryKind.REVIEW)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.BUILDING)
    reason = models.CharField(max_length=300, blank=True)
    files_done = models.PositiveIntegerField(default=0, editable=False, help_text="Renditions packed so far.")
    archive = models.CharField(max_length=300, blank=True, help_text="Storage key of the ZIP.")
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    review_by = models.DateTimeField(null=True, blank=True, help_text="When the company's review is due, set when "
                                     "publishing; empty: the contract's auto-approval days, if any (jobs.review.deadlines).")
    # The build's own attempt counter and start, committed before the heavy work (SECURITY.md T1/T2).
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["order", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="delivery_number_unique"),
            # One build at a time per order and kind: a double-clicked button cannot pack two ZIPs, and the
            # final package of a completed order never waits for the last review delivery's build.
            models.UniqueConstraint(fields=["order", "kind"], condition=models.Q(status="building"),
                                    name="one_delivery_building_per_order"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.number} of {self.order_id}"


class Audience(models.TextChoices):
    """Who reads an event on the timeline (DESIGN.md §3 "Event")."""

    CLIENT = "client", "Client and studio"
    STUDIO = "studio", "Studio only"
    # Account managers, finance and admins: amounts of drafts and edits, and planning (who else is
    # assigned what). Retouchers and QC never read these, nor do clients.
    MANAGERS = "managers", "Managers (money and planning)"


# Who reads which lines of the timeline, written once: scope() filters by these and notices obey them.
READ_BY_CLIENTS = frozenset({Audience.CLIENT})
READ_BY_WORKERS = frozenset({Audience.CLIENT, Audience.STUDIO})  # retouchers and QC
READ_BY_MANAGERS = frozenset(Audience.values)


def _work_events(user: Any) -> dict[str, Any]:
    """Retouchers read the client-visible and studio events of the orders they work on."""
    return {"order__images__assignments__retoucher": user, "order__images__assignments__active": True,
            "audience__in": READ_BY_WORKERS}


class Event(models.Model):
    """One line of an order's timeline: who did what, when, from which state to which, for whom."""

    tenant_path = "order__client"
    client_visible_filter = {"audience__in": READ_BY_CLIENTS}
    retoucher_filter = staticmethod(_work_events)
    qc_filter = staticmethod(lambda user: {"order__images__versions__isnull": False,
                                           "audience__in": READ_BY_WORKERS})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    verb = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CLIENT)
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.verb}"

    @property
    def is_internal(self) -> bool:
        return self.audience != Audience.CLIENT


class OrderNumberSequence(models.Model):
    """The last order number handed out per year; its row is locked while a number is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Assignment(models.Model):
    """An image given to a retoucher. Reassignment ends the active row and adds a new one (history)."""

    tenant_path = "image__order__client"
    retoucher_filter = staticmethod(lambda user: {"retoucher": user})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="assignments")
    retoucher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    minutes = models.PositiveIntegerField(help_text="Estimated minutes of work when assigned.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["image", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["image"], condition=models.Q(active=True),
                                               name="one_active_assignment_per_image")]
        indexes = [models.Index(fields=["active", "retoucher"])]

    def __str__(self) -> str:
        return f"{self.image.filename} → {self.retoucher.full_name}"


class DeliveryItem(models.Model):
    """One image of a delivery, with the version that was published for it."""

    tenant_path = "delivery__order__client"
    guest_path = "delivery"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="delivery_items")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="delivery_items")

    class Meta:
        ordering = ["delivery", "image__position"]
        constraints = [models.UniqueConstraint(fields=["delivery", "image"], name="one_item_per_image_per_delivery")]

    def __str__(self) -> str:
        return f"{self.image.filename} in delivery {self.delivery.number}"


class ShareDownloads(models.TextChoices):
    NONE = "none", "No downloads"
    PREVIEWS = "previews", "Watermarked previews"
    FINALS = "finals", "The final files"


class ShareLink(models.Model):
    """A personal review link to one delivery for someone without an account (``jobs.review.shares``): bound to
    an e-mail address, stored as the digest of its token, with what the guest may do and until when.

    A link is also the guest's principal: ``clients.tenancy.scope`` filters a model by its ``guest_path`` to
    the link's delivery, and every permission function answers ``False`` for it (it is never signed in)."""

    tenant_path = "delivery__order__client"
    is_guest = True
    is_authenticated = False
    is_client = False
    role = None

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="shares")
    email = models.EmailField(help_text="The person the link is for; it is shown to whoever opens it.")
    guest_name = models.CharField(max_length=100, blank=True, help_text="The name the guest confirmed.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="The token's first characters, to tell links apart.")
    password = models.CharField(max_length=128, blank=True, editable=False, help_text="A password hash, or empty.")
    can_decide = models.BooleanField(default=False, help_text="May approve or request changes (granted by a client admin).")
    downloads = models.CharField(max_length=10, choices=ShareDownloads.choices, default=ShareDownloads.NONE)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # wrong passwords in a row, and until when the link refuses to be opened (as a sign-in is locked out)
    failures = models.PositiveSmallIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    # the code mailed to the link's address when the studio asks for one (LOUPE_REVIEW_LINK_CODE), as a digest
    code_digest = models.CharField(max_length=64, blank=True, editable=False)
    code_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False,
                                       help_text="When the guest was reminded that the review closes (once).")
    digested_on = models.DateField(null=True, blank=True, editable=False,
                                   help_text="The day the guest's address last got the digest of reviews waiting on it.")

    class Meta:
        ordering = ["delivery", "-created_at"]
        indexes = [models.Index(fields=["delivery", "revoked_at"])]

    def __str__(self) -> str:
        return f"review link for {self.email} to {self.delivery}"

    @property
    def is_active(self) -> bool:
        """Usable now: neither revoked nor expired."""
        return self.revoked_at is None and timezone.now() < self.expires_at

    @property
    def display_name(self) -> str:
        return f"{self.guest_name or self.email} (guest)"


class ShareActivity(models.Model):
    """What happened with a review link: opened, a wrong password, locked, a download, revoked."""

    tenant_path = "link__delivery__order__client"

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        WRONG_PASSWORD = "wrong_password", "Wrong password"
        WRONG_CODE = "wrong_code", "Wrong code"
        LOCKED = "locked", "Locked after wrong passwords"
        DOWNLOADED = "downloaded", "Downloaded"
        DECIDED = "decided", "Decided"
        MARKED = "marked", "Marked or replied"
        REVOKED = "revoked", "Revoked"

    id = models.BigAutoField(primary_key=True)
    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="activity")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["link", "-at", "-id"]
        verbose_name_plural = "share activity"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"


class Verdict(models.TextChoices):
    APPROVED = "approved", "Approved"
    CHANGES = "changes", "Asked for changes"


class ReviewDecision(models.Model):
    """One reviewer's decision on one delivered picture (``jobs.review.reviewers``): a person with an account or a
    guest's review link, one row per reviewer and version (a redelivered picture is judged afresh; until the company
    decides, a reviewer's latest answer stands). The company's decision is the image's status."""

    tenant_path = "delivery__order__client"

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="decisions")
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="decisions")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    reviewer_share = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="decisions")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    note = models.TextField(blank=True, max_length=2000)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["delivery", "image", "decided_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "reviewer"], condition=models.Q(reviewer__isnull=False),
                                    name="one_decision_per_person_and_version"),
            models.UniqueConstraint(fields=["version", "reviewer_share"], condition=models.Q(reviewer_share__isnull=False),
                                    name="one_decision_per_link_and_version"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_name}: {self.get_verdict_display()}"

    @property
    def reviewer_name(self) -> str:
        if self.reviewer is not None:
            return self.reviewer.full_name
        return self.reviewer_share.display_name if self.reviewer_share is not None else ""


class RequiredReviewer(models.Model):
    """Someone whose approval a delivery waits for (``jobs.review.reviewers``): a member of the company or a guest
    whose link may decide. When every required reviewer approved a picture, it is approved for the company; the
    company's admins (and the studio's managers acting for it) can always decide on their own."""

    tenant_path = "delivery__order__client"

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="required_reviewers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    share = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.CASCADE, related_name="required_on")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["delivery", "added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "user"], condition=models.Q(user__isnull=False),
                                    name="required_person_once_per_delivery"),
            models.UniqueConstraint(fields=["delivery", "share"], condition=models.Q(share__isnull=False),
                                    name="required_link_once_per_delivery"),
            models.CheckConstraint(condition=models.Q(user__isnull=True) ^ models.Q(share__isnull=True),
                                   name="required_reviewer_is_a_person_or_a_link"),
        ]

    def __str__(self) -> str:
        return f"{self.name} for {self.delivery}"

    @property
    def name(self) -> str:
        return self.user.full_name if self.user is not None else self.share.display_name


class RoundStatus(models.TextChoices):
    AWAITING_CONFIRMATION = "awaiting", "Awaiting the client admin's confirmation"
    OPEN = "open", "In revision"
    DECLINED = "declined", "Not confirmed"


class ItemKind(models.TextChoices):
    DEFECT = "defect", "Defect (missed the brief)"
    CHANGE = "change", "Change (a new wish)"


class RevisionRound(models.Model):
    """A client's request for changes after a delivery, numbered per order. Rounds beyond the
    client's free rounds that contain change items are billable and wait for a client admin."""

    tenant_path = "order__client"
    retoucher_filter = staticmethod(lambda user: {"items__image__assignments__retoucher": user,
                                                  "items__image__assignments__active": True})
    qc_filter = staticmethod(lambda user: {})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="revision_rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RoundStatus.choices, default=RoundStatus.OPEN)
    note = models.TextField(blank=True, max_length=2000, help_text="The client's general note for this round.")
    billable = models.BooleanField(default=False, help_text="Beyond the free rounds, with change items.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # a guest's round (jobs.review.shares): the review link that asked, when no account did
    requested_by_share = models.ForeignKey("ShareLink", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="rounds")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["order", "number"]
        constraints = [models.UniqueConstraint(fields=["order", "number"], name="revision_round_number_unique")]

    def __str__(self) -> str:
        return f"Round {self.number} of {self.order_id}"

    @property
    def requester_name(self) -> str:
        """Who asked: a person, a guest ("Dora (guest)"), or nobody left to name."""
        if self.requested_by is not None:
            return self.requested_by.full_name
        return self.requested_by_share.display_name if self.requested_by_share is not None else ""


class RevisionItem(models.Model):
    """One image's request in a round, with its pins. The client proposes defect or change; the
    account manager may reclass it with a reason."""

    tenant_path = "round__order__client"
    retoucher_filter = staticmethod(lambda user: {"image__assignments__retoucher": user,
                                                  "image__assignments__active": True})
    qc_filter = staticmethod(lambda user: {})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    round = models.ForeignKey(RevisionRound, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="revision_items")
    version = models.ForeignKey(Version, null=True, on_delete=models.SET_NULL, related_name="revision_items",
                                help_text="The delivered version the request is about.")
    note = models.TextField(blank=True, max_length=2000)
    proposed_kind = models.CharField(max_length=6, choices=ItemKind.choices, default=ItemKind.CHANGE)
    kind = models.CharField(max_length=6, choices=ItemKind.choices, default=ItemKind.CHANGE)
    reclass_reason = models.CharField(max_length=500, blank=True)
    reclassed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["round", "image__position"]
        constraints = [models.UniqueConstraint(fields=["round", "image"], name="one_item_per_image_per_round")]

    def __str__(self) -> str:
        return f"{self.image.filename} in round {self.round.number}"


class MarkShape(models.TextChoices):
    """What a mark outlines. A point or a rectangle is a W3C ``FragmentSelector`` (``xywh=pixel:``); an
    ellipse, a freehand line, a polygon or an arrow an ``SvgSelector``; a thread about the whole picture has none."""

    WHOLE = "whole", "The whole picture"
    POINT = "point", "Point"
    RECT = "rect", "Rectangle"
    ELLIPSE = "ellipse", "Ellipse"
    POLYGON = "polygon", "Polygon"
    FREEHAND = "freehand", "Freehand"
    ARROW = "arrow", "Arrow"


def _marks_clients_see() -> models.Q:
    """Client users read the client-audience marks on their originals and on versions published to them."""
    delivered = Exists(DeliveryItem.objects.filter(version=OuterRef("version")))
    return models.Q(audience=Audience.CLIENT) & (models.Q(version__isnull=True) | models.Q(delivered))


def _marks_in_delivery(delivery_id: Any, to_mark: str = "") -> models.Q:
    """A review link's marks (``clients.tenancy.scope``): on the original of an image of the link's delivery, or on a
    version published in it, never on a version of another delivery. ``to_mark``: the lookup to the mark."""
    on_original = models.Q(**{f"{to_mark}version__isnull": True})
    on_its_version = models.Q(**{f"{to_mark}version__delivery_items__delivery": delivery_id})
    return models.Q(**{f"{to_mark}image__delivery_items__delivery": delivery_id}) & (on_original | on_its_version)


def _marks_of_work(user: Any) -> dict[str, Any]:
    return {"image__assignments__retoucher": user, "image__assignments__active": True,
            "audience__in": READ_BY_WORKERS}


class Annotation(models.Model):
    """A mark on one exact file (an original, or one version), in that file's pixels (``width`` ×
    ``height`` as it was drawn on), with its thread. Numbered per image, the same number on the picture
    and in the list. A studio author's mark is studio-only (the event audiences apply); a client's mark
    belongs to the revision item that sent it, once the review is submitted. Deleting keeps the row
    (``deleted_at``) for the audit."""

    tenant_path = "order__client"
    guest_path = staticmethod(_marks_in_delivery)
    client_visible_filter = staticmethod(_marks_clients_see)
    retoucher_filter = staticmethod(_marks_of_work)
    qc_filter = staticmethod(lambda user: {"audience__in": READ_BY_WORKERS})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="annotations")
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="annotations")
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.CASCADE, related_name="annotations",
                                help_text="The version it was drawn on; empty: the original.")
    width = models.PositiveIntegerField(help_text="The file's width in pixels when the mark was drawn.")
    height = models.PositiveIntegerField(help_text="The file's height in pixels when the mark was drawn.")
    number = models.PositiveIntegerField()
    shape = models.CharField(max_length=10, choices=MarkShape.choices)
    selector = models.JSONField(default=dict, blank=True, help_text="The W3C selector, in the file's pixels.")
    # The shape's bounding box in the file's pixels: what lists, pages and checks read without parsing SVG.
    x = models.PositiveIntegerField(default=0)
    y = models.PositiveIntegerField(default=0)
    w = models.PositiveIntegerField(default=0)
    h = models.PositiveIntegerField(default=0)
    text = models.TextField(max_length=2000)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CLIENT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # a guest's mark (jobs.review.shares): the review link that drew it, when no account did
    author_share = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="marks")
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    item = models.ForeignKey(RevisionItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations",
                             help_text="The revision request that sent it (client marks, once submitted).")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["image", "number"]
        constraints = [
            models.UniqueConstraint(fields=["image", "number"], name="annotation_number_per_image"),
            models.CheckConstraint(condition=models.Q(shape__in=MarkShape.values), name="annotation_shape_valid"),
            models.CheckConstraint(condition=models.Q(x__lte=models.F("width"), y__lte=models.F("height")),
                                   name="annotation_inside_file"),
        ]
        indexes = [models.Index(fields=["image", "version"])]

    def __str__(self) -> str:
        return f"Mark {self.number}: {self.text[:40]}"

    @property
    def is_studio(self) -> bool:
        return self.audience != Audience.CLIENT

    @property
    def author_name(self) -> str:
        return _writer(self)


def _writer(row: Annotation | AnnotationReply) -> str:
    """Who wrote a mark or reply: a person, a guest ("Dora Director (guest)"), or nobody left to name."""
    if row.author is not None:
        return row.author.full_name
    return row.author_share.display_name if row.author_share is not None else ""


class AnnotationReply(models.Model):
    """One reply in a mark's thread. Studio-only when the mark is, or when the studio wrote an internal reply."""

    tenant_path = "annotation__order__client"
    guest_path = staticmethod(lambda delivery_id: _marks_in_delivery(delivery_id, "annotation__"))
    client_visible_filter = staticmethod(lambda: models.Q(audience=Audience.CLIENT, annotation__audience=Audience.CLIENT))
    retoucher_filter = staticmethod(lambda user: {"annotation__image__assignments__retoucher": user,
                                                  "annotation__image__assignments__active": True,
                                                  "audience__in": READ_BY_WORKERS})
    qc_filter = staticmethod(lambda user: {"audience__in": READ_BY_WORKERS})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_share = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    text = models.TextField(max_length=2000)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CLIENT)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["annotation", "created_at"]

    def __str__(self) -> str:
        return f"Reply to mark {self.annotation_id}: {self.text[:40]}"

    @property
    def author_name(self) -> str:
        return _writer(self)


def _thread_for_work(user: Any) -> dict[str, Any]:
    return {"order__images__assignments__retoucher": user, "order__images__assignments__active": True}


class Message(models.Model):
    """One message of an order's thread between client and studio, or a studio-internal note that
    clients never see (not in pages, API, mails or exports)."""

    tenant_path = "order__client"
    client_visible_filter = {"internal": False}
    retoucher_filter = staticmethod(_thread_for_work)
    qc_filter = staticmethod(lambda user: {"order__images__versions__isnull": False})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(max_length=2000)
    internal = models.BooleanField(default=False, help_text="A studio note: clients never see it.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["order", "created_at"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.body[:40]}"


class QualityTally(models.Model):
    """One closed month's counts behind the quality report (``jobs.quality``), per client or per retoucher: a
    measure's total (pictures approved, versions QC reviewed, pictures graded at intake) and its hits (first time,
    sent back, graded otherwise). Written by the worker; the report adds them up instead of counting years of rows."""

    class Kind(models.TextChoices):
        FTAR = "ftar", "First-time approval"
        QC = "qc", "QC reject rate"
        OVERRIDE = "override", "Grades changed"

    class Per(models.TextChoices):
        CLIENT = "client", "Client"
        RETOUCHER = "retoucher", "Retoucher"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    per = models.CharField(max_length=10, choices=Per.choices)
    month = models.DateField(help_text="The first day of the studio's month counted.")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    retoucher = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    total = models.PositiveIntegerField()
    hits = models.PositiveIntegerField()

    class Meta:
        ordering = ["month", "kind", "per"]
        indexes = [models.Index(fields=["kind", "per", "month"]), models.Index(fields=["month"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.month:%Y-%m} per {self.per}: {self.hits} of {self.total}"
