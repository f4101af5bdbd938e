"""Reads for orders, images and events. Each starts from ``clients.tenancy.scope``."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from clients.tenancy import scope
from jobs.models import Delivery, Event, Order, OrderImage, Service


def service_list(*, active_only: bool = True) -> QuerySet[Service]:
    """The catalog is the same for everyone; it holds no client data."""
    qs = Service.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def order_list(user: Any, *, status: str | None = None, client: Any = None, search: str = "") -> QuerySet[Order]:
    qs = (
        scope(Order.objects.all(), user)
        .select_related("client", "style_guide")
        .annotate(image_count=Count("images", distinct=True))
    )
    if status:
        qs = qs.filter(status=status)
    if client:
        qs = qs.filter(client=client)
    if search:
        qs = qs.filter(Q(number__icontains=search) | Q(title__icontains=search) | Q(po_number__icontains=search))
    return qs.order_by("-created_at")


def order_get(user: Any, pk: Any) -> Order:
    qs = (
        scope(Order.objects.all(), user)
        .select_related("client", "style_guide", "created_by")
        .prefetch_related("services")
        .annotate(image_count=Count("images", distinct=True))
    )
    return get_object_or_404(qs, pk=pk)


def image_list(user: Any, order: Order) -> QuerySet[OrderImage]:
    return scope(OrderImage.objects.filter(order=order), user).order_by("position", "created_at")


def image_queryset(user: Any) -> QuerySet[OrderImage]:
    return scope(OrderImage.objects.select_related("order__client", "order__style_guide"), user)


def image_get(user: Any, pk: Any) -> OrderImage:
    return get_object_or_404(scope(OrderImage.objects.select_related("order"), user), pk=pk)


def event_list(user: Any, order: Order) -> QuerySet[Event]:
    return scope(Event.objects.filter(order=order), user).select_related("actor").order_by("created_at")


def delivery_queryset(user: Any) -> QuerySet[Delivery]:
    return scope(Delivery.objects.select_related("order"), user)


def delivery_list(user: Any, order: Order) -> QuerySet[Delivery]:
    return delivery_queryset(user).filter(order=order).order_by("-number")


def on_time_by_client_month(user: Any) -> list[dict[str, Any]]:
    """Delivered orders per client and month (studio time), and the share delivered by the due date."""
    from django.db.models import F
    from django.db.models.functions import TruncMonth

    rows = (scope(Order.objects.filter(delivered_at__isnull=False, due_at__isnull=False), user)
            .annotate(month=TruncMonth("delivered_at")).values("client__name", "month")
            .annotate(delivered=Count("id"), on_time=Count("id", filter=Q(delivered_at__lte=F("due_at"))))
            .order_by("-month", "client__name"))
    return [{**row, "percent": round(100 * row["on_time"] / row["delivered"], 1)} for row in rows]
