"""``{{ order.po_number|po }}``: "PO 4411", or "PO-AUR-7731" as the client wrote it (``agency.labels``)."""

from __future__ import annotations

from django import template

from agency.labels import po_label

register = template.Library()


@register.filter(name="po")
def po(number: str) -> str:
    return po_label(str(number or ""))
