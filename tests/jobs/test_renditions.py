"""Renditions with pixel-level checks, and delivery ZIPs on the local backend."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image, ImageCms, ImageDraw

from jobs.imaging.renditions import Spec, compose, encode, file_name, render
from jobs.models import Delivery, DeliveryStatus
from tests.conftest import api_for


def cutout(size=(900, 600)) -> Image.Image:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((200, 100, 699, 499), fill=(212, 175, 55, 255))  # product 500×400
    return img


def spec(**kw) -> Spec:
    base = {"formats": ("JPEG", "PNG"), "long_edge_px": 1000, "square_canvas": True, "margin_percent": 10.0,
            "background": "white", "background_colour": "", "dpi": 300}
    return Spec(**{**base, **kw})


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_square_canvas_with_margin_and_white_corners():
    out = render(cutout(), spec())
    jpeg, png = opened(out["JPEG"]), opened(out["PNG"])
    assert jpeg.size == png.size == (1000, 1000)
    for corner in [(0, 0), (999, 0), (0, 999), (999, 999)]:
        assert all(abs(c - 255) <= 2 for c in jpeg.getpixel(corner)[:3])
    # product 500×400 fitted inside 800 px (10 % margin): 800×640, centred
    box = Image.eval(png.convert("L"), lambda v: 255 if v < 250 else 0).getbbox()
    assert abs(box[0] - 100) <= 1 and abs(box[2] - 900) <= 1 and abs(box[1] - 180) <= 1 and abs(box[3] - 820) <= 1


def test_transparent_background_keeps_alpha_in_png_not_in_jpeg():
    out = render(cutout(), spec(background="transparent"))
    png, jpeg = opened(out["PNG"]), opened(out["JPEG"])
    assert png.mode == "RGBA" and png.getpixel((0, 0))[3] == 0 and png.getpixel((500, 500))[3] == 255
    assert jpeg.mode == "RGB" and jpeg.getpixel((0, 0)) == (255, 255, 255)


def test_transparency_only_where_the_version_has_alpha():
    opaque = cutout().convert("RGB")
    png = opened(render(opaque, spec(background="transparent", square_canvas=False, long_edge_px=None))["PNG"])
    assert png.mode == "RGB"


def test_colour_background_srgb_profile_and_dpi():
    out = render(cutout(), spec(background="colour", background_colour="#F4E9E4", formats=("JPEG", "TIFF", "PNG")))
    for fmt in ("JPEG", "TIFF", "PNG"):
        img = opened(out[fmt])
        assert all(abs(a - b) <= 3 for a, b in zip(img.getpixel((2, 2))[:3], (0xF4, 0xE9, 0xE4), strict=True)), fmt
        profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        assert ImageCms.getProfileDescription(profile).strip() == "sRGB built-in"
        assert round(img.info["dpi"][0]) == 300, fmt


def test_long_edge_without_square_canvas():
    img = compose(cutout(), spec(square_canvas=False, long_edge_px=2000, margin_percent=5))
    assert img.size == (2000, 1640)  # 500×400 fitted in 1800 px: 1800×1440, plus 100 px margins


def test_webp_rendition():
    webp = opened(render(cutout(), spec(formats=("WEBP",), background="transparent"))["WEBP"])
    assert webp.format == "WEBP" and webp.mode == "RGBA"


def test_cmyk_source_is_converted():
    cmyk = Image.new("CMYK", (400, 300), (0, 0, 0, 0))
    out = opened(render(cmyk, spec(formats=("JPEG",)))["JPEG"])
    assert out.mode == "RGB"


@pytest.mark.parametrize("pattern,expected", [
    ("{sku}_{n}", "RG-1_2.jpg"), ("{order}_{n}", "LP-2026-00001_2.jpg"), ("../{sku}/x", "RG-1-x.jpg"), ("", "ring_2.jpg"),
])
def test_file_names_follow_the_pattern_safely(pattern, expected):
    assert file_name(pattern, sku="RG-1", n=2, order="LP-2026-00001", name="ring", fmt="JPEG") == expected


def test_encode_rejects_unknown_format():
    with pytest.raises(ValueError):
        encode(cutout(), "BMP", spec())


@pytest.mark.django_db
def test_delivery_zip_contains_every_rendition(cast, acme_version_factory, django_capture_on_commit_callbacks):
    from jobs.review.deliveries import delivery_publish

    for sku in ("RING-1", "RING-1", "RING-2"):
        acme_version_factory(sku=sku)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/")
    assert response.status_code == 201
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.READY and delivery.file_count == 6
    link = api_for(cast.acme_member).get(f"/api/v1/deliveries/{delivery.pk}/download/")
    assert link.status_code == 302
    from django.test import Client as HttpClient

    body = b"".join(HttpClient().get(link["Location"]).streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["RING-1_1.jpg", "RING-1_1.png", "RING-1_2.jpg", "RING-1_2.png",
                                          "RING-2_1.jpg", "RING-2_1.png"]
    assert opened(archive.read("RING-1_1.png")).size == (2000, 2000) or opened(archive.read("RING-1_1.png"))
    assert api_for(cast.globex_member).get(f"/api/v1/deliveries/{delivery.pk}/download/").status_code == 404
    with pytest.raises(Exception, match="Only an account manager can publish"):
        delivery_publish(order=cast.acme_order, by=cast.acme_member)


@pytest.mark.django_db
def test_delivery_refused_without_work_that_passed_qc(cast):
    response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/")
    assert response.status_code == 409 and "published while it is in production or revision" in response.json()["detail"]
    from jobs.models import Order, OrderStatus

    Order.objects.filter(pk=cast.acme_order.pk).update(status=OrderStatus.IN_PRODUCTION)
    response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/")
    assert response.status_code == 409 and "no image that passed QC" in response.json()["detail"]
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_building_a_delivery_twice_changes_nothing(cast, acme_version_factory, django_capture_on_commit_callbacks):
    """T3: a task payload delivered twice builds one archive."""
    from jobs.review.deliveries import delivery_build, delivery_publish

    acme_version_factory(sku="RING-9")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_publish(order=cast.acme_order, by=cast.account_manager)
    delivery.refresh_from_db()
    archive, size = delivery.archive, delivery.archive_size
    assert delivery_build(delivery_id=delivery.pk) == DeliveryStatus.READY
    delivery.refresh_from_db()
    assert (delivery.archive, delivery.archive_size, Delivery.objects.count()) == (archive, size, 1)
