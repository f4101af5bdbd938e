"""Orders, their images, the service catalog and the order timeline."""

from __future__ import annotations

import uuid

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


class Order(models.Model):
    """A job: a set of images, the services wanted, a style guide version and a turnaround tier."""

    tenant_path = "client"

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

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["client", "-created_at"]),
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


def _image_key(instance: OrderImage, kind: str, name: str) -> str:
    # Keys are made by the server (DESIGN.md §6); the user's file name never reaches the path.
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
    return f"clients/{instance.order.client_id}/orders/{instance.order_id}/{instance.pk}/{kind}/{uuid.uuid4().hex}.{ext}"


def original_key(instance: OrderImage, filename: str) -> str:
    return _image_key(instance, "original", filename)


def preview_key(instance: OrderImage, filename: str) -> str:
    return _image_key(instance, "previews", filename)


class OrderImage(models.Model):
    """One original photograph of an order and everything done to it."""

    tenant_path = "order__client"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="images")
    filename = models.CharField(max_length=255, help_text="The client's file name, for display only.")
    sku = models.CharField("SKU", max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=ImageStatus.choices, default=ImageStatus.UPLOADING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file was rejected.")
    complexity = models.CharField(max_length=10, choices=Complexity.choices, default=Complexity.STANDARD)
    instructions = models.TextField(blank=True, max_length=5000)
    original = models.FileField(upload_to=original_key, max_length=300, blank=True)
    thumbnail = models.FileField(upload_to=preview_key, max_length=300, blank=True)
    format = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["order", "position", "created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"


class Event(models.Model):
    """One line of an order's timeline: who did what, when, from which state to which."""

    tenant_path = "order__client"
    client_visible_filter = {"client_visible": True}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    verb = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    client_visible = models.BooleanField(default=True)
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.verb}"


class OrderNumberSequence(models.Model):
    """The last order number handed out per year; its row is locked while a number is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"
