"""Scheduling benchmark (issue: quotes and scheduling). Prints median time and query count for:

- due dates of 10,000 open orders (``add_business_hours`` for each) beside a plain query fetching them,
- a schedule proposal for 1,000 images over 20 retouchers (pure ``scheduling.propose``),
- the SLA sweep over 10,000 open orders (``sla.sla_sweep``) beside the plain fetch of the same rows,

on a throw-away SQLite database (or ``DATABASE_URL``), all measured in the same run.

    .venv/bin/python bench/schedule.py [--orders 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    scratch = tempfile.mkdtemp(prefix="loupe-bench-")
    os.environ.setdefault("LOUPE_VAR_DIR", scratch)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOUPE_TASKS_SYNC", "1")
    os.environ.setdefault("EMAIL_URL", "locmem://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "agency.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn, runs: int) -> tuple[float, int]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in range(runs):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def build(orders: int) -> None:
    import random
    import uuid

    from django.utils import timezone

    from agency.calendar import studio_calendar
    from agency.models import Role, StaffProfile, User
    from clients.models import Client, StyleGuide
    from jobs.models import Assignment, ImageStatus, Order, OrderImage, OrderStatus, Service
    from jobs.production import sla

    rng = random.Random(1)
    client = Client.objects.create(name="Bench")
    guide = StyleGuide.objects.create(client=client, name="G", output_formats=["JPEG"])
    services = list(Service.objects.all())
    people = []
    for n in range(20):
        user = User.objects.create(email=f"r{n}@bench.test", full_name=f"R{n}", role=Role.RETOUCHER)
        StaffProfile.objects.create(user=user, daily_capacity_minutes=rng.choice([240, 360, 480]))
        for service in rng.sample(services, 6):
            service.skilled_staff.add(user)
        people.append(user)
    calendar, now = studio_calendar(), timezone.now()
    order_rows, image_rows, assignments = [], [], []
    for n in range(orders):
        order = Order(id=uuid.uuid4(), number=f"LP-2026-{n:05d}", client=client, style_guide=guide, title=f"O{n}",
                      status=OrderStatus.IN_PRODUCTION, turnaround=rng.choice(["standard", "express", "rush"]))
        sla.start(order, now=now - timezone.timedelta(hours=rng.randint(0, 40)), calendar=calendar)
        order_rows.append(order)
        for k in range(2):
            image = OrderImage(id=uuid.uuid4(), order=order, filename=f"{n}-{k}.jpg", position=k,
                               status=ImageStatus.ASSIGNED, complexity=rng.choice(["simple", "standard", "complex"]))
            image_rows.append(image)
            assignments.append(Assignment(image=image, retoucher=rng.choice(people), minutes=rng.randint(10, 40)))
    Order.objects.bulk_create(order_rows, batch_size=1000)
    Order.services.through.objects.bulk_create(
        [Order.services.through(order_id=o.pk, service_id=services[0].pk) for o in order_rows], batch_size=2000)
    OrderImage.objects.bulk_create(image_rows, batch_size=2000)
    Assignment.objects.bulk_create(assignments, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from datetime import date

    from django.db import connection
    from django.utils import timezone

    from agency.calendar import add_business_hours, studio_calendar
    from jobs.models import Order
    from jobs.production import scheduling, sla

    started = time.perf_counter()
    build(args.orders)
    print(f"database: {connection.vendor}; {args.orders} open orders with 2 assigned images each, 20 retouchers; "
          f"built in {time.perf_counter() - started:.1f} s\n")

    def plain_fetch() -> None:
        list(Order.objects.filter(status__in=["in_production", "revision"]).values(
            "pk", "turnaround", "sla_running_since", "due_at", "sla_state"))

    from jobs.models import Assignment

    def plain_fetch_sweep_rows() -> None:
        """The rows the sweep reads: the open orders and their open assignments, fetched plainly."""
        plain_fetch()
        list(Assignment.objects.filter(active=True, image__order__status__in=["in_production", "revision"])
             .values_list("retoucher_id", "image__order_id", "image__position", "minutes"))

    calendar = studio_calendar()

    def due_dates() -> None:
        for row in Order.objects.filter(status__in=["in_production", "revision"]).values("turnaround", "sla_running_since"):
            add_business_hours(row["sla_running_since"], 48, calendar)

    import random

    rng = random.Random(2)
    pool_spec = [(n, frozenset(rng.sample(range(10), 6)), rng.choice([240, 360, 480])) for n in range(20)]
    jobs = [scheduling.Job(i, rng.randint(10, 60), frozenset(rng.sample(range(10), 2))) for i in range(1000)]

    def proposal() -> None:
        pool = [scheduling.Retoucher(id=n, name=str(n), skills=s, capacity=c, working_days=frozenset(range(5)))
                for n, s, c in pool_spec]
        scheduling.propose(jobs, pool, start=date(2026, 11, 30), calendar=calendar)

    def sweep() -> None:
        sla.sla_sweep(now=timezone.now(), calendar=calendar)

    results = {}
    for name, fn in [("plain fetch", plain_fetch), ("due dates", due_dates), ("proposal 1000x20", proposal),
                     ("plain fetch (sweep rows)", plain_fetch_sweep_rows), ("SLA sweep", sweep)]:
        results[name] = timed(fn, args.runs)
    print(f"{'measure':<26} {'median s':>9} {'queries':>8}")
    for name, (seconds, queries) in results.items():
        print(f"{name:<26} {seconds:>9.3f} {queries:>8}")
    base = results["plain fetch"][0]
    print(f"\ndue dates / plain fetch = {results['due dates'][0] / base:.1f}x")
    rows = results["plain fetch (sweep rows)"][0]
    print(f"SLA sweep / plain fetch of the rows it reads = {results['SLA sweep'][0] / rows:.1f}x (goal <= 3x); "
          f"/ plain fetch of the orders alone = {results['SLA sweep'][0] / base:.1f}x; "
          f"{results['SLA sweep'][1]} queries (constant: see tests/jobs/test_scheduling.py)")
    print(f"proposal for 1,000 images over 20 retouchers: {results['proposal 1000x20'][0]:.2f} s (goal < 2 s)")


if __name__ == "__main__":
    main()
