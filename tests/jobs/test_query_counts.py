"""Lists, pages and batch actions run the same number of queries at 2 rows and at 20 (or 30)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import PriceList
from jobs.models import Audience, Delivery, DeliveryStatus, Order, OrderStatus
from jobs.production import assignment
from tests.factories import ClientFactory, add_images, default_price_list, make_order, retoucher

pytestmark = pytest.mark.django_db


def _queries(client, url, method="get"):
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url)
    assert response.status_code in (200, 201, 302), (url, response.status_code)
    return len(ctx.captured_queries)


def _steady(client, url, grow, django_assert_num_queries):
    """Queries for ``url`` after a warm-up, then the same number again after ``grow()``."""
    _queries(client, url)  # warm up: session, content types
    small = _queries(client, url)
    grow()
    with django_assert_num_queries(small):
        response = client.get(url)
    assert response.status_code == 200


def _grow_orders(cast, n):
    statuses = list(OrderStatus.values)
    for i in range(n):
        make_order(cast.acme, by=cast.acme_member, status=statuses[i % len(statuses)], title=f"Order {i}")


@pytest.mark.parametrize("persona", ["acme_member", "account_manager"])
@pytest.mark.parametrize("url", ["/api/v1/orders/", "jobs:order_list", "/api/v1/style-guides/",
                                 "clients:style_guide_list"])
def test_list_query_count_does_not_grow_with_rows(cast, api, web, persona, url, django_assert_num_queries):
    user = getattr(cast, persona)
    client = api(user) if url.startswith("/api/") else web(user)
    path = url if url.startswith("/") else reverse(url)
    _steady(client, path, lambda: _grow_orders(cast, 29), django_assert_num_queries)


@pytest.mark.parametrize("surface", ["api", "page"])
def test_client_list_query_count_does_not_grow(cast, api, web, surface, django_assert_num_queries):
    client = api(cast.account_manager) if surface == "api" else web(cast.account_manager)
    url = "/api/v1/clients/" if surface == "api" else reverse("clients:client_list")
    _steady(client, url, lambda: ClientFactory.create_batch(25), django_assert_num_queries)


@pytest.mark.parametrize("url", ["/api/v1/orders/{pk}/images/", "/api/v1/orders/{pk}/events/",
                                 "/api/v1/orders/{pk}/deliveries/", "jobs:order_images", "jobs:order_detail"])
def test_order_children_lists_do_not_grow(cast, api, web, url, django_assert_num_queries):
    order = cast.acme_order
    add_images(order, {"standard": 2})
    Delivery.objects.bulk_create([Delivery(order=order, number=n, status=DeliveryStatus.READY, archive=f"d{n}.zip")
                                  for n in (1, 2)])
    client = api(cast.account_manager) if url.startswith("/api/") else web(cast.account_manager)
    path = url.format(pk=order.pk) if url.startswith("/") else reverse(url, args=[order.pk])

    def grow():
        add_images(order, {"standard": 18})
        from jobs.events import record_event

        for n in range(18):
            record_event(order=order, actor=cast.account_manager, verb="order.updated", message=f"Checked {n}",
                         audience=Audience.CLIENT)
        Delivery.objects.bulk_create([Delivery(order=order, number=n, status=DeliveryStatus.READY, archive=f"d{n}.zip")
                                      for n in range(3, 21)])

    _steady(client, path, grow, django_assert_num_queries)


@pytest.mark.parametrize("surface", ["api", "page"])
def test_price_lists_do_not_grow(cast, api, web, surface, django_assert_num_queries):
    default_price_list()
    client = api(cast.finance) if surface == "api" else web(cast.finance)
    url = "/api/v1/price-lists/" if surface == "api" else reverse("billing:price_list_list")

    def grow():
        for n in range(20):
            PriceList.objects.create(name=f"List {n}", client=ClientFactory(), currency="EUR")

    _steady(client, url, grow, django_assert_num_queries)


def _production(cast, images):
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title="Production")
    Order.objects.filter(pk=order.pk).update(due_at=timezone.now() + timedelta(days=30))
    order.refresh_from_db()
    add_images(order, {"standard": images})
    return order


def test_dashboard_does_not_grow(cast, web, django_assert_num_queries):
    _production(cast, 1)
    client = web(cast.account_manager)
    _steady(client, reverse("jobs:dashboard"), lambda: [_production(cast, 1) for _ in range(19)],
            django_assert_num_queries)


def test_schedule_proposal_does_not_grow(cast, api, web, django_assert_num_queries):
    retoucher("Rita", ["colour-correction"], capacity=480)
    retoucher("Raj", ["colour-correction"], capacity=480)
    order = _production(cast, 2)
    for client, url in [(api(cast.account_manager), f"/api/v1/orders/{order.pk}/schedule/"),
                        (web(cast.account_manager), reverse("jobs:order_schedule", args=[order.pk]))]:
        _queries(client, url)
        small = _queries(client, url)
        add_images(order, {"standard": 18})
        with django_assert_num_queries(small):
            client.get(url)
        order.images.filter(filename__gte="IMG_0003").delete()


def test_applying_a_schedule_costs_the_same_at_2_and_20_images(cast):
    retoucher("Rita", ["colour-correction"], capacity=480)
    retoucher("Raj", ["colour-correction"], capacity=480)
    assignment.schedule_apply(order=_production(cast, 1), by=cast.account_manager)  # warm up (content types, calendar)
    counts = {}
    for size in (2, 20):
        order = _production(cast, size)
        with CaptureQueriesContext(connection) as ctx:
            made = assignment.schedule_apply(order=order, by=cast.account_manager)
        assert len(made) == size and order.images.filter(status="assigned").count() == size
        counts[size] = len(ctx.captured_queries)
    assert counts[2] == counts[20], counts


def _delivered(cast, n):
    from jobs.models import Delivery, DeliveryItem, ImageStatus, Version, VersionStatus

    order = make_order(cast.acme, status=OrderStatus.DELIVERED, title=f"Delivered {n}")
    images = add_images(order, {"standard": n}, status=ImageStatus.DELIVERED)
    delivery = Delivery.objects.create(order=order, number=1, status="ready", archive="d.zip")
    versions = Version.objects.bulk_create([Version(image=i, number=1, status=VersionStatus.PASSED, file="v.png",
                                                    preview="p.webp", created_by=cast.retoucher, width=2400,
                                                    height=2400) for i in images])
    DeliveryItem.objects.bulk_create([DeliveryItem(delivery=delivery, image=v.image, version=v) for v in versions])
    return order, images


def _queries_for(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_production_pages_cost_the_same_at_1_and_30_images(cast, web):
    from jobs.models import Assignment, ImageStatus, OrderImage, Version, VersionStatus

    counts = {}
    for n in (1, 30):
        order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title=f"Work {n}")
        images = add_images(order, {"standard": n}, status=ImageStatus.IN_QC)
        Assignment.objects.bulk_create([Assignment(image=i, retoucher=cast.retoucher, minutes=30) for i in images])
        versions = Version.objects.bulk_create([Version(image=i, number=1, status=VersionStatus.IN_QC, file="v.png",
                                                        preview="p.webp", created_by=cast.retoucher, width=2400,
                                                    height=2400) for i in images])
        delivered, _ = _delivered(cast, n)
        counts[n] = (
            _queries_for(web(cast.retoucher), reverse("jobs:work_queue")),
            _queries_for(web(cast.qc), reverse("jobs:qc_queue")),
            _queries_for(web(cast.qc), reverse("jobs:version_qc", args=[versions[0].pk])),
            _queries_for(web(cast.retoucher), reverse("jobs:image_work", args=[images[0].pk])),
            _queries_for(web(cast.account_manager), reverse("jobs:order_detail", args=[order.pk])),
            _queries_for(web(cast.acme_member), reverse("jobs:order_review", args=[delivered.pk])),
            _queries_for(web(cast.acme_member), reverse("jobs:order_detail", args=[delivered.pk])),
        )
        OrderImage.objects.filter(order=order).update(status=ImageStatus.APPROVED)  # out of the queues for round 2
    assert counts[1] == counts[30], counts


def test_a_review_of_200_images_costs_a_bounded_number_of_queries(cast):
    from jobs.review import proofing

    counts = {}
    for n in (10, 200):
        order, images = _delivered(cast, n)
        items = [{"image": i.pk, "decision": "approve"} for i in images[: n // 2]]
        items += [{"image": i.pk, "decision": "revise", "note": "Warmer", "kind": "defect",
                   "marks": [{"target": {"selector": {"type": "FragmentSelector", "value": "xywh=pixel:1200,1200,0,0"}},
                              "text": "Here"},
                             {"target": {"selector": {"type": "FragmentSelector", "value": "xywh=pixel:400,800,300,200"}},
                              "text": "And here"}]}
                  for i in images[n // 2:]]
        with CaptureQueriesContext(connection) as ctx:
            result = proofing.review_submit(order=order, by=cast.acme_member, items=items)
        assert result.approved == n // 2 and result.round.items.count() == n - n // 2
        counts[n] = len(ctx.captured_queries)
    assert counts[200] <= counts[10] + 5, counts
