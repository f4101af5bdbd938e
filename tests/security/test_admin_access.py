"""Django admin is for the admin role only (SECURITY.md §3.13), and cannot bypass the workflow."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client as HttpClient

from jobs.models import Order, OrderStatus
from tests.factories import sign_in_with_second_factor

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", ["account_manager", "finance", "acme_admin", "acme_member", "retoucher", "qc"])
def test_every_other_role_is_sent_to_the_admin_login(cast, persona):
    web = HttpClient()
    web.force_login(getattr(cast, persona))
    for url in ["/admin/", "/admin/jobs/order/", f"/admin/jobs/order/{cast.acme_order.pk}/change/",
                "/admin/agency/user/"]:
        response = web.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_every_registered_model_page_renders_for_the_admin(cast, acme_image):
    web = HttpClient()
    sign_in_with_second_factor(web, cast.admin)
    for model in admin.site._registry:
        label = f"{model._meta.app_label}/{model._meta.model_name}"
        assert web.get(f"/admin/{label}/").status_code == 200, label
        row = model._default_manager.first()
        if row is not None:
            assert web.get(f"/admin/{label}/{row.pk}/change/").status_code == 200, label


def test_admin_cannot_edit_an_order_status_past_the_workflow(cast):
    web = HttpClient()
    sign_in_with_second_factor(web, cast.admin)
    page = web.get(f"/admin/jobs/order/{cast.acme_order.pk}/change/").content.decode()
    assert 'name="status"' not in page  # read-only: status changes go through the workflow with their events
    form = {"title": "Renamed", "client": str(cast.acme.pk), "style_guide": str(cast.acme_guide.pk),
            "services": [str(s.pk) for s in cast.acme_order.services.all()], "turnaround": "standard",
            "status": OrderStatus.COMPLETED, "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"}
    web.post(f"/admin/jobs/order/{cast.acme_order.pk}/change/", form)
    assert Order.objects.get(pk=cast.acme_order.pk).status == OrderStatus.DRAFT
