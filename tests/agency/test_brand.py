"""The studio's brand (agency/brand.py): one settings page and one API for admins; colours checked for contrast at
the WCAG boundary, the logo decoded and re-encoded, every refusal leaving the brand as it was; and the brand in the
portal, the public pages, every mail and new invoices."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.test import Client as HttpClient
from PIL import Image

from agency import brand
from agency.exceptions import NotPermitted, RuleViolation
from agency.models import StudioBrand
from agency.notifications import absolute_url, send_branded
from tests.conftest import api_for, web_for
from tests.pages import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget_after():
    yield
    brand.forget()  # a test's brand never outlives its rolled-back rows


def png(size=(600, 200), colour=(122, 95, 47, 255), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", size, colour if fmt == "PNG" else colour[:3]).save(out, fmt)
    return out.getvalue()


def _row():
    row = StudioBrand.objects.filter(pk=1).first()
    return None if row is None else (row.name, row.accent, row.header, row.logo, row.sender_email, row.domain)


def test_defaults_look_finished_without_a_row(cast):
    shown = brand.current()
    assert (shown.name, shown.accent, shown.header, shown.logo) == ("Loupe Studio", "#7A5F2F", "#1D2330", "")
    page = web_for(cast.acme_member).get("/orders/").content.decode()
    assert ":root{--accent:#7A5F2F;--topbar:#1D2330}" in page


def test_contrast_is_measured_as_wcag_says():
    assert round(brand.contrast("#000000", "#FFFFFF"), 2) == 21.0
    assert round(brand.contrast("#777777", "#FFFFFF"), 2) == 4.48  # the classic just-too-light grey
    assert round(brand.contrast("#767676", "#FFFFFF"), 2) == 4.54


@pytest.mark.parametrize("field,value,ok", [
    ("header", "#767676", True), ("header", "#777777", False),  # white text: 4.54 passes, 4.48 fails
    ("accent", "#6F6F6F", True), ("accent", "#767676", False),  # on the page's background too: #767676 is 4.2 there
    ("accent", "#D9B872", False), ("header", "#FFFFFF", False),
])
def test_colours_are_kept_only_with_enough_contrast(cast, field, value, ok):
    before = _row()
    if ok:
        shown = brand.brand_update(by=cast.admin, **{field: value})
        assert getattr(shown, field) == value
    else:
        with pytest.raises(RuleViolation, match="contrast") as refused:
            brand.brand_update(by=cast.admin, **{field: value})
        assert refused.value.field == field
        assert _row() == before


BAD = [("name", "N" * 81, "At most 80"), ("accent", "brown", "#RRGGBB"), ("sender_email", "studio@", "address"),
       ("domain", "https://retouch.example.com/portal", "domain alone"), ("domain", "localhost:8000", "domain alone")]


@pytest.mark.parametrize("field,value,words", BAD, ids=[f"{b[0]}={b[1][:12]}" for b in BAD])
def test_bad_fields_are_refused_with_their_field_and_change_nothing(cast, field, value, words):
    brand.brand_update(by=cast.admin, name="Atelier Lumière")
    before = _row()
    with pytest.raises(RuleViolation, match=words) as refused:
        brand.brand_update(by=cast.admin, **{"name": "Other", field: value})
    assert refused.value.field == field and _row() == before


def test_the_logo_is_decoded_bounded_and_reencoded(cast, tmp_path):
    shown = brand.brand_update(by=cast.admin, logo=png(fmt="JPEG"))
    assert shown.logo.endswith(".png") and (shown.logo_width, shown.logo_height) == (288, 96)
    served = HttpClient().get("/brand/logo.png")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).format == "PNG"
    before = _row()
    for data, words in [(b"<svg onload=alert(1)>", "not a picture"), (b"GIF89a" + b"\0" * 64, "not a picture"),
                        (png(size=(2100, 2100)), "2048"), (b"\0" * (600 * 1024), "512 KiB"), (b"", "Choose")]:
        with pytest.raises(RuleViolation, match=words):
            brand.brand_update(by=cast.admin, logo=data)
        assert _row() == before
    old = shown.logo
    brand.brand_update(by=cast.admin, remove_logo=True)
    assert brand.current().logo == "" and HttpClient().get("/brand/logo.png").status_code == 404
    assert old  # the old file is deleted after commit (on_commit; not run inside this test's transaction)


@pytest.mark.parametrize("persona", ["account_manager", "finance", "qc", "retoucher", "acme_admin", "acme_member"])
def test_only_admins_change_the_brand(cast, persona):
    user = getattr(cast, persona)
    with pytest.raises(NotPermitted):
        brand.brand_update(by=user, name="Mine")
    assert api_for(user).patch("/api/v1/brand/", {"name": "Mine"}, format="json").status_code == 403
    assert web_for(user).get("/settings/brand/").status_code == 403
    assert _row() is None
    assert api_for(user).get("/api/v1/brand/").json()["name"] == "Loupe Studio"  # anyone signed in reads it


def test_the_page_and_the_api_change_it_and_everything_shows_it(cast, django_capture_on_commit_callbacks):
    web = web_for(cast.admin)
    form = page_text(web.get("/settings/brand/").content)
    assert "The studio's brand" in form and "Mail is sent as Loupe <loupe@localhost>" in form
    refused = web.post("/settings/brand/", {"name": "Atelier Lumière", "accent": "#EEEEEE", "header": "#1D2330"})
    assert refused.status_code == 400 and "contrast" in refused.content.decode() and _row() is None
    with django_capture_on_commit_callbacks(execute=True):
        saved = web.post("/settings/brand/", {"name": "Atelier Lumière", "tagline": "Jewelry, retouched by hand",
                                              "accent": "#0B5C4B", "header": "#102A43", "sender_name": "Atelier Lumière",
                                              "sender_email": "hello@lumiere.test", "footer": "Rue du Bac 7, Paris",
                                              "domain": "retouch.lumiere.test",
                                              "logo_file": _upload()})
    assert saved.status_code == 302, saved.content.decode()[:500]
    page = web_for(cast.acme_member).get("/orders/").content.decode()
    assert "<title>" in page and "· Atelier Lumière</title>" in page and "Rue du Bac 7, Paris" in page
    assert ":root{--accent:#0B5C4B;--topbar:#102A43}" in page and "/brand/logo.png?v=" in page
    public = page_text(HttpClient().get("/studio/").content)
    assert "Atelier Lumière" in public and "Jewelry, retouched by hand" in public
    assert absolute_url("/orders/") == "https://retouch.lumiere.test/orders/"
    mail.outbox.clear()
    send_branded("Hello", "A line.", ["someone@example.test"])
    sent = mail.outbox[0]
    assert sent.from_email == "Atelier Lumière <hello@lumiere.test>"
    assert sent.body.endswith("-- \nRue du Bac 7, Paris\n")
    body = api_for(cast.admin).patch("/api/v1/brand/", {"tagline": "", "accent": "#123456"}, format="json")
    assert body.status_code == 200 and body.json()["accent"] == "#123456" and body.json()["tagline"] == ""
    assert body.json()["logo_url"].startswith("http://testserver/brand/logo.png?v=")


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("logo.png", png(), content_type="image/png")


def test_new_invoices_freeze_the_brands_accent_and_logo(cast):
    from billing.models import BillingProfile

    brand.brand_update(by=cast.admin, accent="#0B5C4B", logo=png())
    snapshot = (BillingProfile.objects.first() or BillingProfile()).snapshot()
    assert snapshot["accent"] == "#0B5C4B" and snapshot["logo"] == brand.current().logo
