from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from agency.fields import AmountField
from billing.models import ExportFormat, InvoiceStatus, PaymentMethod, PriceList
from clients.models import Currency
from jobs.models import Complexity, Service


class QuoteLineForm(forms.Form):
    description = forms.CharField(max_length=200)
    quantity = AmountField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
    unit_price = AmountField(max_digits=12, decimal_places=2)


class QuoteSendForm(forms.Form):
    valid_days = forms.IntegerField(min_value=1, max_value=90, initial=14, label="Valid for (days)")


class QuoteDeclineForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "Why you decline"}))


class PriceListForm(forms.ModelForm):
    tiers = forms.CharField(required=False, label="Volume discounts",
                            help_text="Image count and percent, comma-separated: 50:10, 200:15",
                            widget=forms.TextInput(attrs={"placeholder": "50:10, 200:15"}))

    class Meta:
        model = PriceList
        fields = ["name", "client", "currency", "express_multiplier", "rush_multiplier", "revision_fee_per_image",
                  "minimum_order", "tax_rate"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tiers"].initial = ", ".join(f"{t['min_images']}:{t['percent']}"
                                                     for t in self.instance.volume_tiers)
        self.services = list(Service.objects.filter(is_active=True))
        prices = {(r.service_id, r.complexity): r.unit_price for r in self.instance.rules.all()} if self.instance.pk else {}
        for service in self.services:
            for complexity in Complexity.values:
                self.fields[f"price_{service.code}_{complexity}"] = AmountField(
                    required=False, max_digits=12, decimal_places=2, min_value=Decimal("0"),
                    initial=prices.get((service.pk, complexity)), label=f"{service.name} ({complexity})",
                    widget=forms.NumberInput(attrs={"step": "0.01", "class": "price",
                                                    "aria-label": f"{service.name}, {complexity}: unit price"}))

    def clean_tiers(self) -> list[dict[str, str]]:
        raw = self.cleaned_data.get("tiers") or ""
        tiers = []
        for part in filter(None, (p.strip() for p in raw.split(","))):
            try:
                count, percent = part.split(":")
                tiers.append({"min_images": int(count), "percent": str(Decimal(percent.strip()))})
            except (ValueError, ArithmeticError) as exc:
                raise forms.ValidationError(f"“{part}” is not “images:percent”, such as 50:10.") from exc
        return tiers

    def rule_rows(self) -> list[dict[str, Any]]:
        return [{"service": s, "cells": [self[f"price_{s.code}_{c}"] for c in Complexity.values]} for s in self.services]

    def rules(self) -> list[dict[str, Any]]:
        return [{"service": s, "complexity": c, "unit_price": self.cleaned_data[f"price_{s.code}_{c}"]}
                for s in self.services for c in Complexity.values
                if self.cleaned_data.get(f"price_{s.code}_{c}") is not None]


DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")  # what <input type=date> reads


class InvoiceFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Number, order, PO, client or amount"}))
    client = forms.ModelChoiceField(queryset=None, required=False, empty_label="All clients")
    status = forms.ChoiceField(required=False)
    currency = forms.ChoiceField(required=False, choices=[("", "All currencies"), *Currency.choices])
    issued_from = forms.DateField(required=False, label="Issued from", widget=DATE_INPUT)
    issued_to = forms.DateField(required=False, label="Issued to", widget=DATE_INPUT)

    def __init__(self, *args: Any, clients: Any, currencies: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients
        self.fields["status"].choices = [("", "Any status"), *InvoiceStatus.choices, ("overdue", "Overdue")]
        if currencies is not None:  # only the currencies the viewer's documents are in; none to choose from one
            if len(currencies) <= 1:
                del self.fields["currency"]
            else:
                self.fields["currency"].choices = [("", "All currencies"), *((c, c) for c in currencies)]


class InvoiceGenerateForm(forms.Form):
    client = forms.ModelChoiceField(queryset=None, label="Client", empty_label="Choose a client")

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients


class InvoiceLineForm(forms.Form):
    description = forms.CharField(max_length=200)
    quantity = AmountField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"), initial=1)
    unit_price = AmountField(max_digits=12, decimal_places=2, label="Unit price",
                                    help_text="Negative for a discount.")


class InvoicePayForm(forms.Form):
    amount = AmountField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    received_on = forms.DateField(label="Received on", widget=DATE_INPUT)
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(max_length=140, required=False, help_text="The bank's reference, if any.")


class InvoiceCreditForm(forms.Form):
    amount = AmountField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
                                label="Amount before VAT", help_text="Leave empty to credit the whole invoice.")
    reason = forms.CharField(max_length=500, help_text="Printed on the credit note.")


class InvoiceVoidForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Kept with the invoice; its number stays taken.")


class InvoiceNoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False, label="Note on the invoice",
                           widget=forms.Textarea(attrs={"rows": 2}))


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices)
    date_from = forms.DateField(label="Issued from", widget=DATE_INPUT)
    date_to = forms.DateField(label="Issued to", widget=DATE_INPUT)
