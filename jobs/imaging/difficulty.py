"""A generated set of jewelry photographs of known difficulty, to tune and measure the complexity grade
(``jobs.imaging.complexity``, docs/complexity.md, bench/complexity.py). Pure, seeded, no downloads.

Each picture has four levels from 0 to 3: a cluttered backdrop, reflections, a complex outline and dust; its
known difficulty is their sum (0 to 12). Camera-shaped (3:2), like the originals studios receive.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from jobs.imaging.demo import STONES

SIZE = (1200, 800)
# yellow gold, rose gold and a shaded silver: metals a colour threshold can tell from a light backdrop (white
# gold on white is harder still, and left out of the set)
METALS = [(212, 175, 55), (183, 110, 121), (160, 166, 172)]


@dataclass(frozen=True)
class Levels:
    clutter: int
    reflections: int
    outline: int
    dust: int

    @property
    def difficulty(self) -> int:
        return self.clutter + self.reflections + self.outline + self.dust


def _backdrop(rng: random.Random, level: int) -> Image.Image:
    w, h = SIZE
    tone = rng.randint(228, 242)
    img = Image.new("RGB", SIZE, (tone, tone - 2, tone - 5))
    shade = Image.radial_gradient("L").resize(SIZE).point(lambda v: int(v * 0.18))
    img = Image.composite(Image.new("RGB", SIZE, (tone - 45, tone - 47, tone - 50)), img, shade)
    if level == 0:
        return img
    draw = ImageDraw.Draw(img)
    # a busy table: texture, then props at the edges (boxes, cloth, a second piece's corner)
    for _ in range(60 * level * level):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randint(2, 6 + 4 * level)
        grey = rng.randint(150, 215)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey - 8, grey - 20))
    for _ in range(2 * level - 1):
        side = rng.choice(["top", "bottom", "left", "right"])
        size = rng.randint(80, 140 + 60 * level)
        colour = (rng.randint(40, 200), rng.randint(40, 160), rng.randint(40, 160))
        x = rng.randint(-size // 2, w - size // 2) if side in ("top", "bottom") else (-size // 3 if side == "left"
                                                                                      else w - 2 * size // 3)
        y = rng.randint(-size // 2, h - size // 2) if side in ("left", "right") else (-size // 3 if side == "top"
                                                                                      else h - 2 * size // 3)
        draw.rectangle((x, y, x + size, y + size), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(1))


def _piece(img: Image.Image, rng: random.Random, level: int) -> Image.Image:
    """The piece and its mask. Level 0: a solid pendant; 1: a ring with a stone; 2: a ring with a claw setting
    and a halo; 3: a filigree star with many points and openwork."""
    w, h = SIZE
    cx, cy = w // 2 + rng.randint(-40, 40), h // 2 + rng.randint(-30, 30)
    metal, stone = rng.choice(METALS), rng.choice(STONES)
    mask = Image.new("L", SIZE, 0)
    draw, mdraw = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    r = rng.randint(170, 210)
    if level == 0:  # a solid pendant: one convex outline
        box = (cx - int(r * 0.6), cy - int(r * 0.6), cx + int(r * 0.6), cy + int(r * 0.6))
        for d in (draw, mdraw):
            d.ellipse(box, fill=metal if d is draw else 255)
    elif level < 3:  # a ring: the band's inside is a second path
        box = (cx - r, cy - int(r * 0.7), cx + r, cy + int(r * 0.7))
        for d in (draw, mdraw):
            d.ellipse(box, outline=metal if d is draw else 255, width=34)
    else:
        points = rng.randint(22, 30)
        star = [(cx + (r if i % 2 == 0 else r * 0.62) * math.cos(math.pi * i / points),
                 cy + (r if i % 2 == 0 else r * 0.62) * math.sin(math.pi * i / points)) for i in range(2 * points)]
        draw.polygon(star, fill=metal)
        mdraw.polygon(star, fill=255)
        for k in range(12):  # openwork: holes through the metal
            a = 2 * math.pi * k / 12
            hx, hy = cx + r * 0.4 * math.cos(a), cy + r * 0.4 * math.sin(a)
            hole = (hx - 14, hy - 14, hx + 14, hy + 14)
            draw.ellipse(hole, fill=img.getpixel((2, 2)))
            mdraw.ellipse(hole, fill=0)
    if level >= 1:
        sr = 54 if level < 3 else 40
        top = (cx, cy - int(r * 0.7)) if level < 3 else (cx, cy)
        for d in (draw, mdraw):
            d.regular_polygon((top[0], top[1], sr), 8, fill=stone if d is draw else 255)
        if level >= 2:  # claws and a halo of small stones
            for k in range(12):
                a = 2 * math.pi * k / 12
                px, py = top[0] + (sr + 16) * math.cos(a), top[1] + (sr + 16) * math.sin(a)
                for d in (draw, mdraw):
                    d.polygon([(top[0] + sr * math.cos(a - .15), top[1] + sr * math.sin(a - .15)), (px, py),
                               (top[0] + sr * math.cos(a + .15), top[1] + sr * math.sin(a + .15))],
                              fill=metal if d is draw else 255)
            for k in range(18):
                a = 2 * math.pi * k / 18
                hx, hy = top[0] + (sr + 24) * math.cos(a), top[1] + (sr + 24) * math.sin(a)
                for d in (draw, mdraw):
                    d.ellipse((hx - 10, hy - 10, hx + 10, hy + 10), fill=(190, 212, 240) if d is draw else 255)
    return mask


def _reflections(img: Image.Image, mask: Image.Image, rng: random.Random, level: int) -> None:
    if level == 0:
        return
    box = mask.getbbox()
    if box is None:
        return
    glare = Image.new("L", SIZE, 0)
    gdraw = ImageDraw.Draw(glare)
    for _ in range(3 * level * level):
        x, y = rng.randint(box[0], box[2]), rng.randint(box[1], box[3])
        r = rng.randint(5, 8 + 9 * level)
        gdraw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=255)
    glare = Image.composite(glare, Image.new("L", SIZE, 0), mask)
    img.paste((253, 253, 252), mask=glare)


def _dust(img: Image.Image, mask: Image.Image, rng: random.Random, level: int) -> None:
    if level == 0:
        return
    inside = mask.filter(ImageFilter.MinFilter(9))
    box = inside.getbbox()
    if box is None:
        return
    draw = ImageDraw.Draw(img)
    wanted, placed = (0, 25, 90, 260)[level], 0
    for _ in range(wanted * 20):
        if placed == wanted:
            break
        x, y = rng.randint(box[0], box[2] - 1), rng.randint(box[1], box[3] - 1)
        if not inside.getpixel((x, y)):
            continue
        s = rng.choice((1, 1, 2))
        draw.rectangle((x, y, x + s, y + s), fill=rng.choice(((30, 30, 30), (250, 250, 250))))
        placed += 1


def picture(levels: Levels, *, seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = _backdrop(rng, levels.clutter)
    mask = _piece(img, rng, levels.outline)
    _reflections(img, mask, rng, levels.reflections)
    _dust(img, mask, rng, levels.dust)
    return img


def generated_set(count: int = 208, *, seed: int = 2026) -> list[tuple[Levels, int]]:
    """``count`` level combinations (every level of every factor equally often) with a seed each."""
    rng = random.Random(seed)
    found = []
    for n in range(count):
        levels = Levels(*(rng.randint(0, 3) for _ in range(4)))
        found.append((levels, seed * 1000 + n))
    return found


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share the mean of their ranks
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties averaged): Pearson's correlation of the ranks."""
    ra, rb = _ranks(list(a)), _ranks(list(b))
    n = len(ra)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else 0.0
