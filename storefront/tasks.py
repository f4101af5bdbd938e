"""django-q2 tasks of the storefront. Take ids, re-read state, safe to run twice (each notice is a unique
row per person and source)."""

from __future__ import annotations

from django.urls import reverse

from agency.notifications import notify
from jobs.models import Order, OrderStatus
from jobs.notifications import client_users
from storefront.models import Rating


def ask_for_rating(order_id: str) -> int:
    """Ask the company's admins how the finished order went; returns the number of mails sent."""
    order = Order.objects.select_related("client").filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.COMPLETED or Rating.objects.filter(order=order).exists():
        return 0
    return notify(client_users(order, admins_only=True), kind="rating_request", source=f"rating-ask:{order.pk}",
                  title=f"{order.number}: how did we do? Rate the finished order",
                  body=f"{order.number} ({order.title}) is complete. One to five stars and a line on what went well "
                       "or not help the studio; a comment is published only if you say so.",
                  url=reverse("storefront:order_rating", args=[order.pk]))

