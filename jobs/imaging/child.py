"""Entry point of the sandboxed decoder:
``python -m jobs.imaging.child INPUT OUTDIR EXT MAX_PIXELS MEMORY_BYTES CPU_SECONDS``.

Writes ``thumbnail.webp``, ``preview.webp`` and prints one JSON line: ``{"ok": true, "inspection": …}``
or ``{"ok": false, "reason": …}``. Any crash, kill or limit ends the process without that line; the
parent reads that as "could not be processed safely".
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


def limit(memory_bytes: int, cpu_seconds: int) -> None:
    """Address space, CPU time and no core dumps, set before any decoder is imported."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)


def main(argv: list[str]) -> int:
    source, outdir, extension, max_pixels = Path(argv[0]), Path(argv[1]), argv[2], int(argv[3])
    limit(int(argv[4]), int(argv[5]))
    from jobs.imaging.pipeline import StopProcessing, make_previews

    try:
        result = make_previews(source, max_pixels=max_pixels, extension=extension)
    except StopProcessing as exc:
        print(json.dumps({"ok": False, "reason": exc.reason}))
        return 0
    (outdir / "thumbnail.webp").write_bytes(result.thumbnail)
    (outdir / "preview.webp").write_bytes(result.preview)
    print(json.dumps({"ok": True, "inspection": result.inspection.as_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
