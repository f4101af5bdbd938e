"""Invoicing set-up shared by the billing tests."""

from __future__ import annotations

import pytest

from tests.billing.invoicing_setup import address, billing_profile
from tests.factories import default_price_list


@pytest.fixture
def ready(cast):
    """The cast, with prices, the studio's billing profile and Acme's billing address (German, 19 % VAT)."""
    default_price_list()
    billing_profile()
    address(cast.acme)
    return cast
