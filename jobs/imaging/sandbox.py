"""Run the decoder in a child process with memory, CPU and wall-clock limits (SECURITY.md §3.7)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("loupe.images")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    ok: bool
    reason: str = ""
    inspection: dict[str, Any] | None = None
    thumbnail: bytes = b""
    preview: bytes = b""


def inspect_file(path: Path, *, extension: str, max_pixels: int, memory_bytes: int = 4 << 30,
                 cpu_seconds: int = 120, wall_seconds: int = 180) -> Outcome:
    """Decode ``path`` in a limited child. Never raises for anything the file does."""
    with tempfile.TemporaryDirectory(prefix="loupe-decode-") as outdir:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
               "VIPS_CONCURRENCY": "2", "LANG": "C.UTF-8"}
        try:
            # The child sets its own limits first thing (no preexec_fn: forking a process that runs
            # threads, such as libvips', and running Python before exec can deadlock).
            proc = subprocess.run(  # noqa: S603 - fixed argv, our own module
                [sys.executable, "-m", "jobs.imaging.child", str(path), outdir, extension[:10], str(max_pixels),
                 str(memory_bytes), str(cpu_seconds)],
                cwd=ROOT, env=env, capture_output=True, timeout=wall_seconds,
            )
        except subprocess.TimeoutExpired:
            return Outcome(False, "the file took too long to process (it may be damaged or deliberately complex)")
        if proc.stderr:
            # libtiff and friends chatter on stderr; keep it for operators, never show it to clients.
            logger.info("decoder stderr for %s: %s", path.name, proc.stderr[-2000:].decode("utf-8", "replace"))
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else b""
        if proc.returncode != 0 or not line:
            logger.warning("decoder child for %s ended with %s", path.name, proc.returncode)
            return Outcome(False, "the file could not be processed safely: it exhausted the decoder's memory or "
                                  "time limits or crashed it")
        result = json.loads(line)
        if not result["ok"]:
            return Outcome(False, result["reason"])
        out = Path(outdir)
        return Outcome(True, inspection=result["inspection"], thumbnail=(out / "thumbnail.webp").read_bytes(),
                       preview=(out / "preview.webp").read_bytes())
