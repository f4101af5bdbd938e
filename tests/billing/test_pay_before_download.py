"""Pay before download: a held order's client sees watermarked previews and gets 402 for the files,
until recording the payment releases them at once (billing tells jobs through jobs.review.payment_holds)."""

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
    thumbnail = ingest.store(f"{base}/thumbnail.webp", _webp((40, 120, 200)))
    master = ingest.store(f"{base}/RING.png", _webp((10, 10, 10)))
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, created_by=cast.retoucher,
                                     file=master, preview=preview, thumbnail=thumbnail, approved=True)
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
    from jobs.imaging.proofmark import watermark

    out = io.BytesIO()
    Image.new("RGBA", (400, 400), (0, 0, 0, 0)).save(out, "WEBP", lossless=True)
    with Image.open(io.BytesIO(watermark(out.getvalue()))) as marked:
        assert marked.mode == "RGBA"
        alpha = marked.getchannel("A")
        assert alpha.getextrema()[0] == 0 and alpha.getextrema()[1] > 60  # clear background, visible mark


def _flat(data: bytes) -> bool:
    """A one-colour picture (the fixture's plain renditions), as opposed to one with the mark's strokes."""
    with Image.open(io.BytesIO(data)) as picture:
        low, high = picture.convert("L").getextrema()
    return high - low < 5


@pytest.mark.parametrize("person", ["acme_member", "acme_admin"])
def test_no_rendition_of_a_held_order_leaves_unmarked(cast, held, person):
    """Every path a client user has to the retouched work of a held order: the preview and the
    thumbnail are watermarked (the studio still gets the plain ones), the master is the studio's, the
    deliveries answer 402, and the work cannot become the style guide's reference (its copy would be
    unmarked)."""
    from clients.models import StyleGuide

    api = api_for(getattr(cast, person))
    version, image = held["version"], held["image"]
    for what in ("preview", "thumbnail"):
        marked = _fetch(api, api.get(f"/api/v1/versions/{version.pk}/download/?what={what}"))
        assert not _flat(marked), what
        studio = api_for(cast.account_manager)
        assert _flat(_fetch(studio, studio.get(f"/api/v1/versions/{version.pk}/download/?what={what}"))), what
    assert not _flat(_fetch(api, api.get(f"/api/v1/images/{image.pk}/download/?what=version")))
    assert api.get(f"/api/v1/versions/{version.pk}/download/?what=file").status_code == 403
    assert api.get(f"/api/v1/images/{image.pk}/download/?what=delivery").status_code == 402
    assert api.get(f"/api/v1/deliveries/{held['delivery'].pk}/download/").status_code == 402
    guides = StyleGuide.objects.count()
    reference = api.post(f"/api/v1/versions/{version.pk}/reference/")
    assert reference.status_code == (402 if person == "acme_admin" else 403), reference.content
    assert StyleGuide.objects.count() == guides and not StyleGuide.objects.exclude(reference_key="").exists()


def test_a_held_orders_work_becomes_a_reference_only_once_it_is_paid(cast, held):
    from clients.models import StyleGuide

    manager = api_for(cast.account_manager)
    refused = manager.post(f"/api/v1/versions/{held['version'].pk}/reference/")
    assert refused.status_code == 409 and "once its invoice is paid" in refused.json()["detail"]
    assert not StyleGuide.objects.exclude(reference_key="").exists()
    invoicing.invoice_pay(invoice=held["invoice"], by=cast.finance, amount=held["invoice"].balance)
    made = api_for(cast.acme_admin).post(f"/api/v1/versions/{held['version'].pk}/reference/")
    assert made.status_code == 200, made.content
    assert StyleGuide.objects.exclude(reference_key="").count() == 1


def test_release_frees_exactly_the_held_orders_it_is_given(cast):
    from jobs.review import payment_holds

    a, b, free, other = (make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title=t) for t in "ABCD")
    Order.objects.filter(pk__in=[a.pk, b.pk, other.pk]).update(downloads_held=True)
    assert payment_holds.release(orders=[a, b, free], by=cast.finance) == 2
    assert payment_holds.release(orders=[a], by=cast.finance) == 0  # twice: nothing more
    held = dict(Order.objects.values_list("pk", "downloads_held"))
    assert [held[o.pk] for o in (a, b, free, other)] == [False, False, False, True]
    lines = Event.objects.filter(verb="downloads.released")
    assert sorted((e.order_id, e.actor, e.message, e.audience) for e in lines) == sorted(
        (o.pk, cast.finance, "Final files released for download", "client") for o in (a, b))


def test_the_watermarked_copy_is_made_once_beside_each_preview(cast):
    from django.core.files.storage import default_storage

    from jobs.review.payment_holds import held_preview

    base = f"clients/{cast.acme.pk}/orders/o/i/versions"
    first = ingest.store(f"{base}/v1/preview.webp", _webp((200, 180, 40)))
    second = ingest.store(f"{base}/v2/thumbnail.webp", _webp((40, 120, 200)))
    assert held_preview(first) == f"{base}/v1/held-preview.webp"
    assert held_preview(second) == f"{base}/v2/held-thumbnail.webp"
    with default_storage.open(f"{base}/v1/held-preview.webp") as f, Image.open(f) as marked:
        assert marked.format == "WEBP" and marked.size == (480, 320)
        with default_storage.open(first) as g, Image.open(g) as plain:
            assert marked.convert("RGB").tobytes() != plain.convert("RGB").tobytes()  # the proof mark is drawn on it
    # made once: the copy is not drawn again when asked again
    made = default_storage.get_modified_time(f"{base}/v1/held-preview.webp")
    assert held_preview(first) == f"{base}/v1/held-preview.webp"
    assert default_storage.get_modified_time(f"{base}/v1/held-preview.webp") == made
