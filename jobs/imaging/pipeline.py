"""Decode an accepted original with bounded memory and produce its metadata, previews and pre-flight
figures. Runs inside the sandboxed child (``jobs.imaging.child``); no ORM, no storage."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from jobs.imaging.sniff import Kind, sniff

try:  # libvips is optional at import time: without it, Pillow does every format
    import pyvips
except (ImportError, OSError):  # pragma: no cover - the wheel ships libvips
    pyvips = None

THUMBNAIL_PX = 256
PREVIEW_PX = 1600
PILLOW_FORMATS = {"JPEG": ["JPEG"], "PNG": ["PNG"], "TIFF": ["TIFF"], "PSD": ["PSD"], "WEBP": ["WEBP"]}
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_ICC = SRGB.tobytes()


class StopProcessing(Exception):
    """The file is refused; ``reason`` is shown to the client as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Inspection:
    format: str
    width: int
    height: int
    mode: str
    bit_depth: int
    icc_profile: str = ""
    has_alpha: bool = False
    dpi: int | None = None
    orientation: int = 1
    clipped_highlights: float = 0.0
    clipped_shadows: float = 0.0
    notes: list[str] = field(default_factory=list)
    # the measured complexity (jobs.imaging.complexity): {"grade", "score", "features"}, or {} where not measured
    complexity: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Previews:
    inspection: Inspection
    thumbnail: bytes
    preview: bytes


def configure_pillow(max_pixels: int) -> None:
    """Pixel limit from the setting, and the bomb warning escalated to an error (SECURITY.md §1.3)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise StopProcessing("the file declares an empty image (0 pixels)")
    if width * height > max_pixels:
        raise StopProcessing(
            f"image of {width * height / 1e6:.0f} megapixels exceeds the {max_pixels / 1e6:.0f} megapixel limit"
        )


def _target(width: int, height: int, long_edge: int) -> tuple[int, int]:
    scale = min(1.0, long_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _bit_depth(img: Image.Image, path: Path, family: str) -> int:
    if family == "TIFF":
        bits = img.tag_v2.get(258) if hasattr(img, "tag_v2") else None
        if bits:
            return int(max(bits) if isinstance(bits, tuple) else bits)
    if family == "PNG":
        with path.open("rb") as fh:
            fh.seek(24)
            return fh.read(1)[0]
    if family in ("PSD", "PSB"):
        with path.open("rb") as fh:
            fh.seek(22)
            return int.from_bytes(fh.read(2), "big")
    if img.mode.startswith("I;16"):
        return 16
    if img.mode in ("I", "F"):
        return 32
    return 1 if img.mode == "1" else 8


def _profile_name(icc: bytes | None) -> str:
    if not icc:
        return ""
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() or "embedded profile"
    except (ImageCms.PyCMSError, OSError, ValueError):
        return "unreadable profile"


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        import numpy as np

        arr = np.asarray(img)
        if img.mode == "F":
            arr = np.clip(arr, 0.0, 1.0 if arr.max() <= 1.0 else 255.0) * (255.0 if arr.max() <= 1.0 else 1.0)
        else:
            peak = 65535 if img.mode.startswith("I;16") or arr.max() > 255 else 255
            arr = arr.astype("float32") * (255.0 / peak)
        return Image.fromarray(np.clip(arr, 0, 255).astype("uint8"), "L")
    return img


def to_srgb(img: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """Convert to 8-bit sRGB (RGB or RGBA), honouring an embedded profile; LAB via its own profile."""
    img = _to_8bit(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode == "LAB":
        return ImageCms.profileToProfile(img, ImageCms.createProfile("LAB"), SRGB, outputMode="RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if img.mode in ("P", "1", "LA", "PA"):
                img = img.convert("RGBA" if has_alpha else "RGB")
            out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
            return ImageCms.profileToProfile(img, source, SRGB, outputMode=out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("The embedded colour profile could not be applied; colours were converted without it.")
    if has_alpha:
        return img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


def _open_pillow(path: Path, kind: Kind, max_pixels: int) -> Image.Image:
    try:
        img = Image.open(path, formats=PILLOW_FORMATS[kind.family or ""])
    except Image.DecompressionBombError as exc:
        raise StopProcessing(_bomb_reason(str(exc), max_pixels)) from exc
    except Image.DecompressionBombWarning as exc:
        raise StopProcessing(_bomb_reason(str(exc), max_pixels)) from exc
    except UnidentifiedImageError as exc:
        raise StopProcessing(f"the {kind.label} file is damaged and cannot be read") from exc
    _check_pixels(img.width, img.height, max_pixels)
    return img


def _bomb_reason(message: str, max_pixels: int) -> str:
    import re

    match = re.search(r"\((\d+) pixels\)", message)
    if match:
        return (f"image of {int(match.group(1)) / 1e6:.0f} megapixels exceeds the "
                f"{max_pixels / 1e6:.0f} megapixel limit")
    return f"the image exceeds the {max_pixels / 1e6:.0f} megapixel limit"


def _inspect_header(img: Image.Image, path: Path, kind: Kind) -> Inspection:
    family = kind.family or ""
    icc = img.info.get("icc_profile")
    dpi = img.info.get("dpi")
    exif = img.getexif()
    return Inspection(
        format=kind.label if family == "TIFF" else family, width=img.width, height=img.height, mode=img.mode,
        bit_depth=_bit_depth(img, path, family), icc_profile=_profile_name(icc),
        has_alpha="A" in img.mode or "transparency" in img.info,
        dpi=round(float(dpi[0])) if dpi and dpi[0] else None, orientation=int(exif.get(0x0112, 1) or 1),
    )


def _decode(path: Path, kind: Kind, max_pixels: int) -> tuple[Image.Image, Inspection]:
    """The decoded image at (about) preview resolution and what the header says."""
    family = kind.family or ""
    if family == "PSB":
        return _decode_psb(path, max_pixels)
    if family == "RAW":
        return _decode_raw(path, kind, max_pixels)
    img = _open_pillow(path, kind, max_pixels)
    icc = img.info.get("icc_profile")
    info = _inspect_header(img, path, kind)
    if family == "JPEG":
        # Decode at the smallest DCT scale that still covers the preview, asking for the image's own
        # aspect (a square box would defeat the scaling on a 3:2 frame).
        img.draft("RGB" if img.mode not in ("CMYK", "L") else img.mode, _target(img.width, img.height, PREVIEW_PX))
    # A PSD opens on its merged composite; its layers are never decoded.
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise StopProcessing(_bomb_reason(str(exc), max_pixels)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error()) as exc:
        raise StopProcessing(_damaged(kind, exc)) from exc
    img.info["icc_profile"] = icc
    return img, info


def struct_error() -> type[Exception]:
    import struct

    return struct.error


def _damaged(kind: Kind, exc: Exception) -> str:
    text = str(exc).lower()
    if "truncated" in text or "premature end" in text or isinstance(exc, EOFError):
        return f"truncated {kind.label}: the file ends before the image data does"
    if "too large" in text or "decompressed data" in text:
        return f"damaged {kind.label}: a metadata block is too large"
    return f"the {kind.label} file is damaged and cannot be read"


def _decode_psb(path: Path, max_pixels: int) -> tuple[Image.Image, Inspection]:
    from psd_tools import PSDImage

    try:
        psd = PSDImage.open(path)
        _check_pixels(psd.width, psd.height, max_pixels)
        img = psd.topil()
    except StopProcessing:
        raise
    except Exception as exc:  # noqa: BLE001 - psd-tools raises many kinds on damaged files
        raise StopProcessing("the PSB file is damaged and cannot be read") from exc
    if img is None:
        raise StopProcessing("the PSB file has no merged image (save it with 'Maximize compatibility')")
    info = Inspection(format="PSB", width=psd.width, height=psd.height, mode=img.mode, bit_depth=psd.depth,
                      has_alpha="A" in img.mode)
    return img, info


def _decode_raw(path: Path, kind: Kind, max_pixels: int) -> tuple[Image.Image, Inspection]:
    import rawpy

    try:
        with rawpy.imread(str(path)) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            _check_pixels(width, height, max_pixels)
            bits = max(int(raw.white_level).bit_length(), 8)
            img = None
            try:
                thumb = raw.extract_thumb()
                if thumb.format == rawpy.ThumbFormat.JPEG:
                    img = Image.open(io.BytesIO(thumb.data), formats=["JPEG"])
                    img.load()
                else:
                    img = Image.fromarray(thumb.data)
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, OSError):
                img = Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
    except StopProcessing:
        raise
    except Exception as exc:  # noqa: BLE001 - LibRaw errors come in many classes
        raise StopProcessing(f"the {kind.label} file is damaged or from an unsupported camera") from exc
    info = Inspection(format="RAW", width=width, height=height, mode="RGB", bit_depth=bits)
    return img, info


def _clipping(pixels: Any) -> tuple[float, float]:
    """Shares of clipped highlights and shadows, from a Pillow image or an RGB(A) array."""
    import numpy as np

    arr = np.asarray(pixels.convert("RGB") if isinstance(pixels, Image.Image) else pixels)[:, :, :3]
    highlights = float((arr.max(axis=2) >= 254).mean())
    shadows = float((arr.max(axis=2) <= 1).mean())
    return round(highlights, 4), round(shadows, 4)


def encode_webp(img: Image.Image, *, quality: int = 82, method: int = 4, lossless: bool = False) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=quality, method=method, lossless=lossless, icc_profile=SRGB_ICC)
    return buf.getvalue()


# libvips decodes and shrinks JPEG and TIFF 2-3x faster than Pillow (shrink-on-load, threads); the
# modes it handles like Pillow are listed here, everything else stays with Pillow (bench/previews.py).
VIPS_MODES = {"JPEG": {"RGB", "L"}, "TIFF": {"RGB", "RGBA", "L", "LA", "I;16", "I;16B", "I;16L"}}


def _vips_srgb8(img: Any) -> Any:
    """8-bit sRGB with three or four bands, as WebP wants."""
    if img.interpretation not in ("srgb", "b-w") or img.format != "uchar":
        img = img.colourspace("srgb")
    if img.format != "uchar":
        img = img.cast("uchar")
    return img.colourspace("srgb") if img.bands < 3 else img


def _vips_webp(img: Any, **options: Any) -> bytes:
    tagged = img.copy()
    tagged.set_type(pyvips.GValue.blob_type, "icc-profile-data", SRGB_ICC)
    return tagged.webpsave_buffer(keep="icc", **options)  # our sRGB profile, never the file's EXIF or XMP


def _vips_thumbnail(preview: Any) -> Any:
    """LANCZOS from the preview with a reducing gap of 3, as on the Pillow path: 55 dB against a
    full-resolution reference where libvips' own thumbnail (a box shrink first) gives 45."""
    width, height = _target(preview.width, preview.height, THUMBNAIL_PX)
    alpha = preview.bands == 4
    source = preview.premultiply() if alpha else preview
    thumb = source.resize(width / preview.width, vscale=height / preview.height, kernel="lanczos3", gap=3.0)
    if alpha:
        thumb = thumb.unpremultiply()
    return thumb.cast("uchar").copy_memory()


PREVIEW_WEBP = {"Q": 82, "effort": 0}  # libwebp's fastest lossy method
THUMBNAIL_WEBP = {"lossless": True, "effort": 1}


def _vips_preview(path: Path, info: Inspection, icc: bytes | None) -> Any:
    """The 1600 px preview's pixels (8-bit sRGB, in memory) from one reduced decode: a JPEG at the
    smallest DCT scale that still covers the preview, streamed into the resize."""
    # fail_on="error": a truncated or damaged file is an error, not a partly grey preview.
    options: dict[str, object] = {"height": PREVIEW_PX, "size": "down"}
    if icc:
        options["export_profile"] = "srgb"
    if info.format == "JPEG":
        edge = max(info.width, info.height)
        shrink = max(s for s in (8, 4, 2, 1) if s == 1 or -(-edge // s) >= PREVIEW_PX)
        source = pyvips.Image.jpegload(str(path), shrink=shrink, access="sequential", fail_on="error")
        preview = source.thumbnail_image(PREVIEW_PX, **options)
    else:
        preview = pyvips.Image.thumbnail(str(path), PREVIEW_PX, fail_on="error", **options)
    return _vips_srgb8(preview).copy_memory()


def _vips_previews(path: Path, info: Inspection, icc: bytes | None) -> tuple[bytes, bytes, Any, Any] | None:
    """The WebP preview and thumbnail, the thumbnail's pixels and the preview image (for the complexity grade)
    through libvips, or None where Pillow must do it. One reduced decode feeds both sizes: a
    JPEG is decoded at the smallest DCT scale that still covers the preview (streamed into the resize), the
    thumbnail is made from the preview, and the two files are encoded at once on two threads (libvips releases
    the GIL)."""
    if info.mode not in VIPS_MODES.get(info.format if info.format != "BigTIFF" else "TIFF", set()):
        return None
    if pyvips is None:
        return None
    import numpy as np

    try:
        preview = _vips_preview(path, info, icc)
        thumb = _vips_thumbnail(preview)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The thumbnail is where colour is judged at a glance: lossless (lossy WebP's 4:2:0 chroma
            # alone caps it near 37 dB against a full-resolution reference, whatever the quality;
            # lossless keeps the resize's 55 dB for some 30 KB).
            thumb_webp = pool.submit(_vips_webp, thumb, **THUMBNAIL_WEBP)
            preview_webp = _vips_webp(preview, **PREVIEW_WEBP)
            thumb_bytes = thumb_webp.result()
        pixels = np.ndarray(buffer=thumb.write_to_memory(), dtype=np.uint8,
                            shape=[thumb.height, thumb.width, thumb.bands])
    except pyvips.Error as exc:
        raise StopProcessing(_damaged(Kind(info.format, info.format), OSError(str(exc)))) from exc
    return thumb_bytes, preview_webp, pixels, preview


def measured_complexity(preview: Any) -> dict[str, Any]:
    """The grade, score and features of the preview's pixels (a Pillow image, or libvips' in memory:
    ``jobs.imaging.complexity``); {} if they cannot be measured: a grade is advice for the quote, never a reason
    to refuse a file the decoder accepted."""
    import numpy as np

    from jobs.imaging import complexity

    try:
        if not isinstance(preview, Image.Image):  # libvips' pixels, read as they are (no copy to encode)
            preview = Image.fromarray(np.ndarray(buffer=preview.write_to_memory(), dtype=np.uint8,
                                                 shape=[preview.height, preview.width, preview.bands])[..., :3])
        found = complexity.features(preview)
        return {"grade": complexity.grade(found), "score": round(complexity.score(found), 3),
                "features": found.as_dict()}
    except Exception as exc:  # noqa: BLE001 - whatever the measure trips on, the file stays accepted
        warnings.warn(f"complexity not measured: {exc}", RuntimeWarning, stacklevel=2)
        return {}


def sniffed(path: Path, *, max_pixels: int, extension: str = "") -> Kind:
    """Pillow's limits set, and the file's type from its first bytes; a type Loupe does not take is refused."""
    configure_pillow(max_pixels)
    with path.open("rb") as fh:
        head = fh.read(64)
    kind = sniff(head, size=path.stat().st_size, extension=extension)
    if kind.family is None:
        raise StopProcessing(kind.reason)
    return kind


@contextmanager
def refusing_damage(kind: Kind, max_pixels: int) -> Iterator[None]:
    """What a decoder raises on a bad file becomes ``StopProcessing`` with the reason a client reads."""
    try:
        yield
    except StopProcessing:
        raise
    except Image.DecompressionBombError as exc:
        raise StopProcessing(_bomb_reason(str(exc), max_pixels)) from exc
    except MemoryError as exc:
        raise StopProcessing("the image is too large to process") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
            struct_error()) as exc:
        raise StopProcessing(_damaged(kind, exc)) from exc
    except Exception as exc:
        if pyvips is not None and isinstance(exc, pyvips.Error):  # libvips reads lazily: damage shows up late
            raise StopProcessing(_damaged(kind, OSError(str(exc)))) from exc
        raise


def make_previews(path: Path, *, max_pixels: int, extension: str = "", grade: bool = True) -> Previews:
    """Sniff, decode with bounded memory, and return metadata with a 256 px and a 1600 px WebP; with ``grade``,
    the measured complexity of the preview's pixels too (``Inspection.complexity``)."""
    kind = sniffed(path, max_pixels=max_pixels, extension=extension)
    with refusing_damage(kind, max_pixels):
        made = None
        if kind.family in ("JPEG", "TIFF"):
            header = _open_pillow(path, kind, max_pixels)  # header only: metadata and the pixel limit
            info = _inspect_header(header, path, kind)
            made = _vips_previews(path, info, header.info.get("icc_profile"))
        if made is None:
            img, info = _decode(path, kind, max_pixels)
            icc = img.info.get("icc_profile")
            img = ImageOps.exif_transpose(img) if info.orientation != 1 else img
            w, h = _target(img.width, img.height, PREVIEW_PX)
            if (w, h) != img.size:
                # An integer box reduction first where the image is 3x the preview or more, then
                # LANCZOS: 40+ dB against a full LANCZOS at a fraction of the cost.
                img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=1.2)
            preview = to_srgb(img, icc, info.notes)
            thumb = preview.resize(_target(preview.width, preview.height, THUMBNAIL_PX), Image.Resampling.LANCZOS,
                                   reducing_gap=3.0)
            # Lossless thumbnail, as on the libvips path.
            made = encode_webp(thumb, method=1, lossless=True), encode_webp(preview, method=0), thumb, preview
        thumbnail, preview_webp, thumb_pixels, shown = made
        if grade:
            info.complexity = measured_complexity(shown)
    # Clipping shares are statistics: the thumbnail's 40 000 pixels give them to 0.1 %, at 1/40 the cost.
    info.clipped_highlights, info.clipped_shadows = _clipping(thumb_pixels)
    return Previews(info, thumbnail, preview_webp)


def long_edge(width: int | None, height: int | None) -> int:
    return max(width or 0, height or 0)


