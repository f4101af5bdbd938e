from __future__ import annotations

from rest_framework import serializers

from agency.api import ScopedRelatedField
from jobs.models import Complexity, Turnaround
from storefront.models import RATING_COMMENT_MAX, Estimate, Piece, PortfolioPair, PortfolioService, Rating, TrialRequest
from storefront.selectors import picture_list


class RatingInputSerializer(serializers.Serializer):
    score = serializers.IntegerField(help_text="1 to 5 stars.")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=RATING_COMMENT_MAX,
                                    trim_whitespace=True)
    publish = serializers.BooleanField(required=False, default=False,
                                       help_text="Show the comment on the studio's public page.")
    shown_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=80,
                                       help_text="The name shown beside a published comment.")
    shown_company = serializers.CharField(required=False, allow_blank=True, default="", max_length=120,
                                          help_text="The company shown beside a published comment (may be empty).")


class RatingSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.full_name", default=None, read_only=True)

    class Meta:
        model = Rating
        fields = ["id", "order", "score", "comment", "publish", "shown_name", "shown_company", "by", "rated_at",
                  "hidden_at", "hidden_reason"]
        read_only_fields = fields


class ConsentInputSerializer(serializers.Serializer):
    images = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True, default=None,
                                   max_length=1000, help_text="Pictures of the order; leave out for the whole order.")


class PairInputSerializer(serializers.Serializer):
    image = ScopedRelatedField(selector=lambda user: picture_list(user),
                               help_text="An approved picture whose client agreed to show it.")
    title = serializers.CharField(max_length=120)
    service = serializers.ChoiceField(choices=PortfolioService.choices)
    piece = serializers.ChoiceField(choices=Piece.choices)
    position = serializers.IntegerField(min_value=0, max_value=100_000, required=False, default=0)


class PairUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120, required=False)
    service = serializers.ChoiceField(choices=PortfolioService.choices, required=False)
    piece = serializers.ChoiceField(choices=Piece.choices, required=False)
    position = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    published = serializers.BooleanField(required=False)


class PairSerializer(serializers.ModelSerializer):
    order = serializers.UUIDField(source="image.order_id", read_only=True)
    client = serializers.CharField(source="client.name", read_only=True)
    filename = serializers.CharField(source="image.filename", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    consented = serializers.BooleanField(read_only=True, help_text="The client's consent is in force now.")
    shown = serializers.SerializerMethodField(help_text="On the public page now.")

    class Meta:
        model = PortfolioPair
        fields = ["id", "image", "order", "client", "filename", "version", "title", "service", "piece", "position",
                  "published", "consented", "shown", "copies_at", "copy_error", "width", "height", "created_at"]
        read_only_fields = fields

    def get_shown(self, pair: PortfolioPair) -> bool:
        return bool(pair.published and pair.copies_at and getattr(pair, "consented", False))


class EstimateInputSerializer(serializers.Serializer):
    """The form of ``POST /api/v1/public/estimates/`` (multipart); the rules are ``storefront.estimates``'."""

    files = serializers.ListField(child=serializers.FileField(), help_text="1 to 5 sample photos: JPEG, PNG or TIFF.")
    services = serializers.ListField(child=serializers.CharField(), help_text="Service codes (repeat the field, or "
                                                                              "separate them with commas).")
    turnaround = serializers.ChoiceField(choices=Turnaround.choices)
    count = serializers.IntegerField(help_text="How many pictures like these you have (1 to 5,000).")


class EstimateSampleSerializer(serializers.Serializer):
    name = serializers.CharField()
    grade = serializers.ChoiceField(choices=Complexity.choices)
    score = serializers.FloatField(allow_null=True, help_text="The measured difficulty, 0 to 12 (null: not measured).")
    features = serializers.DictField(child=serializers.FloatField(), help_text="docs/complexity.md")


class EstimateSerializer(serializers.ModelSerializer):
    price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True,
                                     help_text="Net, as the studio's quote would price these pictures.")
    samples = EstimateSampleSerializer(many=True)
    mix = serializers.DictField(child=serializers.IntegerField(), help_text="The pictures priced per grade.")
    drivers = serializers.SerializerMethodField(help_text="What drives the price, in a line.")

    class Meta:
        model = Estimate
        fields = ["id", "services", "turnaround", "count", "price", "currency", "ready_by", "schedule_note", "mix",
                  "samples", "drivers", "created_at", "expires_at"]
        read_only_fields = fields

    def get_drivers(self, estimate: Estimate) -> str:
        from storefront.estimates import estimate_drivers

        return estimate_drivers(estimate)


class TrialInputSerializer(serializers.Serializer):
    """The shape of a trial request; its rules and their words are ``storefront.trials``'."""

    company = serializers.CharField(max_length=300, allow_blank=True, default="")
    contact_name = serializers.CharField(max_length=300, allow_blank=True, default="")
    email = serializers.CharField(max_length=300, allow_blank=True, default="")
    country = serializers.CharField(max_length=10, allow_blank=True, default="", help_text="ISO 3166-1 alpha-2.")
    vat_number = serializers.CharField(max_length=64, allow_blank=True, default="")
    pictures = serializers.IntegerField(help_text="Free pictures asked for, at most the studio's offer.")
    services = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, default=list,
                                     help_text="Service codes (GET /api/v1/services/).")
    message = serializers.CharField(max_length=2000, allow_blank=True, default="")
    estimate = serializers.UUIDField(required=False, allow_null=True, default=None,
                                     help_text="The estimate it follows (kept a day), if any.")


class TrialSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id", read_only=True, allow_null=True)
    order = serializers.UUIDField(source="order_id", read_only=True, allow_null=True)
    decided_by = serializers.CharField(source="decided_by.full_name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = TrialRequest
        fields = ["id", "company", "contact_name", "email", "country", "vat_number", "pictures", "services", "message",
                  "estimate_summary", "status", "decline_reason", "decided_by", "decided_at", "client", "order",
                  "created_at"]
        read_only_fields = fields


class TrialReceiptSerializer(serializers.ModelSerializer):
    """What the anonymous requester is told: their request's id, state and what happens next."""

    next = serializers.SerializerMethodField()

    class Meta:
        model = TrialRequest
        fields = ["id", "status", "pictures", "next", "created_at"]
        read_only_fields = fields

    def get_next(self, trial: TrialRequest) -> str:
        return "The studio answers by e-mail; if it accepts, the invitation to sign in and upload comes with it."


class TrialDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, default="")
