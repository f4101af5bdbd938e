"""Time filters for templates: ``{{ text|times }}`` shows stamped times in the viewer's zone;
``{{ moment|relative }}`` says "in 5 h" or "2 days ago" (the absolute time goes in a title)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from agency.timefmt import render_times

register = template.Library()


@register.filter(name="times")
def local_times(text: str) -> str:
    """Times stamped into stored text (``agency.timefmt.stamp``) in the viewer's zone."""
    return render_times(str(text or ""))


@register.filter(name="relative")
def relative(moment: datetime | None) -> str:
    """'in 5 h', 'in 3 days', '20 min ago', 'yesterday'-style wording for a moment near now."""
    if not isinstance(moment, datetime):
        return ""
    seconds = (moment - timezone.now()).total_seconds()
    ahead, span = seconds >= 0, abs(seconds)
    if span < 60:
        return "now"
    if span < 3600:
        text = f"{span // 60:.0f} min"
    elif span < 48 * 3600:
        text = f"{span // 3600:.0f} h"
    else:
        text = f"{span // 86400:.0f} days"
    return f"in {text}" if ahead else f"{text} ago"
