"""SECURITY.md A7, revocation is immediate: remove the seat, deactivate the company, change the
password or change the role; then reuse the session, the API token and the download route: 0
successes. A download link issued before the change is a signed URL that expires within 10 minutes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core import signing
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from agency.models import Role, User
from clients import services
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _remove_seat(cast):
    services.member_remove(membership=User.objects.get(pk=cast.acme_member.pk).membership, by=cast.acme_admin)


def _deactivate(cast):
    services.client_update(client=cast.acme, by=cast.account_manager, is_active=False)


def _change_password(cast):
    person = User.objects.get(pk=cast.acme_member.pk)
    person.set_password("a-completely-new-passphrase")
    person.save()


def _change_role(cast):
    services.member_set_role(membership=User.objects.get(pk=cast.acme_member.pk).membership, by=cast.acme_admin,
                             role=Role.CLIENT_ADMIN)


@pytest.mark.parametrize("revoke", [_remove_seat, _deactivate, _change_password, _change_role],
                         ids=["seat removed", "company deactivated", "password changed", "role changed"])
def test_the_next_request_after_a_revocation_fails_everywhere(cast, acme_image, revoke, monkeypatch):
    web = HttpClient()
    assert web.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD}).status_code == 302
    key = APIClient().post("/api/v1/auth/token/", {"email": cast.acme_member.email, "password": PASSWORD},
                           format="json").json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    order_page, order_api = f"/orders/{cast.acme_order.pk}/", f"/api/v1/orders/{cast.acme_order.pk}/"
    download = f"/api/v1/images/{acme_image.pk}/download/?what=thumbnail"
    # before: everything works, and a download link is issued
    assert web.get(order_page).status_code == 200 and api.get(order_api).status_code == 200
    issued = web.get(download)
    assert issued.status_code == 302 and api.get(download).status_code == 302
    link = issued["Location"]
    assert HttpClient().get(link).status_code == 200

    revoke(cast)

    page = web.get(order_page)
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert web.get("/api/v1/orders/").status_code in (401, 403)
    assert web.get(download).status_code in (401, 403, 404)
    assert api.get(order_api).status_code == 401
    assert api.get(download).status_code == 401
    # the link issued before is a signed URL: it dies within ten minutes whoever holds it
    real = time.time
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: real() + 10 * 60 + 1))
    expired = HttpClient().get(link)
    assert expired.status_code == 403 and b"expired" in expired.content
