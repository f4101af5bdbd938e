"""Reads for prices and quotes, always through the tenant scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from billing.models import PriceList, Quote, QuoteLine
from clients.tenancy import client_id_of, scope


def price_list_list(user: Any) -> QuerySet[PriceList]:
    if user.is_client:
        # A client reads its own list, or the studio's default when it has none.
        own = client_id_of(user)
        qs = PriceList.objects.filter(Q(client_id=own) | Q(client__isnull=True))
        if qs.filter(client_id=own).exists():
            qs = qs.filter(client_id=own)
        return qs.prefetch_related("rules__service").select_related("client")
    return scope(PriceList.objects.all(), user).prefetch_related("rules__service").select_related("client")


def quote_queryset(user: Any) -> QuerySet[Quote]:
    return scope(Quote.objects.select_related("order__client"), user).prefetch_related("lines")


def latest_quote(user: Any, order: Any) -> Quote:
    return get_object_or_404(quote_queryset(user).filter(order=order).order_by("-created_at")[:1])


def quote_line_queryset(user: Any) -> QuerySet[QuoteLine]:
    return scope(QuoteLine.objects.select_related("quote__order"), user)
