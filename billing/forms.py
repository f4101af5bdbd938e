from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from billing.models import PriceList
from jobs.models import Complexity, Service


class QuoteLineForm(forms.Form):
    description = forms.CharField(max_length=200)
    quantity = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
    unit_price = forms.DecimalField(max_digits=12, decimal_places=2)


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
                self.fields[f"price_{service.code}_{complexity}"] = forms.DecimalField(
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
