from __future__ import annotations

from rest_framework import serializers

from storefront.models import RATING_COMMENT_MAX, Rating


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
        fields = ["id", "order", "score", "comment", "publish", "shown_name", "shown_company", "by", "rated_at"]
        read_only_fields = fields
