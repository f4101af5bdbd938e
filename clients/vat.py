"""VAT identification numbers as the EU's VIES service writes them: the country's prefix (Greece "EL")
and the country's own format. Checked when a company's details are entered (page and API) and again
before an invoice is issued; the VAT id decides whether a sale to another member state is reverse
charged, so a mistyped one must not wait for the accountant to find it."""

from __future__ import annotations

import re

# After the prefix. Source: the European Commission's VIES FAQ (formats of VAT numbers).
EU_FORMATS = {
    "AT": r"U\d{8}", "BE": r"[01]\d{9}", "BG": r"\d{9,10}", "CY": r"\d{8}[A-Z]", "CZ": r"\d{8,10}", "DE": r"\d{9}",
    "DK": r"\d{8}", "EE": r"\d{9}", "EL": r"\d{9}", "ES": r"[A-Z0-9]\d{7}[A-Z0-9]", "FI": r"\d{8}",
    "FR": r"[0-9A-HJ-NP-Z]{2}\d{9}", "HR": r"\d{11}", "HU": r"\d{8}", "IE": r"\d[0-9A-Z+*]\d{5}[A-W][A-I]?",
    "IT": r"\d{11}", "LT": r"\d{9}|\d{12}", "LU": r"\d{8}", "LV": r"\d{11}", "MT": r"\d{8}", "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}", "PT": r"\d{9}", "RO": r"[1-9]\d{1,9}", "SE": r"\d{10}01", "SI": r"\d{8}", "SK": r"\d{10}",
}
EXAMPLES = {"AT": "ATU12345678", "BE": "BE0123456789", "DE": "DE123456789", "EL": "EL123456789", "ES": "ESX1234567X",
            "FR": "FR12345678901", "IE": "IE1234567T", "IT": "IT12345678901", "NL": "NL123456789B01",
            "PL": "PL1234567890", "SE": "SE123456789001"}
# The VAT prefix of a country in an address (ISO 3166): Greece's is EL.
PREFIX = {"GR": "EL"}


def clean(vat_number: str) -> str:
    """Upper case without spaces, dots or dashes (how people paste them)."""
    return re.sub(r"[\s.\-]", "", vat_number or "").upper()


def problem(vat_number: str, country: str) -> str:
    """Why ``vat_number`` is not a VAT id of a company in ``country`` (an ISO code), or "" when it is one
    (or is empty). Outside the EU only plain letters and digits are asked for: those ids differ too much."""
    vat = clean(vat_number)
    if not vat:
        return ""
    country = (country or "").upper()
    prefix = PREFIX.get(country, country)
    if prefix in EU_FORMATS:
        example = EXAMPLES.get(prefix, f"{prefix} followed by its number")
        if not vat.startswith(prefix):
            return (f"A VAT id of a company in {country} starts with {prefix} (for example {example}); "
                    f"{vat_number.strip()} does not.")
        if not re.fullmatch(EU_FORMATS[prefix], vat[len(prefix):]):
            return f"{vat_number.strip()} is not in the format of a {prefix} VAT id (for example {example})."
        return ""
    if not re.fullmatch(r"[A-Z0-9]{4,20}", vat):
        return f"{vat_number.strip()} is not a VAT id: use letters and digits only (4 to 20)."
    return ""
