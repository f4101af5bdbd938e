"""Clients, memberships and versioned style guides: pages, API and services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from clients import services
from clients.models import Client, Membership, StyleGuide

pytestmark = pytest.mark.django_db

GUIDE = {"name": "Catalogue white", "background": "white", "output_formats": ["JPEG", "PNG"], "long_edge_px": 2000,
         "margin_percent": "5.0", "shadow": "natural", "colour_profile": "sRGB", "dpi": 300, "filename_pattern": "{sku}_{n}",
         "metal": "yellow_gold", "finish": "polished", "keep_hallmarks": True}


def test_account_manager_creates_and_edits_a_client(cast, web):
    client = web(cast.account_manager)
    response = client.post(reverse("clients:client_create"), {
        "name": "Tiara & Co", "currency": "CHF", "time_zone": "Europe/Zurich", "tax_rate": "8.10",
        "payment_terms_days": 14, "invoicing": "per_order", "free_revision_rounds": 1, "pilot_size": 5, "is_active": "on"})
    new = Client.objects.get(name="Tiara & Co")
    assert response.status_code == 302 and str(new.tax_rate) == "8.10"
    response = client.post(reverse("clients:client_edit", args=[new.pk]), {
        "name": "Tiara & Co", "currency": "CHF", "time_zone": "Mars/Olympus", "tax_rate": "8.10",
        "payment_terms_days": 14, "free_revision_rounds": 1})
    assert response.status_code == 200 and "not a known time zone" in response.content.decode()


def test_client_api_create_patch_and_bad_input(cast, api):
    client = api(cast.account_manager)
    created = client.post("/api/v1/clients/", {"name": "Gem House", "currency": "USD"}, format="json")
    assert created.status_code == 201 and created.json()["currency"] == "USD"
    dup = client.post("/api/v1/clients/", {"name": "Gem House"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()["errors"]
    bad = client.patch(f"/api/v1/clients/{created.json()['id']}/", {"tax_rate": "150", "currency": "XXX"}, format="json")
    assert bad.status_code == 400 and {"tax_rate", "currency"} <= set(bad.json()["errors"])
    assert Client.objects.get(name="Gem House").tax_rate == 0


def test_auto_approval_is_a_contract_term_on_the_page_and_in_the_api(cast, web, api):
    acme = cast.acme
    page = web(cast.account_manager).post(reverse("clients:client_edit", args=[acme.pk]), {
        "name": acme.name, "currency": acme.currency, "time_zone": acme.time_zone, "tax_rate": acme.tax_rate,
        "payment_terms_days": acme.payment_terms_days, "invoicing": "per_order", "free_revision_rounds": 2, "pilot_size": 5,
        "auto_approve_days": 5,
        "is_active": "on"})
    assert page.status_code == 302
    acme.refresh_from_db()
    assert acme.auto_approve_days == 5
    shown = web(cast.account_manager).get(reverse("clients:client_detail", args=[acme.pk]))
    assert "after 5 days without an answer" in shown.content.decode()
    client = api(cast.account_manager)
    assert client.get(f"/api/v1/clients/{acme.pk}/").json()["auto_approve_days"] == 5
    bad = client.patch(f"/api/v1/clients/{acme.pk}/", {"auto_approve_days": 0}, format="json")
    assert bad.status_code == 400 and "auto_approve_days" in bad.json()["errors"]
    assert client.patch(f"/api/v1/clients/{acme.pk}/", {"auto_approve_days": None}, format="json").status_code == 200
    acme.refresh_from_db()
    assert acme.auto_approve_days is None


def test_member_add_refuses_existing_address_and_studio_roles(cast):
    with pytest.raises(RuleViolation, match="cannot be invited"):
        services.member_add(client=cast.acme, by=cast.account_manager, email=cast.globex_member.email.upper(),
                            full_name="Dup", role="client_member")
    with pytest.raises(RuleViolation, match="client admins or client members"):
        services.member_add(client=cast.acme, by=cast.account_manager, email="x@acme.test", full_name="X", role="admin")
    for outsider in (cast.acme_member, cast.globex_admin, cast.finance):
        with pytest.raises(NotPermitted):
            services.member_add(client=cast.acme, by=outsider, email="y@acme.test", full_name="Y", role="client_member")
    assert not User.objects.filter(email__in=["x@acme.test", "y@acme.test"]).exists()


def test_member_removal_from_the_page(cast, web):
    membership = cast.acme_member.membership
    response = web(cast.account_manager).post(reverse("clients:member_remove", args=[cast.acme.pk, membership.pk]),
                                              follow=True)
    assert "no longer has access" in response.content.decode()
    assert not Membership.objects.filter(pk=membership.pk).exists()
    cast.acme_member.refresh_from_db()
    assert cast.acme_member.is_active is False


def test_style_guide_edit_in_place_until_used(cast):
    guide = services.style_guide_create(client=cast.acme, by=cast.acme_admin, **GUIDE)
    same = services.style_guide_update(guide=guide, by=cast.acme_admin, notes="Soft light")
    assert same.pk == guide.pk and same.version == 1 and same.notes == "Soft light"


def test_style_guide_in_use_gets_a_new_version(cast):
    # cast.acme_guide is used (and so locked) by cast.acme_order
    old = cast.acme_guide
    old.refresh_from_db()
    assert old.is_locked
    new = services.style_guide_update(guide=old, by=cast.account_manager, dpi=600)
    old.refresh_from_db()
    assert (new.version, new.dpi, new.family) == (2, 600, old.family)
    assert (old.is_current, old.dpi) == (False, 300)
    with pytest.raises(InvalidTransition, match="replaced by a newer version"):
        services.style_guide_update(guide=old, by=cast.account_manager, dpi=72)


@pytest.mark.parametrize("changes,field", [
    ({"output_formats": []}, "output_formats"),
    ({"output_formats": ["GIF"]}, "output_formats"),
    ({"background": "colour", "background_colour": ""}, "background_colour"),
    ({"background": "transparent", "output_formats": ["JPEG"]}, "background"),
    ({"filename_pattern": "../{sku}"}, "filename_pattern"),
    ({"background_colour": "white"}, "background_colour"),
    ({"dpi": 5}, "dpi"),
])
def test_style_guide_rules(cast, changes, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.style_guide_create(client=cast.acme, by=cast.acme_admin, **{**GUIDE, **changes})
    assert field in exc.value.message_dict
    assert not StyleGuide.objects.filter(name=GUIDE["name"]).exists()


def test_style_guide_api_versions(cast, api):
    client = api(cast.acme_admin)
    created = client.post("/api/v1/style-guides/", {**GUIDE, "margin_percent": "4.5"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["client"] == str(cast.acme.pk) and created.json()["version"] == 1
    patched = client.patch(f"/api/v1/style-guides/{cast.acme_guide.pk}/", {"notes": "Cooler whites"}, format="json")
    assert patched.status_code == 200 and patched.json()["version"] == 2
    versions = client.get("/api/v1/style-guides/?all_versions=true").json()
    assert sorted(g["version"] for g in versions["results"] if g["family"] == str(cast.acme_guide.family)) == [1, 2]
    bad = client.post("/api/v1/style-guides/", {**GUIDE, "output_formats": ["BMP"]}, format="json")
    assert bad.status_code == 400 and "output_formats" in bad.json()["errors"]
    rule = client.post("/api/v1/style-guides/", {**GUIDE, "background": "colour"}, format="json")
    assert rule.status_code == 400 and "background_colour" in rule.json()["errors"]


def test_style_guide_pages(cast, web):
    client = web(cast.acme_admin)
    response = client.post(reverse("clients:style_guide_create"), {**GUIDE, "name": "Lookbook"})
    guide = StyleGuide.objects.get(name="Lookbook")
    assert response.status_code == 302 and guide.client == cast.acme
    page = client.get(reverse("clients:style_guide_detail", args=[guide.pk])).content.decode()
    assert "Lookbook" in page and "2000 px long edge" in page
    response = client.post(reverse("clients:style_guide_edit", args=[cast.acme_guide.pk]),
                           {**GUIDE, "name": cast.acme_guide.name, "dpi": 400}, follow=True)
    assert "so your changes are version 2" in response.content.decode()
    bad = client.post(reverse("clients:style_guide_create"), {**GUIDE, "name": "Bad", "background": "colour"})
    assert bad.status_code == 200 and "needs a hex colour" in bad.content.decode()


def test_client_detail_page(cast, web):
    page = web(cast.account_manager).get(reverse("clients:client_detail", args=[cast.acme.pk])).content.decode()
    assert "Acme Jewels" in page and cast.acme_member.email in page and cast.acme_guide.name in page


def test_a_locked_guide_is_revised_into_a_new_version_by_its_editor(cast):
    """Everything the old version said is carried over (the golden reference too), the change applies to
    the new one, which names who made it; someone else's company's guide is not theirs to edit."""
    from django.utils import timezone

    from agency.exceptions import NotPermitted
    from clients import services
    from clients.models import StyleGuide

    guide = cast.acme_guide
    StyleGuide.objects.filter(pk=guide.pk).update(locked_at=timezone.now(), notes="Keep the hallmark sharp",
                                                  reference_key="refs/ring.webp", reference_label="Ring 12, v2")
    guide.refresh_from_db()
    with pytest.raises(NotPermitted) as refused:
        services.style_guide_update(guide=guide, by=cast.globex_admin, dpi=600)
    assert refused.value.message == "You cannot edit this company's style guides."
    new = services.style_guide_update(guide=guide, by=cast.acme_admin, dpi=600)
    assert (new.version, new.created_by, new.dpi, new.is_current) == (guide.version + 1, cast.acme_admin, 600, True)
    assert {name: getattr(new, name) for name in StyleGuide.COPIED_FIELDS if name != "dpi"} == {
        name: getattr(guide, name) for name in StyleGuide.COPIED_FIELDS if name != "dpi"}
    assert not StyleGuide.objects.get(pk=guide.pk).is_current


def test_only_managers_create_companies_and_are_told_so(cast):
    from agency.exceptions import NotPermitted
    from clients import services
    from clients.models import Client

    before = Client.objects.count()
    for someone in (cast.acme_admin, cast.retoucher, cast.finance):
        with pytest.raises(NotPermitted) as refused:
            services.client_create(by=someone, name="Gilded Lily")
        assert refused.value.message == "Only account managers and admins manage client companies."
    assert Client.objects.count() == before
