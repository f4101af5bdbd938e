"""Money arithmetic: Decimal, half-up per line to the minor unit, tax on the total, sums that add up."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing import pricing

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=2)
counts = st.integers(min_value=0, max_value=500)


def test_half_up_to_the_minor_unit():
    assert pricing.round_money(Decimal("2.675"), "EUR") == Decimal("2.68")
    assert pricing.round_money(Decimal("2.665"), "EUR") == Decimal("2.67")
    assert pricing.round_money(Decimal("1234.5"), "JPY") == Decimal("1235")


def test_lines_discount_surcharge_and_minimum():
    services = [pricing.service_line(description="Colour", quantity=60, unit_price=Decimal("3.50"), currency="EUR",
                                     service_id=1, complexity="standard")]
    lines = pricing.price_lines(services=services, image_count=60, discount_percent=Decimal("10"),
                                multiplier=Decimal("1.5"), tier_label="Express", minimum=Decimal("0"), currency="EUR")
    assert [(line.kind, line.amount) for line in lines] == [("service", Decimal("210.00")),
                                                            ("discount", Decimal("-21.00")),
                                                            ("surcharge", Decimal("94.50"))]
    small = pricing.price_lines(services=[services[0].__class__(**{**services[0].__dict__, "amount": Decimal("7.00")})],
                                image_count=2, discount_percent=Decimal("0"), multiplier=Decimal("1"),
                                tier_label="Standard", minimum=Decimal("25.00"), currency="EUR")
    assert small[-1].kind == "minimum" and sum(line.amount for line in small) == Decimal("25.00")


@settings(max_examples=300)
@given(st.lists(st.tuples(counts, prices), min_size=1, max_size=6), st.decimals(min_value=Decimal("0"),
       max_value=Decimal("30"), places=2), st.sampled_from(["EUR", "JPY", "USD"]),
       st.sampled_from([Decimal("1"), Decimal("1.5"), Decimal("2")]), st.sampled_from([Decimal("0"), Decimal("10")]))
def test_totals_always_equal_the_sum_of_lines(items, tax_rate, currency, multiplier, discount):
    services = [pricing.service_line(description="x", quantity=q, unit_price=p, currency=currency, service_id=i,
                                     complexity="simple") for i, (q, p) in enumerate(items)]
    lines = pricing.price_lines(services=services, image_count=sum(q for q, _ in items), discount_percent=discount,
                                multiplier=multiplier, tier_label="Tier", minimum=Decimal("0"), currency=currency)
    net, tax, total = pricing.totals((line.amount for line in lines), tax_rate=tax_rate, currency=currency)
    quantum = pricing.quantum(currency)
    assert net == sum(line.amount for line in lines) and total == net + tax
    for value in (net, tax, total, *(line.amount for line in lines)):
        assert isinstance(value, Decimal) and value == value.quantize(quantum)


def test_a_line_amount_fits_the_money_fields_up_to_the_limit_itself():
    limit = Decimal("99999999.99")
    assert pricing.line_amount(Decimal("1"), limit, "EUR", limit) == limit
    assert pricing.line_amount(Decimal("-1"), limit, "EUR", limit) == -limit
    assert pricing.line_amount(Decimal("1"), limit + Decimal("0.01"), "EUR", limit) is None
    assert pricing.line_amount(Decimal("3"), Decimal("100.50"), "JPY", limit) == Decimal("302")


def test_the_minimum_order_line_is_one_top_up():
    line = pricing.minimum_line(Decimal("7.50"), Decimal("25.00"), "EUR")
    assert (line.description, line.quantity, line.unit_price, line.amount) == (
        "Minimum order amount 25.00 EUR", Decimal(1), Decimal("7.50"), Decimal("7.50"))
