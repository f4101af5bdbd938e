"""Delivery renditions: what the style guide asks for, rendered from an approved version. Pure."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image

from jobs.imaging.pipeline import SRGB_ICC, to_srgb

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp"}
ALPHA_FORMATS = {"PNG", "TIFF", "WEBP"}


@dataclass(frozen=True)
class Spec:
    formats: tuple[str, ...]
    long_edge_px: int | None
    square_canvas: bool
    margin_percent: float
    background: str  # white | transparent | colour
    background_colour: str
    dpi: int

    @classmethod
    def from_guide(cls, guide: object) -> Spec:
        return cls(formats=tuple(guide.output_formats), long_edge_px=guide.long_edge_px,  # type: ignore[attr-defined]
                   square_canvas=guide.square_canvas, margin_percent=float(guide.margin_percent),  # type: ignore[attr-defined]
                   background=guide.background, background_colour=guide.background_colour or "",  # type: ignore[attr-defined]
                   dpi=guide.dpi)  # type: ignore[attr-defined]

    def fill(self) -> tuple[int, int, int]:
        if self.background == "colour" and self.background_colour:
            value = self.background_colour.lstrip("#")
            return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
        return 255, 255, 255


def _product(img: Image.Image) -> Image.Image:
    """The piece itself: cropped to its alpha where the version is cut out, else the whole frame."""
    if img.mode == "RGBA":
        box = img.getchannel("A").getbbox()
        if box:
            return img.crop(box)
    return img


def compose(img: Image.Image, spec: Spec) -> Image.Image:
    """The canvas: product fitted inside the margins, on the style guide's background (RGBA when
    the background is transparent and the version has alpha, else RGB)."""
    product = _product(img)
    pw, ph = product.size
    if spec.long_edge_px:
        edge = spec.long_edge_px
    else:
        edge = round(max(pw, ph) / (1 - 2 * spec.margin_percent / 100)) if spec.margin_percent < 50 else max(pw, ph)
    margin = round(edge * spec.margin_percent / 100)
    inner = max(1, edge - 2 * margin)
    scale = inner / max(pw, ph)
    size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
    fitted = product.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) if size != product.size else product
    if spec.square_canvas:
        canvas_size = (edge, edge)
    else:
        canvas_size = (size[0] + 2 * margin, size[1] + 2 * margin)
    transparent = spec.background == "transparent" and fitted.mode == "RGBA"
    canvas = Image.new("RGBA", canvas_size, (*spec.fill(), 0 if transparent else 255))
    offset = ((canvas_size[0] - size[0]) // 2, (canvas_size[1] - size[1]) // 2)
    if fitted.mode == "RGBA":
        canvas.alpha_composite(fitted, offset)
    else:
        canvas.paste(fitted, offset)
    return canvas if transparent else canvas.convert("RGB")


def encode(canvas: Image.Image, fmt: str, spec: Spec) -> bytes:
    img = canvas
    if fmt not in ALPHA_FORMATS and img.mode == "RGBA":
        flat = Image.new("RGB", img.size, spec.fill())
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
    buf = io.BytesIO()
    dpi = (spec.dpi, spec.dpi)
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=92, optimize=True, dpi=dpi, icc_profile=SRGB_ICC)
    elif fmt == "PNG":
        img.save(buf, "PNG", optimize=False, dpi=dpi, icc_profile=SRGB_ICC)
    elif fmt == "TIFF":
        img.save(buf, "TIFF", compression="tiff_lzw", dpi=dpi, icc_profile=SRGB_ICC)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=90, method=4, icc_profile=SRGB_ICC)
    else:
        raise ValueError(f"unsupported output format {fmt}")
    return buf.getvalue()


def render(source: Image.Image, spec: Spec) -> dict[str, bytes]:
    """Every output format the spec asks for, from one decoded version."""
    notes: list[str] = []
    srgb = to_srgb(source, source.info.get("icc_profile"), notes)
    canvas = compose(srgb, spec)
    return {fmt: encode(canvas, fmt, spec) for fmt in spec.formats}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(pattern: str, *, sku: str, n: int, order: str, name: str, fmt: str) -> str:
    """The delivered file's name from the style guide's pattern (``{sku}_{n}``), safe for any OS."""
    stem = pattern or "{name}_{n}"
    for key, value in {"sku": sku or name, "n": str(n), "order": order, "name": name}.items():
        stem = stem.replace("{" + key + "}", value)
    stem = _UNSAFE.sub("-", stem).strip(".-") or "image"
    return f"{stem[:120]}.{EXTENSIONS[fmt]}"
