"""Small helpers for the production pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def mark_box(mark: Any) -> str:
    """Where a mark sits over its file, in CSS percentages of the file's box: a point at its pixel's centre,
    an area by its bounding box. The list that holds it has the file's shape, so these are its pixels."""
    if not mark.w:
        return f"left: {100 * (mark.x + 0.5) / mark.width:.3f}%; top: {100 * (mark.y + 0.5) / mark.height:.3f}%"
    return (f"left: {100 * mark.x / mark.width:.3f}%; top: {100 * mark.y / mark.height:.3f}%; "
            f"width: {100 * mark.w / mark.width:.3f}%; height: {100 * mark.h / mark.height:.3f}%")
