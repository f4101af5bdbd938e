from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from agency.models import ALL_ORDERS_ROLES, MANAGER_ROLES, Role


def studio(request: HttpRequest) -> dict[str, Any]:
    """What the base layout needs: the studio's name and the navigation for the user's role."""
    user = getattr(request, "user", None)
    nav: list[tuple[str, str]] = []
    client = None
    if user is not None and user.is_authenticated:
        if user.role in ALL_ORDERS_ROLES:
            nav.append(("jobs:dashboard", "Dashboard"))
        nav.append(("jobs:order_list", "Orders"))
        if user.role in MANAGER_ROLES:
            nav.append(("jobs:workload", "Workload"))
        if user.is_client or user.role in MANAGER_ROLES:
            nav.append(("clients:style_guide_list", "Style guides"))
        if user.role in MANAGER_ROLES | {Role.FINANCE}:
            nav.append(("clients:client_list", "Clients"))
            nav.append(("billing:price_list_list", "Price lists"))
        if user.role in ALL_ORDERS_ROLES:
            nav.append(("jobs:on_time_report", "Reports"))
        if user.is_client:
            membership = getattr(user, "membership", None)
            client = membership.client if membership else None
    return {
        "studio_name": settings.LOUPE_STUDIO_NAME,
        "nav_items": nav,
        "viewer_client": client,
        "sees_all_orders": bool(user and user.is_authenticated and user.role in ALL_ORDERS_ROLES),
    }
