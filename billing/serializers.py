from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from agency.api import ScopedRelatedField
from agency.timefmt import LocalTimesField
from billing.models import PriceList, PriceRule, Quote, QuoteLine
from clients.selectors import client_list
from jobs.models import Complexity, Service


class PriceRuleSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="code", queryset=Service.objects.filter(is_active=True))
    complexity = serializers.ChoiceField(choices=Complexity.choices)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"))

    class Meta:
        model = PriceRule
        fields = ["service", "complexity", "unit_price"]


class VolumeTierSerializer(serializers.Serializer):
    min_images = serializers.IntegerField(min_value=1)
    percent = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("99"))


class PriceListSerializer(serializers.ModelSerializer):
    rules = PriceRuleSerializer(many=True, required=False)
    volume_tiers = VolumeTierSerializer(many=True, required=False)

    class Meta:
        model = PriceList
        fields = ["id", "name", "client", "currency", "volume_tiers", "express_multiplier", "rush_multiplier",
                  "revision_fee_per_image", "minimum_order", "tax_rate", "rules", "updated_at"]
        read_only_fields = ["id", "client", "updated_at"]


class PriceListCreateSerializer(PriceListSerializer):
    client = ScopedRelatedField(selector=lambda user: client_list(user), required=False, allow_null=True)

    class Meta(PriceListSerializer.Meta):
        read_only_fields = ["id", "updated_at"]


class QuoteLineSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = QuoteLine
        fields = ["id", "position", "kind", "description", "service", "complexity", "quantity", "unit_price", "amount"]
        read_only_fields = fields


class QuoteSerializer(serializers.ModelSerializer):
    lines = QuoteLineSerializer(many=True, read_only=True)
    order = serializers.UUIDField(source="order_id", read_only=True)
    promise_note = LocalTimesField()

    class Meta:
        model = Quote
        fields = ["id", "order", "status", "currency", "price_list_name", "lines", "net_total", "tax_rate", "tax_total",
                  "total", "valid_until", "promised_due_at", "promise_note", "decline_reason", "created_at", "sent_at",
                  "answered_at"]
        read_only_fields = fields


class QuoteLineInputSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=200)
    quantity = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("-1000000"))


class QuoteSendSerializer(serializers.Serializer):
    valid_days = serializers.IntegerField(min_value=1, max_value=90, default=14)


class QuoteDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
