"""Counting events per key in a time window (Django's cache: per process by default, Redis when
``REDIS_URL`` is set). For abuse limits such as password-reset mails, not as a security boundary."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one event for ``key``; True while at most ``limit`` happened in the window."""
    name = f"throttle:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    cache.add(name, 0, window_seconds)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, window_seconds)
        count = 1
    return count <= limit
