"""Tenants never leak: lists never hold the other company's rows, on any page or endpoint, and
tenant B's canary string never appears in anything tenant A's users can read (A3 for what exists)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clients.tenancy import scope
from jobs.models import Audience, Event, Order
from tests.factories import make_order

pytestmark = pytest.mark.django_db
CANARY = b"CANARY-B"

API_LISTS = ["/api/v1/orders/", "/api/v1/style-guides/", "/api/v1/style-guides/?all_versions=true", "/api/v1/me/",
             "/api/v1/services/"]
PAGES = ["jobs:order_list", "clients:style_guide_list", "profile", "jobs:order_create", "clients:style_guide_create"]


@pytest.mark.parametrize("persona", ["acme_admin", "acme_member"])
def test_no_canary_in_anything_tenant_a_reads(cast, api, web, acme_image, persona):
    user = getattr(cast, persona)
    reads = [api(user).get(url) for url in API_LISTS]
    reads += [web(user).get(reverse(name)) for name in PAGES]
    order = cast.acme_order
    reads += [api(user).get(f"/api/v1/orders/{order.pk}/"), api(user).get(f"/api/v1/orders/{order.pk}/events/"),
              web(user).get(reverse("jobs:order_detail", args=[order.pk])),
              web(user).get(reverse("clients:style_guide_detail", args=[cast.acme_guide.pk]))]
    for response in reads:
        assert response.status_code == 200, response.request["PATH_INFO"]
        assert CANARY not in response.content, response.request["PATH_INFO"]


def test_lists_hold_only_own_rows(cast, api):
    make_order(cast.globex, title="B second")
    body = api(cast.acme_member).get("/api/v1/orders/").json()
    assert {o["client"]["id"] for o in body["results"]} == {str(cast.acme.pk)} and body["count"] == 1
    guides = api(cast.acme_member).get("/api/v1/style-guides/").json()
    assert [g["id"] for g in guides["results"]] == [str(cast.acme_guide.pk)]


def test_filtering_by_another_client_shows_nothing(cast, api):
    body = api(cast.acme_member).get(f"/api/v1/orders/?client={cast.globex.pk}").json()
    assert body["count"] == 0


@pytest.mark.parametrize("url", [
    "/api/v1/orders/{order}/", "/api/v1/orders/{order}/events/", "/api/v1/style-guides/{guide}/",
    "/orders/{order}/", "/orders/{order}/edit/", "/style-guides/{guide}/", "/style-guides/{guide}/edit/",
])
def test_other_tenants_objects_answer_404(cast, api, web, url):
    url = url.format(order=cast.globex_order.pk, guide=cast.globex_guide.pk)
    client = api(cast.acme_member) if url.startswith("/api/") else web(cast.acme_member)
    response = client.get(url)
    assert response.status_code == 404
    assert CANARY not in response.content


def test_writes_with_foreign_ids_change_nothing(cast, api):
    """A4: transitions and edits on B's order from A, and A's order pointing at B's guide."""
    client = api(cast.acme_admin)
    for action in ("submit", "cancel", "hold", "resume"):
        assert client.post(f"/api/v1/orders/{cast.globex_order.pk}/{action}/").status_code == 404
    assert client.patch(f"/api/v1/orders/{cast.globex_order.pk}/", {"title": "x"}, format="json").status_code == 404
    response = client.patch(f"/api/v1/orders/{cast.acme_order.pk}/", {"style_guide": str(cast.globex_guide.pk)},
                            format="json")
    assert response.status_code == 400
    cast.globex_order.refresh_from_db()
    cast.acme_order.refresh_from_db()
    assert cast.globex_order.status == "draft" and cast.globex_order.title == "CANARY-B-7f3a order"
    assert cast.acme_order.style_guide_id == cast.acme_guide.pk


def test_internal_events_are_hidden_from_clients(cast, api):
    Event.objects.create(order=cast.acme_order, verb="note", message="Internal: client pays late", audience=Audience.MANAGERS)
    client_view = api(cast.acme_member).get(f"/api/v1/orders/{cast.acme_order.pk}/events/").json()
    assert {e["audience"] for e in client_view["results"]} == {"client"}
    staff_view = api(cast.account_manager).get(f"/api/v1/orders/{cast.acme_order.pk}/events/").json()
    assert "managers" in {e["audience"] for e in staff_view["results"]}


def test_user_without_seat_sees_nothing(cast, api):
    cast.acme_member.membership.delete()
    cast.acme_member.refresh_from_db()
    assert scope(Order.objects.all(), cast.acme_member).count() == 0
    assert api(cast.acme_member).get(f"/api/v1/orders/{cast.acme_order.pk}/").status_code == 404


def test_retoucher_sees_no_orders_yet(cast):
    assert scope(Order.objects.all(), cast.retoucher).count() == 0
