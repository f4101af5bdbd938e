"""The pre-started decoder server (SECURITY.md I4 with one fork per file): the limits hold per file, a
child's crash or kill leaves the server serving, a dead server is replaced, a forked worker gets its
own server, and the server never runs a decoder thread itself."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from jobs.imaging import sandbox
from jobs.imaging.sandbox import SERVER, inspect_file

pytestmark = pytest.mark.engine_independent  # decoding only: it runs once, in the SQLite pass

MAX = 250_000_000


@pytest.fixture
def jpeg(tmp_path) -> Path:
    path = tmp_path / "ring.jpg"
    Image.new("RGB", (900, 600), (200, 170, 60)).save(path, "JPEG")
    return path


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_one_server_serves_file_after_file_and_stays_single_threaded(jpeg, tmp_path):
    tiff = tmp_path / "frame.tif"
    Image.new("RGB", (3000, 2000), (20, 40, 60)).save(tiff, "TIFF")  # libvips, with its threads
    first = inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    server = SERVER.pid
    second = inspect_file(tiff, extension="tif", max_pixels=MAX)
    assert first.ok and second.ok, (first.reason, second.reason)
    assert (second.inspection["width"], second.inspection["height"]) == (3000, 2000)
    assert SERVER.pid == server
    # Forking is safe only from a single-threaded process: the decoding happened in the children.
    assert threads(server) == 1


def test_a_child_killed_by_its_memory_limit_leaves_the_server_serving(jpeg, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (12_000, 10_000), (10, 20, 30)).save(big, compress_level=1)
    inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    server = SERVER.pid
    refused = inspect_file(big, extension="png", max_pixels=MAX, memory_bytes=300 << 20)
    assert not refused.ok
    assert refused.reason in ("the image is too large to process", sandbox.UNSAFE)
    assert SERVER.pid == server
    assert inspect_file(jpeg, extension="jpg", max_pixels=MAX).ok


def test_a_child_that_runs_past_the_wall_limit_is_killed_and_the_next_file_is_served(jpeg):
    slow = inspect_file(jpeg, extension="jpg", max_pixels=MAX, wall_seconds=0)
    assert not slow.ok and slow.reason == sandbox.TOO_LONG
    assert inspect_file(jpeg, extension="jpg", max_pixels=MAX).ok


def test_a_dead_server_is_replaced_without_failing_the_file(jpeg):
    inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    dead = SERVER.pid
    os.kill(dead, signal.SIGKILL)
    SERVER._proc.wait(timeout=10)  # the kill has taken effect (not a pause that may or may not be long enough)
    outcome = inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    assert outcome.ok, outcome.reason
    assert SERVER.pid not in (None, dead)


def test_a_forked_worker_starts_its_own_server(jpeg):
    """django-q2 forks its workers: a worker must not write into its parent's pipes."""
    inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    parent_server = SERVER.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            outcome = inspect_file(jpeg, extension="jpg", max_pixels=MAX)
            os.write(write, json.dumps({"ok": outcome.ok, "server": SERVER.pid}).encode())
            SERVER.stop()
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    report = json.loads(os.read(read, 1000))
    os.close(read)
    assert report["ok"] and report["server"] not in (None, parent_server)
    assert SERVER.pid == parent_server and inspect_file(jpeg, extension="jpg", max_pixels=MAX).ok


def test_the_server_ends_when_its_worker_closes_the_pipe(jpeg):
    inspect_file(jpeg, extension="jpg", max_pixels=MAX)
    proc = SERVER._proc
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    SERVER.stop()


def test_a_cut_out_tiff_keeps_its_transparency_and_colours_in_both_sizes(tmp_path):
    """The libvips path resizes with premultiplied alpha: no dark fringe, transparent stays transparent."""
    path = tmp_path / "cutout.tif"
    img = Image.new("RGBA", (2400, 1600), (0, 0, 0, 0))
    img.paste((212, 175, 55, 255), (600, 400, 1800, 1200))
    img.save(path, "TIFF")
    outcome = inspect_file(path, extension="tif", max_pixels=MAX)
    assert outcome.ok, outcome.reason
    for data, size in ((outcome.preview, (1600, 1067)), (outcome.thumbnail, (256, 171))):
        out = Image.open(io.BytesIO(data))
        assert out.mode == "RGBA" and out.size == size
        w, h = out.size
        assert out.getpixel((2, 2))[3] == 0
        r, g, b, a = out.getpixel((w // 2, h // 2))
        assert a == 255 and abs(r - 212) <= 3 and abs(g - 175) <= 3 and abs(b - 55) <= 3
        # The half-transparent pixels along the square's edge stay gold: averaged without premultiplying,
        # the transparent black around them would darken them into a halo.
        edge = [out.getpixel((x, h // 2)) for x in range(w // 4 - 3, w // 4 + 3)]
        assert any(0 < a < 255 for *_, a in edge)
        assert all(r > 190 and g > 150 for r, g, b, a in edge if a > 8), edge
