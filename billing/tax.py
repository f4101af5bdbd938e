"""Which VAT a sale carries follows from the parties, not from a price list (price lists hold net prices).

The seller is the studio (its billing profile: country and standard rate); the buyer is the client
company (its billing country and VAT id):
- a buyer in the studio's country, or in another EU member state without a VAT id (not a business for
  VAT): the studio's standard rate;
- a business in another EU member state (a VAT id): reverse charge, 0 %, the legal note (Article 196 of
  the VAT Directive; EN 16931 category AE);
- a buyer outside the EU: no VAT of the studio's country, 0 % with the note (the place of supply of a
  service to a business is where the business is, Article 44; EN 16931 category Z, which the official
  rules accept with the seller's VAT id on the invoice).
Until the studio's billing profile exists (a new installation), the older rule stands: the price list's
or the client's own rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing.models import BillingProfile, TaxCategory

# EU member states (ISO 3166): Greece is "EL" in VAT ids and "GR" in addresses.
EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
NOTES = {
    TaxCategory.REVERSE_CHARGE: "Reverse charge: VAT is due from the recipient (Article 196, Council Directive "
                                "2006/112/EC).",
    TaxCategory.ZERO: "No VAT charged: the service is supplied to a recipient outside the EU, where it is taxed "
                      "(Article 44, Council Directive 2006/112/EC).",
}


@dataclass(frozen=True)
class Treatment:
    rate: Decimal
    category: str

    @property
    def note(self) -> str:
        return NOTES.get(self.category, "")


def studio_profile() -> BillingProfile | None:
    return BillingProfile.objects.order_by("pk").first()


def treatment(client: Any, profile: BillingProfile | None = None) -> Treatment | None:
    """The VAT of a sale by the studio to ``client``; None while the studio has no billing profile."""
    profile = profile or studio_profile()
    if profile is None or not profile.country:
        return None
    seller = profile.country.upper()
    buyer = (client.billing_country or seller).upper()
    if buyer == seller or (buyer in EU_COUNTRIES and not (client.vat_number or "").strip()):
        return Treatment(profile.vat_rate, TaxCategory.STANDARD)
    if buyer in EU_COUNTRIES:
        return Treatment(Decimal("0"), TaxCategory.REVERSE_CHARGE)
    return Treatment(Decimal("0"), TaxCategory.ZERO)


def rate_for(client: Any, *, fallback: Decimal | None = None) -> Decimal:
    """The VAT rate of a sale to ``client``: from the parties, or (without a billing profile) ``fallback``
    (a price list's own rate) or the client's rate."""
    found = treatment(client)
    if found is not None:
        return found.rate
    return fallback if fallback is not None else client.tax_rate
