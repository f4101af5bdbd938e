"""`make run` as a newcomer meets it: a fresh clone of this repository (the committed tree) in a temporary
folder, no .venv, no var/. Prints the seconds to each step and to the first page that answers, and the
number of lines printed. Goals (issue 20): the first page in under 60 s on the reference machine (2 cores),
at most 40 lines whatever pip's configuration. The baseline in the same run is the same start with the
.venv already installed (what the install step costs is the difference).

    python bench/cold_start.py            # one cold start, then one warm start
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402


def start(folder: Path, *, clean_var: bool) -> dict[str, float]:
    if clean_var:
        shutil.rmtree(folder / "var", ignore_errors=True)
    port = free_port()
    began = time.monotonic()
    marks: dict[str, float] = {}
    lines = 0
    run = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=folder, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert run.stdout is not None
        for line in run.stdout:
            lines += 1
            for step in ("Installing", "Preparing", "Seeding", "Starting"):
                if line.startswith(step):
                    marks[step.lower()] = time.monotonic() - began
            if "Ctrl-C" in line:
                break
        while True:  # the first page, as a browser would ask for it
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        marks["first page"] = time.monotonic() - began
        marks["lines"] = lines
    finally:
        os.killpg(run.pid, signal.SIGINT)  # as Ctrl-C in the terminal: the whole group
        try:
            run.communicate(timeout=60)  # read what it says while stopping, so it never blocks on a full pipe
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    return marks


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="loupe-cold-") as scratch:
        folder = Path(scratch) / "loupe"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True)
        cold = start(folder, clean_var=True)
        warm = start(folder, clean_var=True)  # the baseline: same start, .venv already there
    print(f"{'step':<12}{'cold s':>10}{'warm s':>10}")
    for step in ("installing", "preparing", "seeding", "starting", "first page"):
        print(f"{step:<12}{cold.get(step, 0):>10.1f}{warm.get(step, 0):>10.1f}")
    print(f"lines printed: cold {cold['lines']:.0f}, warm {warm['lines']:.0f} (goal: at most 40)")
    print(f"first page: cold {cold['first page']:.1f} s (goal: under 60 s), "
          f"{cold['first page'] / warm['first page']:.2f}× the warm start")


if __name__ == "__main__":
    main()
