"""List pages and endpoints run the same number of queries for 1 order and for 30."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.models import OrderStatus
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _grow(cast, n):
    statuses = list(OrderStatus.values)
    for i in range(n):
        make_order(cast.acme, by=cast.acme_member, status=statuses[i % len(statuses)], title=f"Order {i}")


@pytest.mark.parametrize("persona", ["acme_member", "account_manager"])
@pytest.mark.parametrize("url", ["/api/v1/orders/", "jobs:order_list", "/api/v1/style-guides/",
                                 "clients:style_guide_list"])
def test_list_query_count_does_not_grow_with_rows(cast, api, web, persona, url):
    user = getattr(cast, persona)
    client = api(user) if url.startswith("/api/") else web(user)
    path = url if url.startswith("/") else reverse(url)
    _count(client, path)  # warm up: session, content types
    small = _count(client, path)
    _grow(cast, 29)
    large = _count(client, path)
    assert small == large, f"{path}: {small} queries for 1 order, {large} for 30"


def test_client_list_query_count_does_not_grow(cast, api, web):
    from tests.factories import ClientFactory

    client = web(cast.account_manager)
    _count(client, reverse("clients:client_list"))
    small = _count(client, reverse("clients:client_list"))
    api_small = _count(api(cast.account_manager), "/api/v1/clients/")
    ClientFactory.create_batch(25)
    assert _count(client, reverse("clients:client_list")) == small
    assert _count(api(cast.account_manager), "/api/v1/clients/") == api_small


def test_order_detail_query_count_does_not_grow_with_events(cast, web, acme_image):
    from jobs import workflow

    client = web(cast.account_manager)
    url = reverse("jobs:order_detail", args=[cast.acme_order.pk])
    _count(client, url)
    small = _count(client, url)
    for _ in range(10):
        workflow.record_event(order=cast.acme_order, actor=cast.account_manager, verb="note", message="Checked")
    assert _count(client, url) == small
