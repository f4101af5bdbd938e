"""Deep-zoom tiles (issue 21): the worker cuts every received original and version into a tile pyramid
(libvips ``dzsave``, packed into one storage object); the API gives its tile source and its tiles after
the access check of the file's previews; a held order's client gets the watermarked pyramid and never
reaches the unmarked tiles; another company gets 404; the pack is deleted with its file."""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client as HttpClient
from PIL import Image

from jobs.intake import ingest, tiles, uploads
from jobs.models import ImageStatus, Order, OrderImage, TilePyramid, Version, VersionStatus
from jobs.production.versions import VERSION_FILES
from tests.conftest import api_for
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus" / "valid"


@pytest.fixture(autouse=True)
def _no_size_floor(settings):
    settings.LOUPE_MIN_LONG_EDGE_PX = 1  # Pillow's test pictures are small; the floor is tested elsewhere


def _psb() -> bytes:
    """A large-document Photoshop file (PSB, version 2 of the format) of Pillow's test picture."""
    from psd_tools import PSDImage

    psd = PSDImage.frompil(Image.open(CORPUS / "hopper.png").convert("RGB"))
    psd._record.header.version = 2
    out = io.BytesIO()
    psd.save(out)
    assert out.getvalue()[:6] == b"8BPS\x00\x02"
    return out.getvalue()


def _jpeg(width: int, height: int) -> bytes:
    """A camera-shaped picture: a gradient with a ring-coloured disc, so tiles differ from each other."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92)
    return out.getvalue()


def _tile(api, source: dict, level: int, col: int, row: int) -> Image.Image:
    answer = api.get(source["tiles"].format(level=level, col=col, row=row))
    assert answer.status_code == 200, answer.content[:300]
    assert answer["Content-Type"] == "image/webp" and answer["Cache-Control"] == "private, max-age=86400"
    return Image.open(io.BytesIO(answer.content))


def _top(width: int, height: int) -> int:
    return math.ceil(math.log2(max(width, height)))


MASTERS = {"hopper.jpg": None, "pil_sample_cmyk.jpg": None, "tiff_16bit_RGB.tiff": None, "tiff_16bit_RGBa.tiff": None,
           "hopper_bigtiff.tif": None, "hopper.psd": None, "rgba.psd": None, "hopper.psb": _psb}


@pytest.mark.parametrize("name", sorted(MASTERS))
def test_tiles_are_made_for_every_kind_of_master_and_look_like_the_preview(send, cast, name):
    data = MASTERS[name]() if MASTERS[name] else (CORPUS / name).read_bytes()
    image = send(name, data)
    assert image.status == ImageStatus.RECEIVED, image.reason
    pyramid = TilePyramid.objects.get(image=image, version=None, watermarked=False)
    top = _top(image.width, image.height)
    assert (pyramid.width, pyramid.height, pyramid.tile_size, pyramid.overlap) == (image.width, image.height, 510, 1)
    assert {f"{level}/0_0" for level in range(top + 1)} <= set(pyramid.index)
    assert default_storage.exists(pyramid.pack) and pyramid.pack.endswith(f"/{image.pk}/tiles/pyramid.pack")
    api = api_for(cast.acme_member)
    source = api.get(f"/api/v1/images/{image.pk}/tiles/").json()
    assert source == {"width": image.width, "height": image.height, "tile_size": 510, "overlap": 1, "format": "webp",
                      "watermarked": False, "file_width": image.width, "file_height": image.height,
                      "tiles": f"/api/v1/images/{image.pk}/tiles/{{level}}/{{col}}_{{row}}.webp/"}
    listed = api.get(f"/api/v1/images/{image.pk}/").json()["tiles"]
    assert listed == {"url": f"/api/v1/images/{image.pk}/tiles/", "width": image.width, "height": image.height}
    # full size: the first tile is 510 px and the overlap, or the whole picture where it is smaller
    first = _tile(api, source, top, 0, 0)
    assert first.size == (min(image.width, 511), min(image.height, 511))
    # the level where the picture is one 128 px tile looks like the preview at that size, whatever the format
    level = top - 7 if max(image.width, image.height) > 128 else top
    small = _tile(api, source, level, 0, 0).convert("RGB")
    preview = Image.open(image.preview.open("rb")).convert("RGB").resize(small.size, Image.Resampling.LANCZOS)
    difference = np.abs(np.asarray(small, dtype=np.float32) - np.asarray(preview, dtype=np.float32)).mean()
    assert difference < 6, f"{name}: tiles differ from the preview by {difference:.1f} on average"


def test_a_camera_shaped_original_is_cut_into_every_tile_of_every_level(send, cast):
    image = send("RING_3_2.jpg", _jpeg(3000, 2000))
    pyramid = TilePyramid.objects.get(image=image)
    expected = set()
    for level in range(_top(3000, 2000) + 1):
        scale = 2 ** (_top(3000, 2000) - level)
        columns, rows = math.ceil(math.ceil(3000 / scale) / 510), math.ceil(math.ceil(2000 / scale) / 510)
        expected |= {f"{level}/{c}_{r}" for c in range(columns) for r in range(rows)}
    assert set(pyramid.index) == expected
    # the packed tiles follow one another without gaps, and the pack holds nothing else
    places = sorted(pyramid.index.values())
    assert places[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in zip(places, places[1:], strict=False))
    assert pyramid.size_bytes == places[-1][0] + places[-1][1] == default_storage.size(pyramid.pack)
    # the last tile of the last row at full size: what is left of the picture, with the overlap on its inner edges
    api = api_for(cast.acme_member)
    source = api.get(f"/api/v1/images/{image.pk}/tiles/").json()
    corner = _tile(api, source, 12, 5, 3)
    assert corner.size == (3000 - 5 * 510 + 1, 2000 - 3 * 510 + 1)
    # its pixels are the original's there (the gradient: red grows to the right, green downwards)
    r, g, _ = np.asarray(corner.convert("RGB"), dtype=np.float32)[-1, -1]
    assert r > 245 and g > 245


def test_a_tile_that_does_not_exist_or_tiles_not_made_yet_are_refused_with_a_reason(send, cast):
    image = send("RING.jpg", _jpeg(900, 600))
    api = api_for(cast.acme_member)
    assert api.get(f"/api/v1/images/{image.pk}/tiles/10/5_5.webp/").status_code == 404
    assert api.get(f"/api/v1/images/{image.pk}/tiles/99/0_0.webp/").status_code == 404
    TilePyramid.objects.filter(image=image).delete()
    for url in (f"/api/v1/images/{image.pk}/tiles/", f"/api/v1/images/{image.pk}/tiles/0/0_0.webp/"):
        refused = api.get(url)
        assert refused.status_code == 409
        assert refused.json()["detail"] == ("RING.jpg has no deep-zoom tiles yet: they are made a moment after the file "
                                            "is received; the preview shows it until then.")
    assert api.get(f"/api/v1/images/{image.pk}/").json()["tiles"] is None


def test_another_company_gets_404_for_the_tile_source_and_the_tiles(send, cast):
    image = send("RING.jpg", _jpeg(900, 600))
    stranger = api_for(cast.globex_member)
    for url in (f"/api/v1/images/{image.pk}/tiles/", f"/api/v1/images/{image.pk}/tiles/10/0_0.webp/"):
        answer = stranger.get(url)
        assert answer.status_code == 404 and b"RING" not in answer.content
    assert api_for(cast.acme_admin).get(f"/api/v1/images/{image.pk}/tiles/10/0_0.webp/").status_code == 200


def test_making_tiles_twice_keeps_one_pyramid_and_a_removed_image_takes_its_pack_along(send, cast,
                                                                                        django_capture_on_commit_callbacks):
    image = send("RING.jpg", _jpeg(900, 600))
    first = TilePyramid.objects.get(image=image)
    assert tiles.make_tiles(uploads.ORIGINALS, image.pk) == "made"
    again = TilePyramid.objects.get(image=image)
    assert again.pk == first.pk and again.pack == first.pack and again.index == first.index
    with django_capture_on_commit_callbacks(execute=True):
        uploads.image_remove(image=OrderImage.objects.get(pk=image.pk), by=cast.acme_member)
    assert not default_storage.exists(first.pack) and not TilePyramid.objects.filter(pk=first.pk).exists()
    assert tiles.make_tiles(uploads.ORIGINALS, image.pk) == "missing"


def test_a_file_the_tiler_cannot_read_leaves_no_pyramid_and_says_why_in_the_log(send, cast, caplog):
    image = send("RING.jpg", _jpeg(900, 600))
    TilePyramid.objects.filter(image=image).delete()
    with default_storage.open(image.original.name, "wb") as damaged:  # the stored file, cut short since
        damaged.write(_jpeg(900, 600)[:2000])
    with caplog.at_level(logging.WARNING, logger="loupe.images"):
        assert tiles.make_tiles(uploads.ORIGINALS, image.pk) == "failed"
    assert not TilePyramid.objects.filter(image=image).exists()
    assert f"no tiles for image {image.pk}: truncated JPEG" in caplog.text


@pytest.fixture
def held_version(cast):
    """An approved version, delivered, of an order paid before download and not paid yet; its tiles made."""
    order = make_order(cast.acme, by=cast.acme_member, status="completed", title="Held rings")
    Order.objects.filter(pk=order.pk).update(downloads_held=True)
    image = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)[0]
    base = f"clients/{cast.acme.pk}/orders/{order.pk}/{image.pk}/versions/v1"
    master = io.BytesIO()
    Image.open(io.BytesIO(_jpeg(2400, 2400))).save(master, "PNG")
    preview = io.BytesIO()
    Image.open(io.BytesIO(_jpeg(1600, 1600))).save(preview, "WEBP")
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, created_by=cast.retoucher,
                                     file=ingest.store(f"{base}/file.png", master.getvalue()), width=2400, height=2400,
                                     preview=ingest.store(f"{base}/preview.webp", preview.getvalue()), approved=True)
    from jobs.models import Delivery, DeliveryItem

    delivery = Delivery.objects.create(order=order, number=1, status="ready", archive=f"{base}/d.zip")
    DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    assert tiles.make_tiles(VERSION_FILES, version.pk) == "made"
    return version


def test_a_held_orders_client_gets_the_watermarked_pyramid_and_never_the_unmarked_tiles(cast, held_version):
    version = held_version
    studio = api_for(cast.account_manager).get(f"/api/v1/versions/{version.pk}/tiles/").json()
    assert (studio["width"], studio["height"], studio["watermarked"]) == (2400, 2400, False)
    client = api_for(cast.acme_member)
    source = client.get(f"/api/v1/versions/{version.pk}/tiles/").json()
    assert (source["width"], source["height"], source["watermarked"]) == (1600, 1600, True)
    assert (source["file_width"], source["file_height"]) == (2400, 2400)  # marks stay in the file's pixels
    assert client.get(f"/api/v1/versions/{version.pk}/").json()["tiles"]["url"] == f"/api/v1/versions/{version.pk}/tiles/"
    # the full-resolution level exists only in the unmarked pyramid: the client's tile answer is 404 there
    assert client.get(f"/api/v1/versions/{version.pk}/tiles/12/4_4.webp/").status_code == 404
    # the held pyramid is the preview with the proof mark: its full-size tile (1, 1) is not the plain preview there
    marked = np.asarray(_tile(client, source, 11, 1, 1).convert("RGB"), dtype=np.float32)
    preview = Image.open(version.preview.open("rb")).convert("RGB")
    plain = np.asarray(preview.crop((509, 509, 509 + marked.shape[1], 509 + marked.shape[0])), dtype=np.float32)
    assert marked.shape == plain.shape and np.abs(marked - plain).mean() > 3, "the held tiles carry the proof mark"
    # made once: asking again reads the same watermarked pyramid
    client.get(f"/api/v1/versions/{version.pk}/tiles/")
    assert TilePyramid.objects.filter(version=version).count() == 2


def test_the_canvas_carries_the_tile_source_each_person_is_given(cast, held_version):
    """The page carries each file's tile source (no round trip before the first tile): the same answer as
    the API's, so a held order's client is given the watermarked pyramid once it is made and never the
    unmarked one (until then nothing: asking the API makes it)."""
    from jobs.canvas import canvases

    version = held_version
    image = version.image

    def shown(user):
        [file] = [f for f in canvases(user, [image])[image.pk]["files"] if f["key"] == "v1"]
        return file["source"]

    studio = api_for(cast.account_manager).get(f"/api/v1/versions/{version.pk}/tiles/").json()
    assert shown(cast.account_manager) == studio and not studio["watermarked"]
    assert shown(cast.acme_member) is None  # the watermarked pyramid is not made yet
    asked = api_for(cast.acme_member).get(f"/api/v1/versions/{version.pk}/tiles/").json()
    assert shown(cast.acme_member) == asked and asked["watermarked"] and asked["width"] == 1600
    Order.objects.filter(pk=image.order_id).update(downloads_held=False)  # paid: the full pyramid
    image.order.refresh_from_db()
    assert shown(cast.acme_member) == studio


def test_the_admin_reads_pyramids_and_cannot_change_them(send, cast):
    from tests.factories import sign_in_with_second_factor

    image = send("RING.jpg", _jpeg(900, 600))
    pyramid = TilePyramid.objects.get(image=image)
    web = HttpClient()
    sign_in_with_second_factor(web, cast.admin)
    listed = web.get("/admin/jobs/tilepyramid/").content.decode()
    assert "RING.jpg" in listed
    page = web.get(f"/admin/jobs/tilepyramid/{pyramid.pk}/change/")
    assert page.status_code == 200 and pyramid.pack in page.content.decode()
    assert 'name="pack"' not in page.content.decode()
    before = TilePyramid.objects.filter(pk=pyramid.pk).values().first()
    web.post(f"/admin/jobs/tilepyramid/{pyramid.pk}/change/", {"pack": "elsewhere", "width": 1})
    assert TilePyramid.objects.filter(pk=pyramid.pk).values().first() == before


def test_files_stored_before_tiles_existed_get_theirs_from_make_tiles(send, cast):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    kept = send("KEPT.jpg", _jpeg(900, 600))
    older = send("OLDER.jpg", _jpeg(900, 600))
    recent = send("RECENT.jpg", _jpeg(900, 600))  # its own task is on its way: left to it
    TilePyramid.objects.filter(image__in=[older, recent]).delete()
    OrderImage.objects.filter(pk=older.pk).update(uploaded_at=timezone.now() - timedelta(minutes=10, seconds=1))
    OrderImage.objects.filter(pk=recent.pk).update(uploaded_at=timezone.now() - timedelta(minutes=9, seconds=50))
    OrderImage.objects.create(order=cast.acme_order, filename="never-sent.jpg", declared_size=10)  # no file: skipped
    before = TilePyramid.objects.get(image=kept).pk
    out = io.StringIO()
    call_command("make_tiles", stdout=out)  # tasks run at once in the tests
    assert out.getvalue() == "Queued the tiles of 1 file; the worker makes them.\n"
    assert not TilePyramid.objects.filter(image=recent).exists()
    assert TilePyramid.objects.filter(image=older, version=None).count() == 1
    assert TilePyramid.objects.get(image=kept).pk == before
    out = io.StringIO()
    call_command("make_tiles", stdout=out)
    assert out.getvalue() == "Queued the tiles of 0 files; the worker makes them.\n"
