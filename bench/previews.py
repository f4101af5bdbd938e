"""Preview benchmark (issue: images). Prints, per input, the median seconds per preview set (256 px +
1600 px) and the peak memory above the interpreter's baseline for:

- loupe: Loupe's pipeline (jobs.imaging.pipeline.make_previews, in-process, no sandbox),
- pillow: plain Pillow, open() then resize() to each size,
- decode-only (JPEG): the JPEG decoded once at the smallest DCT scale that still covers 1600 px,

all measured interleaved in the same run, each measurement in a fresh child process (so memory
figures do not leak into each other) after one warm-up call on a tiny file of the same kind, with
ratios. The sandbox's own per-file cost (one limited fork of the pre-started decoder server per upload) is
printed separately, and
the PSNR of Loupe's WebP previews (1600 px and 256 px) against a full-resolution LANCZOS reference.

    .venv/bin/python bench/previews.py [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

W, H = 6000, 4000


def studio_frame():
    """A studio-like 24-megapixel frame: a smooth backdrop gradient, a ring-like shape with fine texture,
    the sensor noise of a real product shot and a blue stone."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:H, 0:W].astype("float32")
    base = np.stack([200 + 30 * xx / W, 195 + 25 * yy / H, 185 + 20 * (xx + yy) / (W + H)], axis=-1)
    ring = ((xx - W / 2) ** 2 / (W * 0.3) ** 2 + (yy - H / 2) ** 2 / (H * 0.3) ** 2)
    band = (ring > 0.8) & (ring < 1.0)
    base[band] = [212, 175, 55]
    base += rng.normal(0, 7, base.shape)
    texture = (np.sin(xx / 7.0) * np.cos(yy / 9.0) * 12)[..., None]
    base = np.clip(base + texture * band[..., None], 0, 255)
    img8 = Image.fromarray(base.astype("uint8"), "RGB").filter(ImageFilter.GaussianBlur(0.6))
    ImageDraw.Draw(img8).regular_polygon((W // 2, int(H * 0.2), 260), 8, fill=(30, 60, 180))
    return img8


def make_inputs(directory: Path) -> dict[str, Path]:
    import numpy as np

    img8 = studio_frame()
    paths = {"jpeg": directory / "frame.jpg", "tiff16": directory / "frame16.tif", "psd": directory / "layered.psd"}
    img8.save(paths["jpeg"], "JPEG", quality=92)
    arr16 = (np.asarray(img8).astype("uint16") * 257)
    _write_tiff16(paths["tiff16"], arr16)
    _write_psd(paths["psd"], img8)
    small = img8.resize((96, 64))
    small.save(directory / "warm.jpg", "JPEG")
    _write_tiff16(directory / "warm.tif", np.asarray(small).astype("uint16") * 257)
    small.save(directory / "warm.psd.png")  # Pillow cannot write PSD; the PSD path warms on this PNG
    (directory / "warm.psd").write_bytes((directory / "warm.psd.png").read_bytes())
    return paths


def sandbox_overhead(path: Path, runs: int) -> float:
    """Median wall time of the sandboxed child (a fork of the pre-started server, limits) minus the
    in-process pipeline; the server's own start is paid once per worker, outside the median."""
    from jobs.imaging import pipeline
    from jobs.imaging.sandbox import inspect_file

    inside, outside = [], []
    for _ in range(runs):
        t = time.perf_counter()
        pipeline.make_previews(path, max_pixels=250_000_000, extension="jpg")
        inside.append(time.perf_counter() - t)
        t = time.perf_counter()
        inspect_file(path, extension="jpg", max_pixels=250_000_000)
        outside.append(time.perf_counter() - t)
    return statistics.median(outside) - statistics.median(inside)


def _write_tiff16(path: Path, arr16) -> None:
    import tifffile

    tifffile.imwrite(path, arr16, photometric="rgb", compression="deflate", predictor=True)


def _write_psd(path: Path, img) -> None:
    """A PSD with two layers (psd-tools), whose merged composite is written in place afterwards:
    readers such as Pillow use that composite and never decode the layers."""
    import struct

    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer

    psd = PSDImage.frompil(img)
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    overlay.paste((255, 255, 255, 90), (W // 3, H // 3, W // 2, H // 2))
    psd.append(PixelLayer.frompil(overlay, psd, "highlight"))
    psd.save(path)
    merged = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
    data = bytearray(path.read_bytes())
    offset = 26
    for _ in range(3):  # colour mode data, image resources, layer and mask information
        offset += 4 + struct.unpack(">I", data[offset:offset + 4])[0]
    path.write_bytes(bytes(data[:offset]) + b"\x00\x00" + b"".join(band.tobytes() for band in merged.split()))


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from PIL import Image
import numpy
from jobs.imaging import pipeline
kind, path, variant = sys.argv[2], sys.argv[3], sys.argv[4]
pipeline.configure_pillow(250_000_000)

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

# Warm every library once on a tiny file of the same kind (first-call set-up is process start-up,
# reported separately as the sandbox overhead), then reset the peak (VmHWM) to the current RSS.
warm = __import__("pathlib").Path(sys.argv[5])
if variant == "loupe":
    pipeline.make_previews(warm, max_pixels=250_000_000, extension=str(warm).rsplit(".", 1)[-1])
else:
    Image.open(warm).resize((32, 32))
open("/proc/self/clear_refs", "w").write("5")
base = status("VmRSS:")
t = time.perf_counter()
if variant == "loupe":
    pipeline.make_previews(__import__("pathlib").Path(path), max_pixels=250_000_000, extension=path.rsplit(".", 1)[-1])
elif variant == "pillow":
    im = Image.open(path)
    a = im.resize(pipeline._target(im.width, im.height, 1600))
    b = im.resize(pipeline._target(im.width, im.height, 256))
else:
    im = Image.open(path)
    im.draft("RGB", pipeline._target(im.width, im.height, 1600))
    im.load()
elapsed = time.perf_counter() - t
peak = status("VmHWM:")
print(json.dumps({"seconds": elapsed, "peak_mb": (peak - base) / 1024}))
"""


def measure(kind: str, path: Path, variant: str) -> dict[str, float]:
    warm = path.with_name("warm" + path.suffix)
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), kind, str(path), variant, str(warm)],
                         capture_output=True,
                         text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((np.asarray(a, "float64") - np.asarray(b, "float64")) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def quality(path: Path) -> tuple[float, float]:
    """PSNR of Loupe's 1600 px and 256 px WebP previews against a full-resolution LANCZOS reference."""
    import io

    from PIL import Image

    from jobs.imaging import pipeline

    source = Image.open(path)
    source.load()
    reference = pipeline.to_srgb(source, source.info.get("icc_profile"), []).convert("RGB")
    big = reference.resize(pipeline._target(reference.width, reference.height, 1600), Image.Resampling.LANCZOS)
    small = reference.resize(pipeline._target(reference.width, reference.height, 256), Image.Resampling.LANCZOS)
    result = pipeline.make_previews(path, max_pixels=250_000_000, extension=path.suffix[1:])
    preview = Image.open(io.BytesIO(result.preview)).convert("RGB")
    thumb = Image.open(io.BytesIO(result.thumbnail)).convert("RGB")
    return psnr(preview, big), psnr(thumb, small)


def jpeg_stages(path: Path, runs: int) -> dict[str, float]:
    """Median milliseconds of the JPEG path's stages, warm and in this process: the reduced decode
    streamed into the resize, then the two WebP encodes (run at once in the pipeline)."""
    from jobs.imaging import pipeline
    from jobs.imaging.sniff import sniff

    kind = sniff(path.read_bytes()[:64], size=path.stat().st_size, extension="jpg")
    header = pipeline._open_pillow(path, kind, 250_000_000)
    info, icc = pipeline._inspect_header(header, path, kind), header.info.get("icc_profile")
    preview = pipeline._vips_preview(path, info, icc)
    thumb = pipeline._vips_thumbnail(preview)
    stages = {"decode and resize": lambda: pipeline._vips_preview(path, info, icc),
              "1600 px WebP": lambda: pipeline._vips_webp(preview, **pipeline.PREVIEW_WEBP),
              "256 px thumbnail and its WebP": lambda: pipeline._vips_webp(pipeline._vips_thumbnail(preview),
                                                                           **pipeline.THUMBNAIL_WEBP)}
    del thumb
    timings = {}
    for name, stage in stages.items():
        stage()
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            stage()
            samples.append(time.perf_counter() - started)
        timings[name] = statistics.median(samples) * 1000
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="write the generated inputs here")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="loupe-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = make_inputs(directory)
    print(f"inputs: {W}x{H} JPEG ({paths['jpeg'].stat().st_size / 1e6:.1f} MB), 16-bit TIFF "
          f"({paths['tiff16'].stat().st_size / 1e6:.1f} MB), layered PSD ({paths['psd'].stat().st_size / 1e6:.1f} MB); "
          f"made in {time.perf_counter() - started:.1f} s; {args.runs} interleaved runs each\n")
    variants = {"jpeg": ["loupe", "pillow", "decode-only"], "tiff16": ["loupe", "pillow"], "psd": ["loupe", "pillow"]}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.runs):
        for kind, names in variants.items():
            for variant in names:
                results.setdefault((kind, variant), []).append(measure(kind, paths[kind], variant))
    print(f"{'input':<8} {'variant':<12} {'median s':>9} {'peak MB':>8}")
    summary = {}
    for (kind, variant), runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = max(r["peak_mb"] for r in runs)
        summary[(kind, variant)] = (seconds, peak)
        print(f"{kind:<8} {variant:<12} {seconds:>9.3f} {peak:>8.1f}")
    print()
    jl, jp, jd = (summary[("jpeg", v)][0] for v in ("loupe", "pillow", "decode-only"))
    print(f"JPEG: loupe / decode-only = {jl / jd:.2f}x (goal <= 1.30); pillow / loupe = {jp / jl:.2f}x (goal >= 2.5)")
    stages = jpeg_stages(paths["jpeg"], args.runs)
    print("  JPEG stages, warm, median ms: " + ", ".join(f"{name} {ms:.1f}" for name, ms in stages.items()))
    floor = (stages["decode and resize"] + stages["1600 px WebP"]) / (jd * 1000)
    print(f"  the decode and the preview's encode alone (libwebp needs the whole picture, so they cannot overlap): "
          f"{floor:.2f}x decode-only")
    for kind in ("tiff16", "psd"):
        lo, pi = summary[(kind, "loupe")][0], summary[(kind, "pillow")][0]
        print(f"{kind.upper()}: pillow / loupe = {pi / lo:.2f}x (goal >= 1.5)")
    print(f"peak memory above baseline: JPEG {summary[('jpeg', 'loupe')][1]:.0f} MB (goal < 80), "
          f"TIFF {summary[('tiff16', 'loupe')][1]:.0f} MB, PSD {summary[('psd', 'loupe')][1]:.0f} MB (goal < 300 each)")
    print(f"sandbox overhead per file (a fork of the pre-started decoder server with limits, IPC): "
          f"{sandbox_overhead(paths['jpeg'], args.runs) * 1000:.0f} ms")
    for kind in ("jpeg", "tiff16", "psd"):
        preview, thumb = quality(paths[kind])
        print(f"PSNR {kind}: 1600 px preview {preview:.1f} dB, 256 px thumbnail {thumb:.1f} dB "
              "(goal >= 40 against a full-resolution LANCZOS resize)")


if __name__ == "__main__":
    main()
