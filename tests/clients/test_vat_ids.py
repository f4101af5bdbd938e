"""VAT ids are checked for their country's format when a company's details are entered (page and API)."""

from __future__ import annotations

import pytest

from clients import vat
from clients.models import Client
from tests.conftest import api_for, web_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("number, country", [
    ("DE123456789", "DE"), ("de 123 456 789", "DE"), ("FR40303265045", "FR"), ("FRXY303265045", "FR"),
    ("ATU12345678", "AT"), ("EL123456789", "GR"), ("NL123456789B01", "NL"), ("ESX1234567X", "ES"),
    ("IE1234567T", "IE"), ("IE1234567WA", "IE"), ("SE123456789001", "SE"), ("BE0123456789", "BE"),
    ("GB123456789", "GB"), ("CHE123456789", "CH"), ("", "DE"),
])
def test_a_vat_id_in_its_countrys_format_is_accepted(number, country):
    assert vat.problem(number, country) == ""


@pytest.mark.parametrize("number, country, words", [
    ("DE12345678", "DE", "not in the format of a DE VAT id"), ("123456789", "DE", "starts with DE"),
    ("FR12345678901", "DE", "starts with DE"), ("GR123456789", "GR", "starts with EL"),
    ("FRIO303265045", "FR", "not in the format"), ("NL123456789A01", "NL", "not in the format"),
    ("ATX12345678", "AT", "not in the format"), ("SE123456789000", "SE", "not in the format"),
    ("GB-!!", "GB", "letters and digits only"),
])
def test_a_mistyped_vat_id_is_refused_with_what_was_expected(number, country, words):
    assert words in vat.problem(number, country)


def test_the_client_page_and_api_refuse_a_mistyped_vat_id_and_keep_the_old_one(cast):
    before = Client.objects.get(pk=cast.acme.pk).vat_number
    api = api_for(cast.account_manager).patch(f"/api/v1/clients/{cast.acme.pk}/",
                                              {"billing_country": "FR", "vat_number": "FR1234"}, format="json")
    assert api.status_code == 400 and "not in the format of a FR VAT id" in api.content.decode()
    assert Client.objects.get(pk=cast.acme.pk).vat_number == before
    saved = api_for(cast.account_manager).patch(f"/api/v1/clients/{cast.acme.pk}/",
                                                {"billing_country": "FR", "vat_number": "fr 40 303265045"},
                                                format="json")
    assert saved.status_code == 200 and Client.objects.get(pk=cast.acme.pk).vat_number == "FR40303265045"
    form = web_for(cast.account_manager).get(f"/clients/{cast.acme.pk}/edit/")
    assert form.status_code == 200
