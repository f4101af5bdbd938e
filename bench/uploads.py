"""Upload benchmark (issue 13): a 1 GiB file through the local backend's multipart path, beside a plain
``cp`` of the same file on this machine, measured in the same run.

- cp: ``cp`` of the file to the same disk (the file is in the page cache for both);
- Loupe: gunicorn (2 workers, production settings, local file storage) on PostgreSQL with the demo
  data; a client declares the file without a whole-file checksum, then for each 16 MiB part computes
  its SHA-256, asks for its signed URL and PUTs it (4 parts at a time, as the browser does), and calls
  ``complete``, which checks every part's marker and renames the file (parts are written in place).
  The clock runs from the declaration to ``complete``'s answer. The web processes' resident memory is
  sampled every 50 ms.

Rounds of cp, cp then sync and Loupe are interleaved and the medians compared: a GiB written on this
machine varies by 2x from run to run with the state of the page cache.

Goal: Loupe at least 0.5x cp's throughput, and the web processes' memory flat (no growth with the
file's size: each part is streamed to disk, never held).

    .venv/bin/python bench/uploads.py [--size-mib 1024] [--rounds 5] [--database postgres://postgres@127.0.0.1:5432/loupe_uploads]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import demo_order, fresh_database, migrate_and_seed, production_env, start_gunicorn, stop  # noqa: E402

MiB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[: min(len(block), size - offset)] if offset else block[: min(len(block), size)])
            block = hashlib.sha256(block[:64]).digest() + block[32:]  # every block differs


def cpu_seconds(processes: list) -> float:
    """User and system CPU seconds used so far by ``processes`` (psutil), those that ended left out."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class Memory:
    """Peak resident memory of gunicorn's worker processes (the web processes)."""

    def __init__(self, master_pid: int) -> None:
        import psutil

        self.master = psutil.Process(master_pid)
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        return max((child.memory_info().rss for child in self.master.children()), default=0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.05)

    def __enter__(self) -> Memory:
        self.baseline = self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(path: Path, url: str) -> tuple[float, float]:
    """Seconds from the declaration of ``path`` to the last part stored, and to ``complete``'s answer."""
    import requests

    api, token, order = demo_order(url, "Upload benchmark")
    size = path.stat().st_size
    started = time.perf_counter()
    declared = api.post(f"{url}/api/v1/orders/{order['id']}/uploads/", timeout=60, json={
        "files": [{"name": path.name, "size": size, "content_type": "image/tiff"}]})
    declared.raise_for_status()
    target = declared.json()["images"][0]["upload"]
    local = threading.local()

    def send(part: dict) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Token {token}"
        with path.open("rb") as fh:
            fh.seek((part["number"] - 1) * target["part_size"])
            chunk = fh.read(part["size"])
        signed = local.session.post(target["parts_url"], timeout=60, json={
            "number": part["number"], "sha256": hashlib.sha256(chunk).hexdigest()})
        signed.raise_for_status()
        put = local.session.put(urljoin(url, signed.json()["url"]), data=chunk, headers=signed.json()["headers"],
                                timeout=300)
        put.raise_for_status()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, target["parts"]))
    sent = time.perf_counter() - started
    done = api.post(target["complete_url"], json={}, timeout=600)
    done.raise_for_status()
    elapsed = time.perf_counter() - started
    if done.json()["status"] == "rejected":
        raise SystemExit(f"the upload was refused: {done.json()['reason']}")
    return sent, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/loupe_uploads")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="loupe-upload-bench-"))
    source = work / "master.tif"
    make_file(source, size)
    def copy(then_sync: bool) -> float:
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(work / "copy.tif")], check=True)
        if then_sync:
            subprocess.run(["sync", str(work / "copy.tif")], check=True)
        elapsed = time.perf_counter() - started
        (work / "copy.tif").unlink()
        subprocess.run(["sync"], check=True)  # the next run starts without this one's dirty pages
        return elapsed

    fresh_database(args.database)
    var_dir = tempfile.mkdtemp(prefix="loupe-upload-var-")
    migrate_and_seed(production_env(args.database, var_dir))
    env = production_env(args.database, var_dir, LOUPE_TASKS_SYNC="0")  # no worker: the upload alone
    web, url = start_gunicorn(env)
    warm = work / "warm.tif"
    make_file(warm, 80 * MiB)
    copies, synced_copies, runs = [], [], []
    try:
        for _ in range(2):  # both workers import the whole application on their first requests
            upload(warm, url)
        # Interleaved rounds: this machine's page cache and memory make any one write of a GiB vary by
        # 2x from run to run, so each round measures cp, cp then sync and Loupe back to back.
        import psutil

        sides = {"client (this script)": [psutil.Process()], "web workers": psutil.Process(web.pid).children(),
                 "PostgreSQL": [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]}
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        with Memory(web.pid) as memory:
            for _ in range(args.rounds):
                copies.append(copy(False))
                synced_copies.append(copy(True))
                before = {side: cpu_seconds(procs) for side, procs in sides.items()}
                runs.append(upload(source, url))
                for side, procs in sides.items():
                    cpu[side].append(cpu_seconds(procs) - before[side])
                subprocess.run(["sync"], check=True)  # as for cp: the next run starts without dirty pages
    finally:
        stop(web)
    copied, synced = statistics.median(copies), statistics.median(synced_copies)
    sent, elapsed = sorted(runs, key=lambda run: run[1])[len(runs) // 2]
    print(f"cp of {args.size_mib} MiB: {copied:.2f} s = {size / copied / MiB:.0f} MiB/s; cp then sync (the bytes "
          f"on disk): {synced:.2f} s = {size / synced / MiB:.0f} MiB/s (medians of {args.rounds})")
    print("  rounds (cp, cp then sync, Loupe): " + "; ".join(
        f"{a:.2f}, {b:.2f}, {c[1]:.2f}" for a, b, c in zip(copies, synced_copies, runs, strict=True)))
    ratio = copied / elapsed
    print(f"  parts sent in {sent:.2f} s, complete (checks and rename) {elapsed - sent:.2f} s")
    print(f"Loupe multipart upload (sign, PUT 4 at a time, complete; median of {args.rounds}): {elapsed:.2f} s = "
          f"{size / elapsed / MiB:.0f} MiB/s")
    print(f"Loupe / cp = {ratio:.2f}x (goal >= 0.5 -> {'met' if ratio >= 0.5 else 'NOT met'}); "
          f"Loupe / (cp then sync) = {synced / elapsed:.2f}x")
    # Where the time goes: both ends hash every byte (the client for its part checksums, storage to check
    # them) on this machine's two cores, so the CPU seconds bound the wall time from below.
    used = {side: statistics.median(values) for side, values in cpu.items()}
    print("CPU seconds per upload (medians): " + ", ".join(f"{side} {value:.2f}" for side, value in used.items())
          + f"; {sum(used.values()):.2f} in all, at least {sum(used.values()) / (os.cpu_count() or 1):.2f} s of wall "
          f"time on {os.cpu_count()} cores")
    grew = (memory.peak - memory.baseline) / MiB
    print(f"web process memory: {memory.baseline / MiB:.0f} MiB before, peak {memory.peak / MiB:.0f} MiB "
          f"(+{grew:.0f} MiB for a {args.size_mib} MiB file; flat means independent of the file's size)")


if __name__ == "__main__":
    main()
