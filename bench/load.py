"""Load benchmark (issue 10): gunicorn (2 workers, production settings) on PostgreSQL with the demo data,
driven by locust in headless mode from this machine's loopback.

Three phases, 50 simulated users each, figures printed per phase and endpoint (requests/s, p50, p95,
p99, errors):
1. the ceiling: ``/healthz/`` alone (database, broker and storage checks, no page rendering);
2. a client's order list alone (``/orders/``) for ``--seconds``, for the goal: at least 0.3x the ceiling's
   requests/s. The 50 people sign in before the phase starts (page and API: 100 PBKDF2 checks, timed and
   printed on their own): inside the window they made the order list's figure depend on how long the run
   was (0.24x in a 30 s run, 0.29x in a 60 s run);
3. the mix a busy studio sees for ``--seconds`` (60): clients' order lists, order pages, the images grid
   poll (``/orders/<id>/images/``) and the API lists (``/api/v1/orders/``, ``/api/v1/images/``).
Goal: 0 errors in every phase.

The bench needs locust (not part of ``make test``): ``.venv/bin/pip install -e '.[bench]'``.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60]
        [--database postgres://postgres@127.0.0.1:5432/loupe_bench]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, DEMO_PASSWORD, fresh_database, migrate_and_seed, production_env, start_gunicorn, stop  # noqa: E402

LOCUST = ""
CLIENTS = ["camille@aurelia.test", "louis@aurelia.test", "ava@northwind.test", "noah@northwind.test",
           "olivia@rosewood.test", "harry@rosewood.test"]

LOCUSTFILE = '''
import itertools, random, re
from locust import HttpUser, between, task

PHASE = {phase!r}
SIGNED_IN = itertools.cycle({signed_in!r})  # (email, cookies, API token), signed in before the phase


class Person(HttpUser):
    wait_time = between(0.05, 0.25)

    def on_start(self):
        if PHASE == "ceiling":
            return
        _, cookies, token = next(SIGNED_IN)
        self.client.cookies.update(cookies)
        self.api_headers = {{"Authorization": "Token " + token}}
        page = self.client.get("/orders/", name="/orders/")
        self.orders = sorted(set(re.findall(r'href="/orders/([0-9a-f-]{{36}})/"', page.text)))
        if not self.orders:
            raise RuntimeError("signed in, but the order list shows no order")

    @task
    def work(self):
        if PHASE == "ceiling":
            self.client.get("/healthz/", name="/healthz/")
            return
        if PHASE == "orders":
            self.client.get("/orders/", name="/orders/")
            return
        order = random.choice(self.orders)
        choice = random.random()
        if choice < 0.3:
            self.client.get("/orders/", name="/orders/")
        elif choice < 0.5:
            self.client.get(f"/orders/{{order}}/", name="/orders/<id>/")
        elif choice < 0.75:
            self.client.get(f"/orders/{{order}}/images/", name="/orders/<id>/images/ (grid poll)")
        elif choice < 0.9:
            self.client.get("/api/v1/orders/", headers=self.api_headers, name="/api/v1/orders/")
        else:
            self.client.get(f"/api/v1/images/?order={{order}}", headers=self.api_headers, name="/api/v1/images/")
'''


def sign_in(url: str, email: str) -> tuple[str, dict[str, str], str]:
    """Sign ``email`` in as a browser does (login page, form with its CSRF token) and through the API:
    (email, the session's cookies, an API token)."""
    import requests

    browser = requests.Session()
    form = browser.get(f"{url}/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = browser.post(f"{url}/login/", data={"username": email, "password": DEMO_PASSWORD,
                                                     "csrfmiddlewaretoken": token},
                             headers={"Referer": f"{url}/login/"}, allow_redirects=False, timeout=60)
    if signed_in.status_code != 302 or "/login/" in signed_in.headers.get("Location", ""):
        raise SystemExit(f"sign-in refused for {email}: {signed_in.status_code}")
    api = requests.post(f"{url}/api/v1/auth/token/", json={"email": email, "password": DEMO_PASSWORD}, timeout=60)
    api.raise_for_status()
    return email, browser.cookies.get_dict(), api.json()["token"]


def sign_in_all(url: str, users: int) -> list[tuple[str, dict[str, str], str]]:
    """One session and one token per simulated person, the six demo clients in turn, two at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        people = list(pool.map(partial(sign_in, url), itertools.islice(itertools.cycle(CLIENTS), users)))
    print(f"\n{users} people signed in (page and API, {2 * users} PBKDF2 checks) in "
          f"{time.perf_counter() - started:.1f} s, before the phases that use them")
    return people


def _phase(name: str, url: str, users: int, seconds: int, work: Path,
           signed_in: list[tuple[str, dict[str, str], str]] | None = None) -> list[dict[str, str]]:
    locustfile = work / f"locust_{name}.py"
    locustfile.write_text(LOCUSTFILE.format(phase=name, signed_in=signed_in or []))
    prefix = work / name
    subprocess.run([LOCUST, "-f", str(locustfile), "--headless", "-u", str(users), "-r", str(users),
                    "-t", f"{seconds}s", "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 120)
    with open(f"{prefix}_stats.csv") as fh:
        return list(csv.DictReader(fh))


def _print(name: str, rows: list[dict[str, str]]) -> dict[str, float]:
    print(f"\n{name}")
    print(f"  {'endpoint':<36} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    rates = {}
    for row in rows:
        rates[row["Name"]] = float(row["Requests/s"])
        print(f"  {row['Name']:<36} {float(row['Requests/s']):>8.1f} {row['50%']:>8} {row['95%']:>8} {row['99%']:>8} "
              f"{row['Failure Count']:>7}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/loupe_bench")
    args = parser.parse_args()
    global LOCUST
    LOCUST = str(BIN / "locust") if (BIN / "locust").exists() else (shutil.which("locust") or "")
    if not LOCUST:
        raise SystemExit("locust is not installed: .venv/bin/pip install -e '.[bench]'")
    fresh_database(args.database)
    var_dir = tempfile.mkdtemp(prefix="loupe-load-")
    env = production_env(args.database, var_dir)
    migrate_and_seed(env)
    web, url = start_gunicorn(env)
    try:
        work = Path(var_dir)
        print(f"gunicorn -w 2 on PostgreSQL, {args.users} users, demo data; loopback, this machine's 2 cores shared "
              "by gunicorn, PostgreSQL and locust")
        ceiling_rows = _phase("ceiling", url, args.users, 20, work)
        ceiling = _print("1. ceiling: /healthz/ alone, 20 s", ceiling_rows)
        signed_in = sign_in_all(url, args.users)
        orders_rows = _phase("orders", url, args.users, args.seconds, work, signed_in)
        orders = _print(f"2. a client's order list alone, {args.seconds} s", orders_rows)
        mix = _phase("mix", url, args.users, args.seconds, work, signed_in)
        _print(f"3. the mix, {args.seconds} s", mix)
        ratio = orders.get("/orders/", 0) / max(ceiling.get("/healthz/", 0), 1e-9)
        errors = sum(int(r["Failure Count"]) for r in mix if r["Name"] == "Aggregated")
        print(f"\norder list / ceiling = {ratio:.2f}x (goal >= 0.3); errors in the mix: {errors} (goal 0)")
    finally:
        stop(web)


if __name__ == "__main__":
    main()
