"""Amounts as people type them: the digits 0–9, an optional minus and a dot for the cents.

Python's ``Decimal`` also reads other scripts' digits ("４０", "٤٠") and exponents ("4e1"); a money field
that passed them on would store an amount nobody typed on purpose. Every money and quantity input, in
forms and in the API, is one of these fields.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import serializers

PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
NOT_PLAIN = "Write the amount with the digits 0–9 and a dot before the cents (for example 1250.00)."


def _plain(value: Any) -> bool:
    return not isinstance(value, str) or bool(PLAIN_NUMBER.fullmatch(value.strip()))


class AmountField(forms.DecimalField):
    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not _plain(value):
            raise ValidationError(NOT_PLAIN, code="invalid")
        return super().to_python(value)


class AmountSerializerField(serializers.DecimalField):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not _plain(data):
            raise serializers.ValidationError(NOT_PLAIN)
        return super().to_internal_value(data)


class PlainAmountsMixin:
    """For model serializers: every decimal field of the model is read as a plain amount."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DecimalField: AmountSerializerField}


@functools.cache
def time_zone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every IANA zone, grouped by region for a select ("Europe" → "Europe/Berlin" shown as "Berlin")."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        region, _, place = name.partition("/")
        if not place or region in {"Etc", "SystemV", "US", "Canada", "Brazil", "Chile", "Mexico"} or name.isupper():
            continue  # legacy aliases; the region's cities are listed
        groups.setdefault(region, []).append((name, place.replace("_", " ").replace("/", " – ")))
    return [("", [("UTC", "UTC")]), *sorted(groups.items())]


class TimeZoneField(forms.ChoiceField):
    """A time zone chosen from the IANA list (never typed: "Europe/Berlim" cannot be saved). ``empty``
    names what an empty choice means, for fields where one is allowed."""

    def __init__(self, *, empty: str = "", **kwargs: Any) -> None:
        choices = time_zone_choices()
        super().__init__(choices=[("", empty), *choices] if empty else choices, required=not empty, **kwargs)
        self.error_messages["invalid_choice"] = "%(value)s is not a known time zone; choose one from the list."

    def valid_value(self, value: Any) -> bool:
        return value in zoneinfo.available_timezones() or (value == "" and not self.required)

    def keep(self, current: str) -> None:
        """Offer a zone saved earlier under an older name (``US/Eastern``) too, so saving keeps it."""
        if current and current not in {name for _, group in time_zone_choices() for name, _ in group}:
            self.choices = [("", [(current, current)]), *self.choices]
