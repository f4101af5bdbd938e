"""Issue 11, first part: personal API tokens (named, shown once, revocable, expiring) and a deactivated
company locking its people out at once (A7: sessions, tokens, sign-in, reset mails, invitations)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.utils import timezone
from rest_framework.test import APIClient

from agency.models import ApiToken
from clients.models import Client
from tests.conftest import api_for, web_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_named_token_is_shown_once_works_and_is_revoked(cast, settings):
    api = api_for(cast.acme_member)
    made = api.post("/api/v1/tokens/", {"name": "  PIM   sync "}, format="json")
    assert made.status_code == 201
    body = made.json()
    key = body["key"]
    assert body["name"] == "PIM sync" and key.startswith(body["prefix"])
    stored = ApiToken.objects.get(pk=body["id"])
    assert key not in (stored.digest, stored.prefix)
    assert stored.expires_at - timezone.now() > timedelta(days=settings.LOUPE_API_TOKEN_DAYS - 1)
    listed = api.get("/api/v1/tokens/").json()["results"]
    assert [row["name"] for row in listed] == ["PIM sync"] and "key" not in listed[0]
    assert _with_token(key).get("/api/v1/me/").json()["email"] == cast.acme_member.email
    assert ApiToken.objects.get(pk=body["id"]).last_used_at is not None
    # another person neither sees nor revokes it
    assert api_for(cast.acme_admin).get("/api/v1/tokens/").json()["results"] == []
    assert api_for(cast.acme_admin).delete(f"/api/v1/tokens/{body['id']}/").status_code == 404
    assert ApiToken.objects.filter(pk=body["id"]).exists()
    assert api.delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert _with_token(key).get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize("name,reason", [("", "blank"), ("   ", "blank"), ("x" * 101, "100")])
def test_a_token_needs_a_sensible_name(cast, name, reason):
    response = api_for(cast.acme_member).post("/api/v1/tokens/", {"name": name}, format="json")
    assert response.status_code == 400 and reason in str(response.json())
    assert not ApiToken.objects.exists()


def test_tokens_die_with_a_password_change_and_expire(cast):
    api = api_for(cast.acme_member)
    key = api.post("/api/v1/tokens/", {"name": "Script"}, format="json").json()["key"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _with_token(key).get("/api/v1/me/").status_code == 401
    assert api.get("/api/v1/tokens/").json()["results"] == []  # expired tokens are not listed
    key = api.post("/api/v1/tokens/", {"name": "Script 2"}, format="json").json()["key"]
    cast.acme_member.set_password("a-whole-new-password")
    cast.acme_member.save()
    assert _with_token(key).get("/api/v1/me/").status_code == 401


def test_the_profile_page_creates_shows_once_and_revokes(cast):
    web = web_for(cast.finance)
    page = web.post("/profile/tokens/", {"name": "Accounting export"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    key = re.search(r'<code class="secret">([^<]+)</code>', page.content.decode()).group(1)
    assert _with_token(key).get("/api/v1/me/").status_code == 200
    again = web.get("/profile/").content.decode()
    assert "Accounting export" in again and key not in again
    refused = web.post("/profile/tokens/", {"name": ""})
    assert refused.status_code == 400 and "Name the token" in refused.content.decode()
    token = ApiToken.objects.get(user=cast.finance)
    assert web_for(cast.admin).post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    assert web.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_deactivating_a_company_locks_its_people_out_at_once(cast):
    member = cast.acme_member
    key = api_for(member).post("/api/v1/tokens/", {"name": "Script"}, format="json").json()["key"]
    session = HttpClient()
    assert session.post("/login/", {"username": member.email, "password": PASSWORD}).status_code == 302
    assert session.get("/orders/").status_code == 200
    download = api_for(member).get(f"/api/v1/orders/{cast.acme_order.pk}/")
    assert download.status_code == 200

    response = api_for(cast.account_manager).patch(f"/api/v1/clients/{cast.acme.pk}/", {"is_active": False},
                                                   format="json")
    assert response.status_code == 200
    assert session.get("/orders/").status_code == 302  # the open session is signed out on the next request
    assert _with_token(key).get("/api/v1/me/").status_code == 401
    refused = HttpClient().post("/login/", {"username": member.email, "password": PASSWORD})
    assert refused.status_code == 200 and "access to Loupe is suspended" in refused.content.decode()
    wrong = HttpClient().post("/login/", {"username": member.email, "password": "not-it"})
    assert "suspended" not in wrong.content.decode()  # only the password's owner learns it
    # the token endpoint answers as the page does: the right password learns why, a wrong one does not
    token_refused = APIClient().post("/api/v1/auth/token/", {"email": member.email, "password": PASSWORD},
                                     format="json")
    assert token_refused.status_code == 403 and "access to Loupe is suspended" in token_refused.json()["detail"]
    token_wrong = APIClient().post("/api/v1/auth/token/", {"email": member.email, "password": "not-it"},
                                   format="json")
    assert token_wrong.status_code == 400 and "suspended" not in token_wrong.content.decode()
    HttpClient().post("/password/reset/", {"email": member.email})
    assert mail.outbox == []
    # the studio still sees the company's orders
    assert api_for(cast.account_manager).get(f"/api/v1/orders/{cast.acme_order.pk}/").status_code == 200

    api_for(cast.account_manager).patch(f"/api/v1/clients/{cast.acme.pk}/", {"is_active": True}, format="json")
    assert session.get("/orders/").status_code == 302  # reactivation needs a new sign-in
    assert _with_token(key).get("/api/v1/me/").status_code == 401  # tokens do not come back
    assert HttpClient().post("/login/", {"username": member.email, "password": PASSWORD}).status_code == 302


def test_a_pending_invitation_dies_with_the_company(cast, web, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        web(cast.account_manager).post(f"/clients/{cast.acme.pk}/members/new/",
                                       {"full_name": "New Person", "email": "new@acme.test", "role": "client_member"})
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    acme = Client.objects.get(pk=cast.acme.pk)
    from clients.services import client_update

    client_update(client=acme, by=cast.account_manager, is_active=False)
    client_update(client=acme, by=cast.account_manager, is_active=True)
    page = HttpClient().get(link, follow=True)
    assert b"This link has expired or has been used already" in page.content  # the one-time link is dead


def test_the_profile_page_opens_with_the_details_filled_in_and_no_error(cast):
    page = web_for(cast.acme_member).get("/profile/").content.decode()
    assert f'value="{cast.acme_member.full_name}"' in page and "This field is required" not in page


def test_the_time_zone_is_chosen_from_the_iana_list_and_an_older_name_is_kept(cast):
    from agency.models import User

    web = web_for(cast.acme_member)
    page = web.get("/profile/").content.decode()
    assert '<select name="time_zone"' in page and '<optgroup label="Europe">' in page
    assert '<option value="Europe/Berlin">Berlin</option>' in page and '<option value="" selected>' in page
    assert web.post("/profile/", {"full_name": "Alice Acme", "time_zone": "America/New_York"}).status_code == 302
    assert User.objects.get(pk=cast.acme_member.pk).time_zone == "America/New_York"
    typo = web.post("/profile/", {"full_name": "Alice Acme", "time_zone": "Europe/Berlim"})
    assert "Europe/Berlim is not a known time zone" in typo.content.decode()
    assert User.objects.get(pk=cast.acme_member.pk).time_zone == "America/New_York"
    User.objects.filter(pk=cast.acme_member.pk).update(time_zone="US/Eastern")  # saved before the list existed
    kept = web.get("/profile/").content.decode()
    assert '<option value="US/Eastern" selected>US/Eastern</option>' in kept
    assert web.post("/profile/", {"full_name": "Alice A.", "time_zone": "US/Eastern"}).status_code == 302
    assert web.post("/profile/", {"full_name": "Alice A.", "time_zone": ""}).status_code == 302  # the company's zone
    assert User.objects.get(pk=cast.acme_member.pk).time_zone == ""


def test_signed_in_is_a_person_never_the_anonymous_visitor_nor_nobody(cast):
    from django.contrib.auth.models import AnonymousUser

    from agency.permissions import is_client_user, is_studio_user, landing_page, signed_in
    from clients.tenancy import client_id_of, scope
    from jobs.models import Order

    assert [signed_in(u) for u in (None, AnonymousUser(), cast.acme_member, cast.qc)] == [False, False, True, True]
    for nobody in (None, AnonymousUser()):
        assert (is_client_user(nobody), is_studio_user(nobody), landing_page(nobody), client_id_of(nobody)) == (
            False, False, None, None)
        assert list(scope(Order.objects.all(), nobody)) == []
    assert landing_page(cast.qc) == "jobs:qc_queue" and landing_page(cast.acme_member) is None
