"""Studio-wide settings read from the database once per process and kept a while (the business calendar, the
brand): an edit in this process drops the kept value at once, the other processes pick it up within ``seconds``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """``load()``'s answer, kept per process for ``seconds`` (thread-safe; a load runs outside the lock)."""

    def __init__(self, load: Callable[[], T], seconds: float) -> None:
        self._load, self.seconds = load, seconds
        self._value: T | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is not None and monotonic() - self._at < self.seconds:
                return self._value
        value = self._load()
        with self._lock:
            self._value, self._at = value, monotonic()
        return value

    def forget(self) -> None:
        with self._lock:
            self._value, self._at = None, 0.0
