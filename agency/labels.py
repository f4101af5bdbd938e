"""Short labels written the same way on pages, documents and exports."""

from __future__ import annotations

import re

# "PO-AUR-7731", "po 4411", "P.O. 12", "PO#12": the client's number already says what it is
_SAYS_PO = re.compile(r"^\s*P\.?\s?O\.?(?![A-Za-z])", re.IGNORECASE)


def po_label(number: str) -> str:
    """A purchase-order number with "PO " before it, unless the number already starts with it
    (clients often type "PO-AUR-7731", which must not read "PO PO-AUR-7731")."""
    number = (number or "").strip()
    if not number:
        return ""
    return number if _SAYS_PO.match(number) else f"PO {number}"
