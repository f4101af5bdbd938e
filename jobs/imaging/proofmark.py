"""The proof mark on a held order's previews (``jobs.review.payment_holds`` decides who sees it). Pure."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

WATERMARK = "PROOF · NOT PAID"


def watermark(data: bytes) -> bytes:
    """The picture with a diagonal, repeated, semi-transparent mark across all of it (WebP)."""
    with Image.open(io.BytesIO(data), formats=["WEBP", "PNG", "JPEG"]) as source:
        alpha = source.mode in ("RGBA", "LA") or "transparency" in source.info
        picture = source.convert("RGBA")
    size = max(12, min(picture.size) // 10)
    font = ImageFont.load_default(size=size)
    tile = Image.new("RGBA", (picture.width * 2, picture.height * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    step_x, step_y = int(size * len(WATERMARK) * 0.75), size * 3
    for row, y in enumerate(range(0, tile.height, step_y)):
        for x in range(-step_x + (row % 2) * step_x // 2, tile.width, step_x):
            draw.text((x, y), WATERMARK, font=font, fill=(255, 255, 255, 110), stroke_width=max(1, size // 12),
                      stroke_fill=(40, 40, 40, 110))
    tile = tile.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (tile.width - picture.width) // 2, (tile.height - picture.height) // 2
    marked = Image.alpha_composite(picture, tile.crop((left, top, left + picture.width, top + picture.height)))
    out = io.BytesIO()
    # A transparent background stays transparent (alpha_composite keeps it), with the mark on it.
    (marked if alpha else marked.convert("RGB")).save(out, "WEBP", quality=82)
    return out.getvalue()
