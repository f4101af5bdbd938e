"""Orders, their images, the service catalog and the order timeline."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
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


def _assigned_to(prefix: str) -> Any:
    def condition(user: Any) -> dict[str, Any]:
        return {f"{prefix}assignments__retoucher": user, f"{prefix}assignments__active": True}

    return staticmethod(condition)


class Order(models.Model):
    """A job: a set of images, the services wanted, a style guide version and a turnaround tier."""

    tenant_path = "client"
    retoucher_filter = _assigned_to("images__")

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
    # The SLA clock (jobs/sla.py): business seconds used so far, and while it runs, since when.
    sla_target_hours = models.PositiveIntegerField(null=True, blank=True, editable=False)
    sla_consumed_seconds = models.FloatField(default=0, editable=False)
    sla_running_since = models.DateTimeField(null=True, blank=True, editable=False)
    sla_remaining_seconds = models.FloatField(null=True, blank=True, editable=False,
                                              help_text="Business seconds left when the clock was paused.")
    sla_state = models.CharField(max_length=10, blank=True, editable=False)
    projected_finish_at = models.DateTimeField(null=True, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True, editable=False)

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


class ImageStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    RECEIVED = "received", "Received"
    REJECTED = "rejected", "Rejected"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    IN_QC = "in_qc", "In QC"
    READY = "ready", "Ready"
    DELIVERED = "delivered", "Delivered"
    APPROVED = "approved", "Approved"
    REVISION_REQUESTED = "revision_requested", "Revision requested"


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


def _legacy_key(instance: OrderImage, filename: str) -> str:
    # Files saved through the FileField API (demo data) get a server-made name too.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"{image_prefix(instance)}/files/{uuid.uuid4().hex}.{ext[:5]}"


def _version_key(instance: Version, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"{image_prefix(instance.image)}/versions/v{instance.number}/{uuid.uuid4().hex}.{ext[:5]}"


class OrderImage(models.Model):
    """One original photograph of an order and everything done to it."""

    tenant_path = "order__client"
    retoucher_filter = _assigned_to("")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="images")
    filename = models.CharField(max_length=255, help_text="The client's file name, for display only.")
    sku = models.CharField("SKU", max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=ImageStatus.choices, default=ImageStatus.UPLOADING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file was rejected.")
    complexity = models.CharField(max_length=10, choices=Complexity.choices, default=Complexity.STANDARD)
    instructions = models.TextField(blank=True, max_length=5000)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    # The upload as declared by the client, and where its bytes land before they are validated.
    declared_size = models.PositiveBigIntegerField(null=True, blank=True)
    declared_sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    upload_key = models.CharField(max_length=300, blank=True, editable=False)
    upload_id = models.CharField(max_length=200, blank=True, editable=False, help_text="S3 multipart upload id")
    upload_etag = models.CharField(max_length=200, blank=True, editable=False,
                                   help_text="What `complete` saw; processing reads exactly this object.")
    uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    processing_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The validated original and its derived files.
    original = models.FileField(upload_to=_legacy_key, max_length=300, blank=True)
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
    preflight = models.JSONField(default=list, blank=True, help_text="Pre-flight warnings: [{code, message}].")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["order", "position", "created_at"]
        indexes = [models.Index(fields=["status", "uploaded_at"])]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def is_processing(self) -> bool:
        return self.status == ImageStatus.UPLOADING and self.uploaded_at is not None

    @property
    def megapixels(self) -> float | None:
        return round(self.width * self.height / 1e6, 1) if self.width and self.height else None


class Version(models.Model):
    """A retouched file for an image (v1, v2 …); deliveries are rendered from the approved one."""

    tenant_path = "image__order__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(OrderImage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=_version_key, max_length=300)
    approved = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["image", "number"]
        constraints = [models.UniqueConstraint(fields=["image", "number"], name="version_number_unique")]

    def __str__(self) -> str:
        return f"v{self.number} of {self.image.filename}"


class DeliveryStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """The rendered files of an order's approved versions, packed as one ZIP for download."""

    tenant_path = "order__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="deliveries")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.BUILDING)
    reason = models.CharField(max_length=300, blank=True)
    archive = models.CharField(max_length=300, blank=True, help_text="Storage key of the ZIP.")
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The build's own attempt counter and start, committed before the heavy work (SECURITY.md T1/T2).
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["order", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="delivery_number_unique"),
            # One build at a time per order: a double-clicked button cannot pack two ZIPs.
            models.UniqueConstraint(fields=["order"], condition=models.Q(status="building"),
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


def _work_events(user: Any) -> dict[str, Any]:
    """Retouchers read the client-visible and studio events of the orders they work on."""
    return {"order__images__assignments__retoucher": user, "order__images__assignments__active": True,
            "audience__in": [Audience.CLIENT, Audience.STUDIO]}


class Event(models.Model):
    """One line of an order's timeline: who did what, when, from which state to which, for whom."""

    tenant_path = "order__client"
    client_visible_filter = {"audience": Audience.CLIENT}
    retoucher_filter = staticmethod(_work_events)

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
