"""Scale benchmark (issue 24): every list page and API list, the order and review pages, the dashboard, the
reports, search, the SLA sweep and a year's export, measured on the demo studio and on a large one in the same
run, on PostgreSQL.

Two databases of its own: ``<prefix>_demo`` (migrate + seed_demo) and ``<prefix>_large`` (the same, then
``seed_scale --images N``: the seeding time is printed against its goal, one million pictures in under 15
minutes). Each is then measured in a process of its own, with production settings (DEBUG off), in-process
requests (Django's test client: the server's whole path from middleware to rendered body, no network) by the
person who would ask: the account manager for the studio's lists, the largest company's admin for a client's,
the busiest retoucher for the work queue, QC, finance. For each request: p50 and p95 of ``--runs`` after two
warm-up requests, and the queries it ran. The order and review pages are measured on an order of the same size
in both studios (the large studio's nearest to the demo's), so that the ratio is the database's size only.

Goals, printed beside each figure:
- the growth ratio, p95 on the large studio over p95 on the demo, at most 2x for every page and list;
- the same number of queries per request on both (constant whatever the row count);
- the reports (on-time, quality, aging) under 500 ms at p95 on the large studio;
- the SLA sweep of 100,000 open orders (made open inside a transaction that is rolled back) well inside its
  10-minute schedule (goal: under a tenth of it).

    .venv/bin/python bench/scale.py [--images 1000000] [--runs 15] [--reuse]
        [--prefix postgres://postgres@127.0.0.1:5432/loupe_scale]

``--reuse`` keeps both databases when they exist (seeding a million pictures takes minutes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, migrate_and_seed, production_env  # noqa: E402

SEED_GOAL_S = 15 * 60  # one million pictures
GROWTH_GOAL = 2.0
REPORT_GOAL_MS = 500
SWEEP_ORDERS = 100_000
SWEEP_GOAL_S = 60  # a tenth of its 10-minute schedule


# The measured requests: (name, who, path). ``{order}`` and ``{client}`` are filled in per studio.
def requests_to_measure(statuses: list[str]) -> list[tuple[str, str, str]]:
    pages = [("orders", "manager", "/orders/"), ("orders: mine", "manager", "/orders/?mine=on"),
             ("orders: one company", "manager", "/orders/?client={client}"),
             ("orders: search", "manager", "/orders/?q=Solitaire"),
             ("orders: search SKU", "manager", "/orders/?q=SKU-4242"),
             *[(f"orders: {status}", "manager", f"/orders/?status={status}") for status in statuses],
             ("orders (client)", "client", "/orders/"), ("orders: search (client)", "client", "/orders/?q=Solitaire"),
             ("order page (client)", "order client", "/orders/{order}/"),
             ("order page", "manager", "/orders/{order}/"),
             ("order images (client)", "order client", "/orders/{order}/images/"),
             ("review page (client)", "order client", "/orders/{order}/review/"),
             ("work queue", "retoucher", "/work/"), ("QC queue", "qc", "/qc/"), ("workload", "manager", "/workload/"),
             ("dashboard", "manager", "/dashboard/"), ("report: on time", "manager", "/reports/on-time/"),
             ("report: quality", "manager", "/reports/quality/"), ("report: aging", "finance", "/invoices/aging/"),
             ("invoices", "finance", "/invoices/"), ("invoices (client)", "client", "/invoices/"),
             ("notifications", "manager", "/notifications/")]
    api = [("API orders", "manager", "/api/v1/orders/"), ("API orders: mine", "manager", "/api/v1/orders/?mine=true"),
           ("API orders: search", "manager", "/api/v1/orders/?search=Solitaire"),
           *[(f"API orders: {status}", "manager", f"/api/v1/orders/?status={status}") for status in statuses],
           ("API orders (client)", "client", "/api/v1/orders/"), ("API images", "manager", "/api/v1/images/"),
           ("API images (client)", "client", "/api/v1/images/"), ("API versions", "manager", "/api/v1/versions/"),
           ("API invoices", "finance", "/api/v1/invoices/"), ("API invoices (client)", "client", "/api/v1/invoices/"),
           ("API events of an order", "order client", "/api/v1/orders/{order}/events/"),
           ("API notifications", "manager", "/api/v1/notifications/"),
           ("API order (client)", "order client", "/api/v1/orders/{order}/")]
    return pages + api


REPORTS = {"report: on time", "report: quality", "report: aging"}


# The measuring process --------------------------------------------------------------------------------

def measure(database: str, runs: int, like: int | None) -> dict:
    os.environ.update(production_env(database, tempfile.mkdtemp(prefix="loupe-scale-")))
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test import Client as Browser
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from agency.models import Role, User
    from clients.models import Client
    from jobs.models import Assignment, Order, OrderStatus
    from jobs.tasks import tally_quality

    started = time.perf_counter()
    tallied = tally_quality()  # what the nightly task has done by the time anyone reads the report
    tally = {"seconds": time.perf_counter() - started, "rows": tallied}
    company = Client.objects.annotate(n=Count("orders")).order_by("-n").first()
    people = {
        "manager": User.objects.get(email="maria.manager@loupe.test"),
        "client": company.memberships.filter(user__role=Role.CLIENT_ADMIN).select_related("user").first().user,
        "retoucher": User.objects.get(pk=Assignment.objects.filter(active=True).values("retoucher")
                                      .annotate(n=Count("id")).order_by("-n").values("retoucher")[:1]),
        "qc": User.objects.get(email="quinn.qc@loupe.test"),
        "finance": User.objects.get(email="fiona.finance@loupe.test"),
    }
    # The order pages: a delivered order (the largest company's when it has one), of the demo's size in both.
    delivered = list(Order.objects.filter(status=OrderStatus.DELIVERED).annotate(n=Count("images"))
                     .order_by("-n").select_related("client"))
    if like is not None:
        delivered.sort(key=lambda order: (abs(order.n - like), order.client_id != company.pk))
    else:
        delivered.sort(key=lambda order: order.client_id != company.pk)
    order = delivered[0]
    people["order client"] = (order.client.memberships.filter(user__role=Role.CLIENT_ADMIN).select_related("user")
                              .first().user)
    counts = {"orders": Order.objects.count(), "pictures": Order.objects.aggregate(n=Count("images"))["n"]}
    browsers = {}
    for role, user in people.items():
        browsers[role] = Browser(HTTP_HOST="127.0.0.1")
        browsers[role].force_login(user)
    results = {}
    for name, role, path in requests_to_measure([s for s in OrderStatus.values]):
        url = path.format(order=order.pk, client=company.pk)
        browser, times, queries, status = browsers[role], [], 0, 0
        for run in range(runs + 2):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = browser.get(url)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                elapsed = time.perf_counter() - started
            status, queries = response.status_code, len(captured)
            if run >= 2:
                times.append(elapsed * 1000)
        del body
        times.sort()
        results[name] = {"p50": statistics.median(times), "p95": times[max(0, round(len(times) * 0.95) - 1)],
                         "queries": queries, "status": status}
    # A year's export, as finance streams it (lines CSV): the last 365 days.
    today = timezone.localdate()
    browser = browsers["finance"]
    started = time.perf_counter()
    response = browser.get(f"/api/v1/exports/invoices/?format=csv&from={today - datetime.timedelta(days=364)}"
                           f"&to={today}")
    size = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
    export = {"seconds": time.perf_counter() - started, "bytes": size, "status": response.status_code}
    return {"counts": counts, "order_pictures": order.n, "results": results, "export": export, "tally": tally}


def sweep(database: str) -> dict:
    """The SLA sweep over 100,000 open orders (or all there are), made open with their pictures' work assigned
    inside a transaction that is rolled back; the planner's statistics are refreshed first, as autovacuum would
    have done for a studio really that busy."""
    os.environ.update(production_env(database, tempfile.mkdtemp(prefix="loupe-scale-")))
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from jobs.models import Assignment, ImageStatus, Order, OrderImage, OrderStatus
    from jobs.production.sla import sla_sweep

    with transaction.atomic():
        now = timezone.now()
        ids = list(Order.objects.order_by("-created_at").values_list("pk", flat=True)[:SWEEP_ORDERS])
        Order.objects.filter(pk__in=ids).update(status=OrderStatus.IN_PRODUCTION, sla_running_since=now,
                                                due_at=now + datetime.timedelta(days=3), sla_state="on_track")
        Assignment.objects.filter(image__order__in=ids).update(active=True)
        OrderImage.objects.filter(order__in=ids, assignments__isnull=False).update(status=ImageStatus.ASSIGNED)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_order, jobs_orderimage, jobs_assignment")
        started = time.perf_counter()
        outcome = sla_sweep(now=now)
        result = {"seconds": time.perf_counter() - started, "orders": len(ids), "counts": outcome}
        transaction.set_rollback(True)
    return result


# The driver ----------------------------------------------------------------------------------------------

def child(database: str, runs: int, like: int | None, mode: str = "--measure") -> dict:
    argv = [sys.executable, __file__, mode, database, "--runs", str(runs)]
    if like is not None:
        argv += ["--like", str(like)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"measuring {database} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compact(database: str) -> None:
    """VACUUM FULL and ANALYZE: a database as autovacuum keeps a live one, not one a rolled-back sweep (a million
    rows written and undone) or the facts' first count left full of dead rows for the next run to scan."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        # Loupe's own tables only: a database-wide VACUUM FULL also rewrites the cluster's shared catalogs, and
        # while it waits for their lock no new connection to any database of the server can sign in.
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        conn.execute("VACUUM (FULL, ANALYZE) " + ", ".join(f'"{name}"' for name in tables))


def exists(database: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(database) as conn:
            return conn.execute("SELECT count(*) FROM jobs_order").fetchone()[0] > 0
    except psycopg.Error:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--prefix", default="postgres://postgres@127.0.0.1:5432/loupe_scale")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--like", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sweep", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs, args.like)))
        return
    if args.sweep:
        print(json.dumps(sweep(args.sweep)))
        return
    demo_db, large_db = f"{args.prefix}_demo", f"{args.prefix}_large"
    for database, large in ((demo_db, False), (large_db, True)):
        if args.reuse and exists(database):
            print(f"reusing {database.rsplit('/', 1)[1]}")
            env = production_env(database, tempfile.mkdtemp(prefix="loupe-scale-"))
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            compact(database)
            continue
        fresh_database(database)
        env = production_env(database, tempfile.mkdtemp(prefix="loupe-scale-"))
        migrate_and_seed(env)
        if large:
            started = time.monotonic()
            subprocess.run([sys.executable, "manage.py", "seed_scale", "--images", str(args.images)], cwd=ROOT,
                           env=env, check=True)
            seconds = time.monotonic() - started
            goal = SEED_GOAL_S * args.images / 1_000_000
            print(f"seed_scale --images {args.images:,}: {seconds:.0f} s (goal: under {goal:.0f} s, "
                  f"15 min a million) {'ok' if seconds <= goal else 'MISSED'}", flush=True)
        compact(database)
    demo = child(demo_db, args.runs, None)
    large = child(large_db, args.runs, demo["order_pictures"])
    print(f"\ndemo: {demo['counts']['orders']:,} orders, {demo['counts']['pictures']:,} pictures; "
          f"large: {large['counts']['orders']:,} orders, {large['counts']['pictures']:,} pictures; "
          f"order pages on orders of {demo['order_pictures']} and {large['order_pictures']} pictures; "
          f"p50/p95 of {args.runs} requests")
    print(f"{'request':<34}{'demo p50':>9}{'p95':>8}{'q':>4}{'large p50':>11}{'p95':>8}{'q':>4}{'growth':>8}  goals")
    missed = []
    for name, small in demo["results"].items():
        big = large["results"][name]
        growth = big["p95"] / small["p95"] if small["p95"] else float("inf")
        notes = []
        if growth > GROWTH_GOAL:
            notes.append(f"growth > {GROWTH_GOAL:g}x")
        if big["queries"] != small["queries"]:
            notes.append(f"queries {small['queries']} → {big['queries']}")
        if name in REPORTS and big["p95"] > REPORT_GOAL_MS:
            notes.append(f"report > {REPORT_GOAL_MS} ms")
        if big["status"] != 200 or small["status"] != 200:
            notes.append(f"HTTP {small['status']}/{big['status']}")
        missed += [f"{name}: {note}" for note in notes]
        print(f"{name:<34}{small['p50']:>8.1f}{small['p95']:>8.1f}{small['queries']:>4}{big['p50']:>10.1f}"
              f"{big['p95']:>8.1f}{big['queries']:>4}{growth:>7.2f}x  {'ok' if not notes else '; '.join(notes)}",
              flush=True)
    for label, figures in (("demo", demo), ("large", large)):
        export, tally = figures["export"], figures["tally"]
        print(f"{label}: a year's export (lines CSV) {export['seconds']:.2f} s, {export['bytes'] / 2**20:.1f} MiB "
              f"(HTTP {export['status']}); the quality report's nightly tally {tally['seconds']:.1f} s "
              f"({tally['rows']:,} rows)", flush=True)
    for label, database in (("demo", demo_db), ("large", large_db)):
        swept = child(database, args.runs, None, "--sweep")
        compact(database)
        print(f"{label}: SLA sweep of {swept['orders']:,} open orders {swept['seconds']:.1f} s (goal: under "
              f"{SWEEP_GOAL_S} s, a tenth of its schedule) {swept['counts']}", flush=True)
        if swept["seconds"] > SWEEP_GOAL_S:
            missed.append(f"SLA sweep on the {label} studio: {swept['seconds']:.0f} s")
    print(f"\n{len(missed)} goal(s) missed" + (":\n  " + "\n  ".join(missed) if missed else ""))


if __name__ == "__main__":
    main()
