from typing import Any

from django.contrib import admin

from jobs.models import (
    Annotation,
    AnnotationReply,
    CompanyExport,
    Event,
    Order,
    OrderImage,
    OrderNumberSequence,
    QualityTally,
    RequiredReviewer,
    ReviewDecision,
    Service,
    ShareActivity,
    ShareLink,
    TilePyramid,
)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "minutes_simple", "minutes_standard", "minutes_complex", "position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "code")
    list_editable = ("position", "is_active")
    filter_horizontal = ("skilled_staff",)


class OrderImageInline(admin.TabularInline):
    model = OrderImage
    extra = 0
    fields = ("filename", "sku", "status", "complexity", "complexity_estimate", "in_pilot", "width", "height", "format")
    readonly_fields = ("complexity_estimate", "in_pilot", "width", "height", "format")


class EventInline(admin.TabularInline):
    model = Event
    extra = 0
    fields = ("created_at", "actor", "verb", "message", "audience")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the timeline is written by the workflow only


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "client", "status", "turnaround", "created_at", "due_at")
    list_filter = ("status", "turnaround", "pilot_status", "legal_hold", "client")
    search_fields = ("number", "title", "po_number", "client__name")
    list_select_related = ("client",)
    date_hierarchy = "created_at"
    # Status changes go through the workflow (with their events), never through a plain edit; so does a legal
    # hold (the order page or POST /api/v1/orders/{id}/legal-hold/, which write the timeline), and the pilot
    # (jobs.production.pilots: chosen on the order page or POST /api/v1/orders/{id}/pilot/).
    readonly_fields = ("number", "status", "held_from", "pilot_status", "created_at", "submitted_at", "due_at",
                       "created_by", "legal_hold", "files_deleted_at", "deliveries_deleted_at")
    filter_horizontal = ("services",)
    raw_id_fields = ("style_guide",)
    inlines = [OrderImageInline, EventInline]


@admin.register(OrderImage)
class OrderImageAdmin(admin.ModelAdmin):
    list_display = ("filename", "order", "status", "complexity", "complexity_estimate", "format", "width", "height")
    list_filter = ("status", "complexity", "complexity_estimate", "in_pilot", "format")
    search_fields = ("filename", "sku", "order__number", "sha256")
    list_select_related = ("order",)
    raw_id_fields = ("order",)
    # What the upload pinned and checked, for support: the parts' checksums, the pinned ETag, attempts.
    readonly_fields = ("declared_size", "declared_sha256", "upload_key", "upload_id", "upload_etag", "part_checksums",
                       "parts_sha256", "uploaded_at", "attempts", "processing_started_at", "sha256", "size_bytes",
                       "complexity_estimate", "complexity_features", "in_pilot")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "order", "verb", "actor", "audience")
    list_filter = ("verb", "audience")
    search_fields = ("order__number", "message")
    list_select_related = ("order", "actor")
    readonly_fields = ("order", "actor", "verb", "message", "from_status", "to_status", "data", "audience",
                       "notified_at", "created_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(TilePyramid)
class TilePyramidAdmin(admin.ModelAdmin):
    """Made by the worker (``jobs.intake.tiles``) and deleted with their file: read here, never edited."""

    list_display = ("created_at", "image", "version", "watermarked", "width", "height", "size_bytes")
    list_filter = ("watermarked",)
    search_fields = ("image__filename", "image__order__number")
    list_select_related = ("image", "version__image")
    exclude = ("index",)  # hundreds of tile places; the pack's size and the picture's are what an operator reads
    readonly_fields = ("image", "version", "watermarked", "pack", "width", "height", "tile_size", "overlap", "format",
                       "size_bytes", "created_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class AnnotationReplyInline(admin.TabularInline):
    model = AnnotationReply
    extra = 0
    fields = ("created_at", "author", "audience", "text", "edited_at", "deleted_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    """Marks and their threads, deleted ones included (the audit): read here; people change them on the canvas
    within the edit window, through ``jobs.review.annotations``."""

    list_display = ("created_at", "image", "number", "shape", "audience", "author", "resolved_at", "deleted_at")
    list_filter = ("shape", "audience", ("resolved_at", admin.EmptyFieldListFilter),
                   ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("image__filename", "order__number", "text")
    list_select_related = ("image", "author")
    inlines = [AnnotationReplyInline]
    readonly_fields = ("order", "image", "version", "width", "height", "number", "shape", "selector", "x", "y", "w", "h",
                       "text", "audience", "author", "item", "resolved_at", "resolved_by", "created_at", "edited_at",
                       "deleted_at")
    exclude = ("mentions",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(OrderNumberSequence)
class OrderNumberSequenceAdmin(admin.ModelAdmin):
    list_display = ("year", "last")
    readonly_fields = ("year", "last")


@admin.register(CompanyExport)
class CompanyExportAdmin(admin.ModelAdmin):
    """Archives are asked for on the Team page or the API (with their security-log line), never made here."""

    list_display = ("client", "status", "requested_by", "created_at", "finished_at", "archive_size")
    list_filter = ("status",)
    search_fields = ("client__name",)
    list_select_related = ("client", "requested_by")
    readonly_fields = [f.name for f in CompanyExport._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False


class ShareActivityInline(admin.TabularInline):
    model = ShareActivity
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "kind", "detail", "ip_address")

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Review links are sent from the order page or the API (the token is shown once there, and the mail and
    the security log follow); here they are read, with their activity. Revoke them where they were sent."""

    list_display = ("email", "guest_name", "delivery", "downloads", "can_decide", "expires_at", "revoked_at", "created_by")
    list_filter = ("downloads", "can_decide")
    search_fields = ("email", "guest_name", "delivery__order__number", "delivery__order__client__name")
    list_select_related = ("delivery__order", "created_by")
    readonly_fields = [f.name for f in ShareLink._meta.fields if f.name not in ("password", "digest")]
    exclude = ("password", "digest")
    inlines = [ShareActivityInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """Each reviewer's answer per delivered picture (``jobs.review.reviewers``), read here: reviewers decide on the
    review page, through their link or the API, where the company's decision follows the rule."""

    list_display = ("image", "delivery", "reviewer_name", "verdict", "decided_at")
    list_filter = ("verdict",)
    search_fields = ("image__filename", "delivery__order__number", "reviewer__email", "reviewer_share__email")
    list_select_related = ("image", "delivery__order", "reviewer", "reviewer_share")
    readonly_fields = [f.name for f in ReviewDecision._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(RequiredReviewer)
class RequiredReviewerAdmin(admin.ModelAdmin):
    """Whom a delivery waits for; named on the order page or through the API, where the approvals they complete follow."""

    list_display = ("delivery", "name", "added_by", "added_at")
    search_fields = ("delivery__order__number", "user__email", "share__email")
    list_select_related = ("delivery__order", "user", "share", "added_by")
    readonly_fields = [f.name for f in RequiredReviewer._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(QualityTally)
class QualityTallyAdmin(admin.ModelAdmin):
    """The quality report's closed months as the worker counted them (``jobs.quality``), read here: the daily task
    writes them. Deleting them all makes the report count everything live until the next run, which counts every
    closed month again."""

    list_display = ("month", "kind", "per", "client", "retoucher", "hits", "total")
    list_filter = ("kind", "per", "month")
    list_select_related = ("client", "retoucher")
    readonly_fields = [f.name for f in QualityTally._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
