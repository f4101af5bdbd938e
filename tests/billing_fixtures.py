"""Shared set-up for pricing, quoting and scheduling tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agency.models import Role, StaffProfile
from billing.models import PriceList, PriceRule
from jobs.models import ImageStatus, Order, OrderImage, OrderStatus, Service
from tests.factories import UserFactory

PRICES = {"simple": Decimal("2.00"), "standard": Decimal("3.50"), "complex": Decimal("6.25")}


def default_price_list(**overrides: Any) -> PriceList:
    price_list = PriceList.objects.create(
        name="Studio prices", currency="EUR", minimum_order=Decimal("25.00"),
        volume_tiers=[{"min_images": 50, "percent": "10"}, {"min_images": 200, "percent": "15"}], **overrides)
    PriceRule.objects.bulk_create([PriceRule(price_list=price_list, service=s, complexity=c, unit_price=p)
                                   for s in Service.objects.all() for c, p in PRICES.items()])
    return price_list


def add_images(order: Order, counts: dict[str, int], status: str = ImageStatus.RECEIVED) -> list[OrderImage]:
    images = []
    position = order.images.count()
    for complexity, count in counts.items():
        for _ in range(count):
            position += 1
            images.append(OrderImage(order=order, filename=f"IMG_{position:04d}.jpg", status=status,
                                     complexity=complexity, position=position, width=4000, height=3000))
    return OrderImage.objects.bulk_create(images)


def submitted_order(order: Order, counts: dict[str, int]) -> Order:
    add_images(order, counts)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SUBMITTED)
    order.refresh_from_db()
    return order


def retoucher(name: str, codes: list[str], capacity: int = 420, days: list[int] | None = None) -> Any:
    user = UserFactory(role=Role.RETOUCHER, full_name=name)
    StaffProfile.objects.create(user=user, daily_capacity_minutes=capacity, working_days=days or [0, 1, 2, 3, 4])
    for service in Service.objects.filter(code__in=codes):
        service.skilled_staff.add(user)
    return user
