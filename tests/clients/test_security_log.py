"""The security log (issue 11): what is recorded, with time, actor and address; the studio's admins
read the studio's log, a client admin their company's only; filters; constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from agency import brand, security_log
from agency.models import SecurityEvent
from tests.conftest import api_for, web_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def kinds(**filters: object) -> list[str]:
    return list(SecurityEvent.objects.filter(**filters).order_by("at").values_list("kind", flat=True))


def test_sign_ins_and_failures_are_recorded_with_the_address(cast):
    web = HttpClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/140")
    web.post("/login/", {"username": cast.acme_member.email, "password": "wrong"})
    web.post("/login/", {"username": "nobody@nowhere.test", "password": "wrong"})
    web.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD})
    failed, unknown, signed = SecurityEvent.objects.order_by("at")
    assert (failed.kind, failed.subject, failed.company_id, failed.ip_address) == (
        "sign_in_failed", cast.acme_member, cast.acme.pk, "203.0.113.7")
    assert failed.detail == "wrong password or unknown address" and failed.user_agent == "Firefox/140"
    assert (unknown.subject, unknown.subject_email, unknown.company_id) == (None, "nobody@nowhere.test", None)
    assert (signed.kind, signed.actor, signed.detail) == ("sign_in", cast.acme_member, "with password")
    APIClient_failure = api_for(None).post("/api/v1/auth/token/", {"email": cast.qc.email, "password": "nope"},
                                           format="json")
    assert APIClient_failure.status_code == 400
    assert SecurityEvent.objects.filter(kind="sign_in_failed", subject=cast.qc).exists()


def test_team_changes_are_recorded_with_who_did_them(cast, django_capture_on_commit_callbacks):
    admin = web_for(cast.acme_admin)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/clients/{cast.acme.pk}/members/new/", {"full_name": "Cleo", "email": "cleo@acme.test",
                                                             "role": "client_member"})
    cleo = SecurityEvent.objects.get(kind="invitation_sent").subject
    seat = cleo.membership
    admin.post(f"/clients/{cast.acme.pk}/members/{seat.pk}/resend/")
    admin.post(f"/clients/{cast.acme.pk}/members/{cast.acme_member.membership.pk}/role/", {"role": "client_admin"})
    admin.post(f"/clients/{cast.acme.pk}/members/{seat.pk}/remove/")
    lines = SecurityEvent.objects.exclude(kind="sign_in").order_by("at")
    assert [(e.kind, e.subject_email, e.detail) for e in lines] == [
        ("invitation_sent", "cleo@acme.test", "as client member"),
        ("invitation_sent", "cleo@acme.test", "sent again"),
        ("role_changed", cast.acme_member.email, "Client member → Client admin"),
        ("seat_removed", "cleo@acme.test", "invitation cancelled"),
    ]
    assert {(e.actor_id, e.company_id, e.company_name, e.ip_address) for e in lines} == {
        (cast.acme_admin.pk, cast.acme.pk, "Acme Jewels", "127.0.0.1")}


def test_tokens_and_company_suspension_are_recorded(cast):
    api = api_for(cast.acme_member)
    made = api.post("/api/v1/tokens/", {"name": "PIM sync"}, format="json").json()
    api.delete(f"/api/v1/tokens/{made['id']}/")
    created, revoked = SecurityEvent.objects.order_by("at")
    assert (created.kind, created.detail) == ("token_created", f"“PIM sync” ({made['prefix']}…)")
    assert (revoked.kind, revoked.actor, revoked.company_id) == ("token_revoked", cast.acme_member, cast.acme.pk)
    manager = api_for(cast.account_manager)
    manager.patch(f"/api/v1/clients/{cast.acme.pk}/", {"is_active": False}, format="json")
    manager.patch(f"/api/v1/clients/{cast.acme.pk}/", {"is_active": True}, format="json")
    off, on = SecurityEvent.objects.filter(kind__startswith="company").order_by("at")
    assert (off.kind, on.kind) == ("company_deactivated", "company_reactivated")
    assert (off.actor, off.subject, off.company_name) == (cast.account_manager, None, "Acme Jewels")


def test_a_password_change_is_recorded(cast):
    web = web_for(cast.acme_member)
    web.post("/password/change/", {"old_password": PASSWORD, "new_password1": "a-brand-new-passphrase",
                                   "new_password2": "a-brand-new-passphrase"})
    assert kinds(kind="password_changed", actor=cast.acme_member) == ["password_changed"]


def _lines(cast):
    """A line for each company and one of the studio's."""
    security_log.record("sign_in", actor=cast.acme_member, detail="acme line")
    security_log.record("sign_in", actor=cast.globex_member, detail="CANARY-B-7f3a line")
    security_log.record("sign_in_failed", email="stranger@nowhere.test", detail="studio line")
    security_log.record("token_created", actor=cast.finance, detail="finance line")


def test_a_client_admin_reads_only_their_company_s_lines(cast):
    _lines(cast)
    page = web_for(cast.acme_admin).get("/security/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "acme line" in html and cast.acme_member.email in html
    assert "CANARY" not in html and "studio line" not in html and "finance line" not in html
    body = api_for(cast.acme_admin).get("/api/v1/security-events/").json()
    # the line of the admin's own sign-in above, and the seeded one
    assert [row["detail"] for row in body["results"]] == ["with password", "acme line"]
    other = api_for(cast.globex_admin).get("/api/v1/security-events/").json()
    assert [row["detail"] for row in other["results"]] == ["CANARY-B-7f3a line"]


def test_the_studio_admin_reads_everything_and_members_nothing(cast):
    _lines(cast)
    body = api_for(cast.admin).get("/api/v1/security-events/").json()
    assert {row["detail"] for row in body["results"]} == {"acme line", "CANARY-B-7f3a line", "studio line",
                                                         "finance line"}
    html = web_for(cast.admin).get("/security/").content.decode()
    assert "Acme Jewels" in html and "Studio" in html and "stranger@nowhere.test" in html
    for person in (cast.acme_member, cast.account_manager, cast.finance):
        assert web_for(person).get("/security/").status_code == 403
        refused = api_for(person).get("/api/v1/security-events/")
        assert refused.status_code == 403 and "results" not in refused.json()
    assert "Security" in web_for(cast.acme_admin).get("/orders/").content.decode()
    assert 'href="/security/"' not in web_for(cast.acme_member).get("/orders/").content.decode()


def test_filters_and_bad_filters(cast):
    _lines(cast)
    api = api_for(cast.admin)
    assert [r["detail"] for r in api.get("/api/v1/security-events/?kind=token_created").json()["results"]] == [
        "finance line"]
    assert [r["detail"] for r in api.get("/api/v1/security-events/?person=stranger").json()["results"]] == [
        "studio line"]
    bad = api.get("/api/v1/security-events/?kind=everything")
    assert bad.status_code == 400 and "kind" in bad.content.decode()
    page = web_for(cast.admin).get("/security/?kind=token_created")
    assert "finance line" in page.content.decode() and "acme line" not in page.content.decode()
    assert web_for(cast.admin).get("/security/?kind=nope").status_code == 400


def test_the_log_page_and_list_run_a_constant_number_of_queries(cast):
    web, api = web_for(cast.admin), api_for(cast.admin)

    def count(url: str, client: object) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(3):
        _lines(cast)
    brand.current()  # the studio's brand is read once a minute per process, not per request
    few = count("/security/", web), count("/api/v1/security-events/", api)
    for _ in range(30):
        _lines(cast)
    assert (count("/security/", web), count("/api/v1/security-events/", api)) == few
