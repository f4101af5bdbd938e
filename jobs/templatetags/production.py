"""Small helpers for the production pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def pct(value: Any) -> str:
    """0.12345 → "12.345" (a pin's position as a CSS percentage)."""
    return f"{Decimal(str(value)) * 100:.3f}"
