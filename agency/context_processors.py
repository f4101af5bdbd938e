from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from agency import brand
from agency.navigation import items_for
from agency.notifications import unread_count
from agency.permissions import is_client_user


def studio(request: HttpRequest) -> dict[str, Any]:
    """What the base layout needs: the studio's brand (``agency.brand``), the viewer's company and the navigation
    their role may use (each app declares its entries with their permission function)."""
    user = getattr(request, "user", None)
    client = None
    if is_client_user(user):
        membership = getattr(user, "membership", None)
        client = membership.client if membership else None
    unread = unread_count(user) if user is not None and user.is_authenticated else 0
    shown = brand.current()
    return {"studio_name": shown.name, "brand": shown, "nav_items": items_for(user), "viewer_client": client,
            "unread_notifications": unread}
