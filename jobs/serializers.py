from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agency.api import ScopedRelatedField
from agency.permissions import is_studio_user
from agency.timefmt import LocalTimesField
from clients.selectors import client_list, style_guide_list
from jobs import workflow
from jobs.models import (
    Annotation,
    AnnotationReply,
    CompanyExport,
    Complexity,
    Delivery,
    Event,
    ItemKind,
    Message,
    Order,
    OrderImage,
    OrderStatus,
    QcCategory,
    RevisionItem,
    RevisionRound,
    Service,
    ShareActivity,
    ShareDownloads,
    ShareLink,
    Turnaround,
    Version,
)
from jobs.next_step import STEPS, next_step


class ServiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Service
        fields = ["id", "code", "name", "description", "minutes_simple", "minutes_standard", "minutes_complex"]
        read_only_fields = fields


class SlaSerializer(serializers.Serializer):
    state = serializers.CharField()
    used_hours = serializers.FloatField()
    left_hours = serializers.FloatField(allow_null=True)
    target_hours = serializers.IntegerField(allow_null=True)


def sla_payload(order: Order, context: dict[str, Any]) -> dict[str, Any] | None:
    from django.utils import timezone

    from agency.calendar import studio_calendar
    from jobs.production import sla

    calendar = context.get("calendar") or studio_calendar()
    context["calendar"] = calendar
    result = sla.status(order, now=timezone.now(), calendar=calendar)
    if result is None:
        return None
    return {"state": result.state, "used_hours": round(result.used_seconds / 3600, 2),
            "left_hours": None if result.left_seconds is None else round(result.left_seconds / 3600, 2),
            "target_hours": order.sla_target_hours}


@extend_schema_field(serializers.ListField(child=serializers.ChoiceField(
    choices=["submit", "cancel", "hold", "resume", "edit"])))
class OrderActionsField(serializers.Field):
    """The transitions the requesting user can take now, so clients need not re-code the rules."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, order: Order) -> list[str]:
        return workflow.available_actions(self.context["request"].user, order)


class NextStepSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[step.code for step in STEPS])
    text = serializers.CharField()
    action_needed = serializers.BooleanField(source="mine", help_text="It is the requesting user's move.")


class ClientRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class StyleGuideRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class QcDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["pass", "reject"])
    category = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()


class HeldFromField(serializers.ChoiceField):
    """The state an order on hold returns to; null when it is not on hold (never "", which is not a state)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=OrderStatus.choices, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return value or None


class RetentionSerializer(serializers.Serializer):
    """How long the order's files are kept (``jobs.retention``)."""

    files_days = serializers.IntegerField(help_text="Originals and versions are kept this many days after completion.")
    deliveries_days = serializers.IntegerField(help_text="Delivered files are kept this many days after completion.")
    held = serializers.BooleanField(help_text="A legal hold keeps everything until further notice.")
    files_until = serializers.DateTimeField(allow_null=True, help_text="Null before completion, under a hold, or "
                                                                       "once deleted.")
    deliveries_until = serializers.DateTimeField(allow_null=True)
    files_deleted_at = serializers.DateTimeField(allow_null=True)
    deliveries_deleted_at = serializers.DateTimeField(allow_null=True)


class LegalHoldInputSerializer(serializers.Serializer):
    hold = serializers.BooleanField(help_text="true places the hold, false lifts it.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class PilotSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "approved"],
                                     help_text="running: the pilot's pictures are in work or review; approved: the rest "
                                               "started.")
    pictures = serializers.IntegerField(help_text="Pictures in the pilot.")
    approved = serializers.IntegerField(help_text="Of those, approved by the client.")
    waiting = serializers.IntegerField(help_text="Pictures waiting for the pilot's approval (0 once it is approved).")


class PilotChoiceSerializer(serializers.Serializer):
    images = serializers.ListField(child=serializers.UUIDField(), max_length=50, allow_empty=True,
                                   help_text="The pictures that make the pilot, at most the client's pilot size; [] "
                                             "leaves it to the first pictures by position.")


class OrderOutputSerializer(serializers.ModelSerializer):
    held_from = HeldFromField(help_text="While on hold: the state it returns to; otherwise null.")
    client = serializers.SerializerMethodField()
    next_step = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()
    style_guide = serializers.SerializerMethodField()
    services = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    image_count = serializers.IntegerField(read_only=True)
    actions = OrderActionsField()
    retention = serializers.SerializerMethodField()
    pilot = serializers.SerializerMethodField(
        help_text="A new style guide's first order starts with a pilot (docs/pilots.md); null: no pilot.")

    class Meta:
        model = Order
        fields = ["id", "number", "title", "status", "held_from", "client", "style_guide", "services", "turnaround",
                  "instructions", "po_number", "image_count", "created_at", "submitted_at", "due_at", "sla", "actions",
                  "next_step", "pilot", "retention"]
        read_only_fields = fields

    @extend_schema_field(PilotSerializer(allow_null=True))
    def get_pilot(self, order: Order) -> dict[str, Any] | None:
        from jobs.production import pilots

        return pilots.facts(order)

    @extend_schema_field(RetentionSerializer)
    def get_retention(self, order: Order) -> dict[str, Any]:
        from jobs import retention

        return RetentionSerializer(retention.kept(order)).data

    @extend_schema_field(NextStepSerializer(allow_null=True))
    def get_next_step(self, order: Order) -> dict[str, Any] | None:
        step = next_step(order, self.context["request"].user)
        return NextStepSerializer(step).data if step else None

    @extend_schema_field(SlaSerializer(allow_null=True))
    def get_sla(self, order: Order) -> dict[str, Any] | None:
        return sla_payload(order, self.context)

    @extend_schema_field(ClientRefSerializer)
    def get_client(self, order: Order) -> dict[str, str]:
        return {"id": str(order.client_id), "name": order.client.name}

    @extend_schema_field(StyleGuideRefSerializer)
    def get_style_guide(self, order: Order) -> dict[str, Any]:
        guide = order.style_guide
        return {"id": str(guide.pk), "name": guide.name, "version": guide.version}


class OrderListSerializer(OrderOutputSerializer):
    class Meta(OrderOutputSerializer.Meta):
        fields = [f for f in OrderOutputSerializer.Meta.fields if f not in {"services", "instructions"}]
        read_only_fields = fields


class OrderInputSerializer(serializers.ModelSerializer):
    client = ScopedRelatedField(selector=lambda user: client_list(user), required=False)
    style_guide = ScopedRelatedField(selector=lambda user: style_guide_list(user))
    # The catalog is not tenant data: any active service may be chosen.
    services = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Service.objects.filter(is_active=True), allow_empty=False,
    )
    turnaround = serializers.ChoiceField(choices=Turnaround.choices, default=Turnaround.STANDARD)

    class Meta:
        model = Order
        fields = ["client", "title", "style_guide", "services", "turnaround", "instructions", "po_number"]


class OrderUpdateSerializer(OrderInputSerializer):
    class Meta(OrderInputSerializer.Meta):
        fields = ["title", "style_guide", "services", "turnaround", "instructions", "po_number"]


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    client = serializers.UUIDField(required=False)
    search = serializers.CharField(required=False, max_length=100)
    mine = serializers.BooleanField(required=False, default=False,
                                    help_text="Only the orders waiting for the requesting user (action needed).")


class TransitionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    message = LocalTimesField()

    class Meta:
        model = Event
        fields = ["id", "verb", "message", "from_status", "to_status", "actor", "data", "audience", "created_at"]
        read_only_fields = fields

    def get_actor(self, event: Event) -> str | None:
        return (event.actor.full_name or event.actor.email) if event.actor else None


class UploadFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=1000, trim_whitespace=False)
    size = serializers.IntegerField(min_value=0)
    content_type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$", required=False, allow_blank=True, default="",
        error_messages={"invalid": "Give the SHA-256 as 64 hex digits."},
        help_text="The whole file's SHA-256: required up to 64 MiB (sent in one PUT and checked against it); "
                  "optional above, where each part carries its own (POST parts_url).")
    # The largest accepted file (LOUPE_MAX_UPLOAD_BYTES) is refused here, before any byte is sent.


class UploadsInputSerializer(serializers.Serializer):
    files = UploadFileSerializer(many=True, allow_empty=False, max_length=200)


class PartSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = serializers.CharField(max_length=200)


class CompleteInputSerializer(serializers.Serializer):
    parts = PartSerializer(many=True, required=False, max_length=10_000,
                           help_text="Optional for a multipart upload: Loupe reads the parts storage holds; "
                                     "when given, their ETags must match what storage holds.")


class PartSignInputSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=10_000)
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", help_text="The SHA-256 of this part's bytes (64 hex digits).",
                                    error_messages={"invalid": "Give the part's SHA-256 as 64 hex digits."})


class SignedPartSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Exactly this many bytes go in the PUT.")
    url = serializers.CharField(help_text="PUT the part here with `headers`; storage refuses other bytes.")
    headers = serializers.DictField(child=serializers.CharField())
    expires_in = serializers.IntegerField()


class StoredPartSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    etag = serializers.CharField()
    sha256 = serializers.CharField()


class UploadPartsSerializer(serializers.Serializer):
    upload_id = serializers.CharField()
    part_size = serializers.IntegerField()
    parts = StoredPartSerializer(many=True, help_text="The parts storage holds whole: do not send them again.")
    missing = serializers.ListField(child=serializers.IntegerField(), help_text="The part numbers still to send.")


class PreflightSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class VersionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Version
        fields = ["id", "number", "status", "approved", "created_at"]
        read_only_fields = fields


class TileSourceSerializer(serializers.Serializer):
    """A deep-zoom tile source (OpenSeadragon's Deep Zoom layout): tile ``level/col_row`` is at ``tiles``
    with ``{level}``, ``{col}`` and ``{row}`` filled in."""

    width = serializers.IntegerField(help_text="The pyramid's full width in pixels.")
    height = serializers.IntegerField()
    tile_size = serializers.IntegerField(help_text="Tiles are this size plus the overlap on each inner edge.")
    overlap = serializers.IntegerField()
    format = serializers.CharField()
    watermarked = serializers.BooleanField(help_text="A held order's proof: cut from the watermarked preview.")
    file_width = serializers.IntegerField(help_text="The file's width: marks are kept in the file's pixels.")
    file_height = serializers.IntegerField()
    tiles = serializers.CharField(help_text="The tile URL template.")


class TilesLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The tile source (GET it for the descriptor).")
    width = serializers.IntegerField()
    height = serializers.IntegerField()


def tiles_link(row: Any, kind: str) -> dict[str, Any] | None:
    """Where the file's tile source is, once its tiles are made (``has_tiles``, annotated by the selectors)."""
    if not getattr(row, "has_tiles", False):
        return None
    return {"url": f"/api/v1/{kind}/{row.pk}/tiles/", "width": row.width, "height": row.height}


class ImageSerializer(serializers.ModelSerializer):
    order = serializers.UUIDField(source="order_id", read_only=True)
    versions = VersionBriefSerializer(source="visible_versions", many=True, read_only=True, default=list,
                                      help_text="The versions you may see (clients: those delivered to them).")
    processing = serializers.BooleanField(source="is_processing", read_only=True)
    megapixels = serializers.FloatField(read_only=True, allow_null=True)
    preflight = PreflightSerializer(many=True, read_only=True)
    thumbnail = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()
    tiles = serializers.SerializerMethodField()
    complexity_estimate = serializers.SerializerMethodField(
        help_text="The grade measured from the pixels at intake (docs/complexity.md); null before it was measured.")
    complexity_features = serializers.JSONField(
        read_only=True, help_text="What the estimate was measured from (docs/complexity.md): its score (0-12) and the "
                                  "features clutter, product, highlights, outline and dust; {} before it was measured.")
    complexity_reason = serializers.SerializerMethodField(
        help_text="Why a manager graded it otherwise than measured (studio only: null for clients).")

    class Meta:
        model = OrderImage
        fields = ["id", "order", "filename", "sku", "instructions", "status", "reason", "processing", "complexity",
                  "complexity_estimate", "complexity_features", "complexity_reason", "in_pilot", "format", "width", "height",
                  "megapixels", "mode", "bit_depth", "icc_profile", "has_alpha", "dpi",
                  "size_bytes", "sha256", "preflight", "thumbnail", "preview", "tiles", "versions", "created_at"]
        read_only_fields = fields

    @extend_schema_field(TilesLinkSerializer(allow_null=True))
    def get_tiles(self, image: OrderImage) -> dict[str, Any] | None:
        return tiles_link(image, "images")

    @extend_schema_field(serializers.ChoiceField(choices=Complexity.choices, allow_null=True))
    def get_complexity_estimate(self, image: OrderImage) -> str | None:
        return image.complexity_estimate or None

    def get_complexity_reason(self, image: OrderImage) -> str | None:
        request = self.context.get("request")
        return image.complexity_reason if request is not None and is_studio_user(request.user) else None

    def _link(self, image: OrderImage, what: str) -> str | None:
        return f"/api/v1/images/{image.pk}/download/?what={what}" if getattr(image, what) else None

    def get_thumbnail(self, image: OrderImage) -> str | None:
        return self._link(image, "thumbnail")

    def get_preview(self, image: OrderImage) -> str | None:
        return self._link(image, "preview")


class RemovedSerializer(serializers.Serializer):
    removed = serializers.IntegerField(help_text="How many files were removed.")


class ImageInputSerializer(serializers.ModelSerializer):
    """What a client (SKU, instructions) or the studio (also complexity) may change before production."""

    class Meta:
        model = OrderImage
        fields = ["sku", "instructions", "complexity", "complexity_reason"]
        extra_kwargs = {"sku": {"required": False}, "instructions": {"required": False},
                        "complexity": {"required": False}, "complexity_reason": {"required": False}}


class PlannedPartSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()


class UploadTargetSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["PUT", "MULTIPART"])
    url = serializers.CharField(required=False)
    headers = serializers.DictField(child=serializers.CharField(), required=False)
    upload_id = serializers.CharField(required=False)
    part_size = serializers.IntegerField(required=False)
    parts = PlannedPartSerializer(many=True, required=False,
                                  help_text="MULTIPART: the parts to send, each signed with its SHA-256 at parts_url.")
    parts_url = serializers.CharField(required=False, help_text="MULTIPART: POST {number, sha256} for a part's URL; "
                                                                "GET the parts storage holds (to resume).")
    expires_in = serializers.IntegerField()
    complete_url = serializers.CharField()


class ImageWithTargetSerializer(serializers.Serializer):
    image = ImageSerializer()
    upload = UploadTargetSerializer()


class UploadsOutputSerializer(serializers.Serializer):
    images = ImageWithTargetSerializer(many=True)


class DeliverySerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    review_deadline = serializers.SerializerMethodField(
        help_text="When the company's review is due: review_by, or when auto-approval closes it; null: no deadline.")

    class Meta:
        model = Delivery
        fields = ["id", "order", "number", "kind", "status", "reason", "images", "files_done", "file_count",
                  "archive_size", "created_at", "review_by", "review_deadline", "download"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_review_deadline(self, delivery: Delivery) -> str | None:
        from jobs.review.deadlines import review_deadline

        deadline = review_deadline(delivery) if delivery.kind == "review" else None
        return serializers.DateTimeField().to_representation(deadline) if deadline else None

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_images(self, delivery: Delivery) -> list[str]:
        return [str(item.image_id) for item in delivery.items.all()]

    def get_download(self, delivery: Delivery) -> str | None:
        return f"/api/v1/deliveries/{delivery.pk}/download/" if delivery.status == "ready" else None


class PlacementSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    filename = serializers.CharField()
    retoucher = serializers.UUIDField(allow_null=True)
    retoucher_name = serializers.CharField(allow_null=True)
    minutes = serializers.IntegerField()
    finish = serializers.DateTimeField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)


class ProposalSerializer(serializers.Serializer):
    placements = PlacementSerializer(many=True)
    finish = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)


class AssignmentPairSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    retoucher = serializers.UUIDField()


class ScheduleApplySerializer(serializers.Serializer):
    assignments = AssignmentPairSerializer(many=True, required=False, max_length=1000)


class AssignInputSerializer(serializers.Serializer):
    retoucher = serializers.UUIDField()
    reassign = serializers.BooleanField(default=False)


class AssignmentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    image = serializers.UUIDField(source="image_id")
    retoucher = serializers.UUIDField(source="retoucher_id")
    retoucher_name = serializers.CharField(source="retoucher.full_name")
    minutes = serializers.IntegerField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


# Production and review -----------------------------------------------------------------------------

class CheckSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    passed = serializers.BooleanField(allow_null=True)
    measured = serializers.CharField()
    required = serializers.CharField()


class VersionSerializer(serializers.ModelSerializer):
    image = serializers.UUIDField(source="image_id", read_only=True)
    order = serializers.UUIDField(source="image.order_id", read_only=True)
    processing = serializers.BooleanField(source="is_processing", read_only=True)
    checks = CheckSerializer(many=True, read_only=True)
    qc = serializers.SerializerMethodField()
    author = serializers.SerializerMethodField()
    round = serializers.IntegerField(source="round.number", allow_null=True, read_only=True, default=None)
    thumbnail = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()
    tiles = serializers.SerializerMethodField()

    class Meta:
        model = Version
        fields = ["id", "image", "order", "number", "status", "reason", "processing", "filename", "format", "width",
                  "height", "mode", "bit_depth", "icc_profile", "has_alpha", "dpi", "size_bytes", "sha256", "checks",
                  "work_minutes", "estimate_minutes", "qc", "author", "round", "approved", "thumbnail", "preview",
                  "tiles", "created_at"]
        read_only_fields = fields

    @extend_schema_field(TilesLinkSerializer(allow_null=True))
    def get_tiles(self, version: Version) -> dict[str, Any] | None:
        return tiles_link(version, "versions")

    @extend_schema_field(QcDecisionSerializer(allow_null=True))
    def get_qc(self, version: Version) -> dict[str, Any] | None:
        if version.qc_at is None:
            return None
        return {"decision": "pass" if version.status == "passed" else "reject", "category": version.qc_category,
                "notes": version.qc_note, "by": version.qc_by.full_name if version.qc_by else None, "at": version.qc_at}

    def get_author(self, version: Version) -> str | None:
        return version.created_by.full_name if version.created_by else None

    def _link(self, version: Version, what: str) -> str | None:
        return f"/api/v1/versions/{version.pk}/download/?what={what}" if getattr(version, what) else None

    def get_thumbnail(self, version: Version) -> str | None:
        return self._link(version, "thumbnail")

    def get_preview(self, version: Version) -> str | None:
        return self._link(version, "preview")


class VersionWithTargetSerializer(serializers.Serializer):
    version = VersionSerializer()
    upload = UploadTargetSerializer()


class QcInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["pass", "reject"])
    category = serializers.ChoiceField(choices=QcCategory.choices, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DeliverInputSerializer(serializers.Serializer):
    images = serializers.ListField(child=serializers.UUIDField(), required=False, allow_empty=False, max_length=1000,
                                   help_text="The ready images to publish; all ready images when left out.")
    review_by = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                          help_text="When the company's review is due (an hour to 90 days ahead); "
                                                    "reviewers are reminded the day before.")


class MarkInputSerializer(serializers.Serializer):
    """A new mark as W3C Web Annotation JSON: its ``target`` (a ``FragmentSelector`` ``xywh=pixel:x,y,w,h`` for
    a point or rectangle, an ``SvgSelector`` for an ellipse, polygon, freehand line or arrow; none for the
    whole picture), in the file's pixels, and its text (``text``, or the first ``TextualBody``)."""

    target = serializers.JSONField(required=False, allow_null=True, default=None)
    text = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    body = serializers.JSONField(required=False, default=None, help_text="W3C bodies: the first TextualBody's value.")
    mentions = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=20,
                                     help_text="People who can see the order, told once.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        body = attrs.pop("body", None)
        if not attrs["text"] and body:
            bodies = body if isinstance(body, list) else [body]
            texts = [b.get("value") for b in bodies if isinstance(b, dict) and isinstance(b.get("value"), str)]
            attrs["text"] = texts[0] if texts else ""
        return attrs


class AnnotationInputSerializer(MarkInputSerializer):
    audience = serializers.ChoiceField(choices=["client", "studio"], required=False, default=None, allow_null=True,
                                       help_text="Managers: 'client' to write to the client; studio marks are the default.")


class AnnotationEditSerializer(serializers.Serializer):
    target = serializers.JSONField(required=False, allow_null=True, default=None)
    text = serializers.CharField(max_length=2000, required=False, default=None)


class ReplyInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
    mentions = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=20)
    internal = serializers.BooleanField(default=False, help_text="Studio: keep the reply from the client.")


class ReplyEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)


def _person(user: Any) -> dict[str, Any] | None:
    return {"id": str(user.pk), "type": "Person", "name": user.full_name} if user is not None else None


def _writer(row: Any) -> dict[str, Any] | None:
    """A mark's or reply's creator: a person, or a guest by the name they gave (no account, so no id)."""
    if row.author_share_id is not None and row.author is None:
        return {"type": "Person", "name": row.author_share.guest_name or row.author_share.email, "guest": True}
    return _person(row.author)


class AnnotationReplySerializer(serializers.ModelSerializer):
    creator = serializers.SerializerMethodField()
    mentions = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)
    modified = serializers.DateTimeField(source="edited_at", read_only=True)

    class Meta:
        model = AnnotationReply
        fields = ["id", "text", "creator", "audience", "mentions", "created", "modified"]
        read_only_fields = fields

    def get_creator(self, reply: AnnotationReply) -> dict[str, Any] | None:
        return _writer(reply)

    def get_mentions(self, reply: AnnotationReply) -> list[dict[str, Any]]:
        return [_person(u) for u in reply.mentions.all()]


class AnnotationSerializer(serializers.ModelSerializer):
    """A mark as W3C Web Annotation JSON with Loupe's facts beside: the file it was drawn on (``target.source``,
    ``width`` × ``height`` pixels), its number, thread, round and whether it is resolved."""

    context = serializers.SerializerMethodField(method_name="get_context_url")
    type = serializers.SerializerMethodField(method_name="get_kind")
    motivation = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    creator = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)
    modified = serializers.DateTimeField(source="edited_at", read_only=True)
    round = serializers.SerializerMethodField()
    resolved = serializers.SerializerMethodField()
    resolved_by = serializers.SerializerMethodField()
    mentions = serializers.SerializerMethodField()
    replies = AnnotationReplySerializer(many=True, read_only=True)

    class Meta:
        model = Annotation
        fields = ["context", "id", "type", "motivation", "number", "body", "target", "image", "version", "width",
                  "height", "shape", "audience", "creator", "created", "modified", "round", "resolved", "resolved_at",
                  "resolved_by", "mentions", "replies"]
        read_only_fields = fields

    def to_representation(self, mark: Annotation) -> dict[str, Any]:
        data = super().to_representation(mark)
        data["@context"] = data.pop("context")
        return data

    def get_context_url(self, mark: Annotation) -> str:
        return "http://www.w3.org/ns/anno.jsonld"

    def get_kind(self, mark: Annotation) -> str:
        return "Annotation"

    def get_motivation(self, mark: Annotation) -> str:
        return "commenting"

    def get_body(self, mark: Annotation) -> list[dict[str, Any]]:
        return [{"type": "TextualBody", "purpose": "commenting", "format": "text/plain", "value": mark.text}]

    def get_target(self, mark: Annotation) -> dict[str, Any]:
        source = f"/api/v1/versions/{mark.version_id}/" if mark.version_id else f"/api/v1/images/{mark.image_id}/"
        return {"source": source, "selector": mark.selector} if mark.selector else {"source": source}

    def get_creator(self, mark: Annotation) -> dict[str, Any] | None:
        return _writer(mark)

    def get_round(self, mark: Annotation) -> int | None:
        return mark.item.round.number if mark.item_id else None

    def get_resolved(self, mark: Annotation) -> bool:
        return mark.resolved_at is not None

    def get_resolved_by(self, mark: Annotation) -> dict[str, Any] | None:
        return _person(mark.resolved_by)

    def get_mentions(self, mark: Annotation) -> list[dict[str, Any]]:
        return [_person(u) for u in mark.mentions.all()]


class ReviewItemInputSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    decision = serializers.ChoiceField(choices=["approve", "revise"])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False, default=ItemKind.CHANGE)
    marks = MarkInputSerializer(many=True, required=False, max_length=50, default=list,
                                help_text="New marks on the delivered version, in its pixels.")
    annotations = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=50,
                                        help_text="Marks already drawn on the delivered version (POST …/annotations/).")


class ReviewInputSerializer(serializers.Serializer):
    items = ReviewItemInputSerializer(many=True, allow_empty=False, max_length=1000)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    confirm = serializers.BooleanField(default=False, help_text="A client admin accepts the price of a billable round.")


class RevisionItemSerializer(serializers.ModelSerializer):
    image = serializers.UUIDField(source="image_id", read_only=True)
    filename = serializers.CharField(source="image.filename", read_only=True)
    annotations = AnnotationSerializer(many=True, read_only=True)

    class Meta:
        model = RevisionItem
        fields = ["id", "image", "filename", "note", "proposed_kind", "kind", "reclass_reason", "annotations"]
        read_only_fields = fields


class RevisionRoundSerializer(serializers.ModelSerializer):
    items = RevisionItemSerializer(many=True, read_only=True)
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = RevisionRound
        fields = ["id", "order", "number", "status", "billable", "note", "requested_by", "confirmed_at", "created_at",
                  "items"]
        read_only_fields = fields

    def get_requested_by(self, round_: RevisionRound) -> str | None:
        return round_.requester_name or None


class ReviewResultSerializer(serializers.Serializer):
    approved = serializers.IntegerField()
    completed = serializers.BooleanField()
    round = RevisionRoundSerializer(allow_null=True)


class RoundAnswerSerializer(serializers.Serializer):
    confirm = serializers.BooleanField()


class ReclassInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ItemKind.choices)
    reason = serializers.CharField(max_length=500)


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "order", "author", "body", "internal", "created_at"]
        read_only_fields = fields

    def get_author(self, message: Message) -> str | None:
        return message.author.full_name if message.author else None


class MessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=2000)
    internal = serializers.BooleanField(default=False)


class VersionDownloadQuerySerializer(serializers.Serializer):
    what = serializers.ChoiceField(choices=["file", "preview", "thumbnail"], default="preview")


class CompanyExportSerializer(serializers.ModelSerializer):
    client = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = CompanyExport
        fields = ["id", "client", "status", "reason", "archive_size", "counts", "requested_by", "created_at",
                  "finished_at"]
        read_only_fields = fields

    @extend_schema_field(ClientRefSerializer)
    def get_client(self, export: CompanyExport) -> dict[str, str]:
        return {"id": str(export.client_id), "name": export.client.name}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_requested_by(self, export: CompanyExport) -> str | None:
        return export.requested_by.full_name if export.requested_by else None


class OrderRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()


class ShareActivitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ShareActivity
        fields = ["kind", "detail", "at"]
        read_only_fields = fields


class ShareLinkSerializer(serializers.ModelSerializer):
    """A review link without its secret: who it is for, what it allows, until when, and what happened with it."""

    order = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    has_password = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    activity = ShareActivitySerializer(many=True, read_only=True)

    class Meta:
        model = ShareLink
        fields = ["id", "delivery", "order", "email", "guest_name", "prefix", "has_password", "can_decide", "downloads",
                  "expires_at", "state", "created_by", "created_at", "revoked_at", "activity"]
        read_only_fields = fields

    @extend_schema_field(OrderRefSerializer)
    def get_order(self, link: ShareLink) -> dict[str, str]:
        order = link.delivery.order
        return {"id": str(order.pk), "number": order.number}

    @extend_schema_field(serializers.ChoiceField(choices=["active", "revoked", "expired"]))
    def get_state(self, link: ShareLink) -> str:
        return "revoked" if link.revoked_at else "active" if link.is_active else "expired"

    def get_has_password(self, link: ShareLink) -> bool:
        return bool(link.password)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, link: ShareLink) -> str | None:
        return link.created_by.full_name if link.created_by else None


class ShareCreatedSerializer(ShareLinkSerializer):
    url = serializers.SerializerMethodField(help_text="The guest's personal link: shown once, never stored.")

    class Meta(ShareLinkSerializer.Meta):
        fields = [*ShareLinkSerializer.Meta.fields, "url"]
        read_only_fields = fields

    def get_url(self, link: ShareLink) -> str:
        return self.context["url"]


class ShareInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="The person the link is for.")
    expires_at = serializers.DateTimeField(required=False, help_text="Default: in 14 days; at most 90 days ahead.")
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False,
                                     max_length=128, help_text="Optional; at least 8 characters.")
    can_decide = serializers.BooleanField(default=False, help_text="Approve or request changes (client admins grant it).")
    downloads = serializers.ChoiceField(choices=ShareDownloads.choices, default=ShareDownloads.NONE)


class CompanyExportInputSerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False, help_text="The company; a client admin's own by default.")
