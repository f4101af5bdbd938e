"""Login, API tokens and their revocation (A7), lockout (S3), sessions (S2), password reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.utils import timezone
from rest_framework.test import APIClient

from agency.models import ApiToken
from clients.services import member_remove
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _token(email, password=PASSWORD):
    return APIClient().post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


def _with_token(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_login_and_use(cast):
    response = _token(cast.acme_member.email.upper())
    assert response.status_code == 201
    key = response.json()["token"]
    assert _with_token(key).get("/api/v1/me/").json()["email"] == cast.acme_member.email
    stored = ApiToken.objects.get(user=cast.acme_member)
    assert key not in (stored.digest, stored.prefix) and len(stored.digest) == 64
    assert stored.expires_at - timezone.now() > timedelta(days=29)


def test_token_can_be_revoked(cast):
    key = _token(cast.acme_member.email).json()["token"]
    assert _with_token(key).delete("/api/v1/auth/token/").status_code == 204
    assert _with_token(key).get("/api/v1/me/").status_code == 401


def test_wrong_password_and_unknown_address_look_the_same(cast):
    wrong = _token(cast.acme_member.email, "nope-nope-nope")
    unknown = _token("nobody@example.test", "nope-nope-nope")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    web = HttpClient()
    page_wrong = web.post("/login/", {"username": cast.acme_member.email, "password": "nope-nope-nope"})
    page_unknown = web.post("/login/", {"username": "nobody@example.test", "password": "nope-nope-nope"})
    assert page_wrong.status_code == page_unknown.status_code == 200
    assert b"E-mail address or password is wrong." in page_wrong.content
    assert page_wrong.content.replace(cast.acme_member.email.encode(), b"X") == \
        page_unknown.content.replace(b"nobody@example.test", b"X").replace(
            page_unknown.content[page_unknown.content.find(b'name="csrfmiddlewaretoken"'):][:120],
            page_wrong.content[page_wrong.content.find(b'name="csrfmiddlewaretoken"'):][:120])


@pytest.mark.parametrize("email_exists", [True, False])
def test_lockout_by_the_tenth_failure(cast, email_exists):
    email = cast.acme_member.email if email_exists else "ghost@example.test"
    codes = [_token(email, f"wrong-{i}").status_code for i in range(10)]
    assert codes[:9] == [400] * 9 and codes[9] == 429
    locked = _token(email, PASSWORD if email_exists else "x")
    assert locked.status_code == 429 and locked["Content-Type"] == "application/problem+json"
    assert (locked.json()["title"], locked.json()["detail"], locked.json()["status"]) == (
        "Too many login attempts", "Too many failed logins. Try again in 15 minutes or ask your account manager.", 429)


def test_page_login_locks_out_too(cast):
    web = HttpClient()
    for i in range(10):
        response = web.post("/login/", {"username": cast.acme_member.email, "password": f"bad-{i}"})
    assert response.status_code == 429
    assert b"Too many failed logins. Try again in 15 minutes or ask your account manager." in response.content
    assert b"<title>Too many attempts \xc2\xb7 Loupe Studio</title>" in response.content  # the studio's page
    assert web.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD}).status_code == 429


def test_expired_token_is_refused(cast):
    key = _token(cast.acme_member.email).json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _with_token(key).get("/api/v1/me/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert response.json()["detail"] == "Invalid or expired token."


def test_password_change_revokes_tokens(cast):
    key = _token(cast.acme_member.email).json()["token"]
    cast.acme_member.set_password("another-long-password-1")
    cast.acme_member.save()
    assert _with_token(key).get("/api/v1/me/").status_code == 401


def test_deactivation_revokes_tokens_and_sessions(cast):
    key = _token(cast.acme_member.email).json()["token"]
    web = HttpClient()
    web.force_login(cast.acme_member)
    cast.acme_member.is_active = False
    cast.acme_member.save()
    assert _with_token(key).get("/api/v1/me/").status_code == 401
    assert web.get("/orders/").status_code == 302


def test_membership_removal_ends_access_at_once(cast):
    key = _token(cast.acme_member.email).json()["token"]
    web = HttpClient()
    web.force_login(cast.acme_member)
    member_remove(membership=cast.acme_member.membership, by=cast.account_manager)
    assert _with_token(key).get(f"/api/v1/orders/{cast.acme_order.pk}/").status_code == 401
    assert web.get(f"/orders/{cast.acme_order.pk}/").status_code == 302
    assert not ApiToken.objects.filter(user=cast.acme_member).exists()


def test_login_rotates_the_session_key_and_logout_kills_it(cast):
    web = HttpClient()
    web.get("/login/")
    web.session["probe"] = 1
    before = web.cookies.get("loupe_sessionid")
    response = web.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD})
    assert response.status_code == 302
    after = web.cookies["loupe_sessionid"].value
    assert before is None or before.value != after
    assert web.get("/orders/").status_code == 200
    web.post("/logout/")
    replay = HttpClient()
    replay.cookies["loupe_sessionid"] = after
    assert replay.get("/orders/").status_code == 302


def test_session_ends_after_twelve_hours_whatever_the_activity(cast, settings):
    web = HttpClient()
    web.force_login(cast.acme_member)
    assert web.get("/orders/").status_code == 200
    session = web.session
    session["loupe_login_at"] = session["loupe_login_at"] - settings.LOUPE_SESSION_ABSOLUTE_SECONDS - 60
    session.save()
    response = web.get("/orders/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert web.get("/orders/").status_code == 302


def test_idle_timeout_is_thirty_minutes(settings):
    assert settings.SESSION_COOKIE_AGE == 1800 and settings.SESSION_SAVE_EVERY_REQUEST


def test_password_reset_mail_and_link(cast, settings):
    settings.LOUPE_BASE_URL = "https://loupe.example.com"
    web = HttpClient(HTTP_HOST="localhost")  # the mail's link never follows the Host a request named
    response = web.post("/password/reset/", {"email": cast.acme_member.email})
    assert response.status_code == 302
    assert web.post("/password/reset/", {"email": "nobody@example.test"}).status_code == 302
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == f"Reset your {settings.LOUPE_STUDIO_NAME} password"
    assert re.search(r"^https://loupe\.example\.com/password/reset/\S+/\S+/$", sent.body, re.M)
    assert "for the next 72 hours" in sent.body and "localhost" not in sent.body
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", sent.body).group(0)
    form = web.get(link, follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    assert cast.acme_member.email in form.content.decode()
    done = web.post(form.redirect_chain[-1][0], {"new_password1": "a-brand-new-password", "new_password2":
                                                  "a-brand-new-password"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert web.get("/orders/").status_code == 200  # signed in by saving
    assert _token(cast.acme_member.email, "a-brand-new-password").status_code == 201


def test_a_reset_of_someone_with_a_second_factor_still_asks_for_the_code(cast, web):
    from tests.factories import sign_in_with_second_factor

    sign_in_with_second_factor(web(cast.acme_member), cast.acme_member)  # turns two-factor sign-in on
    browser = HttpClient()
    browser.post("/password/reset/", {"email": cast.acme_member.email})
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    form = browser.get(link, follow=True)
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": "a-brand-new-password",
                                                      "new_password2": "a-brand-new-password"})
    assert done.status_code == 302 and done["Location"] == "/login/"
    assert browser.get("/orders/").status_code == 302  # not signed in: the code is still asked


def test_invited_member_gets_a_set_password_mail(cast, web, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = web(cast.account_manager).post(f"/clients/{cast.acme.pk}/members/new/",
                                                  {"full_name": "New Person", "email": "New@Acme.test",
                                                   "role": "client_member"})
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["new@acme.test"]
    assert "/password/reset/" in mail.outbox[-1].body


def test_password_change_page(cast, web):
    client = web(cast.acme_member)
    response = client.post("/password/change/", {"old_password": PASSWORD, "new_password1": "changed-password-42",
                                                 "new_password2": "changed-password-42"})
    assert response.status_code == 302


def test_studio_user_without_role_cannot_exist():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        UserFactory(role="emperor")


def test_a_tokens_last_use_is_written_at_most_once_a_minute(cast):
    import time_machine

    key = _token(cast.acme_member.email).json()["token"]
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        assert _with_token(key).get("/api/v1/me/").status_code == 200
    assert ApiToken.objects.get().last_used_at == start
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        _with_token(key).get("/api/v1/me/")
    assert ApiToken.objects.get().last_used_at == start  # a minute later: not yet
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        _with_token(key).get("/api/v1/me/")
    assert ApiToken.objects.get().last_used_at == start + timedelta(seconds=61)


# Issue 20, item 3: one address's failures lock the account, not everyone behind that address.

def _page_login(email, password, address, **headers):
    return HttpClient().post("/login/", {"username": email, "password": password}, REMOTE_ADDR=address, **headers)


def test_an_accounts_failures_lock_that_account_not_the_address(cast):
    office = "198.51.100.7"
    for i in range(11):
        _page_login(cast.acme_member.email, f"wrong-{i}", office)
    assert _page_login(cast.acme_member.email, PASSWORD, office).status_code == 429
    assert _page_login(cast.acme_member.email, PASSWORD, "203.0.113.9").status_code == 429  # the account, anywhere
    assert _page_login(cast.acme_admin.email, PASSWORD, office).status_code == 302  # a colleague in the office


def test_a_sign_in_does_not_clear_other_accounts_failures_from_its_address(cast):
    office = "198.51.100.7"
    for i in range(9):
        _page_login(cast.acme_member.email, f"wrong-{i}", office)
    assert _page_login(cast.acme_admin.email, PASSWORD, office).status_code == 302
    assert _page_login(cast.acme_member.email, "wrong-again", office).status_code == 429  # the tenth


def test_an_address_is_throttled_far_above_one_persons_limit(cast, settings):
    settings.LOUPE_LOGIN_ADDRESS_LIMIT = 25
    address = "192.0.2.50"
    for i in range(25):  # nine failures each for three accounts (none locked), 25 in all from one address
        _page_login([cast.acme_member, cast.acme_admin, cast.globex_admin][i // 9].email, f"wrong-{i}", address)
    throttled = _page_login(cast.finance.email, PASSWORD, address)
    assert throttled.status_code == 429
    assert _page_login(cast.finance.email, PASSWORD, "192.0.2.51").status_code == 302
    token = APIClient().post("/api/v1/auth/token/", {"email": cast.finance.email, "password": PASSWORD}, format="json",
                             REMOTE_ADDR=address)
    assert token.status_code == 429


def test_the_clients_address_comes_from_a_trusted_proxy_only(cast, settings, rf):
    from agency.auth import client_ip

    settings.LOUPE_TRUSTED_PROXIES = ["10.0.0.0/8"]
    behind = rf.get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.5, 10.9.9.9")
    assert client_ip(behind) == "203.0.113.5"  # the last hop the load balancers did not add
    forged = rf.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_ip(forged) == "198.51.100.7"  # a header from anyone else is not believed
    assert client_ip(rf.get("/", REMOTE_ADDR="10.1.2.3")) == "10.1.2.3"
    # an address that does not parse is never a proxy; a network may be written from any of its addresses
    assert client_ip(rf.get("/", REMOTE_ADDR="not-an-address", HTTP_X_FORWARDED_FOR="203.0.113.5")) == "not-an-address"
    settings.LOUPE_TRUSTED_PROXIES = ["10.1.2.3/8"]
    assert client_ip(behind) == "203.0.113.5"
    settings.LOUPE_TRUSTED_PROXIES = []
    assert client_ip(behind) == "10.1.2.3"
    # behind the load balancer, each person's failures are theirs: a colleague still signs in
    settings.LOUPE_TRUSTED_PROXIES = ["10.0.0.0/8"]
    for i in range(11):
        _page_login(cast.acme_member.email, f"wrong-{i}", "10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert _page_login(cast.acme_admin.email, PASSWORD, "10.1.2.3",
                       HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 302
    from agency.models import SecurityEvent

    assert SecurityEvent.objects.filter(kind="sign_in_failed", ip_address="203.0.113.5").count() == 11


def test_an_addresss_failed_sign_ins_are_forgotten_after_the_cool_off(cast, rf, settings):
    """The address throttle counts failures for AXES_COOLOFF_TIME (15 minutes), then starts again."""
    import time_machine

    from agency import throttle
    from agency.auth import ADDRESS_SCOPE, count_failed_sign_in

    request = rf.post("/login/", REMOTE_ADDR="192.0.2.77")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        count_failed_sign_in(request)
        count_failed_sign_in(request)
        assert throttle.seen(ADDRESS_SCOPE, "192.0.2.77") == 2
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME - timedelta(seconds=1), tick=False):
        assert throttle.seen(ADDRESS_SCOPE, "192.0.2.77") == 2
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1), tick=False):
        assert throttle.seen(ADDRESS_SCOPE, "192.0.2.77") == 0
