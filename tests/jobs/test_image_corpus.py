"""Hostile and odd files through the whole pipeline (upload → complete → sandboxed worker).

Synthetic bad inputs are made here; the real files are test fixtures in tests/fixtures/corpus/ (from
Pillow's own test images, with their licence and MANIFEST.md), so a fresh clone runs them too."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from jobs.models import ImageStatus, OrderImage
from tests.conftest import api_for

pytestmark = pytest.mark.django_db
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"


@pytest.fixture(autouse=True)
def _no_size_floor(settings):
    """The corpus is about decoding: Pillow's test images are small, so the size floor is off here
    (``test_the_size_floor_refuses_a_thumbnail`` tests it)."""
    settings.LOUPE_MIN_LONG_EDGE_PX = 1


def _jpeg(size=(800, 600)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, "JPEG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", _jpeg())
    return buf.getvalue()


def _huge_itxt() -> bytes:
    text = zlib.compress(b"A" * (64 * 1024 * 1024))
    itxt = b"Comment\x00\x01\x00\x00\x00" + text
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "PNG")
    png = buf.getvalue()
    return png[:33] + _png_chunk(b"iTXt", itxt) + png[33:]


def _absurd_tiff() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    # Claim 2^31 rows per strip, an enormous strip byte count and strip data far past the end of the file.
    offset = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[offset:offset + 2])[0]
    for i in range(count):
        entry = offset + 2 + i * 12
        tag = struct.unpack("<H", data[entry:entry + 2])[0]
        if tag in (273, 278, 279):
            data[entry + 8:entry + 12] = struct.pack("<I", 0x7FFFFFFF)
    return bytes(data)


BAD_INPUTS = {
    "zero.jpg": (b"", "the file is empty"),
    "notes.jpg": (b"Dear studio, please retouch the rings.\n", "not an image: the file is text"),
    "archive.tif": (_zip(), "not an image: the file is a ZIP archive"),
    "truncated.jpg": (_jpeg()[:1500], "truncated JPEG"),
    "bad-header.jpg": (b"\xff\xd8\xff\xe0" + b"\x00\x02" + b"\xff" * 200, "JPEG"),
    "bomb.png": (_png_header(20000, 20000) + _png_chunk(b"IEND", b""), "image of 400 megapixels exceeds the 250 megapixel limit"),
    "itxt.png": (_huge_itxt(), "PNG"),
    "absurd.tif": (_absurd_tiff(), "TIFF"),
    "page.jpg": (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "not an image: the file is HTML/SVG markup"),
    "vector.png": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                   "not an image: the file is HTML/SVG markup"),
    "scan.pdf.jpg": (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "not an image: the file is a PDF document"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_inputs_end_rejected_with_a_reason(send, name):
    data, reason = BAD_INPUTS[name]
    image = send(name, data)
    assert image.status == ImageStatus.REJECTED, image.reason
    assert reason in image.reason and "Traceback" not in image.reason and len(image.reason) < 300
    assert image.attempts == (0 if image.uploaded_at is None else 1)


def test_the_size_floor_refuses_a_thumbnail(send, settings, cast):
    settings.LOUPE_MIN_LONG_EDGE_PX = 500
    guide = cast.acme_order.style_guide
    guide.long_edge_px = 2000
    guide.save()
    tiny = send("tiny.jpg", _jpeg((1, 1)))
    assert tiny.status == ImageStatus.REJECTED
    assert tiny.reason == "the image is only 1×1 px; photographs need at least 500 px on the long edge to be retouched"
    # at the floor a photograph is received; the style guide's own resolution is only a warning
    edge = send("edge.jpg", _jpeg((500, 300)))
    assert edge.status == ImageStatus.RECEIVED
    assert any(w["code"] == "resolution" for w in edge.preflight)


def test_nul_in_a_file_name_is_a_field_error(cast):
    from tests.uploading import declare

    response = declare(api_for(cast.acme_member), cast.acme_order, "ring\x00.jpg", _jpeg())
    assert response.status_code == 400 and "name" in response.json()["errors"]["files"]["0"]


def test_hostile_file_name_is_cleaned_and_never_reaches_a_key(send, cast):
    name = "../../" + "\x07\x1b[31m\u202e" + "r" * 300 + ".jpg"
    image = send(name, _jpeg())
    assert image.status == ImageStatus.RECEIVED
    assert ".." not in image.filename and "\x07" not in image.filename and "\u202e" not in image.filename
    assert len(image.filename) <= 255 and image.filename.endswith(".jpg")
    assert image.original.name == f"clients/{cast.acme.pk}/orders/{cast.acme_order.pk}/{image.pk}/original/original.jpg"


HOSTILE = sorted(p.name for p in (CORPUS / "hostile").glob("*")) if (CORPUS / "hostile").exists() else []
VALID = sorted(p.name for p in (CORPUS / "valid").glob("*")) if (CORPUS / "valid").exists() else []


def test_the_corpus_fixtures_are_present():
    assert len(HOSTILE) >= 40 and len(VALID) >= 20, f"corpus not found at {CORPUS}"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_corpus_ends_received_or_rejected(send, name):
    image = send(name, (CORPUS / "hostile" / name).read_bytes())
    assert image.status in (ImageStatus.RECEIVED, ImageStatus.REJECTED)
    if image.status == ImageStatus.REJECTED:
        assert image.reason and "Traceback" not in image.reason and "TIFFReadDirectory" not in image.reason
    else:
        assert image.thumbnail and image.preview and image.width and image.height
    assert image.attempts <= 1


EXPECTED = {  # file: (format, width, height, mode, bit depth, profile present)
    "16bit.deflate.tif": ("TIFF", 64, 64, "I;16", 16, False),
    "hopper.Lab.tif": ("TIFF", 128, 128, "LAB", 8, False),
    "hopper.iccprofile.tif": ("TIFF", 128, 128, "RGB", 8, True),
    "hopper.jpg": ("JPEG", 128, 128, "RGB", 8, False),
    "hopper.psd": ("PSD", 128, 128, "RGB", 8, True),
    "hopper.webp": ("WEBP", 128, 128, "RGB", 8, False),
    "hopper_bigtiff.tif": ("BigTIFF", 128, 128, "RGB", 8, False),
    "icc_profile_big.jpg": ("JPEG", 425, 250, "RGB", 8, True),
    "pil_sample_cmyk.jpg": ("JPEG", 100, 100, "CMYK", 8, False),
    "rgba.psd": ("PSD", 100, 100, "RGBA", 8, False),
    "tiff_16bit_RGB.tiff": ("TIFF", 100, 40, "RGB", 16, False),
    "tiff_16bit_RGBa.tiff": ("TIFF", 100, 40, "RGBA", 16, True),
    "tiff_strip_cmyk_jpeg.tif": ("TIFF", 100, 100, "CMYK", 8, False),
}


def _profile(img: Image.Image) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))).strip()


@pytest.mark.parametrize("name", VALID)
def test_valid_corpus_is_received_with_metadata_and_srgb_previews(send, name):
    image = send(name, (CORPUS / "valid" / name).read_bytes())
    assert image.status == ImageStatus.RECEIVED, image.reason
    if name in EXPECTED:
        fmt, width, height, mode, bits, profile = EXPECTED[name]
        assert (image.format, image.width, image.height, image.mode, image.bit_depth) == (fmt, width, height, mode, bits)
        assert bool(image.icc_profile) == profile
    preview = Image.open(image.preview.open("rb"))
    assert preview.mode in ("RGB", "RGBA") and _profile(preview) == "sRGB built-in"
    assert "exif" not in preview.info


def _pixels(image: OrderImage) -> np.ndarray:
    return np.asarray(Image.open(image.preview.open("rb")).convert("RGB"), dtype="float32")


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.tif", "hopper.Lab.tif", "hopper.psd", "hopper.webp",
                                  "hopper_bigtiff.tif", "hopper_lzw.tif", "hopper.iccprofile.tif"])
def test_previews_of_the_same_picture_look_the_same(send, name):
    reference = _pixels(send("hopper.png", (CORPUS / "valid" / "hopper.png").read_bytes()))
    other = _pixels(send(name, (CORPUS / "valid" / name).read_bytes()))
    assert other.shape == reference.shape
    assert float(np.abs(other - reference).mean()) < 8.0, name


def test_exif_orientation_is_applied(send):
    path = CORPUS / "valid" / "exif_imagemagick_orientation.png"
    image = send(path.name, path.read_bytes())
    expected = ImageOps.exif_transpose(Image.open(path)).convert("RGB").resize((256, 256))
    thumb = Image.open(image.thumbnail.open("rb")).convert("RGB")
    assert float(np.abs(np.asarray(thumb, "float32") - np.asarray(expected, "float32")).mean()) < 12.0


def test_the_thumbnail_keeps_the_colours_of_a_full_resolution_resize(tmp_path):
    """Issue 10's preview goal: the 256 px thumbnail within 40 dB PSNR of a LANCZOS resize of the whole
    picture (lossy WebP's chroma subsampling alone would cap it near 37 dB), stored as lossless WebP."""
    from jobs.imaging import pipeline

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:1800, 0:2700].astype("float32")
    frame = np.stack([200 + 30 * xx / 2700, 190 + 25 * yy / 1800, 180 + 20 * np.sin(xx / 40)], axis=-1)
    frame[(xx - 1350) ** 2 + (yy - 900) ** 2 < 400**2] = [212, 175, 55]  # a gold disc with sharp edges
    frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype("uint8")
    path = tmp_path / "frame.jpg"
    Image.fromarray(frame, "RGB").save(path, "JPEG", quality=92)
    source = Image.open(path).convert("RGB")
    reference = source.resize(pipeline._target(source.width, source.height, 256), Image.Resampling.LANCZOS)
    result = pipeline.make_previews(path, max_pixels=250_000_000, extension="jpg")
    assert b"VP8L" in result.thumbnail and b"VP8 " not in result.thumbnail  # lossless WebP, not lossy
    thumb = np.asarray(Image.open(io.BytesIO(result.thumbnail)).convert("RGB"), "float64")
    mse = float(np.mean((thumb - np.asarray(reference, "float64")) ** 2))
    assert 10 * np.log10(255**2 / mse) >= 40
