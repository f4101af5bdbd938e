"""Two-factor sign-in (issue 11): setting up an authenticator app with recovery codes, the second
sign-in step with its lockout, replayed and used codes, the staff requirement, tokens, and the admin."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client as HttpClient
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from agency import two_factor
from agency.exceptions import RuleViolation
from agency.models import SecurityEvent, User
from tests.conftest import web_for
from tests.factories import PASSWORD, sign_in_with_second_factor

pytestmark = pytest.mark.django_db


def code_for(key: bytes, *, steps: int = 0) -> str:
    totp = TOTP(key)
    totp.time = time.time() + 30 * steps
    return f"{totp.token():06d}"


def secret_on(page: str) -> bytes:
    """The key as the page shows it (base32 in groups of four), as a person would type it in."""
    import base64

    text = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    return base64.b32decode(text)


def turn_on(web: HttpClient) -> tuple[bytes, list[str]]:
    key = secret_on(web.get("/profile/two-factor/").content.decode())
    page = web.post("/profile/two-factor/", {"action": "confirm", "code": code_for(key)})
    assert page.status_code == 200, page.content.decode()[:500]
    codes = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", page.content.decode())
    return key, codes


def enrolled(user: User) -> tuple[bytes, list[str]]:
    return turn_on(web_for(user))


def password_step(email: str, password: str = PASSWORD, next_url: str = "") -> tuple[HttpClient, object]:
    web = HttpClient()
    data = {"username": email, "password": password}
    if next_url:
        data["next"] = next_url
    return web, web.post("/login/", data)


def signed_in(web: HttpClient) -> bool:
    return SESSION_KEY in web.session


def test_setting_up_shows_a_qr_code_and_confirms_with_the_first_code(cast):
    web = web_for(cast.acme_member)
    elsewhere = web_for(cast.acme_member)
    page = web.get("/profile/two-factor/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html and "Turn on" in html
    key = secret_on(html)
    assert web.get("/profile/two-factor/").content.decode().count(re.search(r'id="totp-secret">([^<]+)<', html)
                                                                   .group(1)) == 1  # a reload keeps the key
    wrong = web.post("/profile/two-factor/", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=cast.acme_member).exists()

    page = web.post("/profile/two-factor/", {"action": "confirm", "code": code_for(key)})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    codes = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", page.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert two_factor.is_enabled(cast.acme_member) and two_factor.recovery_codes_left(cast.acme_member) == 10
    assert list(StaticDevice.objects.filter(user=cast.acme_member).values_list("name", "confirmed")) == [
        ("Recovery codes", True)]  # as the admin lists it
    # this session stays (and counts as verified); the person's other sessions end
    assert web.get("/profile/").status_code == 200
    assert elsewhere.get("/profile/").status_code == 302
    assert "Manage two-factor sign-in" in web.get("/profile/").content.decode()
    assert SecurityEvent.objects.filter(kind="two_factor_on", subject=cast.acme_member).count() == 1


def test_a_second_setup_is_refused_while_one_is_on(cast):
    web = web_for(cast.acme_member)
    key, _ = turn_on(web)
    refused = web.post("/profile/two-factor/", {"action": "confirm", "code": code_for(key, steps=1)})
    assert refused.status_code == 409 and "already on" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=cast.acme_member).count() == 1


def test_an_expired_setup_asks_to_scan_again(cast):
    web = web_for(cast.acme_member)
    response = web.post("/profile/two-factor/", {"action": "confirm", "code": "123456"})
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not TOTPDevice.objects.exists()


def test_sign_in_asks_for_the_code_after_the_password(cast):
    key, _ = enrolled(cast.acme_member)
    web, response = password_step(cast.acme_member.email, next_url="/team/")
    assert response.status_code == 302 and response["Location"].startswith("/login/code/")
    assert not signed_in(web)
    assert web.get("/profile/").status_code == 302  # nothing opens before the second step
    form = web.get(response["Location"])
    assert form.status_code == 200 and 'autocomplete="one-time-code"' in form.content.decode()

    wrong = web.post("/login/code/", {"code": "000000", "next": "/team/"})
    assert wrong.status_code == 400 and "wrong, expired or already used" in wrong.content.decode()
    assert not signed_in(web)
    failed = SecurityEvent.objects.get(kind="sign_in_failed")
    assert failed.subject == cast.acme_member and failed.detail == "wrong second-factor code"
    assert failed.company_id == cast.acme.pk and failed.ip_address == "127.0.0.1"

    done = web.post("/login/code/", {"code": code_for(key, steps=1), "next": "/team/"})  # the setup spent the current one
    assert done.status_code == 302 and done["Location"] == "/team/"
    assert signed_in(web) and web.get("/team/").status_code == 200
    assert SecurityEvent.objects.filter(kind="sign_in").first().detail == "with password and authenticator code"


def test_a_code_is_accepted_once(cast):
    key, _ = enrolled(cast.acme_member)
    code = code_for(key, steps=1)  # not yet used by the setup
    first, _ = password_step(cast.acme_member.email)
    assert first.post("/login/code/", {"code": code}).status_code == 302 and signed_in(first)
    second, _ = password_step(cast.acme_member.email)
    replay = second.post("/login/code/", {"code": code})
    assert replay.status_code == 400 and not signed_in(second)


def test_a_recovery_code_works_once_and_says_how_many_are_left(cast):
    _, codes = enrolled(cast.acme_member)
    web, _ = password_step(cast.acme_member.email)
    response = web.post("/login/code/", {"code": codes[0].upper().replace("-", " ")}, follow=True)
    assert signed_in(web) and "recovery code; 9 left" in response.content.decode()
    assert SecurityEvent.objects.filter(kind="sign_in", detail="with password and a recovery code").exists()
    again, _ = password_step(cast.acme_member.email)
    assert again.post("/login/code/", {"code": codes[0]}).status_code == 400 and not signed_in(again)
    assert two_factor.recovery_codes_left(cast.acme_member) == 9


def test_an_account_locked_meanwhile_is_refused_at_the_code_step_even_with_the_right_code(cast, settings):
    """The password was right; before the code is typed, someone else's wrong passwords (another
    address) lock the account: the code step checks the account's lock, not only the address."""
    key, _ = enrolled(cast.acme_member)
    web, _ = password_step(cast.acme_member.email)
    elsewhere = HttpClient(REMOTE_ADDR="198.51.100.9")
    for i in range(settings.AXES_FAILURE_LIMIT):
        elsewhere.post("/login/", {"username": cast.acme_member.email, "password": f"wrong-{i}"})
    locked = web.post("/login/code/", {"code": code_for(key, steps=1)})
    assert locked.status_code == 429 and not signed_in(web)


def test_wrong_codes_lock_the_sign_in_like_wrong_passwords(cast, settings):
    key, _ = enrolled(cast.acme_member)
    web, _ = password_step(cast.acme_member.email)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert web.post("/login/code/", {"code": "000000"}).status_code == 400
    locked = web.post("/login/code/", {"code": "000000"})
    assert locked.status_code == 429 and "Too many" in locked.content.decode()
    assert SecurityEvent.objects.filter(kind="locked_out", subject=cast.acme_member).exists()
    # the right code no longer helps, nor does starting again with the right password
    assert web.post("/login/code/", {"code": code_for(key, steps=1)}).status_code in (302, 429)
    assert not signed_in(web)
    again, response = password_step(cast.acme_member.email)
    assert response.status_code == 429 and not signed_in(again)


def test_the_second_step_waits_a_few_minutes_only(cast, settings):
    key, _ = enrolled(cast.acme_member)
    web, _ = password_step(cast.acme_member.email)
    wait = settings.LOUPE_2FA_PENDING_SECONDS
    with time_machine.travel(timezone.now() + timedelta(seconds=wait - 5), tick=False):
        in_time = web.post("/login/code/", {"code": "000000"})  # still the code step: a wrong code is refused there
    assert in_time.status_code == 400 and not signed_in(web)  # refused on the code page, not sent back to /login/
    with time_machine.travel(timezone.now() + timedelta(seconds=wait + 1), tick=False):
        response = web.post("/login/code/", {"code": code_for(key, steps=1)})
    assert response.status_code == 302 and response["Location"] == "/login/" and not signed_in(web)


def test_a_password_change_between_the_steps_voids_the_first(cast):
    key, _ = enrolled(cast.acme_member)
    web, _ = password_step(cast.acme_member.email)
    person = User.objects.get(pk=cast.acme_member.pk)
    person.set_password("another-long-password-7")
    person.save()
    assert web.post("/login/code/", {"code": code_for(key, steps=1)}).status_code == 302 and not signed_in(web)


def test_the_code_page_without_a_password_step_goes_back_to_sign_in(cast):
    response = HttpClient().post("/login/code/", {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == "/login/"


def test_new_recovery_codes_need_a_current_code_and_replace_the_old(cast):
    web = web_for(cast.acme_member)
    key, old = turn_on(web)
    refused = web.post("/profile/two-factor/", {"action": "codes", "code": "000000"})
    assert refused.status_code == 400 and two_factor.recovery_codes_left(cast.acme_member) == 10
    assert set(StaticToken.objects.values_list("token", flat=True)) == {c.replace("-", "") for c in old}
    page = web.post("/profile/two-factor/", {"action": "codes", "code": code_for(key, steps=1)})
    new = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    other, _ = password_step(cast.acme_member.email)
    assert other.post("/login/code/", {"code": old[1]}).status_code == 400
    assert SecurityEvent.objects.filter(kind="recovery_codes").count() == 1


def test_turning_it_off_needs_a_code(cast):
    web = web_for(cast.acme_member)
    key, codes = turn_on(web)
    refused = web.post("/profile/two-factor/", {"action": "disable", "code": "12345"})
    assert refused.status_code == 400 and two_factor.is_enabled(cast.acme_member)
    assert web.post("/profile/two-factor/", {"action": "disable", "code": codes[3]}).status_code == 302
    assert not two_factor.is_enabled(cast.acme_member) and not StaticToken.objects.exists()
    assert SecurityEvent.objects.filter(kind="two_factor_off", subject=cast.acme_member).exists()
    again, response = password_step(cast.acme_member.email)
    assert response.status_code == 302 and signed_in(again)  # the password alone again


def test_an_unknown_action_is_refused(cast):
    response = web_for(cast.acme_member).post("/profile/two-factor/", {"action": "explode"})
    assert response.status_code == 400 and "Choose what to do" in response.content.decode()


# The studio's requirement for staff roles


def test_staff_without_a_second_factor_set_it_up_before_anything_else(cast, settings):
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    web, response = password_step(cast.account_manager.email)
    assert response.status_code == 302 and signed_in(web)
    for url in ["/orders/", "/clients/", "/profile/"]:
        page = web.get(url)
        assert page.status_code == 302 and page["Location"].startswith("/profile/two-factor/?next="), url
    api = web.get("/api/v1/orders/")
    assert api.status_code == 403 and "two-factor" in api.json()["detail"]
    setup = web.get("/profile/two-factor/?next=/clients/")
    assert "Your role needs two-factor sign-in" in setup.content.decode()
    key = secret_on(setup.content.decode())
    done = web.post("/profile/two-factor/", {"action": "confirm", "code": code_for(key), "next": "/clients/"})
    assert 'href="/clients/"' in done.content.decode()
    assert web.get("/clients/").status_code == 200
    # and it cannot be turned off while required
    refused = web.post("/profile/two-factor/", {"action": "disable", "code": code_for(key, steps=1)})
    assert refused.status_code == 409 and "requires" in refused.content.decode()
    assert two_factor.is_enabled(cast.account_manager)


def test_client_users_are_not_forced(cast, settings):
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    web, _ = password_step(cast.acme_member.email)
    assert web.get("/orders/").status_code == 200


def test_the_requirement_defaults_on_outside_debug():
    import subprocess
    import sys

    probe = ("import os; os.environ.pop('LOUPE_REQUIRE_2FA_FOR_STAFF', None); os.environ['DEBUG']='{d}'; "
             "os.environ.setdefault('SECRET_KEY', 'x'*50); "
             "from agency import settings; print(settings.LOUPE_REQUIRE_2FA_FOR_STAFF)")
    for debug, expected in (("0", "True"), ("1", "False")):
        out = subprocess.run([sys.executable, "-c", probe.format(d=debug)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


# Tokens for scripts


def _token(email: str, **extra: str) -> object:
    return APIClient().post("/api/v1/auth/token/", {"email": email, "password": PASSWORD, **extra}, format="json")


def test_a_token_for_a_person_with_two_factor_needs_the_code(cast):
    key, codes = enrolled(cast.acme_member)
    missing = _token(cast.acme_member.email)
    assert missing.status_code == 400 and "code" in missing.json()["detail"]
    wrong = _token(cast.acme_member.email, code="000000")
    assert wrong.status_code == 400 and "wrong" in wrong.json()["detail"]
    # a missing code counts towards the lockout as a wrong one does
    assert SecurityEvent.objects.filter(kind="sign_in_failed", detail="wrong second-factor code").count() == 2
    assert _token(cast.acme_member.email, code=code_for(key, steps=1)).status_code == 201
    assert _token(cast.acme_member.email, code=codes[0]).status_code == 201
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Token {_token(cast.acme_member.email, code=codes[1]).json()['token']}")
    assert me.get("/api/v1/me/").json()["two_factor"] is True


def test_required_staff_without_a_second_factor_get_no_token(cast, settings):
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    refused = _token(cast.finance.email)
    assert refused.status_code == 403 and "two-factor" in refused.json()["detail"]
    from agency.models import ApiToken

    assert not ApiToken.objects.exists()


def test_who_is_missing_a_second_factor(cast, settings):
    """Required for staff only, and missing only until that person confirms a device of their own."""
    from agency.two_factor import missing_for

    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    TOTPDevice.objects.create(user=cast.qc, name="someone else's", confirmed=True)
    TOTPDevice.objects.create(user=cast.finance, name="unconfirmed", confirmed=False)
    assert (missing_for(cast.finance), missing_for(cast.acme_admin)) == (True, False)
    TOTPDevice.objects.create(user=cast.finance, name="phone", confirmed=True)
    assert (missing_for(cast.finance), missing_for(cast.qc)) == (False, False)
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = False
    assert missing_for(cast.account_manager) is False


# Django admin


def test_the_admin_needs_the_second_factor(cast):
    web = web_for(cast.admin)
    response = web.get("/admin/")
    assert response.status_code == 302
    login = web.get(response["Location"])
    assert login.status_code == 302 and login["Location"].startswith("/profile/two-factor/?next=")
    assert HttpClient().get("/admin/login/?next=/admin/")["Location"].startswith("/login/?next=")
    refused = web_for(cast.finance).get("/admin/login/")
    assert refused.status_code == 403
    verified = HttpClient()
    sign_in_with_second_factor(verified, cast.admin)
    assert verified.get("/admin/").status_code == 200


def test_an_admin_resets_a_lost_phone(cast):
    enrolled(cast.retoucher)
    session = web_for(cast.retoucher)
    admin = HttpClient()
    sign_in_with_second_factor(admin, cast.admin)
    response = admin.post("/admin/agency/user/", {"action": "reset_two_factor", "_selected_action": [cast.retoucher.pk]})
    assert response.status_code == 302
    assert not two_factor.is_enabled(cast.retoucher) and session.get("/profile/").status_code == 302
    line = SecurityEvent.objects.get(kind="two_factor_off", subject=cast.retoucher)
    assert line.actor == cast.admin and line.detail == "reset by an admin"


def test_the_second_step_never_sends_people_to_another_site(cast):
    key, _ = enrolled(cast.acme_member)
    web, response = password_step(cast.acme_member.email, next_url="https://evil.example/steal")
    assert "evil" not in response["Location"]
    done = web.post("/login/code/", {"code": code_for(key, steps=1), "next": "https://evil.example/steal"})
    assert done.status_code == 302 and done["Location"] == "/"


def test_a_code_is_only_ever_the_persons_own(cast):
    """Another person's app code or recovery code, and an unconfirmed authenticator's code, open nothing."""
    key_a, codes_a = enrolled(cast.acme_member)
    key_b, codes_b = enrolled(cast.acme_admin)
    assert TOTPDevice.objects.get(user=cast.acme_member).name == two_factor.APP_NAME  # as the app lists it
    pending = TOTPDevice.objects.create(user=cast.globex_admin, name="unconfirmed", confirmed=False)
    for user, code in ((cast.acme_member, code_for(key_b, steps=1)), (cast.acme_member, codes_b[0]),
                       (cast.acme_admin, codes_a[0]), (cast.globex_admin, code_for(bytes.fromhex(pending.key)))):
        assert two_factor.verify(user, code) is None
    assert two_factor.recovery_codes_left(cast.acme_member) == two_factor.recovery_codes_left(cast.acme_admin) == 10
    assert two_factor.recovery_codes_left(cast.globex_admin) == 0
    assert [two_factor.is_enabled(u) for u in (cast.acme_member, cast.globex_admin, cast.retoucher)] == [
        True, False, False]  # an unconfirmed app, or someone else's, is not a second factor
    # codes of a device not yet confirmed are not counted as recovery codes
    StaticToken.objects.create(device=StaticDevice.objects.create(user=cast.globex_admin, name="x", confirmed=False),
                               token="abcd2345")
    assert two_factor.recovery_codes_left(cast.globex_admin) == 0
    assert two_factor.verify(cast.globex_admin, "abcd2345") is None


def test_a_recovery_code_of_eight_digits_is_still_a_recovery_code(cast):
    enrolled(cast.acme_member)
    StaticToken.objects.create(device=StaticDevice.objects.get(user=cast.acme_member), token="12345678")
    assert isinstance(two_factor.verify(cast.acme_member, "1234-5678"), StaticDevice)


def test_a_wrong_code_says_a_recovery_code_works_too(cast):
    key, _ = enrolled(cast.acme_member)
    with pytest.raises(RuleViolation) as refused:
        two_factor.regenerate_codes(user=cast.acme_member, code="000000")
    assert (refused.value.message, refused.value.field) == (
        two_factor.WRONG_CODE + " A recovery code works too.", "code")


def test_tokens_of_staff_who_must_use_a_second_factor_and_have_none_do_not_work(cast, settings):
    """Issue 20, item 5: a token made before the requirement, or before the person set it up, opens nothing
    until the second factor is on; the refusal says what to do."""
    from agency.models import ApiToken
    from agency.services import token_create

    _, key = token_create(user=cast.finance, name="Accounting export")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").status_code == 200  # not required yet
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    refused = api.get("/api/v1/me/")
    assert refused.status_code == 401 and refused.json()["detail"].startswith("Your role needs two-factor sign-in")
    assert api.post("/api/v1/tokens/", {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 401
    assert ApiToken.objects.filter(user=cast.finance).count() == 1  # nothing made with it
    from agency.auth import token_user  # what the Idempotency-Key middleware asks: nobody, as DRF says

    assert token_user(key) is None
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = False
    assert api.get("/api/v1/me/").status_code == 200 and token_user(key) == cast.finance
    from agency.models import IdempotencyKey

    assert not IdempotencyKey.objects.exists()


def test_turning_the_second_factor_on_or_resetting_it_revokes_the_persons_tokens(cast):
    from agency.models import ApiToken
    from agency.services import token_create

    token_create(user=cast.acme_member, name="PIM sync")
    token_create(user=cast.acme_admin, name="Someone else's")
    page = web_for(cast.acme_member).get("/profile/two-factor/").content.decode()
    assert "revokes your API tokens" in page  # said before they confirm
    enrolled(cast.acme_member)
    assert not ApiToken.objects.filter(user=cast.acme_member).exists()
    assert ApiToken.objects.filter(user=cast.acme_admin).count() == 1
    revoked = SecurityEvent.objects.get(kind="token_revoked", subject=cast.acme_member)
    assert (revoked.actor, revoked.detail) == (cast.acme_member, "every token: two-factor sign-in turned on")
    token_create(user=cast.acme_member, name="After")
    two_factor.reset(person=cast.acme_member, by=cast.admin)
    assert not ApiToken.objects.filter(user=cast.acme_member).exists()
    reset = SecurityEvent.objects.filter(kind="token_revoked", subject=cast.acme_member).latest("at")
    assert (reset.actor, reset.detail) == (cast.admin, "every token: two-factor sign-in reset by an admin")
