"""Deep-zoom tile pyramids: the full-resolution picture cut into WebP tiles level by level (libvips
``dzsave``, Deep Zoom layout), so the review canvas opens at fit and zooms to 400 % loading only the tiles
on screen. Runs inside the sandboxed child (``jobs.imaging.child``); no ORM, no storage.

The tiles of one pyramid are packed into one file with an index (tile → offset and length) instead of
hundreds of storage objects: one object to write, sign and delete, and the tile endpoint reads a tile
with one ranged read (``agency.uploads`` backends' ``read_range``)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import ImageOps

from jobs.imaging import pipeline

TILE_PX = 510  # with the 1 px overlap, 512 px tiles: a quarter of the requests of the Deep Zoom default (254)
OVERLAP = 1
TILE_WEBP = "[Q=85,effort=0,strip]"
_TILE_NAME = re.compile(r"^(\d+)_(\d+)\.webp$")


@dataclass
class Pyramid:
    """What the viewer needs to ask for tiles, and where each tile sits in the pack."""

    width: int
    height: int
    tile_size: int = TILE_PX
    overlap: int = OVERLAP
    format: str = "webp"
    index: dict[str, list[int]] = field(default_factory=dict)  # "level/col_row" -> [offset, length]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)



def _full_resolution(path: Path, kind: Any, max_pixels: int) -> Any:
    import pyvips

    if kind.family in ("JPEG", "TIFF"):
        header = pipeline._open_pillow(path, kind, max_pixels)
        info = pipeline._inspect_header(header, path, kind)
        family = info.format if info.format != "BigTIFF" else "TIFF"
        if info.mode in pipeline.VIPS_MODES.get(family, set()):
            image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
            if header.info.get("icc_profile"):
                image = image.icc_transform("srgb", embedded=True, intent="perceptual")
            return pipeline._vips_srgb8(image.autorot())
    img, info = pipeline._decode(path, kind, max_pixels)
    icc = img.info.get("icc_profile")
    img = ImageOps.exif_transpose(img) if info.orientation != 1 else img
    img = pipeline.to_srgb(img, icc, info.notes)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    return pyvips.Image.new_from_memory(img.tobytes(), img.width, img.height, len(img.getbands()), "uchar")


def full_resolution(path: Path, *, max_pixels: int, extension: str = "") -> Any:
    """The picture at full size as 8-bit sRGB (three bands, four with alpha), turned upright, as a
    libvips image: streamed from the file where libvips reads it as Pillow would (JPEG, TIFF), decoded by
    Pillow otherwise (PSD, PSB, camera RAW, PNG, WebP and the modes libvips reads differently). A streamed
    file is read as the image is used: damage past the header shows up then (``make_pyramid``)."""
    kind = pipeline.sniffed(path, max_pixels=max_pixels, extension=extension)
    with pipeline.refusing_damage(kind, max_pixels):
        return _full_resolution(path, kind, max_pixels)


def pack(image: Any, out: Path) -> Pyramid:
    """Cut ``image`` into the pyramid and write its tiles one after another to ``out``."""
    with tempfile.TemporaryDirectory(prefix="loupe-tiles-", dir=out.parent) as scratch:
        base = Path(scratch) / "p"
        image.dzsave(str(base), layout="dz", tile_size=TILE_PX, overlap=OVERLAP, suffix=f".webp{TILE_WEBP}",
                     depth="onepixel")
        pyramid = Pyramid(width=image.width, height=image.height)
        offset = 0
        with out.open("wb") as packed:
            levels = sorted((int(d.name), d) for d in Path(f"{base}_files").iterdir() if d.name.isdigit())
            for level, folder in levels:
                for tile in sorted(folder.iterdir()):
                    if not _TILE_NAME.match(tile.name):
                        continue
                    data = tile.read_bytes()
                    packed.write(data)
                    pyramid.index[f"{level}/{tile.stem}"] = [offset, len(data)]
                    offset += len(data)
    return pyramid


def make_pyramid(path: Path, out: Path, *, max_pixels: int, extension: str = "") -> Pyramid:
    """The file's pyramid, packed into ``out``; a bad file is refused with the reason, as for previews."""
    kind = pipeline.sniffed(path, max_pixels=max_pixels, extension=extension)
    with pipeline.refusing_damage(kind, max_pixels):
        return pack(_full_resolution(path, kind, max_pixels), out)
