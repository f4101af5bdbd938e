"""Amounts as people type them: the digits 0–9, an optional minus and a dot for the cents.

Python's ``Decimal`` also reads other scripts' digits ("４０", "٤٠") and exponents ("4e1"); a money field
that passed them on would store an amount nobody typed on purpose. Every money and quantity input, in
forms and in the API, is one of these fields.
"""

from __future__ import annotations

import re
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
