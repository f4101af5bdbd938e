"""Load benchmark (issue 10): gunicorn (2 workers, production settings) on PostgreSQL with the demo data,
driven by locust in headless mode from this machine's loopback.

Three phases, 50 simulated users each, figures printed per phase and endpoint (requests/s, p50, p95,
p99, errors):
1. the ceiling: ``/healthz/`` alone (database, broker and storage checks, no page rendering);
2. a client's order list alone (``/orders/``) for ``--seconds``, for the goal: at least 0.3x the ceiling's
   requests/s (each simulated person signs in first: 50 PBKDF2 checks are part of the run);
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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, DEMO_PASSWORD, fresh_database, migrate_and_seed, production_env, start_gunicorn, stop  # noqa: E402

LOCUST = ""
CLIENTS = ["camille@aurelia.test", "louis@aurelia.test", "ava@northwind.test", "noah@northwind.test",
           "olivia@rosewood.test", "harry@rosewood.test"]

LOCUSTFILE = '''
import itertools, random, re
from locust import HttpUser, between, task

PEOPLE = itertools.cycle({people!r})
PASSWORD = {password!r}
PHASE = {phase!r}


class Person(HttpUser):
    wait_time = between(0.05, 0.25)

    def on_start(self):
        if PHASE == "ceiling":
            return
        email = next(PEOPLE)
        form = self.client.get("/login/", name="login page")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        with self.client.post("/login/", data={{"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token}},
                              headers={{"Referer": self.host + "/login/"}}, name="login", allow_redirects=False,
                              catch_response=True) as signed_in:
            if signed_in.status_code != 302 or "/login/" in signed_in.headers.get("Location", ""):
                signed_in.failure(f"sign-in refused: {{signed_in.status_code}}")
        api = self.client.post("/api/v1/auth/token/", json={{"email": email, "password": PASSWORD}}, name="api token")
        self.api_headers = {{"Authorization": "Token " + api.json()["token"]}}
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


def _phase(name: str, url: str, users: int, seconds: int, work: Path) -> list[dict[str, str]]:
    locustfile = work / f"locust_{name}.py"
    locustfile.write_text(LOCUSTFILE.format(people=CLIENTS, password=DEMO_PASSWORD, phase=name))
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
        if row["Name"] in ("login page", "login", "api token"):
            continue
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
        orders_rows = _phase("orders", url, args.users, args.seconds, work)
        orders = _print(f"2. a client's order list alone, {args.seconds} s (50 sign-ins with PBKDF2 first)", orders_rows)
        mix = _phase("mix", url, args.users, args.seconds, work)
        _print(f"3. the mix, {args.seconds} s", mix)
        ratio = orders.get("/orders/", 0) / max(ceiling.get("/healthz/", 0), 1e-9)
        errors = sum(int(r["Failure Count"]) for r in mix if r["Name"] == "Aggregated")
        for rows in (ceiling_rows, orders_rows, mix):
            for row in rows:
                if row["Name"] in ("login page", "login", "api token") and int(row["Failure Count"]):
                    print(f"  ! {row['Name']}: {row['Failure Count']} failures (see {work}/*_failures.csv)")
        print(f"\norder list / ceiling = {ratio:.2f}x (goal >= 0.3); errors in the mix: {errors} (goal 0)")
    finally:
        stop(web)


if __name__ == "__main__":
    main()
