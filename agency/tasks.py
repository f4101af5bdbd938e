"""Queueing background work (DESIGN.md §8): the one way Loupe hands a task to django-q2."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def enqueue(func: str, *args: Any, group: str) -> None:
    """Queue ``func`` (a dotted path) with id arguments now. Use ``enqueue_on_commit`` from inside a
    transaction; this is for code that runs outside one (sweepers, tasks)."""
    from django_q.tasks import async_task

    async_task(func, *args, group=group)


def enqueue_on_commit(func: str, *args: Any, group: str) -> None:
    """Queue ``func`` once the current transaction commits; a rolled-back transaction queues nothing
    (SECURITY.md T4). Arguments are ids, never objects: the task re-reads what it needs."""
    transaction.on_commit(lambda: enqueue(func, *args, group=group))


def forget_idempotency_keys() -> None:
    """Periodic: drop the kept answers of Idempotency-Keys older than the window."""
    from agency.idempotency import forget_expired

    forget_expired()


def queue_probe(sent_at: float) -> float:
    """Seconds between queueing and the start of this task: the broker's pickup latency (measured by
    ``bench/queue_latency.py``; also a quick check that workers are taking tasks)."""
    import time

    return time.time() - sent_at


def delete_brand_file(key: str) -> bool:
    """A replaced or removed logo of the studio's brand leaves storage (after the change committed)."""
    from django.core.files.storage import default_storage

    if key.startswith("brand/") and default_storage.exists(key):
        default_storage.delete(key)
        return True
    return False
