"""Issue 11: a client admin runs their own team (invite, resend, cancel, change roles, remove), always
keeping an admin; members see the team and change nothing; the studio does the same for any client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client as HttpClient

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Role, User
from clients import services
from clients.models import Membership
from tests.conftest import api_for, web_for
from tests.factories import PASSWORD, client_user

pytestmark = pytest.mark.django_db


def test_a_client_admin_invites_and_the_colleague_joins(cast, django_capture_on_commit_callbacks, settings):
    admin = web_for(cast.acme_admin)
    assert "Invite someone" in admin.get("/team/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/clients/{cast.acme.pk}/members/new/",
                              {"full_name": "Cleo Colleague", "email": "Cleo@Acme.test", "role": "client_member"})
    assert response.status_code == 302 and response["Location"] == "/team/"
    assert mail.outbox[-1].to == ["cleo@acme.test"]
    assert "invitation sent, not accepted yet" in admin.get("/team/").content.decode()
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    assert f"{settings.LOUPE_BASE_URL}{link}" in mail.outbox[-1].body  # a link that works from a mail program
    colleague = HttpClient()
    form = colleague.get(link, follow=True)
    page = form.content.decode()
    assert "Welcome, Cleo Colleague" in page and "Acme Jewels" in page and "can’t be too similar" not in page
    saved = colleague.post(form.redirect_chain[-1][0], {"new_password1": "a-good-new-password", "new_password2":
                                                         "a-good-new-password"}, follow=True)
    # saving signs the person in: they land on their company's orders, welcomed
    assert saved.redirect_chain[-1][0] == "/orders/" and "you are signed in" in saved.content.decode()
    assert cast.acme_order.number in saved.content.decode()
    assert HttpClient().post("/login/", {"username": "cleo@acme.test", "password": "a-good-new-password"}
                             ).status_code == 302


def test_members_see_the_team_and_change_nothing(cast):
    member = web_for(cast.acme_member)
    page = member.get("/team/").content.decode()
    assert cast.acme_admin.email in page and "Invite someone" not in page and "Make admin" not in page
    assert "CANARY" not in page  # another company's people never show
    seat = cast.acme_admin.membership
    assert member.post(f"/clients/{cast.acme.pk}/members/{seat.pk}/remove/").status_code == 403
    assert member.post(f"/clients/{cast.acme.pk}/members/new/", {"full_name": "X", "email": "x@acme.test",
                                                                  "role": "client_member"}).status_code == 403
    assert Membership.objects.filter(pk=seat.pk).exists() and not User.objects.filter(email="x@acme.test").exists()
    with pytest.raises(NotPermitted):
        services.member_set_role(membership=seat, by=cast.acme_member, role=Role.CLIENT_MEMBER)


def test_an_address_of_another_company_is_refused_without_naming_it(cast):
    api = api_for(cast.acme_admin)
    other = api.post("/api/v1/members/", {"email": cast.globex_member.email, "full_name": "Bob"}, format="json")
    assert other.status_code == 400 and "cannot be invited" in other.content.decode()
    assert "Globex" not in other.content.decode() and "CANARY" not in other.content.decode()
    same = api.post("/api/v1/members/", {"email": cast.acme_member.email, "full_name": "Alice"}, format="json")
    assert same.status_code == 400 and "already in the team" in same.content.decode()
    for body in ({"email": "not-an-address", "full_name": "N"}, {"email": "long@acme.test", "full_name": "x" * 300}):
        assert api.post("/api/v1/members/", body, format="json").status_code == 400
    assert Membership.objects.filter(client=cast.acme).count() == 2


def test_the_company_always_keeps_an_admin(cast):
    seat = cast.acme_admin.membership
    with pytest.raises(InvalidTransition, match="last admin"):
        services.member_set_role(membership=seat, by=cast.account_manager, role=Role.CLIENT_MEMBER)
    with pytest.raises(InvalidTransition, match="last admin"):
        services.member_remove(membership=seat, by=cast.account_manager)
    refused = api_for(cast.account_manager).patch(f"/api/v1/members/{seat.pk}/", {"role": "client_member"},
                                                  format="json")
    assert refused.status_code == 409 and "last admin" in refused.json()["detail"]
    assert User.objects.get(pk=cast.acme_admin.pk).role == Role.CLIENT_ADMIN
    with pytest.raises(RuleViolation, match="own seat"):
        services.member_remove(membership=seat, by=cast.acme_admin)


def test_an_inactive_admin_does_not_keep_the_company_administered(cast):
    """Two admins, one of them deactivated: the active one is still the last admin."""
    other = client_user(cast.acme, Role.CLIENT_ADMIN, full_name="Former Admin")
    User.objects.filter(pk=other.pk).update(is_active=False)
    seat = cast.acme_admin.membership
    with pytest.raises(InvalidTransition, match="last admin"):
        services.member_set_role(membership=seat, by=cast.account_manager, role=Role.CLIENT_MEMBER)
    with pytest.raises(InvalidTransition, match="last admin"):
        services.member_remove(membership=seat, by=cast.account_manager)
    assert User.objects.get(pk=cast.acme_admin.pk).role == Role.CLIENT_ADMIN
    assert User.objects.get(pk=cast.acme_admin.pk).is_active
    User.objects.filter(pk=other.pk).update(is_active=True)  # with a second active admin it is allowed
    services.member_set_role(membership=seat, by=cast.account_manager, role=Role.CLIENT_MEMBER)
    assert User.objects.get(pk=cast.acme_admin.pk).role == Role.CLIENT_MEMBER


def test_a_role_change_takes_effect_at_the_next_request(cast):
    promoted = api_for(cast.acme_admin).patch(f"/api/v1/members/{cast.acme_member.membership.pk}/",
                                               {"role": "client_admin"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "client_admin"
    session = HttpClient()
    session.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD})
    assert session.get("/team/").status_code == 200
    web_for(cast.acme_admin).post(f"/clients/{cast.acme.pk}/members/{cast.acme_member.membership.pk}/role/",
                                  {"role": "client_member"})
    assert User.objects.get(pk=cast.acme_member.pk).role == Role.CLIENT_MEMBER
    assert session.get("/team/").status_code == 302  # signed out: they sign in again with the new role


def test_remove_a_seat_ends_the_session_and_cancel_an_invitation(cast, django_capture_on_commit_callbacks):
    session = HttpClient()
    session.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD})
    assert session.get("/orders/").status_code == 200
    removed = api_for(cast.acme_admin).delete(f"/api/v1/members/{cast.acme_member.membership.pk}/")
    assert removed.status_code == 204 and session.get("/orders/").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        made = api_for(cast.acme_admin).post("/api/v1/members/", {"email": "new@acme.test", "full_name": "New"},
                                             format="json")
    assert made.status_code == 201 and made.json()["invitation_pending"] is True
    with django_capture_on_commit_callbacks(execute=True):
        assert api_for(cast.acme_admin).post(f"/api/v1/members/{made.json()['id']}/resend/").status_code == 202
    assert [m.to for m in mail.outbox[-2:]] == [["new@acme.test"], ["new@acme.test"]]
    web_for(cast.acme_admin).post(f"/clients/{cast.acme.pk}/members/{made.json()['id']}/remove/")
    assert not Membership.objects.filter(pk=made.json()["id"]).exists()
    assert not User.objects.get(email="new@acme.test").is_active


def test_resend_after_acceptance_is_refused(cast):
    response = api_for(cast.acme_admin).post(f"/api/v1/members/{cast.acme_member.membership.pk}/resend/")
    assert response.status_code == 409 and "accepted the invitation" in response.json()["detail"]


def test_the_team_list_is_the_company_and_nothing_else(cast):
    emails = {row["email"] for row in api_for(cast.acme_member).get("/api/v1/members/").json()["results"]}
    assert emails == {cast.acme_admin.email, cast.acme_member.email}
    assert api_for(cast.retoucher).get("/api/v1/members/").json()["results"] == []
    studio = {row["email"] for row in api_for(cast.account_manager).get(
        f"/api/v1/members/?client={cast.globex.pk}").json()["results"]}
    assert studio == {cast.globex_member.email, cast.globex_admin.email}


def test_an_invitation_link_works_once_and_not_after_72_hours(cast, django_capture_on_commit_callbacks, monkeypatch):

    from django.contrib.auth.tokens import PasswordResetTokenGenerator

    with django_capture_on_commit_callbacks(execute=True):
        services.member_add(client=cast.acme, by=cast.acme_admin, email="late@acme.test", full_name="Late Larry",
                            role="client_member")
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    later = datetime.now() + timedelta(hours=73)
    with monkeypatch.context() as m:
        m.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
        stale = HttpClient().get(link, follow=True)
    assert stale.status_code == 410 and b"This link has expired or has been used already" in stale.content
    assert not User.objects.get(email="late@acme.test").has_usable_password()

    first = HttpClient()
    form = first.get(link, follow=True)
    first.post(form.redirect_chain[-1][0], {"new_password1": "a-good-new-password", "new_password2":
                                            "a-good-new-password"})
    assert User.objects.get(email="late@acme.test").check_password("a-good-new-password")
    again = HttpClient().get(link, follow=True)
    assert again.status_code == 410 and b"This link has expired or has been used already" in again.content


def test_an_invitation_mail_goes_only_to_a_pending_seat_in_an_active_company(cast, settings, caplog):
    """The task's body, on its own: it re-reads the person when it runs."""
    import logging

    pending = services.member_add(client=cast.acme, by=cast.acme_admin, email="pia@acme.test", full_name="Pia Pending",
                                  role=Role.CLIENT_MEMBER).user
    with caplog.at_level(logging.INFO, logger="loupe.clients"):
        assert services.invitation_send(user_id=pending.pk) == 1
    sent = mail.outbox[-1]
    assert (sent.subject, sent.to) == (f"{settings.LOUPE_STUDIO_NAME} invited you to {settings.LOUPE_STUDIO_NAME}",
                                       ["pia@acme.test"])  # no inviter named: the task of an older release
    assert sent.body.startswith("Hello Pia Pending,\n\n" f"{settings.LOUPE_STUDIO_NAME} invited you to work with "
                                f"{settings.LOUPE_STUDIO_NAME}, the retouching studio, for Acme Jewels, as a member")
    assert re.search(rf"{re.escape(settings.LOUPE_BASE_URL)}/password/reset/\S+/\S+/\n", sent.body)
    assert "Your login is pia@acme.test." in sent.body
    assert f"invitation sent to user {pending.pk}" in [r.getMessage() for r in caplog.records]
    mail.outbox.clear()
    inactive = services.member_add(client=cast.acme, by=cast.acme_admin, email="ina@acme.test", full_name="Ina",
                                   role=Role.CLIENT_MEMBER).user
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    nobody = [cast.acme_member.pk,  # accepted: has a password
              inactive.pk, cast.account_manager.pk,  # no seat (studio staff)
              "00000000-0000-0000-0000-000000000000" if isinstance(pending.pk, str) else 10**9]
    for user_id in nobody:
        assert services.invitation_send(user_id=user_id) == 0
    type(cast.acme).objects.filter(pk=cast.acme.pk).update(is_active=False)
    assert services.invitation_send(user_id=pending.pk) == 0
    assert mail.outbox == []


@pytest.mark.parametrize("inviter", ["acme_admin", "account_manager"])
def test_an_invitation_says_who_invited_to_which_company_and_until_when_in_the_persons_zone(cast, settings, inviter):
    import time_machine

    cast.acme.time_zone = "America/New_York"
    cast.acme.save()
    by = getattr(cast, inviter)
    pending = services.member_add(client=cast.acme, by=by, email="pia@acme.test", full_name="Pia Pending",
                                  role=Role.CLIENT_ADMIN).user
    with time_machine.travel(datetime(2026, 12, 7, 14, 30, 45, tzinfo=UTC), tick=False):
        services.invitation_send(user_id=pending.pk, invited_by_id=by.pk)
    sent = mail.outbox[-1]
    who = f"{by.full_name} of {'Acme Jewels' if inviter == 'acme_admin' else settings.LOUPE_STUDIO_NAME}"
    assert sent.subject == f"{who} invited you to {settings.LOUPE_STUDIO_NAME}"
    assert f"{who} invited you to work with {settings.LOUPE_STUDIO_NAME}, the retouching studio, for Acme Jewels" in sent.body
    assert "as one of its admins" in sent.body
    # 72 hours after 14:30:45 UTC on Monday, in New York: Thursday 09:30 EST (never "a few days")
    assert "The link works once, until Thursday 10 December 2026, 09:30 EST:" in sent.body
    assert "few days" not in sent.body and "created an account" not in sent.body


def test_resending_queues_a_mail_and_logs_it_for_the_company(cast, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "enqueue_on_commit", lambda func, *args, group: queued.append((func, *args, group)))
    seat = services.member_add(client=cast.acme, by=cast.acme_admin, email="rea@acme.test", full_name="Rea",
                               role=Role.CLIENT_MEMBER)
    queued.clear()
    services.member_resend(membership=seat, by=cast.acme_admin)
    assert queued == [("clients.tasks.send_invitation", str(seat.user.pk), str(cast.acme_admin.pk), "mail")]
    from agency.models import SecurityEvent

    event = SecurityEvent.objects.filter(kind="invitation_sent").latest("at")
    assert (event.actor, event.subject, event.company_id, event.detail) == (cast.acme_admin, seat.user, cast.acme.pk,
                                                                            "sent again")
    type(cast.acme).objects.filter(pk=cast.acme.pk).update(is_active=False)
    seat.client.refresh_from_db()
    with pytest.raises(InvalidTransition) as refused:
        services.member_resend(membership=seat, by=cast.account_manager)
    assert refused.value.message == "The company is deactivated; reactivate it first."


def test_nobody_and_other_companies_do_not_manage_a_team_and_are_told_who_does(cast):
    from django.contrib.auth.models import AnonymousUser

    from clients.permissions import can_manage_team, can_manage_webhooks

    anonymous = AnonymousUser()
    assert not can_manage_team(anonymous, cast.acme) and not can_manage_webhooks(anonymous, cast.acme)
    assert not can_manage_webhooks(anonymous, None)
    for someone in (cast.globex_admin, cast.acme_member, cast.retoucher):
        with pytest.raises(NotPermitted) as refused:
            services.member_add(client=cast.acme, by=someone, email="new@acme.test", full_name="New", role="client_member")
        assert refused.value.message == "Only the company's admins or the studio's account managers change the team."
    assert not User.objects.filter(email="new@acme.test").exists()
