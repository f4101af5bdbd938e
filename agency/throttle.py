"""Counting events per key in a time window (Django's cache: per process by default, Redis when
``REDIS_URL`` is set). For abuse limits such as password-reset mails, not as a security boundary."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def _name(scope: str, key: str) -> str:
    return f"throttle:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def hit(scope: str, key: str, *, window_seconds: int) -> int:
    """Count one event for ``key``; returns how many happened in the window so far."""
    name = _name(scope, key)
    cache.add(name, 0, window_seconds)
    try:
        return cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, window_seconds)
        return 1


def seen(scope: str, key: str) -> int:
    """How many events ``key`` had in its current window (without counting one)."""
    return cache.get(_name(scope, key), 0)


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one event for ``key``; True while at most ``limit`` happened in the window."""
    return hit(scope, key, window_seconds=window_seconds) <= limit


class PerAddress:
    """A DRF throttle for anonymous endpoints (the storefront's): at most ``limit`` requests per network
    address in ``window_seconds``, counted per ``scope``. Subclass and set the three."""

    scope = "public"
    limit = 60
    window_seconds = 60

    def allow_request(self, request: object, view: object) -> bool:
        from agency.auth import client_ip

        return allow(self.scope, client_ip(request), limit=self.limit, window_seconds=self.window_seconds)  # type: ignore[arg-type]

    def wait(self) -> float:
        return float(self.window_seconds)
