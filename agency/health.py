"""Health and readiness: what a load balancer and a monitor ask.

``/readyz`` answers whether this process can serve requests (it reaches its database): cheap enough for
a load balancer to ask every few seconds. ``/healthz`` also asks the task broker and the file storage,
for a monitor that should page someone. Answers name the failing part, never a host, path or secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection

logger = logging.getLogger("loupe.health")


def database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def broker() -> None:
    """The django-q2 broker answers (Redis: PING; the ORM broker: its queue table)."""
    from django_q.brokers import get_broker

    queue = get_broker()
    if queue.ping() is False:
        raise ConnectionError("no answer")
    queue.queue_size()


def storage() -> None:
    from agency.uploads import get_backend

    get_backend().check()


CHECKS: dict[str, Callable[[], None]] = {"database": database, "broker": broker, "storage": storage}


def run(names: list[str]) -> tuple[bool, dict[str, dict[str, object]]]:
    """Run the named checks; each reports ``ok`` or ``failing`` with its time in milliseconds."""
    results: dict[str, dict[str, object]] = {}
    for name in names:
        started = time.perf_counter()
        try:
            CHECKS[name]()
            status = "ok"
        except Exception as exc:  # a health check reports every failure, whatever raised it
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            status = "failing"
        results[name] = {"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return all(r["status"] == "ok" for r in results.values()), results
