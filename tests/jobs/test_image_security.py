"""SECURITY.md rows for images: U1 keys and targets, I2 pixel floods, I3 parser allowlist, I4 the
sandbox's limits, I5 output hygiene, I7 download file names."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from agency.uploads import content_disposition
from jobs.imaging.pipeline import StopProcessing, make_previews
from jobs.imaging.sandbox import inspect_file
from jobs.intake.uploads import key_extension, safe_filename

MAX = 250_000_000
names = st.text(st.characters(codec="utf-8"), min_size=0, max_size=400) | st.sampled_from(
    ["../../etc/passwd", "a\x00b.jpg", "x\r\nSet-Cookie: a=b.jpg", "r" * 300 + ".jpg", "photo.jpg.php",
     "\u202eg.jpg", "CON.tif", ".hidden", "ring\".jpg"])


@settings(max_examples=1000, deadline=None)
@given(names)
def test_display_names_and_key_extensions_are_safe(name):
    """U1: no user bytes reach a storage key but an extension from the allowlist."""
    cleaned = safe_filename(name)
    assert 0 < len(cleaned) <= 255
    assert "/" not in cleaned and "\\" not in cleaned and "\x00" not in cleaned and "\u202e" not in cleaned
    assert not any(ord(c) < 32 for c in cleaned)
    assert key_extension(cleaned) in {"jpg", "jpeg", "png", "tif", "tiff", "psd", "psb", "webp", "cr2", "cr3", "nef",
                                      "arw", "dng", "bin"}


@settings(max_examples=300, deadline=None)
@given(names)
def test_content_disposition_cannot_be_injected(name):
    """I7: attachment, RFC 6266 filename*, no CR/LF or stray quotes."""
    header = content_disposition(name)
    assert header.startswith("attachment; filename=\"") and "filename*=UTF-8''" in header
    assert "\r" not in header and "\n" not in header
    ascii_part = header.split('filename="', 1)[1].split('";', 1)[0]
    assert '"' not in ascii_part and "\\" not in ascii_part
    assert all(ord(c) < 128 for c in header)
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == "".join(
        c for c in name if c.isprintable() and c not in '"\\\r\n') or name == "" or header.endswith("download")


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names)
def test_upload_targets_use_server_keys_and_expire(cast, name):
    """U1 through the service: the key is server-made, the target expires within 15 minutes."""
    from jobs.intake.uploads import uploads_create

    [(image, target)] = uploads_create(order=cast.acme_order, by=cast.acme_member,
                                       files=[{"name": name, "size": 10, "content_type": "image/jpeg",
                                               "sha256": "0" * 64}])
    prefix = f"clients/{cast.acme.pk}/orders/{cast.acme_order.pk}/{image.pk}/upload/"
    assert image.upload_key.startswith(prefix)
    assert image.upload_key.rsplit("/", 1)[1].split(".")[0].isalnum()
    assert target["expires_in"] <= 15 * 60


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("width,height,megapixels", [(10_000, 10_000, 100), (20_000, 20_000, 400),
                                                     (65_535, 65_535, 4295)])
def test_pixel_floods_are_rejected_from_the_header(tmp_path, width, height, megapixels):
    """I2: 65-byte headers claiming 100 MP, 400 MP and 4 GP; the 100 MP one decodes (below the cap)
    only to find no data, the others never get past the header."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bomb(width, height))
    with pytest.raises(StopProcessing) as exc:
        make_previews(path, max_pixels=MAX)
    if megapixels > 250:
        assert exc.value.reason == f"image of {megapixels} megapixels exceeds the 250 megapixel limit"
    else:
        assert "damaged" in exc.value.reason or "truncated" in exc.value.reason


@pytest.fixture(scope="module")
def tiff_150mp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "150mp.tif"
    Image.new("L", (15_000, 10_000), 128).save(path, "TIFF", compression="tiff_deflate")
    return path


def test_a_real_150_megapixel_tiff_is_accepted(tiff_150mp):
    outcome = inspect_file(tiff_150mp, extension="tif", max_pixels=MAX)
    assert outcome.ok, outcome.reason
    assert (outcome.inspection["width"], outcome.inspection["height"]) == (15_000, 10_000)


def test_sandbox_memory_limit_stops_the_decode_not_the_worker(tmp_path):
    """I4: with a 300 MB address-space limit a small file decodes, a 120 MP PNG (360 MB of pixels) is
    refused with a readable reason, and this process (the worker) is untouched."""
    small, big = tmp_path / "small.jpg", tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(small)
    Image.new("RGB", (12_000, 10_000), (10, 20, 30)).save(big, compress_level=1)
    limit = 300 * 1024 * 1024
    assert inspect_file(small, extension="jpg", max_pixels=MAX, memory_bytes=limit).ok
    outcome = inspect_file(big, extension="png", max_pixels=MAX, memory_bytes=limit)
    assert not outcome.ok
    assert outcome.reason in ("the image is too large to process",
                              "the file could not be processed safely: it exhausted the decoder's memory or time limits "
                              "or crashed it")


def test_sandbox_wall_clock_limit(tmp_path):
    path = tmp_path / "x.jpg"
    Image.new("RGB", (4000, 3000)).save(path, "JPEG")
    outcome = inspect_file(path, extension="jpg", max_pixels=MAX, wall_seconds=0)
    assert not outcome.ok and "took too long" in outcome.reason


@pytest.mark.parametrize("head,label", [(b"%!PS-Adobe-3.0 EPSF-3.0\n", "PostScript/EPS"), (b"%PDF-1.4\n", "PDF"),
                                         (b"\x00\x00\x01\x00\x01\x00", "ICO"), (b"SIMPLE  =                    T", "FITS"),
                                         (b"GIF89a\x01\x00\x01\x00", "GIF")])
def test_other_formats_are_refused_before_any_parser_runs(tmp_path, monkeypatch, head, label):
    """I3: correct magic bytes of a format outside the allowlist; no decoder and no Ghostscript."""
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a) or pytest.fail("a process was spawned"))
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or pytest.fail("a decoder was called"))
    path = tmp_path / "file.jpg"
    path.write_bytes(head + b"\x00" * 64)
    with pytest.raises(StopProcessing) as exc:
        make_previews(path, max_pixels=MAX)
    assert label in exc.value.reason and not spawned and not opened


def test_previews_carry_no_gps_or_camera_metadata(tmp_path):
    """I5: EXIF (GPS, serial numbers, owner) never reaches a preview."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0xA431] = "SERIAL-123"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 0.0)}  # GPS
    path = tmp_path / "gps.jpg"
    Image.new("RGB", (400, 300), (90, 80, 70)).save(path, "JPEG", exif=exif)
    result = make_previews(path, max_pixels=MAX)
    for data in (result.preview, result.thumbnail):
        img = Image.open(io.BytesIO(data))
        assert "exif" not in img.info and not img.getexif()
        assert b"SERIAL-123" not in data and b"Canon" not in data
