"""The main navigation, declared by each app (``apps.py``) with the permission function that shows it.

``agency`` imports nothing above it, so it cannot know which app offers which page or who may open
it; each app registers its entries at start-up and the context processor asks each entry's own
``permissions.py`` function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str
    allowed: Callable[[Any], bool]
    position: int


_ITEMS: dict[str, NavItem] = {}


def register(url_name: str, label: str, allowed: Callable[[Any], bool], *, position: int) -> None:
    _ITEMS[url_name] = NavItem(url_name, label, allowed, position)


def items_for(user: Any) -> list[tuple[str, str]]:
    if user is None or not user.is_authenticated:
        return []
    return [(item.url_name, item.label) for item in sorted(_ITEMS.values(), key=lambda i: i.position)
            if item.allowed(user)]
