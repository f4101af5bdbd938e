"""The orders API: create, edit, transitions, timeline, filters, and every bad input."""

from __future__ import annotations

import pytest

from jobs.models import Event, Order, OrderStatus
from tests.factories import StyleGuideFactory, make_order

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def _payload(cast, **overrides):
    body = {"title": "Engagement rings", "style_guide": str(cast.acme_guide.pk),
            "services": ["colour-correction", "clipping-path"], "turnaround": "express",
            "instructions": "Keep the hallmark.", "po_number": "PO-1"}
    body.update(overrides)
    return body


def test_client_creates_and_submits_an_order(cast, api):
    client = api(cast.acme_member)
    created = client.post("/api/v1/orders/", _payload(cast), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["number"].startswith("LP-") and len(body["number"]) == len("LP-2026-00001")
    assert body["status"] == "draft" and body["client"]["id"] == str(cast.acme.pk)
    assert body["services"] == ["colour-correction", "clipping-path"]
    assert body["actions"] == ["submit", "cancel", "edit"]
    submitted = client.post(f"/api/v1/orders/{body['id']}/submit/")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    events = client.get(f"/api/v1/orders/{body['id']}/events/").json()
    assert [e["verb"] for e in events["results"]] == ["order.created", "order.submitted"]


def test_staff_must_name_the_client(cast, api):
    response = api(cast.account_manager).post("/api/v1/orders/", _payload(cast), format="json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "client" in response.json()["errors"]
    ok = api(cast.account_manager).post("/api/v1/orders/", _payload(cast, client=str(cast.acme.pk)), format="json")
    assert ok.status_code == 201


@pytest.mark.parametrize("field,value,message", [
    ("title", "", "may not be blank"),
    ("title", "x" * 201, "no more than 200"),
    ("po_number", "P" * 500, "no more than 64"),
    ("services", ["gold-plating"], "does not exist"),
    ("services", [], "may not be empty"),
    ("turnaround", "yesterday", "not a valid choice"),
    ("instructions", "i" * 10_001, "no more than 10000"),
    ("style_guide", "not-a-uuid", "valid"),
])
def test_bad_fields_get_field_errors_and_nothing_is_saved(cast, api, field, value, message):
    before = Order.objects.count()
    response = api(cast.acme_member).post("/api/v1/orders/", _payload(cast, **{field: value}), format="json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 400 and body["title"] == "Invalid input"
    assert message in " ".join(map(str, body["errors"][field]))
    assert Order.objects.count() == before


def test_style_guide_of_another_client_is_refused(cast, api):
    before = Order.objects.count()
    response = api(cast.acme_member).post("/api/v1/orders/", _payload(cast, style_guide=str(cast.globex_guide.pk)),
                                          format="json")
    assert response.status_code == 400
    assert "does not exist" in response.json()["errors"]["style_guide"][0]
    assert Order.objects.count() == before


def test_staff_cannot_mix_a_guide_of_one_client_with_another_client(cast, api):
    response = api(cast.account_manager).post(
        "/api/v1/orders/", _payload(cast, client=str(cast.globex.pk)), format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["style_guide"] == ["This style guide belongs to another company."]


def test_malformed_json_is_a_problem_document(cast, api):
    response = api(cast.acme_member).post("/api/v1/orders/", data='{"title": ', content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert response.json()["title"] == "Malformed request body" and "body" in response.json()["errors"]


def test_unknown_status_filter_is_refused(cast, api):
    response = api(cast.account_manager).get("/api/v1/orders/?status=lost")
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_filters_by_status_client_and_search(cast, api):
    make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Pendants")
    client = api(cast.account_manager)
    assert [o["title"] for o in client.get("/api/v1/orders/?status=submitted").json()["results"]] == ["Pendants"]
    by_client = client.get(f"/api/v1/orders/?client={cast.globex.pk}").json()
    assert [o["title"] for o in by_client["results"]] == ["CANARY-B-7f3a order"]
    assert client.get("/api/v1/orders/?search=pendant").json()["count"] == 1


def test_pagination_caps_page_size(cast, api):
    from tests.factories import make_order

    for n in range(104):
        make_order(cast.acme, by=cast.acme_member, title=f"Order {n}")
    response = api(cast.account_manager).get("/api/v1/orders/?page_size=1000")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 106 and len(body["results"]) == 100 and "page=2" in body["next"]
    assert len(api(cast.account_manager).get("/api/v1/orders/?page_size=7").json()["results"]) == 7


def test_wrong_state_answers_409_and_changes_nothing(cast, api):
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION)
    response = api(cast.account_manager).post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "x"}, format="json")
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    assert "only draft, submitted or quoted" in response.json()["detail"]
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_PRODUCTION
    assert not Event.objects.filter(order=order, verb="order.cancelled").exists()


def test_wrong_role_answers_403_and_changes_nothing(cast, api):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    response = api(cast.acme_member).post(f"/api/v1/orders/{order.pk}/hold/", {}, format="json")
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "Only an account manager can put an order on hold."
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_hold_and_resume_through_the_api(cast, api):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    client = api(cast.account_manager)
    held = client.post(f"/api/v1/orders/{order.pk}/hold/", {"reason": "Waiting on SKUs"}, format="json")
    assert held.json()["status"] == "on_hold" and held.json()["held_from"] == "submitted"
    assert client.post(f"/api/v1/orders/{order.pk}/resume/").json()["status"] == "submitted"


def test_patch_edits_a_draft_and_records_it(cast, api):
    client = api(cast.acme_member)
    response = client.patch(f"/api/v1/orders/{cast.acme_order.pk}/", {"title": "Rings, v2", "services": ["shadow-creation"]},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Rings, v2" and response.json()["services"] == ["shadow-creation"]
    event = Event.objects.get(order=cast.acme_order, verb="order.updated")
    assert set(event.data["fields"]) == {"title", "services"}


def test_patch_refused_after_submission(cast, api):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Fixed")
    response = api(cast.acme_member).patch(f"/api/v1/orders/{order.pk}/", {"title": "Changed"}, format="json")
    assert response.status_code == 409
    order.refresh_from_db()
    assert order.title == "Fixed"


def test_clients_cannot_set_protected_fields(cast, api):
    """A5: status, client, number and due date are not writable by clients."""
    response = api(cast.acme_member).patch(
        f"/api/v1/orders/{cast.acme_order.pk}/",
        {"status": "completed", "client": str(cast.globex.pk), "number": "LP-1999-00001", "due_at": "2030-01-01T00:00:00Z",
         "held_from": "quoted"},
        format="json",
    )
    assert response.status_code == 200
    order = Order.objects.get(pk=cast.acme_order.pk)
    assert (order.status, order.client_id, order.due_at, order.held_from) == ("draft", cast.acme.pk, None, "")
    assert order.number.startswith("LP-")


def test_outdated_style_guide_version_is_refused(cast, api):
    from clients.services import style_guide_update

    new = style_guide_update(guide=cast.acme_guide, by=cast.account_manager, name="Acme white 2")
    assert new.pk != cast.acme_guide.pk  # the guide is locked by cast.acme_order
    response = api(cast.acme_member).post("/api/v1/orders/", _payload(cast), format="json")
    assert response.status_code == 400  # the old version is no longer offered
    guide = StyleGuideFactory(client=cast.acme)
    assert api(cast.acme_member).post("/api/v1/orders/", _payload(cast, style_guide=str(guide.pk)),
                                      format="json").status_code == 201


def test_order_keeps_its_style_guide_version(cast, api):
    from clients.services import style_guide_update

    old = cast.acme_guide
    new = style_guide_update(guide=old, by=cast.acme_admin, notes="Warmer gold")
    assert (new.version, new.is_current) == (2, True)
    old.refresh_from_db()
    assert old.is_current is False and old.notes == ""
    order = api(cast.acme_member).get(f"/api/v1/orders/{cast.acme_order.pk}/").json()
    assert order["style_guide"] == {"id": str(old.pk), "name": old.name, "version": 1}


def test_services_and_me(cast, api):
    services = api(cast.retoucher).get("/api/v1/services/").json()
    assert services["count"] == 10
    assert {"code", "minutes_simple", "minutes_standard", "minutes_complex"} <= set(services["results"][0])
    me = api(cast.acme_admin).get("/api/v1/me/").json()
    assert me["role"] == "client_admin" and me["client"] == {"id": str(cast.acme.pk), "name": "Acme Jewels"}
    assert api(cast.qc).get("/api/v1/me/").json()["client"] is None


def test_oversized_body_is_refused_before_parsing(cast, api):
    response = api(cast.acme_member).post("/api/v1/orders/", data="x" * 3_000_000, content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM


def test_schema_and_docs_are_served(cast, api):
    schema = api(cast.acme_member).get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/orders/{id}/submit/" in schema.content
    docs = api(cast.acme_member).get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
