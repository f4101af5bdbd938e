"""Pay before download: a held order's client sees watermarked previews and gets 402 for the files,
until recording the payment releases them at once (billing tells jobs through jobs.payment_holds)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image

from billing import invoicing
from jobs import workflow
from jobs.intake import ingest
from jobs.models import Delivery, DeliveryItem, Event, ImageStatus, Order, OrderStatus, Version, VersionStatus
from tests.billing.invoicing_setup import address, billing_profile, completed_order
from tests.conftest import api_for, web_for
from tests.factories import add_images, default_price_list, make_order

pytestmark = pytest.mark.django_db


def _webp(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (480, 320), colour).save(out, "WEBP")
    return out.getvalue()


@pytest.fixture
def held(cast):
    """A completed order of a pay-before-download client, delivered with one image, invoiced and issued."""
    default_price_list()
    billing_profile()
    address(cast.acme, pay_before_download=True)
    order = completed_order(cast.acme, cast.account_manager)
    Order.objects.filter(pk=order.pk).update(downloads_held=True)
    image = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)[0]
    base = f"clients/{cast.acme.pk}/orders/{order.pk}/{image.pk}/versions/v1"
    preview = ingest.store(f"{base}/preview.webp", _webp((200, 180, 40)))
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, created_by=cast.retoucher,
                                     file=f"{base}/RING.png", preview=preview, thumbnail=preview, approved=True)
    archive = ingest.store(f"clients/{cast.acme.pk}/orders/{order.pk}/deliveries/d1/final.zip", b"PK\x05\x06" + bytes(18))
    delivery = Delivery.objects.create(order=order, number=1, status="ready", archive=archive)
    DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    [draft] = invoicing.invoice_generate(by=cast.finance, order=order)
    invoice = invoicing.invoice_issue(invoice=draft, by=cast.finance)
    return {"order": order, "image": image, "version": version, "delivery": delivery, "invoice": invoice}


def _fetch(api, response) -> bytes:
    assert response.status_code == 302, response.content
    return b"".join(api.get(response["Location"]).streaming_content)


def test_a_held_clients_files_answer_402_with_the_reason(cast, held):
    for person in (cast.acme_member, cast.acme_admin):
        api = api_for(person)
        for url in (f"/api/v1/deliveries/{held['delivery'].pk}/download/",
                    f"/api/v1/images/{held['image'].pk}/download/?what=delivery"):
            response = api.get(url)
            assert response.status_code == 402, url
            assert "released as soon as its invoice is paid" in response.json()["detail"]
    assert api_for(cast.account_manager).get(f"/api/v1/deliveries/{held['delivery'].pk}/download/").status_code == 302


def test_a_held_client_sees_watermarked_previews_and_the_studio_the_real_ones(cast, held):
    api = api_for(cast.acme_member)
    marked = _fetch(api, api.get(f"/api/v1/versions/{held['version'].pk}/download/?what=preview"))
    same = _fetch(api, api.get(f"/api/v1/images/{held['image'].pk}/download/?what=version"))
    studio = api_for(cast.account_manager)
    real = _fetch(studio, studio.get(f"/api/v1/versions/{held['version'].pk}/download/?what=preview"))
    assert marked == same and marked != real
    with Image.open(io.BytesIO(marked)) as picture, Image.open(io.BytesIO(real)) as original:
        assert picture.size == original.size
        # the flat yellow preview now carries light and dark strokes of the mark
        low, high = picture.convert("L").getextrema()
        assert high - low > 60 and original.convert("L").getextrema()[1] - original.convert("L").getextrema()[0] < 5


def test_the_pages_say_the_files_wait_for_the_payment(cast, held):
    page = web_for(cast.acme_member).get(f"/orders/{held['order'].pk}/deliveries/").content.decode()
    assert "paid before download" in page and f"/api/v1/deliveries/{held['delivery'].pk}/download/" not in page


def test_recording_the_payment_releases_the_files_at_once(cast, held):
    invoice = held["invoice"]
    invoicing.invoice_pay(invoice=invoice, by=cast.finance, amount=Decimal("1.00"))
    assert Order.objects.get(pk=held["order"].pk).downloads_held  # partly paid: still held
    invoice.refresh_from_db()
    invoicing.invoice_pay(invoice=invoice, by=cast.finance, amount=invoice.balance)
    assert not Order.objects.get(pk=held["order"].pk).downloads_held
    assert Event.objects.filter(order=held["order"], verb="downloads.released").exists()
    api = api_for(cast.acme_member)
    assert _fetch(api, api.get(f"/api/v1/deliveries/{held['delivery'].pk}/download/")).startswith(b"PK")
    real = _fetch(api, api.get(f"/api/v1/versions/{held['version'].pk}/download/?what=preview"))
    with Image.open(io.BytesIO(real)) as picture:
        low, high = picture.convert("L").getextrema()
        assert high - low < 5  # the plain preview again
    page = web_for(cast.acme_member).get(f"/orders/{held['order'].pk}/deliveries/").content.decode()
    assert f"/api/v1/deliveries/{held['delivery'].pk}/download/" in page


def test_production_starts_held_for_a_pay_before_download_client(cast):
    cast.acme.pay_before_download = True
    cast.acme.save()
    order = make_order(cast.acme, status=OrderStatus.QUOTED)
    workflow.order_start_production(order_id=order.pk, by=cast.account_manager)
    assert Order.objects.get(pk=order.pk).downloads_held
    other = make_order(cast.globex, status=OrderStatus.QUOTED)
    workflow.order_start_production(order_id=other.pk, by=cast.account_manager)
    assert not Order.objects.get(pk=other.pk).downloads_held


def test_a_transparent_preview_keeps_its_transparency_under_the_mark():
    from jobs.review.payment_holds import watermark

    out = io.BytesIO()
    Image.new("RGBA", (400, 400), (0, 0, 0, 0)).save(out, "WEBP", lossless=True)
    with Image.open(io.BytesIO(watermark(out.getvalue()))) as marked:
        assert marked.mode == "RGBA"
        alpha = marked.getchannel("A")
        assert alpha.getextrema()[0] == 0 and alpha.getextrema()[1] > 60  # clear background, visible mark
