"""Demo jewelry photographs drawn with Pillow at seed time (no downloads). Pure functions."""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

GOLD = [(212, 175, 55), (183, 110, 121), (229, 228, 226), (196, 202, 206)]  # yellow, rose, white gold, silver
STONES = [(224, 240, 255), (15, 82, 186), (155, 17, 30), (80, 200, 120)]  # diamond, sapphire, ruby, emerald


def _studio_backdrop(size: int, rng: random.Random) -> Image.Image:
    """An off-white sweep with a soft vignette, like a light tent."""
    base = rng.randint(226, 240)
    img = Image.new("RGB", (size, size), (base, base - 2, base - 6))
    shade = Image.radial_gradient("L").resize((size, size)).point(lambda v: int(v * 0.25))
    dark = Image.new("RGB", (size, size), (base - 60, base - 62, base - 66))
    return Image.composite(dark, img, shade)


def _metal(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: tuple[int, int, int], width: int) -> None:
    # Several concentric strokes of shifting brightness read as a polished, rounded band.
    for i in range(width):
        k = 0.65 + 0.55 * math.sin(math.pi * i / max(width - 1, 1))
        tone = tuple(min(255, int(c * k)) for c in colour)
        x0, y0, x1, y1 = box
        draw.ellipse((x0 + i, y0 + i, x1 - i, y1 - i), outline=tone, width=1)


def _stone(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, colour: tuple[int, int, int]) -> None:
    draw.regular_polygon((cx, cy, r), 8, rotation=22.5, fill=colour, outline=(40, 40, 40))
    for a in range(0, 360, 45):
        x = cx + int(r * 0.55 * math.cos(math.radians(a)))
        y = cy + int(r * 0.55 * math.sin(math.radians(a)))
        draw.line((cx, cy, x, y), fill=tuple(min(255, c + 40) for c in colour), width=max(1, r // 12))
    draw.ellipse((cx - r // 4, cy - r // 2, cx, cy - r // 4), fill=(255, 255, 255))


def render_jewelry(kind: str, *, seed: int, size: int = 1200) -> Image.Image:
    """Draw a ring, pendant or pair of earrings on a studio backdrop (demo data; no downloads)."""
    rng = random.Random(seed)
    img = _studio_backdrop(size, rng)
    metal = rng.choice(GOLD)
    stone = rng.choice(STONES)
    c = size // 2
    band = size // 22
    # Soft contact shadows first, so the piece is drawn over them.
    shadow = Image.new("L", (size, size), 0)
    sdraw = ImageDraw.Draw(shadow)
    if kind == "ring":
        w, h = int(size * 0.52), int(size * 0.36)
        sdraw.ellipse((c - w // 2, c + h // 2, c + w // 2, c + h // 2 + size // 8), fill=140)
    elif kind == "pendant":
        r = size // 7
        sdraw.ellipse((c - r, c + r + r // 3, c + r, c + 2 * r), fill=120)
    else:
        for dx in (-size // 5, size // 5):
            sdraw.ellipse((c + dx - size // 12, c + size // 8, c + dx + size // 12, c + size // 5), fill=110)
    img.paste((90, 88, 84), mask=shadow.filter(ImageFilter.GaussianBlur(size // 40)).point(lambda v: v // 2))
    layer = ImageDraw.Draw(img)
    if kind == "ring":
        _metal(layer, (c - w // 2, c - h // 2 + size // 10, c + w // 2, c + h // 2 + size // 10), metal, band)
        _stone(layer, c, c - h // 2 + size // 10, size // 12, stone)
    elif kind == "pendant":
        layer.line((c - size // 3, 0, c, c - size // 10), fill=metal, width=max(2, size // 200))
        layer.line((c + size // 3, 0, c, c - size // 10), fill=metal, width=max(2, size // 200))
        layer.polygon([(c, c - size // 10), (c - r, c + r // 2), (c, c + r + r // 2), (c + r, c + r // 2)],
                      fill=metal, outline=tuple(int(v * 0.6) for v in metal))
        _stone(layer, c, c + r // 2, int(r * 0.6), stone)
    else:
        for dx in (-size // 5, size // 5):
            x = c + dx
            _metal(layer, (x - size // 20, c - size // 4, x + size // 20, c - size // 4 + size // 10), metal, band // 2)
            layer.line((x, c - size // 4 + size // 10, x, c - size // 30), fill=metal, width=max(2, size // 150))
            _stone(layer, x, c + size // 30, size // 14, stone)
    return img


def encode_jpeg(img: Image.Image, *, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()
