"""``{% stars 4 %}``: a score as five stars, said in words to a screen reader."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def stars(score: Any, size: str = "") -> SafeString:
    """Whole stars for a rounded score (4.4 shows four, 4.5 five); the exact figure is in the label."""
    if score is None:
        return format_html('<span class="stars stars-none">{}</span>', "no ratings yet")
    full = int(Decimal(str(score)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    full = max(0, min(5, full))
    label = f"{score} out of 5"
    return format_html('<span class="stars {}" role="img" aria-label="{}"><span aria-hidden="true">{}'
                       '<span class="stars-off">{}</span></span></span>', size, label, "★" * full, "★" * (5 - full))
