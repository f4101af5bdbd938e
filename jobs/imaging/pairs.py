"""Web-size before/after copies of one picture for a public page: both on one canvas of the retouched
picture's shape, each whole (the original is fitted inside, never cropped: a 3:2 camera frame beside a
square version shows with white above and below), with a small mark of the studio in a corner. Pure:
bytes in, bytes out. The inputs are Loupe's own previews (WebP, PNG or JPEG), never a client's file."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

LONG_EDGE = 1200
BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class WebPair:
    before: bytes
    after: bytes
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data), formats=["WEBP", "PNG", "JPEG"]) as source:
        source.load()
        picture = ImageOps.exif_transpose(source)
        if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
            flat = Image.new("RGB", picture.size, BACKGROUND)
            flat.paste(picture.convert("RGBA"), mask=picture.convert("RGBA").getchannel("A"))
            return flat
        return picture.convert("RGB")


def canvas_size(width: int, height: int, long_edge: int = LONG_EDGE) -> tuple[int, int]:
    """The retouched picture's shape with its long edge at most ``long_edge`` (never enlarged)."""
    scale = min(1.0, long_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def fitted(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``picture`` whole, as large as fits ``size``, centred on white."""
    scale = min(size[0] / picture.width, size[1] / picture.height)
    inner = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(picture.resize(inner, Image.Resampling.LANCZOS), ((size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2))
    return canvas


def marked(picture: Image.Image, mark: str) -> Image.Image:
    """The studio's name small in the bottom-right corner, light with a dark edge (legible on any ground)."""
    if not mark:
        return picture
    size = max(11, picture.height // 40)
    font = ImageFont.load_default(size=size)
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), mark, font=font, stroke_width=1)
    margin = size
    draw.text((picture.width - (right - left) - margin, picture.height - (bottom - top) - margin), mark, font=font,
              fill=(255, 255, 255, 170), stroke_width=1, stroke_fill=(60, 60, 60, 150))
    return Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")


def _webp(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "WEBP", quality=82, method=4)
    return out.getvalue()


def web_pair(before: bytes, after: bytes, *, mark: str, long_edge: int = LONG_EDGE) -> WebPair:
    """The two copies, the same size: the after picture's shape at most ``long_edge`` px."""
    original, retouched = _open(before), _open(after)
    size = canvas_size(retouched.width, retouched.height, long_edge)
    return WebPair(before=_webp(marked(fitted(original, size), mark)),
                   after=_webp(marked(retouched.resize(size, Image.Resampling.LANCZOS), mark)),
                   width=size[0], height=size[1])
