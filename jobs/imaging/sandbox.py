"""Run the decoder in a child process with memory, CPU and wall-clock limits (SECURITY.md §3.7).

Each process that decodes (a worker) keeps one pre-started decoder server (``jobs.imaging.child``)
and asks it for one fork per file: the limits and the isolation of a fresh child, without paying for
a new interpreter and its imports every time (bench/ingest.py).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.imaging.child import LOG, RESULT, TILES

logger = logging.getLogger("loupe.images")
ROOT = Path(__file__).resolve().parents[2]
UNSAFE = ("the file could not be processed safely: it exhausted the decoder's memory or time limits or "
          "crashed it")
TOO_LONG = "the file took too long to process (it may be damaged or deliberately complex)"


@dataclass
class Outcome:
    ok: bool
    reason: str = ""
    inspection: dict[str, Any] | None = None
    thumbnail: bytes = b""
    preview: bytes = b""


class ServerGone(Exception):
    """The decoder server itself ended or stopped answering (not something the file did)."""


class DecoderServer:
    """One pre-started ``jobs.imaging.child`` per process, started on first use and again after a
    fork (a django-q2 worker never shares its parent's pipes) or after it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "VIPS_CONCURRENCY": "2", "LANG": "C.UTF-8",
               # Each thread's own malloc arena reserves 64 MB of address space, which the limit counts.
               "MALLOC_ARENA_MAX": "2"}
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own module
            [sys.executable, "-m", "jobs.imaging.child"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self._proc, self._pid = proc, os.getpid()
        return proc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._pid == os.getpid():
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    stream.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._pid == os.getpid() else None

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for attempt in (1, 2):
                proc = self._proc if self._proc is not None and self._pid == os.getpid() else None
                if proc is None or proc.poll() is not None:
                    proc = self._start()
                try:
                    return self._ask(proc, request)
                except ServerGone:
                    logger.warning("decoder server %s ended; starting a new one (attempt %s)", proc.pid, attempt)
                    self.stop()
            raise ServerGone("the decoder server could not be started")

    @staticmethod
    def _ask(proc: subprocess.Popen[bytes], request: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ServerGone(str(exc)) from exc
        # The server answers within the wall limit (it kills the child then); a server that does not
        # is broken or stopped, never waited for forever.
        if not select.select([proc.stdout], [], [], float(request["wall_seconds"]) + 30)[0]:
            raise ServerGone("no answer")
        line = proc.stdout.readline()
        if not line:
            raise ServerGone("closed")
        return json.loads(line)


SERVER = DecoderServer()
atexit.register(SERVER.stop)


def _run(job: str, path: Path, outdir: Path, *, extension: str, max_pixels: int, memory_bytes: int,
         cpu_seconds: int, wall_seconds: int, grade: bool = False) -> dict[str, Any]:
    """One request to the decoder server: the child's ``result.json``, or ``{"ok": False, "reason"}``
    for a child that crashed, ran out of its limits or of time."""
    request = {"job": job, "input": str(Path(path).resolve()), "outdir": str(outdir), "extension": extension[:10],
               "max_pixels": max_pixels, "memory_bytes": memory_bytes, "cpu_seconds": cpu_seconds,
               "wall_seconds": wall_seconds, "grade": grade}
    try:
        answer = SERVER.run(request)
    except ServerGone:
        return {"ok": False, "reason": UNSAFE}
    log = (outdir / LOG).read_bytes() if (outdir / LOG).exists() else b""
    if log.strip():
        # libtiff and friends chatter on stderr; keep it for operators, never show it to clients.
        logger.info("decoder output for %s: %s", path.name, log[-2000:].decode("utf-8", "replace"))
    if answer["timed_out"]:
        return {"ok": False, "reason": TOO_LONG}
    if answer["status"] != 0 or not (outdir / RESULT).exists():
        logger.warning("decoder child for %s ended with status %s, signal %s", path.name, answer["status"],
                       answer["signal"])
        return {"ok": False, "reason": UNSAFE}
    return json.loads((outdir / RESULT).read_text())


def inspect_file(path: Path, *, extension: str, max_pixels: int, memory_bytes: int = 4 << 30,
                 cpu_seconds: int = 120, wall_seconds: int = 180, grade: bool = False) -> Outcome:
    """Decode ``path`` in a limited child (with ``grade``, measuring its complexity too: originals). Never raises
    for anything the file does."""
    with tempfile.TemporaryDirectory(prefix="loupe-decode-") as outdir:
        out = Path(outdir)
        result = _run("previews", path, out, extension=extension, max_pixels=max_pixels, memory_bytes=memory_bytes,
                      cpu_seconds=cpu_seconds, wall_seconds=wall_seconds, grade=grade)
        if not result["ok"]:
            return Outcome(False, result["reason"])
        return Outcome(True, inspection=result["inspection"], thumbnail=(out / "thumbnail.webp").read_bytes(),
                       preview=(out / "preview.webp").read_bytes())


@dataclass
class Tiled:
    ok: bool
    reason: str = ""
    pyramid: dict[str, Any] | None = None


def tile_file(path: Path, pack: Path, *, extension: str, max_pixels: int, memory_bytes: int = 4 << 30,
              cpu_seconds: int = 300, wall_seconds: int = 400) -> Tiled:
    """Cut ``path`` into a tile pyramid in a limited child (``jobs.imaging.tiles``), its tiles packed into
    ``pack``. Never raises for anything the file does."""
    with tempfile.TemporaryDirectory(prefix="loupe-tiles-") as outdir:
        out = Path(outdir)
        result = _run("tiles", path, out, extension=extension, max_pixels=max_pixels, memory_bytes=memory_bytes,
                      cpu_seconds=cpu_seconds, wall_seconds=wall_seconds)
        if not result["ok"]:
            return Tiled(False, result["reason"])
        os.replace(out / TILES, pack)
        return Tiled(True, pyramid=result["pyramid"])
