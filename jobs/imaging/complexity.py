"""How hard a jewelry photograph is to retouch, measured from its pixels (docs/complexity.md).

Runs in the sandboxed child beside the previews (``pipeline.make_previews``), on the 1600 px preview reduced to
``ANALYSIS_PX``; the same code grades a visitor's sample photos. Pure: an RGB picture in, figures out.

The features, each from 0 (easy) upward:
- ``clutter``: the share of the frame's border that is not the backdrop's colour (props, texture, a busy
  table). The backdrop's colour is the border's median.
- ``product``: the share of the frame that differs from the backdrop: the piece (and whatever clutter reaches in).
- ``highlights``: the share of the piece that is blown near-white (specular reflections to calm or rebuild).
- ``outline``: the outline's length against a disc of the same area (1.0 for a disc): prongs, chains and
  filigree make a clipping path long.
- ``dust``: small high-contrast specks on the piece per 10,000 of its pixels (dust and scratches to remove).

``score`` weighs them into the difficulty they predict (weights fitted on the generated set,
``jobs.imaging.difficulty``) and ``grade`` cuts it at two thresholds into the grades price lists use.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pyvips
from PIL import Image, ImageFilter

ANALYSIS_PX = 512
BORDER = 0.06  # the frame's outer 6 % on each side is read as the backdrop
BACKDROP_DISTANCE = 28.0  # RGB distance from the backdrop's colour that counts as "not backdrop"
HIGHLIGHT_LEVEL, HIGHLIGHT_SPREAD = 242, 22  # near-white: every channel high, little colour
SPECK_CONTRAST = 38  # a pixel this much darker or lighter than its 3 x 3 median is a speck
# score: the known difficulty (0-12) the features predict, a least-squares fit on the generated set
# (jobs.imaging.difficulty, seed 2026) of clutter, the square root of highlights, outline and log(1 + dust);
# docs/complexity.md states the fit and bench/complexity.py measures it again on a set it never saw.
WEIGHTS = {"clutter": 6.811, "highlights": 3.568, "outline": 0.929, "dust": 0.502}
INTERCEPT = -0.674
# the cuts that give the three grades the highest rank correlation with the known difficulty on that set
SIMPLE_BELOW, COMPLEX_FROM = 5.5, 7.75


@dataclass(frozen=True)
class Features:
    clutter: float
    product: float
    highlights: float
    outline: float
    dust: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}


def _analysed(picture: Image.Image) -> tuple[np.ndarray, Image.Image]:
    """The pixels (float32) and the grey picture, at most ``ANALYSIS_PX`` on the long edge."""
    rgb = picture.convert("RGB")
    scale = ANALYSIS_PX / max(rgb.size)
    if scale < 1:
        rgb = rgb.reduce(int(1 / scale)) if 1 / scale >= 2 else rgb
        scale = ANALYSIS_PX / max(rgb.size)
        if scale < 1:
            rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                             Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.float32), rgb.convert("L")


def _squared(difference: np.ndarray) -> np.ndarray:
    """Per pixel, the squared length of its RGB difference (channel by channel: faster than a sum over the axis)."""
    return difference[..., 0] ** 2 + difference[..., 1] ** 2 + difference[..., 2] ** 2


def _border(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    b = max(1, int(min(h, w) * BORDER))
    return np.concatenate([pixels[:b].reshape(-1, 3), pixels[-b:].reshape(-1, 3),
                           pixels[b:-b, :b].reshape(-1, 3), pixels[b:-b, -b:].reshape(-1, 3)])


def _boundary(mask: np.ndarray) -> int:
    """Pixels of ``mask`` with a 4-neighbour outside it: the outline's length in pixels."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return int((mask & ~inner).sum())


def features(picture: Image.Image) -> Features:
    pixels, grey = _analysed(picture)
    border = _border(pixels)
    backdrop = np.median(border, axis=0)
    limit = BACKDROP_DISTANCE ** 2
    clutter = float((_squared(border - backdrop) > limit).mean())
    distance = _squared(pixels - backdrop)  # squared: compared with the limit squared
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    high, low = np.maximum(np.maximum(red, green), blue), np.minimum(np.minimum(red, green), blue)
    blown = (low >= HIGHLIGHT_LEVEL - HIGHLIGHT_SPREAD) & (high - low <= HIGHLIGHT_SPREAD) & (high >= HIGHLIGHT_LEVEL)
    mask = (distance > limit) | blown
    product = float(mask.mean())
    mask = _piece(mask)
    area = int(mask.sum())
    if area < 50:  # nothing but backdrop: an empty frame is simple
        return Features(clutter=clutter, product=product, highlights=0.0, outline=1.0, dust=0.0)
    highlights = float((blown & _near(mask, 3)).sum() / area)
    outline = _boundary(mask) / (2 * np.sqrt(np.pi * area))
    median = np.asarray(grey.filter(ImageFilter.MedianFilter(3)), dtype=np.int16)
    specks = np.abs(np.asarray(grey, dtype=np.int16) - median) > SPECK_CONTRAST
    inside = _eroded(mask, 2)
    dust = float(specks[inside].sum() / max(1, inside.sum()) * 10_000)
    return Features(clutter=clutter, product=product, highlights=highlights, outline=float(outline), dust=dust)


def _piece(mask: np.ndarray) -> np.ndarray:
    """The piece: of the connected parts of ``mask`` that reach into the frame's central 60 %, the largest that
    does not run off the frame (a studio centres the piece and shows all of it; props cut by the frame and a
    busy table are clutter, not outline); if every one runs off, the largest. libvips labels the parts."""
    h, w = mask.shape
    region = pyvips.Image.new_from_memory(mask.astype(np.uint8).tobytes(), w, h, 1, "uchar")
    labels = np.ndarray(buffer=region.labelregions().write_to_memory(), dtype=np.int32, shape=(h, w))
    sizes = np.bincount(labels[mask], minlength=int(labels.max()) + 1)
    top, left = int(h * 0.2), int(w * 0.2)
    central = np.zeros_like(sizes, dtype=bool)
    central[np.unique(labels[top:h - top, left:w - left][mask[top:h - top, left:w - left]])] = True
    if not central.any():
        return np.zeros_like(mask)
    edge = np.zeros_like(central)
    edge[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    whole = np.where(central & ~edge, sizes, 0)
    chosen = int(np.argmax(whole)) if whole.max() > 0 else int(np.argmax(np.where(central, sizes, 0)))
    return labels == chosen


def _near(mask: np.ndarray, steps: int = 3) -> np.ndarray:
    grown = mask.copy()
    for _ in range(steps):
        grown[1:, :] |= grown[:-1, :].copy()
        grown[:-1, :] |= grown[1:, :].copy()
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
    return grown


def _eroded(mask: np.ndarray, steps: int) -> np.ndarray:
    return ~_near(~mask, steps)


def score(found: Features) -> float:
    """The difficulty (0 to 12) the features predict."""
    return (INTERCEPT + WEIGHTS["clutter"] * found.clutter + WEIGHTS["highlights"] * math.sqrt(found.highlights)
            + WEIGHTS["outline"] * found.outline + WEIGHTS["dust"] * math.log1p(found.dust))


def grade(found: Features) -> str:
    """``simple``, ``standard`` or ``complex`` (``jobs.models.Complexity``'s values)."""
    value = score(found)
    if value < SIMPLE_BELOW:
        return "simple"
    return "standard" if value < COMPLEX_FROM else "complex"


def describe(measured: dict[str, float]) -> list[str]:
    """The stored features (``OrderImage.complexity_features``) in words a manager reads beside the grade, the
    ones that weigh most on the score first."""
    if not measured or "clutter" not in measured:
        return []
    weighs = {"clutter": WEIGHTS["clutter"] * measured["clutter"],
              "highlights": WEIGHTS["highlights"] * math.sqrt(max(0.0, measured["highlights"])),
              "outline": WEIGHTS["outline"] * measured["outline"],
              "dust": WEIGHTS["dust"] * math.log1p(max(0.0, measured["dust"]))}
    words = {"clutter": f"background clutter {measured['clutter']:.0%} of the border",
             "highlights": f"blown highlights {measured['highlights']:.1%} of the piece",
             "outline": f"outline {measured['outline']:.1f}× a disc's",
             "dust": f"{measured['dust']:.0f} specks per 10,000 px"}
    return [words[name] for name in sorted(weighs, key=weighs.get, reverse=True)] + [
        f"piece {measured.get('product', 0):.0%} of the frame"]
