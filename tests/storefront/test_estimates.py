"""The instant estimate (issue 23, storefront/estimates.py): samples graded in the sandbox and never kept, the set
priced exactly as the quote prices the same pictures after a real upload, dated by the promise an order would
get, and every bad input refused with its reason and nothing written."""

from __future__ import annotations

import io
import re
import tempfile
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from billing.services import quote_draft, quote_lines
from jobs.imaging import difficulty
from jobs.models import Order, OrderImage, OrderStatus, Service
from jobs.production.planning import order_promise
from storefront import estimates
from storefront.models import Estimate
from tests.conftest import api_for
from tests.factories import default_price_list, retoucher
from tests.pages import page_text
from tests.uploading import upload

pytestmark = pytest.mark.django_db

EASY, HARD = difficulty.Levels(0, 0, 0, 0), difficulty.Levels(3, 3, 3, 3)
URL = "/api/v1/public/estimates/"
AT = timezone.make_aware(timezone.datetime(2027, 3, 10, 9, 30))  # a Wednesday morning in the studio's zone


def photo(levels: difficulty.Levels, *, seed: int = 5, size=(2400, 1600), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    picture = difficulty.picture(levels, seed=seed).resize(size, Image.Resampling.BICUBIC)
    picture.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def sample(name: str, data: bytes, kind: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=kind)


def ask(client, *, files, services="colour-correction", turnaround="standard", count=2, url=URL):
    body = {"services": services, "turnaround": turnaround, "count": count}
    if files:
        body["files"] = files
    return client.post(url, body, format="multipart") if url == URL else client.post(url, body)


@pytest.fixture
def studio(cast):
    """The default price list and a retoucher who does colour correction."""
    default_price_list()
    return retoucher("Rita Estimate", ["colour-correction"])


def test_the_estimate_is_the_quote_the_same_pictures_get_after_a_real_upload(cast, studio,
                                                                             django_capture_on_commit_callbacks):
    plain, hard = photo(EASY), photo(HARD)
    with time_machine.travel(AT, tick=False):
        answer = ask(api_for(None), files=[sample("plain.jpg", plain), sample("pave.jpg", hard)], count=2)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert [(s["name"], s["grade"]) for s in body["samples"]] == [("plain.jpg", "simple"), ("pave.jpg", "complex")]
    assert set(body["samples"][1]["features"]) == {"clutter", "product", "highlights", "outline", "dust"}
    assert body["mix"] == {"simple": 1, "complex": 1} and body["currency"] == "EUR"
    assert body["drivers"].startswith("1 of 2 samples is complex: ")
    assert answer["Cache-Control"] == "no-store"
    # the same two pictures, uploaded to a real order and quoted
    api, web = api_for(cast.acme_member), HttpClient()
    for name, data in (("plain.jpg", plain), ("pave.jpg", hard)):
        with django_capture_on_commit_callbacks(execute=True):
            upload(api, web, cast.acme_order, name, data)
    Order.objects.filter(pk=cast.acme_order.pk).update(status=OrderStatus.SUBMITTED)
    with time_machine.travel(AT, tick=False):
        quote = quote_draft(order=cast.acme_order, by=cast.account_manager)
        promise = order_promise(Order.objects.get(pk=cast.acme_order.pk))
    assert Decimal(body["price"]) == quote.net_total
    assert Estimate.objects.get().ready_by == promise.due_at is not None
    assert timezone.datetime.fromisoformat(body["ready_by"]) == promise.due_at


def test_many_pictures_are_priced_in_the_samples_shares_with_the_volume_discount(cast, studio):
    files = [sample("a.jpg", photo(EASY)), sample("b.jpg", photo(HARD)), sample("c.jpg", photo(HARD, seed=6))]
    answer = ask(api_for(None), files=files, count=120, turnaround="express")
    assert answer.status_code == 201, answer.content
    made = Estimate.objects.get()
    assert made.mix == {"simple": 40, "complex": 80} and made.count == 120
    lines = quote_lines(price_list=estimates.default_price_list(), services=list(Service.objects.filter(
        code="colour-correction")), complexities=Counter(made.mix), turnaround="express")
    assert made.price == sum(line.amount for line in lines)
    assert {line.kind for line in lines} >= {"discount", "surcharge"}  # 120 pictures: 10 %; express: the surcharge
    assert answer.json()["drivers"] == "2 of 3 samples are complex: " + answer.json()["drivers"].split(": ", 1)[1]


def test_the_mix_shares_any_count_among_the_grades_and_adds_up():
    assert estimates.mix(["simple", "complex", "complex"], 10) == Counter({"simple": 3, "complex": 7})
    assert estimates.mix(["simple", "complex"], 1) == Counter({"simple": 1})  # a tie: the simpler grade first
    assert estimates.mix(["standard"] * 5, 5000) == Counter({"standard": 5000})
    for count in range(1, 60):
        for grades in (["simple", "standard", "complex"], ["simple", "simple", "complex", "standard", "standard"]):
            shares = estimates.mix(grades, count)
            assert sum(shares.values()) == count and all(n > 0 for n in shares.values())
    assert estimates.mix(["simple", "complex", "standard"], 3) == Counter(["simple", "complex", "standard"])


def test_below_the_minimum_order_the_estimate_says_the_minimum(cast, studio):
    answer = ask(api_for(None), files=[sample("a.jpg", photo(EASY))], count=1)
    assert Decimal(answer.json()["price"]) == Decimal("25.00")  # the default list's minimum order


def test_the_date_follows_a_busy_schedule_and_says_so(cast, studio):
    from jobs.models import Assignment

    image = OrderImage.objects.create(order=cast.acme_order, filename="busy.jpg", status="assigned")
    Assignment.objects.create(image=image, retoucher=studio, minutes=60 * 8 * 15, active=True)  # three weeks booked
    with time_machine.travel(AT, tick=False):
        answer = ask(api_for(None), files=[sample("a.jpg", photo(EASY))], count=10, turnaround="rush")
    made = Estimate.objects.get()
    assert made.ready_by > AT + timedelta(days=14)
    assert "busy" in made.schedule_note and answer.json()["schedule_note"] == made.schedule_note


def test_without_a_retoucher_for_the_work_the_date_is_on_request(cast):
    default_price_list()
    answer = ask(api_for(None), files=[sample("a.jpg", photo(EASY))], services="clipping-path", count=3)
    assert answer.status_code == 201 and answer.json()["ready_by"] is None
    assert "confirm the date" in answer.json()["schedule_note"]


def _nothing_made(answer, field, words):
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"] and words in answer.json()["detail"], answer.json()
    assert Estimate.objects.count() == 0


def _hostile() -> dict[str, bytes]:
    truncated = photo(EASY)[:5000]
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 MP in a few kB
    return {"truncated.jpg": truncated, "bomb.png": bomb.getvalue(), "notes.jpg": b"%PDF-1.7 not a photo" * 10,
            "tiny.jpg": photo(EASY, size=(300, 200)), "empty.jpg": b""}


@pytest.mark.parametrize("name, words", [
    ("truncated.jpg", "truncated.jpg cannot be estimated"), ("bomb.png", "bomb.png cannot be estimated"),
    ("notes.jpg", "Send JPEG, PNG or TIFF samples"), ("tiny.jpg", "only 300×200 px"), ("empty.jpg", "empty"),
])
def test_a_hostile_or_odd_sample_is_refused_with_its_reason_and_nothing_is_kept(cast, studio, name, words, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this test's own scratch space, to look into
    answer = ask(api_for(None), files=[sample("fine.jpg", photo(EASY)), sample(name, _hostile()[name])])
    _nothing_made(answer, "files", words)
    assert list(tmp_path.glob("loupe-samples-*")) == []  # the samples' scratch space is gone


def test_camera_raw_and_psd_are_not_taken_as_samples(cast, studio):
    psd = b"8BPS\x00\x01" + b"\x00" * 200
    _nothing_made(ask(api_for(None), files=[sample("layers.psd", psd)]), "files", "Send JPEG, PNG or TIFF samples")


@pytest.mark.parametrize("change, field, words", [
    ({"files": []}, "files", "Add at least one sample photo"),
    ({"count": 6, "files": "six"}, "files", "at most 5 sample photos; 6 were sent"),
    ({"services": ""}, "services", "Choose at least one service"),
    ({"services": "gold-plating"}, "services", "There is no service “gold-plating”"),
    ({"turnaround": "yesterday"}, "turnaround", "Choose a turnaround"),
    ({"count": 0}, "count", "at least 1"),
    ({"count": -5}, "count", "at least 1"),
    ({"count": "a dozen"}, "count", "as a whole number"),
    ({"count": "1e9"}, "count", "as a whole number"),
    ({"count": 5001}, "count", "For more than 5,000 pictures"),
    ({"count": 10**30}, "count", "For more than 5,000 pictures"),
])
def test_bad_choices_are_refused_naming_the_field_before_anything_is_decoded(cast, studio, change, field, words):
    files = [sample(f"{n}.jpg", photo(EASY, size=(900, 600))) for n in range(6 if change.get("files") == "six" else 1)]
    arguments = {"files": files, "services": "colour-correction", "turnaround": "standard", "count": 2}
    arguments.update({k: v for k, v in change.items() if k != "files" or v != "six"})
    if change.get("files") == "six":
        arguments["files"] = files
    _nothing_made(ask(api_for(None), **arguments), field, words)


def test_the_largest_count_and_the_largest_sample_are_taken(cast, studio, settings):
    data = photo(EASY)
    settings.LOUPE_SAMPLE_MAX_BYTES = len(data)
    answer = ask(api_for(None), files=[sample("a.jpg", data)], count=estimates.MAX_COUNT)
    assert answer.status_code == 201, answer.content
    assert Estimate.objects.get().mix == {"simple": 5000} and Estimate.objects.get().ready_by is not None


def test_a_sample_over_the_size_limit_and_a_body_over_five_of_them_are_refused(cast, studio, settings):
    big = photo(HARD)
    settings.LOUPE_SAMPLE_MAX_BYTES = len(big) - 1
    _nothing_made(ask(api_for(None), files=[sample("huge.jpg", big)]), "files", "a sample may be at most")
    settings.LOUPE_SAMPLE_MAX_BYTES = 50_000
    answer = HttpClient().post(URL, data=b"x" * 10, content_type="multipart/form-data; boundary=x",
                               CONTENT_LENGTH=str(5 * 50_000 + 70_000))
    assert answer.status_code == 400 and "Send at most 5 samples" in answer.json()["detail"]
    page = HttpClient().post(reverse("storefront:estimate_form"), data=b"x" * 10,
                             content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=str(5 * 50_000 + 70_000))
    assert page.status_code == 400 and "Send at most 5 samples of at most 48.8 KiB each." in page_text(page.content)
    assert Estimate.objects.count() == 0


def test_without_published_prices_the_visitor_is_told_to_ask(cast):
    answer = ask(api_for(None), files=[sample("a.jpg", photo(EASY))])
    assert answer.status_code == 409 and "has not published its prices" in answer.json()["detail"]
    assert Estimate.objects.count() == 0


def test_twenty_estimates_an_hour_per_address_then_a_clear_no(cast, studio):
    client = api_for(None)
    for _ in range(20):
        assert ask(client, files=[]).status_code == 400
    refused = ask(client, files=[sample("a.jpg", photo(EASY))])
    assert refused.status_code == 429 and Estimate.objects.count() == 0
    elsewhere = client.post(URL, {"count": 2}, format="multipart", REMOTE_ADDR="10.9.9.9")
    assert elsewhere.status_code == 400  # another address has its own twenty


def test_the_samples_are_never_stored(cast, studio, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")}}}
    assert ask(api_for(None), files=[sample("a.jpg", photo(EASY))]).status_code == 201
    assert not (tmp_path / "media").exists() or list((tmp_path / "media").rglob("*")) == []


def test_an_estimate_is_kept_a_day_then_gone(cast, studio):
    with time_machine.travel(AT, tick=False):
        ask(api_for(None), files=[sample("a.jpg", photo(EASY))])
    made = Estimate.objects.get()
    assert made.expires_at == AT + timedelta(hours=24)
    page = reverse("storefront:estimate", args=[made.pk])
    with time_machine.travel(made.expires_at - timedelta(seconds=1), tick=False):
        assert HttpClient().get(page).status_code == 200
        assert estimates.delete_expired() == 0
    with time_machine.travel(made.expires_at, tick=False):
        assert HttpClient().get(page).status_code == 404
        assert estimates.delete_expired() == 1
    assert not Estimate.objects.exists()


def test_the_page_estimates_keeps_the_choices_when_refused_and_shows_the_figures(cast, studio):
    visitor = HttpClient()
    form = page_text(visitor.get(reverse("storefront:estimate_form")).content)
    assert "How much, and by when?" in form and "Colour correction" in form and "Rush (8 business hours)" in form
    refused = visitor.post(reverse("storefront:estimate_form"), {"services": ["colour-correction"],
                                                                  "turnaround": "express", "count": "40"})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Add at least one sample photo" in text
    assert re.search(r'value="colour-correction"[^>]*checked', text) and re.search(r'value="express"[^>]*checked', text)
    assert 'value="40"' in text and Estimate.objects.count() == 0
    with time_machine.travel(AT, tick=False):
        made = visitor.post(reverse("storefront:estimate_form"), {
            "services": ["colour-correction"], "turnaround": "standard", "count": "120",
            "files": [sample("plain.jpg", photo(EASY)), sample("pave.jpg", photo(HARD))]})
        assert made.status_code == 302
        estimate = Estimate.objects.get()
        assert made["Location"] == reverse("storefront:estimate", args=[estimate.pk])
        shown = page_text(visitor.get(made["Location"]).content)
    assert f"{estimate.price} EUR net" in shown and "120 pictures like these" in shown
    assert "1 of 2 samples is complex" in shown and "Ready " in shown and "plain.jpg" in shown
    assert "Priced as 60 simple, 60 complex" in shown


def test_the_page_is_rate_limited_like_the_api(cast, studio):
    visitor = HttpClient()
    for _ in range(20):
        assert visitor.post(reverse("storefront:estimate_form"), {"count": "3"}).status_code == 400
    refused = visitor.post(reverse("storefront:estimate_form"), {"count": "3"})
    assert refused.status_code == 429 and "20 estimates from your network within the hour" in page_text(refused.content)


def test_the_studio_home_leads_to_the_estimate(cast):
    home = HttpClient().get(reverse("storefront:home")).content.decode()
    assert reverse("storefront:estimate_form") in home and "Price your pictures in seconds" in home


def test_limits_are_said_in_words_at_each_unit():
    from agency.uploads import size_words

    assert [size_words(n) for n in (2 * 1024**3, 1024**3 - 1, 1024**2, 1024**2 - 1, 50_000)] == [
        "2 GiB", "1024 MiB", "1 MiB", "1024 KiB", "48.8 KiB"]


def test_what_drives_the_price_in_each_case():
    hard = {"clutter": 0.45, "product": 0.4, "highlights": 0.01, "outline": 2.0, "dust": 3.0}
    samples = [estimates.Sample("a.jpg", "complex", 9.0, hard), estimates.Sample("b.jpg", "complex", 8.0, hard),
               estimates.Sample("c.jpg", "simple", 1.0, {})]
    assert estimates.drivers(samples) == "2 of 3 samples are complex: background clutter 45% of the border"
    assert estimates.drivers(samples[2:]) == "1 of 1 is simple"
    assert estimates.drivers([samples[2], estimates.Sample("d.jpg", "standard", 6.0, {})] * 2) == (
        "2 of 4 are simple; 2 of 4 are standard")
    unmeasured = [samples[0], estimates.Sample("e.tif", "standard", None, {})]
    assert estimates.drivers(unmeasured) == "1 of 2 samples could not be measured and is priced as standard"
