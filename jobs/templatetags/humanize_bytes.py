from __future__ import annotations

from django import template

from agency.uploads import size_words

register = template.Library()


@register.filter(name="bytes")
def human_bytes(value: int | None) -> str:
    """1536 → '1.5 KB'; None → '—'."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@register.filter(name="size_limit")
def size_limit(value: int) -> str:
    """A size limit in the words the API's refusals use: 2147483648 → '2 GiB'."""
    return size_words(int(value))


@register.filter(name="hours")
def business_hours(seconds: float | None) -> str:
    """Business seconds as hours: 5400 → '1.5 h'; negative means overdue."""
    if not isinstance(seconds, (int, float)):
        return "—"
    value = abs(seconds) / 3600
    text = f"{value:.0f} h" if value >= 10 else f"{value:.1f} h"
    return f"{text} overdue" if seconds < 0 else text


@register.filter(name="duration")
def duration(seconds: float | None) -> str:
    """A span of (business) time in words: 'under a minute', '25 min', '3 h 20 min', '31 h'."""
    if not isinstance(seconds, (int, float)):
        return "—"
    minutes = round(abs(seconds) / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest and hours < 10 else f"{hours} h"


SLA_LABELS = {"on_track": "On track", "at_risk": "At risk", "breached": "Breached", "paused": "Paused"}


@register.filter(name="sla_label")
def sla_label(state: str) -> str:
    return SLA_LABELS.get(state, state.replace("_", " ").capitalize())
