"""Automated style-guide checks of a retouched version, measured on its sRGB preview and metadata.
Pure functions (numpy and Pillow, no ORM). They inform QC and never block it: each check says what
was measured beside what the guide requires, and ``passed`` is None where the guide asks nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

MASTER_FORMATS = {"TIFF", "PSD", "PSB"}  # layered or lossless masters Loupe renders deliveries from


@dataclass(frozen=True)
class GuideSpec:
    output_formats: tuple[str, ...]
    long_edge_px: int | None
    square_canvas: bool
    background: str  # white | transparent | colour
    background_colour: str
    margin_percent: float
    dpi: int

    @classmethod
    def from_guide(cls, guide: Any) -> GuideSpec:
        return cls(tuple(guide.output_formats), guide.long_edge_px, guide.square_canvas, guide.background,
                   guide.background_colour or "", float(guide.margin_percent), guide.dpi)

    def background_rgb(self) -> tuple[int, int, int]:
        if self.background == "colour" and self.background_colour:
            value = self.background_colour.lstrip("#")
            return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
        return 255, 255, 255


@dataclass(frozen=True)
class Check:
    code: str
    label: str
    passed: bool | None
    measured: str
    required: str


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0..255 (…, 3) to CIE L*a*b* (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), elementwise over (…, 3) arrays."""
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    c_mean = (c1 + c2) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dlp, dcp = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    lp_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    hp_mean = np.where(c1p * c2p == 0, hsum,
                       np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(hp_mean - 30)) + 0.24 * np.cos(np.radians(2 * hp_mean))
         + 0.32 * np.cos(np.radians(3 * hp_mean + 6)) - 0.20 * np.cos(np.radians(4 * hp_mean - 63)))
    sl = 1 + 0.015 * (lp_mean - 50) ** 2 / np.sqrt(20 + (lp_mean - 50) ** 2)
    sc, sh = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    rt = (-2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
          * np.sin(np.radians(60 * np.exp(-(((hp_mean - 275) / 25) ** 2)))))
    return np.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dhp / sh) ** 2 + rt * (dcp / sc) * (dhp / sh))


def _border(array: np.ndarray, fraction: float = 0.02) -> np.ndarray:
    h, w = array.shape[:2]
    band = max(1, round(min(h, w) * fraction))
    return np.concatenate([array[:band].reshape(-1, array.shape[2]), array[-band:].reshape(-1, array.shape[2]),
                           array[:, :band].reshape(-1, array.shape[2]), array[:, -band:].reshape(-1, array.shape[2])])


def _product_box(array: np.ndarray, spec: GuideSpec, tolerance: float) -> tuple[int, int, int, int] | None:
    """The bounding box of what is not background: alpha where the image is cut out, else colour."""
    if array.shape[2] == 4 and (array[..., 3] < 250).any():
        mask = array[..., 3] > 8
    else:
        background = srgb_to_lab(np.array(spec.background_rgb()))
        mask = delta_e2000(srgb_to_lab(array[..., :3]), background) > tolerance * 2
    rows, cols = np.where(mask.any(axis=1))[0], np.where(mask.any(axis=0))[0]
    if not len(rows) or not len(cols):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def run_checks(preview: Image.Image, info: dict[str, Any], spec: GuideSpec, *, siblings: list[tuple[int, int]],
               tolerance: float = 3.0) -> list[dict[str, Any]]:
    """Every check of the issue's list, in a fixed order, as plain dicts for the version's ``checks``."""
    checks: list[Check] = []
    fmt = (info.get("format") or "").upper().replace("BIGTIFF", "TIFF")
    allowed = set(spec.output_formats) | MASTER_FORMATS
    checks.append(Check("format", "File format", fmt in allowed, fmt or "unknown",
                        f"{', '.join(spec.output_formats)} (or a TIFF/PSD master)"))
    width, height = int(info.get("width") or 0), int(info.get("height") or 0)
    edge = max(width, height)
    if spec.long_edge_px:
        checks.append(Check("size", "Long edge", edge >= spec.long_edge_px, f"{edge} px ({width}×{height})",
                            f"at least {spec.long_edge_px} px"))
    else:
        checks.append(Check("size", "Pixel size", None, f"{width}×{height} px", "not set by the guide"))
    if spec.square_canvas:
        checks.append(Check("square", "Square canvas", abs(width - height) <= 1, f"{width}×{height} px", "square"))
    else:
        checks.append(Check("square", "Square canvas", None, f"{width}×{height} px", "not required"))

    array = np.asarray(preview.convert("RGBA" if "A" in preview.getbands() else "RGB"))
    border = _border(array)
    if spec.background == "transparent":
        opaque = float((border[:, 3] > 8).mean()) if border.shape[1] == 4 else 1.0
        checks.append(Check("background", "Background", opaque <= 0.01,
                            f"{opaque:.0%} of the border is opaque" if opaque else "transparent border",
                            "transparent"))
    else:
        pixels = border[:, :3] if border.shape[1] == 3 else border[border[:, 3] > 8][:, :3]
        target = np.array(spec.background_rgb())
        if len(pixels):
            mean = pixels.mean(axis=0)
            difference = float(delta_e2000(srgb_to_lab(mean), srgb_to_lab(target)))
            measured = "#{:02X}{:02X}{:02X} (ΔE2000 {:.1f})".format(*(int(round(v)) for v in mean), difference)
            checks.append(Check("background", "Background colour", difference <= tolerance, measured,
                                "#{:02X}{:02X}{:02X} within ΔE2000 {:.1f}".format(*target, tolerance)))
        else:
            checks.append(Check("background", "Background colour", False, "transparent border",
                                "#{:02X}{:02X}{:02X}".format(*target)))
    # The product's bounding box is measured on a 512 px sample: 0.2 % of the long edge is plenty for
    # a margin stated in whole percents, at a hundredth of the cost of every pixel of the preview.
    sample = preview.copy()
    sample.thumbnail((512, 512), Image.Resampling.BOX)
    small = np.asarray(sample.convert("RGBA" if "A" in sample.getbands() else "RGB"))
    box = _product_box(small, spec, tolerance)
    h, w = small.shape[:2]
    if box is None:
        checks.append(Check("margin", "Product margin", False, "no product found", f"{spec.margin_percent:g} %"))
    else:
        left, top, right, bottom = box
        margin = 100 * min(left, top, w - right, h - bottom) / max(w, h)
        fill = 100 * (right - left) * (bottom - top) / (w * h)
        checks.append(Check("margin", "Product margin", abs(margin - spec.margin_percent) <= 2.5,
                            f"{margin:.1f} % (fills {fill:.0f} % of the canvas)", f"{spec.margin_percent:g} % ± 2.5"))
    profile = info.get("icc_profile") or ""
    checks.append(Check("profile", "Colour profile", "srgb" in profile.lower(), profile or "none embedded",
                        "sRGB IEC61966-2.1"))
    dpi = info.get("dpi")
    checks.append(Check("dpi", "Resolution", dpi == spec.dpi, f"{dpi} dpi" if dpi else "not set", f"{spec.dpi} dpi"))
    has_alpha = bool(info.get("has_alpha"))
    wants_alpha = spec.background == "transparent"
    checks.append(Check("alpha", "Transparency", has_alpha == wants_alpha,
                        "alpha channel" if has_alpha else "no alpha channel",
                        "alpha channel" if wants_alpha else "no alpha channel"))
    others = [(sw, sh) for sw, sh in siblings if sw and sh]
    if others:
        (common_size, _), = Counter(others).most_common(1)
        orientation = lambda size: "portrait" if size[1] > size[0] else "landscape" if size[0] > size[1] else "square"  # noqa: E731
        same = (width, height) == common_size and orientation((width, height)) == orientation(common_size)
        checks.append(Check("series", "Series consistency", same, f"{width}×{height} ({orientation((width, height))})",
                            f"{common_size[0]}×{common_size[1]} ({orientation(common_size)}) like the other images"))
    else:
        checks.append(Check("series", "Series consistency", None, f"{width}×{height}",
                            "the first version of the order sets the series"))
    return [asdict(check) for check in checks]
