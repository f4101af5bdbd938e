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


def render_jewelry(kind: str, *, seed: int, size: int = 1200, backdrop: str | tuple[int, int, int] = "studio") -> Image.Image:
    """Draw a ring, pendant or pair of earrings (demo data; no downloads): on a studio backdrop like a
    raw photograph, or retouched on a plain colour or on transparency."""
    rng = random.Random(seed)
    if backdrop == "studio":
        img = _studio_backdrop(size, rng)
    elif backdrop == "transparent":
        img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    else:
        img = Image.new("RGB", (size, size), backdrop)
        rng.randint(226, 240)  # keep the piece's colours those of the raw photograph
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
    if backdrop == "studio":
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


def encode_master(img: Image.Image, *, dpi: int = 300, fmt: str = "PNG") -> bytes:
    """A retoucher's master (PNG, or TIFF where the guide asks for no PNG): sRGB profile and
    resolution embedded, alpha kept when there is one."""
    from jobs.imaging.pipeline import SRGB_ICC

    buf = io.BytesIO()
    if fmt == "TIFF":
        img.save(buf, "TIFF", icc_profile=SRGB_ICC, dpi=(dpi, dpi), compression="tiff_adobe_deflate")
    else:
        img.save(buf, "PNG", icc_profile=SRGB_ICC, dpi=(dpi, dpi), compress_level=3)
    return buf.getvalue()


def render_retouched(kind: str, *, seed: int, guide: object, size: int = 2000) -> Image.Image:
    """The retouched counterpart of ``render_jewelry``: the piece on the style guide's background,
    on a square canvas with the guide's margin."""
    background = getattr(guide, "background", "white")
    if background == "transparent":
        backdrop: str | tuple[int, int, int] = "transparent"
    elif background == "colour" and getattr(guide, "background_colour", ""):
        value = guide.background_colour.lstrip("#")  # type: ignore[attr-defined]
        backdrop = (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
    else:
        backdrop = (255, 255, 255)
    piece = render_jewelry(kind, seed=seed, size=size, backdrop=backdrop)
    # Fit the piece's bounding box inside the guide's margin on a square canvas.
    probe = piece.getchannel("A") if piece.mode == "RGBA" else Image.eval(
        piece.convert("L"), lambda v, ref=sum(backdrop) // 3 if isinstance(backdrop, tuple) else 0: 255 * (abs(v - ref) > 6))
    box = probe.getbbox() or (0, 0, size, size)
    product = piece.crop(box)
    margin = float(getattr(guide, "margin_percent", 5)) / 100
    inner = round(size * (1 - 2 * margin))
    scale = inner / max(product.size)
    product = product.resize((max(1, round(product.width * scale)), max(1, round(product.height * scale))),
                             Image.Resampling.LANCZOS)
    canvas = Image.new(piece.mode, (size, size), (0, 0, 0, 0) if piece.mode == "RGBA" else backdrop)
    canvas.paste(product, ((size - product.width) // 2, (size - product.height) // 2),
                 product if product.mode == "RGBA" else None)
    return canvas
