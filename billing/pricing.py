"""Pricing arithmetic (pure). Rounding: half-up to the currency's minor unit on every line; tax is
computed once on the net total and rounded the same way; totals are sums of rounded lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MINOR_UNITS = {"JPY": 0}  # everything else Loupe bills in has cents


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    service_id: Any = None
    complexity: str = ""


def service_line(*, description: str, quantity: int, unit_price: Decimal, currency: str, service_id: Any,
                 complexity: str) -> Line:
    return Line("service", description, Decimal(quantity), unit_price,
                round_money(unit_price * quantity, currency), service_id, complexity)


def price_lines(*, services: list[Line], image_count: int, discount_percent: Decimal, multiplier: Decimal,
                tier_label: str, minimum: Decimal, currency: str) -> list[Line]:
    """Service lines, then the volume discount, the turnaround surcharge and the minimum-order top-up,
    each its own line."""
    lines = list(services)
    subtotal = sum((line.amount for line in services), Decimal("0"))
    if discount_percent > 0 and subtotal > 0:
        discount = -round_money(subtotal * discount_percent / 100, currency)
        lines.append(Line("discount", f"Volume discount {discount_percent.normalize()} % ({image_count} images)",
                          Decimal(1), discount, discount))
        subtotal += discount
    surcharge = surcharge_amount(subtotal, multiplier, currency)
    if surcharge:
        lines.append(surcharge_line(surcharge, multiplier, tier_label))
        subtotal += surcharge
    top_up = minimum_top_up(subtotal, minimum, currency)
    if top_up:
        lines.append(minimum_line(top_up, minimum, currency))
    return lines


def surcharge_amount(subtotal: Decimal, multiplier: Decimal, currency: str) -> Decimal:
    """The turnaround surcharge on the lines before it: subtotal × (multiplier − 1), none below ×1 or on
    nothing."""
    if multiplier <= 1 or subtotal <= 0:
        return Decimal("0")
    return round_money(subtotal * (multiplier - 1), currency)


def surcharge_line(amount: Decimal, multiplier: Decimal, tier_label: str) -> Line:
    return Line("surcharge", f"{tier_label} turnaround (×{multiplier.normalize()})", Decimal(1), amount, amount)


def minimum_top_up(others: Decimal, minimum: Decimal, currency: str) -> Decimal:
    """The line that tops the other lines up to the minimum order: max(0, minimum − others)."""
    return round_money(max(Decimal("0"), minimum - others), currency)


def minimum_line(top_up: Decimal, minimum: Decimal, currency: str) -> Line:
    return Line("minimum", f"Minimum order amount {minimum} {currency}", Decimal(1), top_up, top_up)


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str, limit: Decimal) -> Decimal | None:
    """quantity × unit price rounded half-up, or None when it does not fit the money fields."""
    amount = Decimal(quantity) * Decimal(unit_price)  # exact: Decimal multiplies without overflow here
    if abs(amount) > limit:
        return None
    return round_money(amount, currency)


def totals(amounts: Iterable[Decimal], *, tax_rate: Decimal, currency: str) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, total): net is the sum of the lines, tax is rounded once on the net."""
    net = sum((Decimal(a) for a in amounts), Decimal("0"))
    tax = round_money(net * tax_rate / 100, currency)
    return net, tax, net + tax
