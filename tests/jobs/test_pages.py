"""Order pages: create, edit, transitions with their messages, filters, thumbnails."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Order, OrderStatus, Service
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def _form(cast, **overrides):
    data = {"title": "Bridal rings", "style_guide": str(cast.acme_guide.pk),
            "services": [str(s.pk) for s in Service.objects.filter(code__in=["colour-correction", "clipping-path"])],
            "turnaround": "standard", "instructions": "Keep the engraving", "po_number": "PO-7"}
    data.update(overrides)
    return data


def test_client_creates_an_order_from_the_page(cast, web):
    response = web(cast.acme_member).post(reverse("jobs:order_create"), _form(cast))
    order = Order.objects.get(title="Bridal rings")
    assert response.status_code == 302 and response["Location"] == reverse("jobs:order_detail", args=[order.pk])
    assert order.client == cast.acme and order.created_by == cast.acme_member
    assert set(order.services.values_list("code", flat=True)) == {"colour-correction", "clipping-path"}


def test_order_form_keeps_what_was_typed_when_it_refuses(cast, web):
    before = Order.objects.count()
    response = web(cast.acme_member).post(reverse("jobs:order_create"),
                                          _form(cast, title="", services=[], po_number="P" * 500))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Choose at least one service." in content
    assert "This field is required." in content
    assert "Ensure this value has at most 64 characters" in content
    assert "Keep the engraving" in content
    assert Order.objects.count() == before


def test_order_form_offers_only_own_style_guides(cast, web):
    response = web(cast.acme_member).get(reverse("jobs:order_create"))
    assert cast.acme_guide.name in response.content.decode()
    assert b"CANARY-B" not in response.content
    refused = web(cast.acme_member).post(reverse("jobs:order_create"), _form(cast, style_guide=str(cast.globex_guide.pk)))
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content


def test_staff_choose_the_client_and_a_matching_guide(cast, web):
    response = web(cast.account_manager).post(reverse("jobs:order_create"), _form(cast, client=str(cast.globex.pk)))
    assert response.status_code == 200
    assert "This style guide belongs to another company." in response.content.decode()
    ok = web(cast.account_manager).post(reverse("jobs:order_create"), _form(cast, client=str(cast.acme.pk)))
    assert ok.status_code == 302


def test_submit_from_the_page_shows_a_message(cast, web):
    client = web(cast.acme_member)
    response = client.post(reverse("jobs:order_transition", args=[cast.acme_order.pk, "submit"]), follow=True)
    assert f"Order {cast.acme_order.number} has been submitted to the studio." in response.content.decode()
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.status == OrderStatus.SUBMITTED


def test_refused_transition_shows_why_and_changes_nothing(cast, web):
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION)
    response = web(cast.account_manager).post(reverse("jobs:order_transition", args=[order.pk, "cancel"]),
                                              {"reason": "too late"}, follow=True)
    assert "only draft, submitted or quoted orders can be cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_PRODUCTION


def test_wrong_role_on_page_shows_the_reason(cast, web):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    response = web(cast.acme_member).post(reverse("jobs:order_transition", args=[order.pk, "hold"]), follow=True)
    assert "Only an account manager can put an order on hold." in response.content.decode()


def test_hold_resume_from_the_page(cast, web):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    client = web(cast.account_manager)
    client.post(reverse("jobs:order_transition", args=[order.pk, "hold"]), {"reason": "Waiting for SKUs"})
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    page = client.get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
    assert "Order put on hold: Waiting for SKUs" in page and "Resume" in page
    client.post(reverse("jobs:order_transition", args=[order.pk, "resume"]))
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_unknown_transition_is_404(cast, web):
    response = web(cast.account_manager).post(reverse("jobs:order_transition", args=[cast.acme_order.pk, "explode"]))
    assert response.status_code == 404


def test_overlong_reason_is_refused(cast, web):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED)
    response = web(cast.account_manager).post(reverse("jobs:order_transition", args=[order.pk, "hold"]),
                                              {"reason": "r" * 501}, follow=True)
    assert "at most 500 characters" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_order_page_shows_images_instructions_guide_and_timeline(cast, web, acme_image):
    page = web(cast.acme_member).get(reverse("jobs:order_detail", args=[cast.acme_order.pk])).content.decode()
    thumb_url = f"/api/v1/images/{acme_image.pk}/download/?what=thumbnail"
    assert "RING_1.jpg" in page and thumb_url in page and 'id="uploader"' in page
    assert cast.acme_guide.name in page and "Order created by" in page
    client = web(cast.acme_member)
    thumb = client.get(client.get(thumb_url)["Location"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    assert b"".join(thumb.streaming_content)[:4] == b"RIFF"
    detail = client.get(reverse("jobs:image_detail", args=[acme_image.pk])).content.decode()
    assert "Download original" in detail and "300×300" in detail


def test_images_partial_listens_to_the_order_and_falls_back_to_polling_only_while_busy(cast, web, acme_image):
    from jobs.models import OrderImage

    url = reverse("jobs:order_images", args=[cast.acme_order.pk])
    quiet = web(cast.acme_member).get(url).content.decode()
    assert 'hx-trigger="refresh, sse:order"' in quiet and "data-live-poll" not in quiet and "every 2s" not in quiet
    OrderImage.objects.create(order=cast.acme_order, filename="new.jpg", declared_size=5, upload_key="k")
    busy = web(cast.acme_member).get(url).content.decode()
    assert 'hx-trigger="refresh, sse:order"' in busy and "data-live-poll" in busy and "every 2s" not in busy


def test_image_remove_from_page(cast, web, acme_image):
    response = web(cast.acme_member).post(reverse("jobs:image_remove", args=[acme_image.pk]), follow=True)
    assert "RING_1.jpg has been removed." in response.content.decode()


def test_delivery_button_reports_why_it_cannot(cast, web):
    response = web(cast.account_manager).post(reverse("jobs:delivery_create", args=[cast.acme_order.pk]))
    assert response.status_code == 409
    assert "deliveries are published while it is in production or revision" in response.content.decode()


def test_staff_filter_orders_by_status_and_client(cast, web):
    make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Submitted pendants")
    client = web(cast.account_manager)
    page = client.get(reverse("jobs:order_list"), {"status": "submitted"}).content.decode()
    assert "Submitted pendants" in page and "Acme rings" not in page
    page = client.get(reverse("jobs:order_list"), {"client": str(cast.globex.pk)}).content.decode()
    assert "CANARY-B-7f3a order" in page and "Acme rings" not in page
    bad = client.get(reverse("jobs:order_list"), {"status": "lost"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


def test_client_order_list_shows_number_status_count_and_due(cast, web, acme_image):
    page = web(cast.acme_member).get(reverse("jobs:order_list")).content.decode()
    assert cast.acme_order.number in page and "Draft" in page and "set by the quote" in page
    assert "CANARY" not in page


def test_edit_a_draft_from_the_page(cast, web):
    url = reverse("jobs:order_edit", args=[cast.acme_order.pk])
    response = web(cast.acme_member).post(url, _form(cast, title="Rings (final)"))
    assert response.status_code == 302
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.title == "Rings (final)"


def test_edit_refused_after_submission_with_message(cast, web):
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Locked")
    response = web(cast.acme_member).post(reverse("jobs:order_edit", args=[order.pk]), _form(cast, title="Changed"))
    assert "only a draft can be edited" in response.content.decode()
    order.refresh_from_db()
    assert order.title == "Locked"


def test_empty_states_say_what_to_do(cast, web):
    assert "Orders appear here once an image is assigned to you." in web(cast.retoucher).get("/orders/").content.decode()
    Order.objects.filter(client=cast.acme).delete()
    assert "Create your first order" in web(cast.acme_member).get("/orders/").content.decode()
