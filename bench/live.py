"""Live pages benchmark (issue 22): event streams against the polling they replace, measured in the same run.

- **Streams**: one ASGI web process (gunicorn with one uvicorn worker, production settings, PostgreSQL with the demo,
  Redis) holds ``--streams`` open order pages of the demo client (``GET /events/?topic=order:<id>``, one signed-in
  session); another process publishes ``--rate`` messages a second to that order's topic through Redis for
  ``--seconds``. Each message carries its send time; the clients (asyncio, raw sockets) note when each page hears
  it. Reported: p50/p95/max delivery latency over every (page, message), messages lost, and the web process's
  resident memory per open stream (before and after opening them).
- **Polling**: the same pages polling every 2 s, as they did (the order page's deliveries and images parts, two
  requests per poll): their request rate (pages × 2 / 2 s), and the CPU seconds the same web process spends per
  second answering that rate, from a measured sample of those requests.

Goal: p95 delivery under 500 ms with 1,000 streams and 100 messages a second.

    .venv/bin/python bench/live.py [--streams 1000] [--rate 100] [--seconds 10] [--database postgres://postgres@127.0.0.1:5432/loupe_live]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEMO_CLIENT,
    DEMO_PASSWORD,
    fresh_database,
    migrate_and_seed,
    production_env,
    start_gunicorn,
    stop,
)

REDIS = "redis://127.0.0.1:6379/13"


def sign_in(url: str, email: str) -> tuple[str, list[str]]:
    """A demo person's session cookie (the sign-in form) and the orders they see (the first 100)."""
    import requests

    session = requests.Session()
    form = session.get(f"{url}/login/", timeout=60)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = session.post(f"{url}/login/", data={"username": email, "password": DEMO_PASSWORD,
                                                 "csrfmiddlewaretoken": csrf}, allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:300]
    token = requests.post(f"{url}/api/v1/auth/token/", json={"email": email, "password": DEMO_PASSWORD},
                          timeout=60).json()["token"]
    orders = requests.get(f"{url}/api/v1/orders/?page_size=100", headers={"Authorization": f"Token {token}"}, timeout=60).json()
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies if "session" in c.name)
    return cookie, [row["id"] for row in orders["results"]]


def worker_pids(web: subprocess.Popen) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(web.pid).children(recursive=True)]


def rss(pids: list[int]) -> int:
    import psutil

    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


async def page(port: int, path: str, cookie: str, heard: dict[str, list[float]], opened: asyncio.Event,
               counter: list[int], total: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
                 .encode())
    await writer.drain()
    status = await reader.readline()
    assert b" 200 " in status, status
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    counter[0] += 1
    if counter[0] == total:
        opened.set()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: ") or b'"kind":"bench"' in line:
                at = time.time()
                text = line.decode()
                if '"kind":"bench"' in text:
                    ref = json.loads(text[text.index("{"):text.rindex("}") + 1])["ref"]
                    heard.setdefault(ref, []).append(at)
    except (asyncio.CancelledError, ConnectionError):
        return
    finally:
        writer.close()


def publisher(orders: list[str], rate: int, seconds: int) -> subprocess.Popen:
    """Another process publishing ``rate`` messages a second through Redis, each to the next order in turn."""
    code = f"""
import json, time, redis
r = redis.Redis.from_url({REDIS!r})
orders = {orders!r}
start = time.monotonic()
for n in range({rate * seconds}):
    due = start + n / {rate}
    time.sleep(max(0.0, due - time.monotonic()))
    order = orders[n % len(orders)]
    r.publish("loupe:live:order:" + order, json.dumps({{"topic": "order:" + order, "kind": "bench",
              "ref": repr(time.time()), "audience": "client"}}, separators=(",", ":")))
"""
    return subprocess.Popen([sys.executable, "-c", code])


async def streams(url: str, cookie: str, orders: list[str], count: int, rate: int, seconds: int,
                  pids: list[int]) -> dict[str, float]:
    port = int(url.rsplit(":", 1)[1])
    heard: dict[str, list[float]] = {}
    opened = asyncio.Event()
    counter = [0]
    before = rss(pids)
    tasks = []
    for n in range(count):  # pages open as people arrive: at most 20 being opened at once
        tasks.append(asyncio.ensure_future(page(port, f"/events/?topic=order:{orders[n % len(orders)]}", cookie, heard,
                                                opened, counter, count)))
        while n + 1 - counter[0] >= 20 and not any(t.done() for t in tasks[-20:]):
            await asyncio.sleep(0.01)
    await asyncio.wait_for(opened.wait(), 300)
    await asyncio.sleep(2)
    after = rss(pids)
    sender = publisher(orders, rate, seconds)
    while sender.poll() is None:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # the last messages land
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(at - float(ref)) * 1000 for ref, times in heard.items() for at in times]
    readers = [len(range(i, count, len(orders))) for i in range(len(orders))]  # pages per order
    expected = sum(readers[n % len(orders)] for n in range(rate * seconds))
    latencies.sort()
    return {"streams": count, "messages": rate * seconds, "topics": len(orders), "expected": expected,
            "deliveries": len(latencies), "lost": expected - len(latencies),
            "p50_ms": statistics.median(latencies), "p95_ms": latencies[int(len(latencies) * 0.95)],
            "max_ms": latencies[-1], "rss_before_mib": before / 2**20, "rss_after_mib": after / 2**20,
            "kib_per_stream": (after - before) / count / 1024}


def polling(url: str, cookie: str, orders: list[str], pages: int, pids: list[int]) -> dict[str, float]:
    """What the same pages cost polling every 2 s: a sample of the two parts' requests, timed and CPU-measured."""
    import psutil
    import requests

    session = requests.Session()
    session.headers["Cookie"] = cookie
    session.headers["HX-Request"] = "true"
    paths = [f"/orders/{orders[0]}/deliveries/", f"/orders/{orders[0]}/images/"]
    for path in paths:
        assert session.get(url + path, timeout=60).status_code == 200, path
    processes = [psutil.Process(pid) for pid in pids]
    cpu = sum(p.cpu_times().user + p.cpu_times().system for p in processes)
    started = time.monotonic()
    sample = 200
    for n in range(sample):
        session.get(url + paths[n % 2], timeout=60)
    wall = time.monotonic() - started
    used = sum(p.cpu_times().user + p.cpu_times().system for p in processes) - cpu
    rate = pages * len(paths) / 2.0
    return {"poll_requests_per_s": rate, "server_cpu_ms_per_request": used / sample * 1000,
            "server_cpu_s_per_s": used / sample * rate, "sequential_requests_per_s": sample / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/loupe_live")
    parser.add_argument("--email", default=DEMO_CLIENT,
                        help="whose pages (the demo client's 3 orders; maria.manager@loupe.test sees every order)")
    parser.add_argument("--one-topic", action="store_true",
                        help="every page on the same order (each message reaches every page): the worst case")
    args = parser.parse_args()
    import resource

    import redis

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.streams * 2 + 256)), hard))
    redis.Redis.from_url(REDIS).flushdb()
    fresh_database(args.database)
    with tempfile.TemporaryDirectory(prefix="loupe-bench-live-") as var:
        env = production_env(args.database, var, REDIS_URL=REDIS)
        migrate_and_seed(env)
        web, url = start_gunicorn(env, workers=1, asgi=True)
        try:
            cookie, orders = sign_in(url, args.email)
            orders = orders[:1] if args.one_topic else orders
            pids = worker_pids(web) or [web.pid]
            polled = polling(url, cookie, orders, args.streams, pids)
            live = asyncio.run(streams(url, cookie, orders, args.streams, args.rate, args.seconds, pids))
        finally:
            stop(web)
    print(f"event streams: {live['streams']} open pages on {live['topics']} orders, {live['messages']} messages at "
          f"{args.rate}/s, each to the pages of its order ({live['deliveries']} of {live['expected']} deliveries, "
          f"{live['lost']} lost)")
    print(f"  delivery latency p50 {live['p50_ms']:.0f} ms, p95 {live['p95_ms']:.0f} ms, max {live['max_ms']:.0f} ms "
          f"(goal p95 < 500 ms: {'met' if live['p95_ms'] < 500 else 'NOT met'})")
    print(f"  web process memory {live['rss_before_mib']:.0f} MiB -> {live['rss_after_mib']:.0f} MiB: "
          f"{live['kib_per_stream']:.1f} KiB per open stream")
    print(f"polling every 2 s (as before): {polled['poll_requests_per_s']:.0f} requests/s for the same pages; "
          f"{polled['server_cpu_ms_per_request']:.1f} ms of server CPU each = {polled['server_cpu_s_per_s']:.1f} "
          f"CPU-seconds per second (one process answers {polled['sequential_requests_per_s']:.0f}/s in a row)")


if __name__ == "__main__":
    main()
