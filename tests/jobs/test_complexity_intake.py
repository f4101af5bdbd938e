"""Automatic complexity at intake (issue 23): every received original is graded in the sandboxed worker from
its pixels, the grade is what the quote uses, a manager who grades it otherwise says why (kept, and counted in
the quality report), and nothing about the measure can refuse a file or leak a manager's reason to a client."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from PIL import Image

from billing.services import quote_draft
from jobs import quality
from jobs.imaging import complexity, difficulty, pipeline
from jobs.imaging.sandbox import inspect_file
from jobs.intake import uploads
from jobs.models import Event, ImageStatus, Order, OrderImage, OrderStatus
from tests.conftest import api_for
from tests.factories import PRICES, default_price_list
from tests.pages import page_text
from tests.uploading import upload

pytestmark = pytest.mark.django_db

EASY, HARD = difficulty.Levels(0, 0, 0, 0), difficulty.Levels(3, 3, 3, 3)


def camera_jpeg(levels: difficulty.Levels, seed: int = 5) -> bytes:
    """A 3:2 photograph of known difficulty, as a camera would send it (2400 x 1600 JPEG)."""
    out = io.BytesIO()
    difficulty.picture(levels, seed=seed).resize((2400, 1600), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def received(cast, django_capture_on_commit_callbacks):
    """Acme's member uploads a plain ring and a hard one; the worker processes them on commit."""
    api, web = api_for(cast.acme_member), HttpClient()
    found = []
    for name, levels in (("plain-ring.jpg", EASY), ("pave-cluttered.jpg", HARD)):
        with django_capture_on_commit_callbacks(execute=True):
            found.append(upload(api, web, cast.acme_order, name, camera_jpeg(levels))["id"])
    return [OrderImage.objects.get(pk=pk) for pk in found]


def test_each_received_original_is_graded_from_its_pixels_and_the_grade_is_the_one_used(received):
    plain, hard = received
    assert (plain.status, hard.status) == (ImageStatus.RECEIVED, ImageStatus.RECEIVED)
    assert (plain.complexity_estimate, plain.complexity) == ("simple", "simple")
    assert (hard.complexity_estimate, hard.complexity) == ("complex", "complex")
    assert set(hard.complexity_features) == {"score", "clutter", "product", "highlights", "outline", "dust"}
    assert hard.complexity_features["score"] >= complexity.COMPLEX_FROM > plain.complexity_features["score"]
    assert not plain.complexity_overridden and plain.complexity_reason == ""


def test_the_api_shows_the_estimate_and_its_features_and_the_reason_only_to_the_studio(cast, received):
    _, hard = received
    mine = api_for(cast.acme_member).get(f"/api/v1/images/{hard.pk}/").json()
    assert (mine["complexity"], mine["complexity_estimate"]) == ("complex", "complex")
    assert mine["complexity_features"]["outline"] == hard.complexity_features["outline"]
    assert mine["complexity_reason"] is None
    uploads.image_update(image=hard, by=cast.account_manager, complexity="standard",
                         complexity_reason="Plain band under the clutter")
    listed = api_for(cast.account_manager).get(f"/api/v1/orders/{cast.acme_order.pk}/images/").json()["results"]
    assert {row["filename"]: row["complexity_reason"] for row in listed} == {
        "plain-ring.jpg": "", "pave-cluttered.jpg": "Plain band under the clutter"}
    client_view = api_for(cast.acme_member).get(f"/api/v1/orders/{cast.acme_order.pk}/images/").json()["results"]
    assert [row["complexity_reason"] for row in client_view] == [None, None]
    assert "Plain band" not in str(api_for(cast.acme_member).get(
        f"/api/v1/orders/{cast.acme_order.pk}/events/").json())


def test_a_grade_other_than_the_measured_one_needs_a_reason_and_is_kept_with_it(cast, received):
    plain, _ = received
    manager = api_for(cast.account_manager)
    url = f"/api/v1/images/{plain.pk}/"
    refused = manager.patch(url, {"complexity": "complex"}, format="json")
    assert refused.status_code == 400 and "complexity_reason" in refused.json()["errors"]
    assert "measured simple" in refused.json()["detail"] and "say why" in refused.json()["detail"]
    assert OrderImage.objects.get(pk=plain.pk).complexity == "simple"
    assert not Event.objects.filter(verb__in=["image.updated", "image.regraded"]).exists()
    blank = manager.patch(url, {"complexity": "complex", "complexity_reason": "   "}, format="json")
    assert blank.status_code == 400 and OrderImage.objects.get(pk=plain.pk).complexity == "simple"
    changed = manager.patch(url, {"complexity": "complex", "complexity_reason": "Engraving inside the band"},
                            format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["complexity"], changed.json()["complexity_estimate"]) == ("complex", "simple")
    regraded = Event.objects.get(verb="image.regraded")
    assert regraded.audience == "managers" and "Engraving inside the band" in regraded.message
    assert regraded.data == {"image": str(plain.pk), "complexity": "complex", "estimate": "simple",
                             "reason": "Engraving inside the band"}
    # the same answer twice changes nothing; a new reason alone is recorded; back to the measure clears it
    manager.patch(url, {"complexity": "complex", "complexity_reason": "Engraving inside the band"}, format="json")
    assert Event.objects.filter(verb="image.regraded").count() == 1
    manager.patch(url, {"complexity_reason": "Engraving and a pavé halo"}, format="json")
    assert Event.objects.filter(verb="image.regraded").count() == 2
    assert OrderImage.objects.get(pk=plain.pk).complexity_reason == "Engraving and a pavé halo"
    back = manager.patch(url, {"complexity": "simple"}, format="json").json()
    assert (back["complexity"], back["complexity_reason"]) == ("simple", "")
    assert Event.objects.filter(verb="image.regraded").count() == 2  # agreeing with the measure is no override
    # a client may not grade, nor give a reason
    for body in ({"complexity_reason": "cheaper please"}, {"complexity": "simple"}):
        answer = api_for(cast.acme_member).patch(url, body, format="json")
        assert answer.status_code == 403 and "grades complexity" in answer.json()["detail"]
    assert OrderImage.objects.get(pk=plain.pk).complexity_reason == ""


def test_an_image_never_measured_is_graded_freely(cast, acme_image):
    assert acme_image.complexity_estimate == ""
    uploads.image_update(image=acme_image, by=cast.account_manager, complexity="complex")
    acme_image.refresh_from_db()
    assert (acme_image.complexity, acme_image.complexity_reason) == ("complex", "")


def test_a_manager_grade_given_before_the_measure_arrives_stands(cast, acme_image):
    acme_image.complexity, acme_image.complexity_reason = "complex", "Client warned: 40 stones"
    assert uploads.estimated_complexity(acme_image, {"grade": "simple", "score": 1.0, "features": {"dust": 0.0}}) == {
        "complexity_estimate": "simple", "complexity_features": {"score": 1.0, "dust": 0.0}}
    acme_image.complexity_reason = ""
    assert uploads.estimated_complexity(acme_image, {"grade": "simple"})["complexity"] == "simple"
    for unusable in ({}, {"grade": "impossible"}, {"grade": None}):
        assert uploads.estimated_complexity(acme_image, unusable) == {}


def test_the_quote_prices_the_measured_grades(cast, received):
    default_price_list()
    Order.objects.filter(pk=cast.acme_order.pk).update(status=OrderStatus.SUBMITTED)
    quote = quote_draft(order=cast.acme_order, by=cast.account_manager)
    lines = {(line.complexity, line.quantity, line.unit_price) for line in quote.lines.filter(kind="service")}
    assert lines == {("complex", 1, PRICES["complex"]), ("simple", 1, PRICES["simple"])}
    assert quote.net_total >= PRICES["complex"] + PRICES["simple"] and isinstance(quote.net_total, Decimal)


def test_the_quality_report_counts_how_often_managers_changed_the_measured_grade(cast, received, web):
    plain, hard = received
    uploads.image_update(image=hard, by=cast.account_manager, complexity="standard", complexity_reason="Simple band")
    report = quality.report(cast.account_manager, only={"override_client", "override_month"})
    assert report["override_client"] == [{"key": cast.acme.name, "measured": 2, "overridden": 1, "percent": 50.0}]
    assert [(r["measured"], r["overridden"]) for r in report["override_month"]] == [(2, 1)]
    OrderImage.objects.filter(pk=hard.pk).update(complexity="complex")  # agreeing again
    report = quality.report(cast.account_manager, only={"override_client"})
    assert report["override_client"][0]["overridden"] == 0
    assert set(quality.report(cast.account_manager, only={"qc_month"})) == {"qc_month"}
    page = page_text(web(cast.account_manager).get(reverse("jobs:quality_report")).content)
    assert "Grades changed from the measured one, per client" in page and "0 of 2" in page


def test_the_pages_show_the_measure_to_managers_and_refuse_a_grade_without_reason(cast, received, web):
    plain, hard = received
    manager = web(cast.account_manager)
    url = reverse("jobs:image_detail", args=[plain.pk])
    page = page_text(manager.get(url).content)
    assert "Simple (as measured)" in page and "specks per 10,000 px" in page and "score 0." in page
    refused = manager.post(url, {"sku": "", "instructions": "", "complexity": "complex", "complexity_reason": ""})
    assert refused.status_code == 200 and "say why you grade it complex" in page_text(refused.content)
    assert OrderImage.objects.get(pk=plain.pk).complexity == "simple"
    saved = manager.post(url, {"sku": "", "instructions": "", "complexity": "complex",
                               "complexity_reason": "Engraving inside the band"})
    assert saved.status_code == 302
    page = page_text(manager.get(url).content)
    assert "Complex (measured simple; graded otherwise: Engraving inside the band)" in page
    grid = page_text(manager.get(reverse("jobs:order_images", args=[cast.acme_order.pk])).content)
    assert "Complex · measured simple" in grid and "Complex · as measured" in grid
    # the client sees the grade, never the features nor the reason
    theirs = page_text(web(cast.acme_member).get(url).content)
    assert "Complex (measured simple)" in theirs and "Engraving inside" not in theirs and "specks" not in theirs
    assert "as measured" not in page_text(web(cast.acme_member).get(
        reverse("jobs:order_images", args=[cast.acme_order.pk])).content)


def test_only_originals_are_graded_in_the_sandbox(tmp_path):
    path = tmp_path / "ring.jpg"
    path.write_bytes(camera_jpeg(HARD))
    graded = inspect_file(path, extension="jpg", max_pixels=50_000_000, grade=True)
    plain = inspect_file(path, extension="jpg", max_pixels=50_000_000)
    assert graded.ok and graded.inspection["complexity"]["grade"] == "complex"
    assert plain.ok and plain.inspection["complexity"] == {}
    assert uploads.ORIGINALS.grade and not __import__("jobs.production.versions").production.versions.VERSION_FILES.grade


def test_the_pillow_path_grades_alike(tmp_path):
    """A PNG goes through Pillow, not libvips: the same picture gets the same grade."""
    picture = difficulty.picture(HARD, seed=5).resize((2400, 1600), Image.Resampling.BICUBIC)
    picture.save(tmp_path / "ring.png")
    picture.save(tmp_path / "ring.jpg", quality=95)
    png = pipeline.make_previews(tmp_path / "ring.png", max_pixels=50_000_000).inspection.complexity
    jpg = pipeline.make_previews(tmp_path / "ring.jpg", max_pixels=50_000_000).inspection.complexity
    assert png["grade"] == jpg["grade"] == "complex"
    assert abs(png["score"] - jpg["score"]) < 0.5


def test_a_measure_that_fails_never_refuses_the_file(tmp_path, monkeypatch):
    path = tmp_path / "ring.jpg"
    path.write_bytes(camera_jpeg(EASY))

    def broken(picture):
        raise ValueError("no backdrop")

    monkeypatch.setattr(complexity, "features", broken)
    with pytest.warns(RuntimeWarning, match="no backdrop"):
        made = pipeline.make_previews(path, max_pixels=50_000_000)
    assert made.inspection.complexity == {} and made.preview and made.thumbnail


def test_the_words_put_the_heaviest_feature_first():
    words = complexity.describe({"clutter": 0.02, "product": 0.3, "highlights": 0.0, "outline": 4.0, "dust": 1.0})
    assert words[0] == "outline 4.0× a disc's" and words[-1] == "piece 30% of the frame"
    assert complexity.describe({}) == [] and complexity.describe({"score": 1.0}) == []
