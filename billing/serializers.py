from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from agency.api import ScopedRelatedField
from agency.fields import AmountSerializerField, PlainAmountsMixin
from agency.timefmt import LocalTimesField
from billing.models import (
    DocumentKind,
    ExportFormat,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PriceList,
    PriceRule,
    Quote,
    QuoteLine,
)
from clients.models import Currency
from clients.selectors import client_list
from jobs.models import Complexity, Service
from jobs.selectors import order_list


class PriceRuleSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="code", queryset=Service.objects.filter(is_active=True))
    complexity = serializers.ChoiceField(choices=Complexity.choices)
    unit_price = AmountSerializerField(max_digits=12, decimal_places=2, min_value=Decimal("0"))

    class Meta:
        model = PriceRule
        fields = ["service", "complexity", "unit_price"]


class VolumeTierSerializer(serializers.Serializer):
    min_images = serializers.IntegerField(min_value=1)
    percent = AmountSerializerField(max_digits=4, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("99"))


class PriceListSerializer(PlainAmountsMixin, serializers.ModelSerializer):
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


class QuoteLineSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = QuoteLine
        fields = ["id", "position", "kind", "description", "service", "complexity", "quantity", "unit_price", "amount"]
        read_only_fields = fields


class QuoteSerializer(serializers.ModelSerializer):
    lines = QuoteLineSerializer(many=True, read_only=True)
    order = serializers.UUIDField(source="order_id", read_only=True)
    promise_note = LocalTimesField()
    promise_pilot = LocalTimesField()

    class Meta:
        model = Quote
        fields = ["id", "order", "status", "currency", "price_list_name", "lines", "net_total", "tax_rate", "tax_total",
                  "total", "valid_until", "promised_due_at", "promise_note", "promise_pilot", "decline_reason", "created_at",
                  "sent_at", "answered_at"]
        read_only_fields = fields


class QuoteLineInputSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=200)
    quantity = AmountSerializerField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
    unit_price = AmountSerializerField(max_digits=12, decimal_places=2, min_value=Decimal("-1000000"))


class QuoteSendSerializer(serializers.Serializer):
    valid_days = serializers.IntegerField(min_value=1, max_value=90, default=14)


class QuoteDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class InvoiceLineSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    order = serializers.UUIDField(source="order_id", read_only=True, allow_null=True)
    order_number = serializers.CharField(source="order.number", read_only=True, default="")

    class Meta:
        model = InvoiceLine
        fields = ["id", "position", "source", "order", "order_number", "po_number", "description", "quantity",
                  "unit_price", "amount"]
        read_only_fields = fields


class PaymentSerializer(PlainAmountsMixin, serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "received_on", "method", "reference", "created_at"]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id", read_only=True)
    client_name = serializers.CharField(source="client.name", read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)
    balance = AmountSerializerField(max_digits=12, decimal_places=2, read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    credits_invoice = serializers.CharField(source="credited_invoice.number", read_only=True, default=None,
                                            allow_null=True, help_text="A credit note: the invoice it credits.")

    class Meta:
        model = Invoice
        fields = ["id", "kind", "number", "status", "overdue", "client", "client_name", "currency", "tax_category",
                  "tax_rate", "net_total", "tax_total", "total", "paid_total", "credited_total", "balance",
                  "issue_date", "due_date", "period_start", "period_end", "credits_invoice", "note", "reason",
                  "seller", "buyer", "lines", "payments", "created_at", "issued_at", "voided_at"]
        read_only_fields = fields


class InvoiceFilterSerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=[*InvoiceStatus.values, "overdue"], required=False)
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    kind = serializers.ChoiceField(choices=DocumentKind.choices, required=False)
    issued_from = serializers.DateField(required=False)
    issued_to = serializers.DateField(required=False)
    q = serializers.CharField(required=False, max_length=100, allow_blank=True,
                              help_text="A document number, client, order number, PO number or total.")


class InvoiceGenerateSerializer(serializers.Serializer):
    order = ScopedRelatedField(selector=lambda user: order_list(user), required=False)
    client = ScopedRelatedField(selector=lambda user: client_list(user), required=False)
    month = serializers.DateField(required=False, help_text="With client: bill work completed up to the end of "
                                                            "this date's month, on that month's draft.")

    def validate(self, attrs: dict) -> dict:
        if ("order" in attrs) == ("client" in attrs):
            raise serializers.ValidationError({"order": ["Give an order or a client, not both."]})
        return attrs


class InvoiceVoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class InvoiceCreditSerializer(serializers.Serializer):
    amount = AmountSerializerField(max_digits=12, decimal_places=2, required=False,
                                      help_text="Net, before VAT; leave out to credit the whole invoice.")
    reason = serializers.CharField(max_length=500)


class InvoicePaySerializer(serializers.Serializer):
    amount = AmountSerializerField(max_digits=12, decimal_places=2)
    received_on = serializers.DateField(required=False)
    method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.TRANSFER)
    reference = serializers.CharField(max_length=140, required=False, default="", allow_blank=True)


# The query names are the contract's ``from`` and ``to``, Python keywords, hence the class built by type().
ExportQuerySerializer = type("ExportQuerySerializer", (serializers.Serializer,), {
    "from": serializers.DateField(help_text="First issue date (inclusive)."),
    "to": serializers.DateField(help_text="Last issue date (inclusive)."),
    "format": serializers.ChoiceField(choices=ExportFormat.choices),
})
