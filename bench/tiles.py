"""Deep-zoom tile benchmark (issue 21). Prints, per input, the median seconds and the peak memory above
the interpreter's baseline of:

- pyramid: Loupe's tile pyramid (``jobs.imaging.tiles.make_pyramid``: decode to 8-bit sRGB, cut with
  libvips ``dzsave`` into 510 px WebP tiles, packed into one file), in-process, no sandbox;
- decode-only: the same full-resolution decode (``jobs.imaging.tiles.full_resolution``) read to the end
  and nothing else, the baseline the pyramid is compared with (goal: pyramid ≤ 2× decode-only);

each measured in a fresh child process after a warm-up on a tiny file of the same kind, interleaved in
the same run, with ratios; and the pack's size against the original file's (goal ≤ 40 %), and memory
against the picture's size (goal: flat, as libvips streams the JPEG and TIFF paths).

Inputs: the 24-megapixel studio frame of bench/previews.py as JPEG (q92), as a 16-bit TIFF, and as a
layered PSD, and the same frame enlarged to 100 megapixels as a 16-bit TIFF.

    .venv/bin/python bench/tiles.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.previews import _write_tiff16, make_inputs  # noqa: E402

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from jobs.imaging import tiles
path, variant, warm, out = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5])
LIMIT = 250_000_000

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

def run(source):
    ext = source.suffix[1:]
    if variant == "pyramid":
        return tiles.make_pyramid(source, out, max_pixels=LIMIT, extension=ext)
    return tiles.full_resolution(source, max_pixels=LIMIT, extension=ext).avg()

run(warm)
open("/proc/self/clear_refs", "w").write("5")
base = status("VmRSS:")
t = time.perf_counter()
run(path)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "peak_mb": (status("VmHWM:") - base) / 1024,
                  "pack_bytes": out.stat().st_size if variant == "pyramid" else 0}))
"""


def measure(path: Path, variant: str, scratch: Path) -> dict[str, float]:
    warm = path.with_name("warm" + path.suffix)
    out = scratch / f"{path.stem}.{variant}.pack"
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), variant, str(warm), str(out)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "VIPS_CONCURRENCY": "2"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def inputs(directory: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    paths = make_inputs(directory)
    frame = Image.open(paths["jpeg"]).resize((12240, 8160), Image.Resampling.BILINEAR)
    paths["tiff16_100mp"] = directory / "frame100.tif"
    _write_tiff16(paths["tiff16_100mp"], np.asarray(frame).astype("uint16") * 257)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the inputs here (made once)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-bench-tiles-") as temp:
        directory = args.keep or Path(temp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = inputs(directory)
        print(f"{'input':14} {'megapixels':>10} {'file MB':>8} {'pyramid s':>9} {'decode s':>9} {'ratio':>6} "
              f"{'pyr MB':>7} {'dec MB':>7} {'pack MB':>8} {'pack/file':>9}")
        for name, path in paths.items():
            from PIL import Image

            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as img:
                megapixels = img.width * img.height / 1e6
            runs = {"pyramid": [], "decode": []}
            for _ in range(args.runs):
                for variant in runs:  # interleaved: both see the same machine load
                    runs[variant].append(measure(path, variant, directory))
            pyramid = statistics.median(r["seconds"] for r in runs["pyramid"])
            decode = statistics.median(r["seconds"] for r in runs["decode"])
            pack = runs["pyramid"][-1]["pack_bytes"]
            size = path.stat().st_size
            print(f"{name:14} {megapixels:10.1f} {size / 1e6:8.1f} {pyramid:9.2f} {decode:9.2f} {pyramid / decode:6.2f} "
                  f"{max(r['peak_mb'] for r in runs['pyramid']):7.0f} {max(r['peak_mb'] for r in runs['decode']):7.0f} "
                  f"{pack / 1e6:8.1f} {pack / size:9.0%}")


if __name__ == "__main__":
    main()
