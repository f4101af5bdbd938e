from __future__ import annotations

from django import template

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
