"""The proof mark on a held order's previews: it covers the whole picture (no corner is left clean to
crop), leaves the picture recognisable, keeps transparency where there was some, and reads only the
formats previews are stored in."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat, UnidentifiedImageError

from jobs.imaging.proofmark import watermark

pytestmark = pytest.mark.engine_independent  # decoding only: it runs once, in the SQLite pass


def _encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


@pytest.mark.parametrize("size", [(900, 600), (600, 900), (240, 160)])
def test_the_mark_covers_every_part_of_the_picture_and_keeps_it_recognisable(size):
    grey = Image.new("RGB", size, (128, 128, 128))
    marked = _open(watermark(_encoded(grey, "JPEG", quality=95)))
    assert (marked.format, marked.size, marked.mode) == ("WEBP", size, "RGB")
    difference = ImageChops.difference(marked, grey).convert("L")
    cell_w, cell_h = size[0] // 3, size[1] // 3
    for column in range(3):
        for row in range(3):
            box = (column * cell_w, row * cell_h, (column + 1) * cell_w, (row + 1) * cell_h)
            assert difference.crop(box).getextrema()[1] > 40, f"no mark in cell {column, row}"
    # semi-transparent strokes over a mostly untouched picture
    assert ImageStat.Stat(difference).median[0] < 8
    assert 2 < ImageStat.Stat(difference).mean[0] < 40


@pytest.mark.parametrize("mode,fmt,options", [
    ("RGBA", "PNG", {}),
    ("LA", "PNG", {}),
    ("P", "PNG", {"transparency": 0}),
    ("RGBA", "WEBP", {"lossless": True}),
])
def test_a_transparent_background_stays_transparent_under_the_mark(mode, fmt, options):
    picture = Image.new(mode, (400, 300), 0)
    marked = _open(watermark(_encoded(picture, fmt, **options)))
    assert marked.mode == "RGBA"
    low, high = marked.getchannel("A").getextrema()
    assert low == 0 and high > 60  # a clear background, a visible mark


def test_an_opaque_picture_stays_opaque():
    marked = _open(watermark(_encoded(Image.new("RGB", (300, 200), (250, 250, 250)), "PNG")))
    assert marked.mode == "RGB"


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "JPEG"])
def test_it_reads_the_formats_previews_are_stored_in(fmt):
    assert _open(watermark(_encoded(Image.new("RGB", (120, 80), (10, 20, 30)), fmt))).size == (120, 80)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_it_reads_nothing_else(fmt):
    with pytest.raises(UnidentifiedImageError):
        watermark(_encoded(Image.new("RGB", (120, 80), (10, 20, 30)), fmt))
