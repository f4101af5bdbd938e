"""The sandboxed decoder: a pre-started server (``python -m jobs.imaging.child``) that forks one limited
child per file.

Starting a fresh interpreter and importing Pillow, numpy and libvips costs more than a preview itself, so
each worker process keeps one server that has paid for its imports once. For every file it forks: the
child sets its own limits (address space, CPU time, no core dumps, lower priority), sends its stdout and
stderr to a log in the request's directory, decodes, writes ``thumbnail.webp``, ``preview.webp`` and
``result.json`` there (or, for a ``"job": "tiles"`` request, the packed tile pyramid ``tiles.pack`` and its
index in ``result.json``) and ends with ``os._exit``. A crash, a kill or a limit ends only the child; the
server waits for it, kills it at the wall-clock limit, and stays as clean as it started, because it
never decodes anything itself.

Protocol, one JSON line each way over stdin and stdout:

- request: ``{"input", "outdir", "extension", "max_pixels", "memory_bytes", "cpu_seconds", "wall_seconds"}``
  and optionally ``"job": "previews" | "tiles"`` (previews by default)
- answer: ``{"status": exit status or null, "signal": signal number or null, "timed_out": bool}``

The server ends when its stdin closes (its worker ended, however it ended).
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT, LOG, TILES = "result.json", "decoder.log", "tiles.pack"


def limit(memory_bytes: int, cpu_seconds: int) -> None:
    """Address space, CPU time and no core dumps (the fork's CPU clock starts at zero)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)


def preload() -> None:
    """Everything a decode imports, without running any decoder: the server must stay single-threaded
    (libvips starts its threads on first use), or forking it could copy a lock some thread holds."""
    import numpy  # noqa: F401
    from PIL import Image

    import jobs.imaging.pipeline  # noqa: F401

    Image.init()


def decode(request: dict[str, Any]) -> None:
    """The forked child's whole life. Never returns."""
    code = 1
    outdir = Path(request["outdir"])
    try:
        log = os.open(outdir / LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(0)
        limit(int(request["memory_bytes"]), int(request["cpu_seconds"]))
        from jobs.imaging.pipeline import StopProcessing, make_previews
        from jobs.imaging.tiles import make_pyramid

        source, options = Path(request["input"]), {"max_pixels": int(request["max_pixels"]),
                                                    "extension": str(request["extension"])}
        try:
            if request.get("job") == "tiles":
                pyramid = make_pyramid(source, outdir / TILES, **options)
                answer: dict[str, Any] = {"ok": True, "pyramid": pyramid.as_dict()}
            else:
                result = make_previews(source, grade=bool(request.get("grade")), **options)
                (outdir / "thumbnail.webp").write_bytes(result.thumbnail)
                (outdir / "preview.webp").write_bytes(result.preview)
                answer = {"ok": True, "inspection": result.inspection.as_dict()}
        except StopProcessing as exc:
            answer = {"ok": False, "reason": exc.reason}
        (outdir / RESULT).write_text(json.dumps(answer))
        code = 0
    except BaseException:  # noqa: BLE001 - the child reports any failure by its exit status
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def wait(pid: int, wall_seconds: float) -> dict[str, Any]:
    """Wait for the child, killing it once ``wall_seconds`` have passed."""
    pidfd = os.pidfd_open(pid)
    try:
        timed_out = not select.select([pidfd], [], [], max(0.0, wall_seconds))[0]
    finally:
        os.close(pidfd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)  # harmless if it finished this instant: it waits to be reaped
    _, status = os.waitpid(pid, 0)
    return {"status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "timed_out": timed_out}


def serve() -> int:
    # Ctrl-C in `make run` reaches the whole process group: the worker decides when this server ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            decode(request)
        answer = wait(pid, float(request["wall_seconds"]))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
