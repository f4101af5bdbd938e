"""Task pickup latency (issue 10): how long a queued task waits before a worker starts it, with Redis
as the django-q2 broker (production) and, as the baseline measured in the same run, the ORM broker
(``make run``'s default, which polls the database).

For each broker it starts one real ``qcluster`` process on a throw-away SQLite database, queues
``agency.tasks.queue_probe`` one task at a time (each waits for the previous to finish, so it measures
pickup, not a backlog) and prints the median, p95 and max of enqueue → task start over ``--tasks`` runs.
Goal: Redis median below 50 ms.

    .venv/bin/python bench/queue_latency.py [--tasks 100] [--redis redis://127.0.0.1:6379/12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, start, stop  # noqa: E402


def _env(var_dir: str, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings", "DEBUG": "0", "LOUPE_VAR_DIR": var_dir,
           "SECRET_KEY": "bench-only-" + "x" * 40, "ALLOWED_HOSTS": "localhost", "EMAIL_URL": "locmem://",
           "LOUPE_BASE_URL": "http://localhost",
           "LOUPE_TASKS_SYNC": "0", "LOUPE_TASK_WORKERS": "1", "LOUPE_STATIC_MANIFEST": "0"}
    env.pop("DATABASE_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


MEASURE = """
import statistics, sys, time
import django
django.setup()
from django_q.tasks import async_task, result
samples = []
for _ in range(int(sys.argv[1]) + 5):
    task = async_task("agency.tasks.queue_probe", time.time())
    waited = result(task, wait=10000)
    if waited is None:
        raise SystemExit("a probe task did not finish within 10 s")
    samples.append(waited * 1000)
print(" ".join(f"{s:.3f}" for s in samples[5:]))  # the first few warm the worker up
"""


def measure(label: str, redis_url: str | None, tasks: int) -> list[float]:
    var_dir = tempfile.mkdtemp(prefix="loupe-queue-bench-")
    env = _env(var_dir, redis_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    cluster = start([sys.executable, "manage.py", "qcluster"], env)
    try:
        time.sleep(3)  # the cluster's workers start
        out = subprocess.run([sys.executable, "-c", MEASURE, str(tasks)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
        if out.returncode:
            raise SystemExit(f"{label}: {out.stderr[-2000:]}")
        return [float(x) for x in out.stdout.split()]
    finally:
        stop(cluster)


def report(label: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{label:<14} median {median:8.1f} ms   p95 {p95:8.1f} ms   max {ordered[-1]:8.1f} ms   ({len(ordered)} tasks)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    redis_median = report("redis broker", measure("redis", args.redis, args.tasks))
    orm_median = report("orm broker", measure("orm", None, args.tasks))
    print(f"redis / orm    {redis_median / orm_median:.2f}x   goal: redis median < 50 ms -> "
          f"{'met' if redis_median < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
