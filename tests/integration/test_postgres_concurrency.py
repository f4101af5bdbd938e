"""Races on PostgreSQL with real threads and transactions (SECURITY.md §1.5: select_for_update is a
no-op on SQLite and TestCase hides missing transactions, so these use transactional_db)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from agency.exceptions import InvalidTransition
from agency.models import Role
from jobs import workflow
from jobs.models import Event, Order, OrderStatus, Service
from jobs.services import order_create
from tests.factories import (
    ClientFactory,
    StyleGuideFactory,
    UserFactory,
    client_user,
    ensure_service_catalog,
    make_order,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-lock races need PostgreSQL: run with DATABASE_URL=postgres://… (CI does)")
    ensure_service_catalog()


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_orders_created_at_once_get_distinct_consecutive_numbers():
    client = ClientFactory()
    guide = StyleGuideFactory(client=client)
    user = client_user(client, Role.CLIENT_MEMBER)
    services = list(Service.objects.filter(code="colour-correction"))

    def create(i: int) -> str:
        return order_create(client=client, created_by=user, title=f"Race {i}", style_guide=guide,
                            services=services, turnaround="standard").number

    numbers = _race(8, create)
    assert all(isinstance(n, str) for n in numbers), numbers
    assert len(set(numbers)) == 8
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert sequence == list(range(sequence[0], sequence[0] + 8))


def test_two_people_submitting_at_once_exactly_one_wins():
    client = ClientFactory()
    order = make_order(client, by=UserFactory(role=Role.ACCOUNT_MANAGER))
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    results = _race(6, lambda i: workflow.order_submit(order_id=order.pk, by=manager))
    winners = [r for r in results if isinstance(r, Order)]
    losers = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 5, results
    assert Event.objects.filter(order=order, verb="order.submitted").count() == 1


def test_cancel_racing_hold_leaves_one_consistent_outcome():
    client = ClientFactory()
    order = make_order(client, status=OrderStatus.SUBMITTED)
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    actions = [lambda: workflow.order_cancel(order_id=order.pk, by=manager),
               lambda: workflow.order_hold(order_id=order.pk, by=manager)] * 3
    results = _race(6, lambda i: actions[i]())
    order.refresh_from_db()
    events = list(Event.objects.filter(order=order).exclude(verb="order.created").values_list("verb", flat=True))
    # Whatever the interleaving, every recorded event is a legal step from the state before it.
    assert order.status in {OrderStatus.CANCELLED, OrderStatus.ON_HOLD}
    assert all(isinstance(r, (Order, InvalidTransition)) for r in results), results
    assert len(events) == sum(isinstance(r, Order) for r in results)


def test_two_managers_assigning_the_same_image_exactly_one_wins():
    from jobs import planning
    from jobs.models import Assignment, ImageStatus
    from tests.factories import add_images, retoucher

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    [image] = add_images(order, {"standard": 1})
    people = [retoucher(f"R{i}", ["colour-correction"]) for i in range(2)]
    managers = [UserFactory(role=Role.ACCOUNT_MANAGER) for _ in range(6)]
    results = _race(6, lambda i: planning.image_assign(image=image, retoucher=people[i % 2], by=managers[i]))
    winners = [r for r in results if isinstance(r, Assignment)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (Assignment, InvalidTransition)) for r in results), results
    assert Assignment.objects.filter(image=image).count() == 1
    image.refresh_from_db()
    assert image.status == ImageStatus.ASSIGNED


def test_ten_clicks_on_build_delivery_make_one_build(monkeypatch):
    from django.core.files.base import ContentFile

    from jobs import deliveries
    from jobs.models import Delivery, ImageStatus, OrderImage, Version

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    image = OrderImage.objects.create(order=order, filename="ring.png", status=ImageStatus.READY)
    version = Version(image=image, number=1, approved=True)
    version.file.save("v1.png", ContentFile(b"not rendered in this test"), save=True)
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    monkeypatch.setattr("agency.tasks.enqueue", lambda *args, **kwargs: None)  # the build stays "building"
    results = _race(10, lambda i: deliveries.delivery_create(order=order, by=manager))
    made = [r for r in results if isinstance(r, Delivery)]
    assert len(made) == 1, results
    assert all(isinstance(r, (Delivery, InvalidTransition)) for r in results), results
    assert Delivery.objects.filter(order=order).count() == 1
