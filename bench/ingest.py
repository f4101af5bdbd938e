"""Ingest benchmark (issue 10): 24-megapixel JPEGs through Loupe's whole path, beside the same previews
made in-process in one loop, measured in the same run.

1. in-process: ``jobs.imaging.pipeline.make_previews`` on each file in one loop in this process (no
   sandbox, no storage, no database): the work itself;
2. the whole path on a production-like topology started by the bench: gunicorn (2 workers) on
   PostgreSQL with the demo data, Redis as the django-q2 broker, one ``qcluster`` with 2 workers, local
   file storage. A demo client declares the files through the API, PUTs each, completes it; the workers
   fetch, check the SHA-256, decode in the sandbox (one fork of the pre-started decoder server per file),
   store the previews and mark the image received. The clock runs from the declaration to the last image
   received; uploads and processing overlap as they do for a real client.

Goal: end-to-end throughput at least 0.75x the in-process figure. This machine's 2 cores are shared by
the client, gunicorn, PostgreSQL, Redis and the workers.

    .venv/bin/python bench/ingest.py [--files 50] [--database postgres://postgres@127.0.0.1:5432/loupe_ingest]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("VIPS_CONCURRENCY", "2")  # as in the sandbox

from bench.common import (  # noqa: E402
    demo_order,
    fresh_database,
    migrate_and_seed,
    production_env,
    start,
    start_gunicorn,
    stop,
)
from bench.previews import studio_frame  # noqa: E402


def make_files(directory: Path, count: int) -> list[Path]:
    """``count`` distinct 6000x4000 JPEGs (quality 92) of the preview bench's studio frame."""
    from PIL import ImageDraw

    frame = studio_frame()
    paths = []
    for i in range(count):
        img = frame.copy()
        ImageDraw.Draw(img).rectangle((100 + 90 * i, 3600, 160 + 90 * i, 3660), fill=(i * 5, 40, 200 - i * 3))
        path = directory / f"ring-{i:03d}.jpg"
        img.save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def in_process(paths: list[Path]) -> float:
    from jobs.imaging.pipeline import make_previews

    make_previews(paths[0], max_pixels=250_000_000, extension="jpg")  # warm-up, like a running worker
    started = time.perf_counter()
    for path in paths:
        make_previews(path, max_pixels=250_000_000, extension="jpg")
    return time.perf_counter() - started


def whole_path(paths: list[Path], url: str) -> tuple[float, float]:
    """Seconds from the declaration to the last upload completed, and to the last image received."""
    import requests

    api, _, order = demo_order(url, "Ingest benchmark")
    files = [(path, path.read_bytes()) for path in paths]
    started = time.perf_counter()
    declared = api.post(f"{url}/api/v1/orders/{order['id']}/uploads/", timeout=120, json={"files": [
        {"name": path.name, "size": len(data), "content_type": "image/jpeg", "sha256": hashlib.sha256(data).hexdigest()}
        for path, data in files]})
    declared.raise_for_status()
    for entry, (_, data) in zip(declared.json()["images"], files, strict=True):
        target = entry["upload"]
        put = requests.put(urljoin(url, target["url"]), data=data, headers=target["headers"], timeout=300)
        put.raise_for_status()
        api.post(urljoin(url, target["complete_url"]), json={}, timeout=120).raise_for_status()
    uploaded = time.perf_counter() - started
    while True:
        images = api.get(f"{url}/api/v1/orders/{order['id']}/images/?page_size=100", timeout=60).json()["results"]
        states = [image["status"] for image in images]
        if any(state == "rejected" for state in states):
            reasons = {image["filename"]: image["reason"] for image in images if image["status"] == "rejected"}
            raise SystemExit(f"images were rejected: {reasons}")
        if states.count("received") == len(paths):
            return uploaded, time.perf_counter() - started
        if time.perf_counter() - started > 1800:
            raise SystemExit(f"timed out: {states}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/loupe_ingest")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loupe-ingest-bench-"))
    print(f"making {args.files} 6000x4000 JPEGs in {work}", flush=True)
    paths = make_files(work, args.files)
    size = sum(p.stat().st_size for p in paths)
    inside = in_process(paths)
    print(f"in-process previews: {inside:.1f} s for {args.files} files = {args.files / inside:.2f} files/s "
          f"({inside / args.files * 1000:.0f} ms per file, {size / 1e6:.0f} MB in all)", flush=True)

    import redis

    redis.Redis.from_url(args.redis).flushdb()
    fresh_database(args.database)
    var_dir = tempfile.mkdtemp(prefix="loupe-ingest-var-")
    migrate_and_seed(production_env(args.database, var_dir))
    env = production_env(args.database, var_dir, REDIS_URL=args.redis, LOUPE_TASKS_SYNC="0",
                         LOUPE_TASK_WORKERS="2", OMP_NUM_THREADS="1")
    web, url = start_gunicorn(env)
    cluster = start([sys.executable, "manage.py", "qcluster"], env)
    try:
        time.sleep(3)  # the cluster's workers start
        uploaded, received = whole_path(paths, url)
    finally:
        stop(cluster)
        stop(web)
    ratio = (args.files / received) / (args.files / inside)
    print(f"whole path (declare, PUT, complete, worker, sandbox, previews, received): {received:.1f} s = "
          f"{args.files / received:.2f} files/s; the uploads alone took {uploaded:.1f} s "
          f"({size / uploaded / 1e6:.0f} MB/s)")
    print(f"whole path / in-process = {ratio:.2f}x (goal >= 0.75 -> {'met' if ratio >= 0.75 else 'NOT met'})")


if __name__ == "__main__":
    main()
