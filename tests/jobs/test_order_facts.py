"""An order's stored facts (jobs/facts.py) stay equal to what its pictures and rounds say, whatever writes them:
the state tables' moves and claims, bulk creates and updates, deletes, rounds awaiting a client admin, on SQLite and
PostgreSQL; a stale order instance saved later never writes its old counts back; ``refresh`` repairs them."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from jobs import facts
from jobs.models import NOT_ACCEPTED, ORDER_FACTS, ImageStatus, Order, OrderImage, OrderStatus, RevisionRound, RoundStatus
from jobs.workflow import IMAGES
from tests.conftest import require_postgres
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
IM = ImageStatus


def counted(order: Order) -> dict[str, int]:
    """The oracle: the facts counted from the rows in Python, independently of the triggers' SQL."""
    pictures = list(OrderImage.objects.filter(order=order).values_list("status", "in_pilot"))
    rounds = list(RevisionRound.objects.filter(order=order).values_list("status", flat=True))
    return {
        "image_count": sum(status not in NOT_ACCEPTED for status, _ in pictures),
        "approved_count": sum(status == IM.APPROVED for status, _ in pictures),
        "ready_count": sum(status == IM.READY for status, _ in pictures),
        "delivered_count": sum(status == IM.DELIVERED for status, _ in pictures),
        "to_schedule_count": sum(status == IM.RECEIVED for status, _ in pictures),
        "waiting_count": sum(status == IM.WAITING_PILOT for status, _ in pictures),
        "pilot_count": sum(bool(pilot) for _, pilot in pictures),
        "pilot_approved_count": sum(bool(pilot) and status == IM.APPROVED for status, pilot in pictures),
        "awaiting_rounds": sum(status == RoundStatus.AWAITING_CONFIRMATION for status in rounds),
    }


def stored(order: Order) -> dict[str, int]:
    return Order.objects.values(*sorted(ORDER_FACTS)).get(pk=order.pk)


def test_every_fact_is_a_column_the_triggers_keep():
    assert set(facts.FACTS) == ORDER_FACTS


def test_the_facts_follow_every_way_pictures_and_rounds_are_written(cast):
    order, other = cast.acme_order, cast.globex_order
    assert stored(order) == counted(order) == dict.fromkeys(ORDER_FACTS, 0)
    # bulk create: uploading (not accepted), received
    add_images(order, {"standard": 2}, status=IM.UPLOADING)
    add_images(order, {"simple": 3, "complex": 1})
    add_images(other, {"standard": 4})
    assert stored(order) == counted(order) and stored(order)["image_count"] == 4
    assert stored(order)["to_schedule_count"] == 4 and stored(other)["to_schedule_count"] == 4
    # a state table's claim (one UPDATE … WHERE status IN sources) and a move saved on the instance
    pictures = list(order.images.order_by("position"))
    assert IMAGES.claim(OrderImage.objects.filter(pk__in=[p.pk for p in pictures[:2]]), "receive") == 2
    picture = pictures[2]
    IMAGES.move(picture, "assign")
    picture.save()
    OrderImage.objects.filter(pk=pictures[3].pk).update(status=IM.READY, in_pilot=True)
    OrderImage.objects.filter(pk=pictures[4].pk).update(status=IM.APPROVED, in_pilot=True)
    assert stored(order) == counted(order)
    assert stored(order)["ready_count"] == 1 and stored(order)["pilot_approved_count"] == 1
    # deletes: one picture, then a whole order (its pictures go first)
    pictures[4].delete()
    assert stored(order) == counted(order) and stored(order)["pilot_count"] == 1
    # rounds: one awaits a client admin, then it is confirmed
    first = RevisionRound.objects.create(order=order, number=1, status=RoundStatus.AWAITING_CONFIRMATION)
    assert stored(order)["awaiting_rounds"] == 1
    RevisionRound.objects.filter(pk=first.pk).update(status=RoundStatus.OPEN)
    RevisionRound.objects.create(order=order, number=2, status=RoundStatus.AWAITING_CONFIRMATION)
    assert stored(order) == counted(order) and stored(order)["awaiting_rounds"] == 1
    # the other company's order never moved with it
    assert stored(other) == counted(other) and stored(other)["image_count"] == 4
    other.delete()
    assert not Order.objects.filter(pk=other.pk).exists()


def test_a_stale_order_saved_later_keeps_the_counts_its_pictures_made(cast):
    order = Order.objects.get(pk=cast.acme_order.pk)  # read before the pictures arrive
    add_images(order, {"standard": 3})
    order.title = "Rings, renamed"
    order.save()
    fresh = Order.objects.get(pk=order.pk)
    assert fresh.title == "Rings, renamed" and fresh.image_count == fresh.to_schedule_count == 3
    order.save(update_fields=["title"])
    assert stored(order) == counted(order)


def test_refresh_repairs_counts_written_behind_the_triggers_back(cast):
    add_images(cast.acme_order, {"standard": 2})
    add_images(cast.globex_order, {"simple": 1})
    Order.objects.update(image_count=99, awaiting_rounds=7)
    facts.refresh([cast.acme_order.pk])
    assert stored(cast.acme_order) == counted(cast.acme_order)
    assert stored(cast.globex_order)["image_count"] == 99  # not asked for: untouched
    facts.refresh()
    assert stored(cast.globex_order) == counted(cast.globex_order)


@pytest.mark.django_db(transaction=True)
def test_two_people_moving_pictures_of_one_order_at_once_lose_no_count(cast):
    """PostgreSQL: two transactions move pictures of the same order at the same moment; each trigger's update of
    the order's row waits for the other's commit, so both changes count."""
    require_postgres()
    order = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.IN_PRODUCTION)
    pictures = add_images(order, {"standard": 8})
    halves = [[p.pk for p in pictures[:4]], [p.pk for p in pictures[4:]]]
    barrier, errors = threading.Barrier(2), []

    def move(ids):
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                OrderImage.objects.filter(pk__in=ids).update(status=IM.READY)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(ids,)) for ids in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stored(order)["ready_count"] == 8 and stored(order)["to_schedule_count"] == 0
    assert stored(order) == counted(order)
