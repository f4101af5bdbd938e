from __future__ import annotations

from rest_framework import serializers

from agency.fields import PlainAmountsMixin
from agency.models import MANAGER_ROLES, User
from clients.models import OUTPUT_FORMATS, Client, StyleGuide


class ClientOutputSerializer(serializers.ModelSerializer):
    # May be empty (not given yet): a plain string, since "" is not a valid address format.
    billing_email = serializers.CharField(read_only=True, help_text="Where invoices go; empty until given.")

    class Meta:
        model = Client
        fields = ["id", *Client.TERMS_FIELDS, "created_at"]
        read_only_fields = fields


class ClientInputSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    account_manager = serializers.PrimaryKeyRelatedField(
        # Studio users are not tenant data; only the choice of role is restricted.
        queryset=User.objects.filter(role__in=MANAGER_ROLES, is_active=True), required=False, allow_null=True,
    )

    class Meta:
        model = Client
        fields = list(Client.TERMS_FIELDS)


STYLE_GUIDE_CONTENT = list(StyleGuide.CONTENT_FIELDS)


class StyleGuideOutputSerializer(serializers.ModelSerializer):
    locked = serializers.BooleanField(source="is_locked", read_only=True)
    reference = serializers.SerializerMethodField()

    class Meta:
        model = StyleGuide
        fields = ["id", "client", "family", "version", "is_current", "locked", *STYLE_GUIDE_CONTENT, "reference",
                  "created_at"]
        read_only_fields = fields

    def get_reference(self, guide: StyleGuide) -> dict[str, str] | None:
        """The golden reference picture: its label and a link that redirects to a short-lived URL."""
        if not guide.reference_key:
            return None
        return {"label": guide.reference_label, "url": f"/style-guides/{guide.pk}/reference/"}


class StyleGuideInputSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    output_formats = serializers.ListField(
        child=serializers.ChoiceField(choices=OUTPUT_FORMATS), min_length=1, max_length=len(OUTPUT_FORMATS),
    )

    class Meta:
        model = StyleGuide
        fields = STYLE_GUIDE_CONTENT

