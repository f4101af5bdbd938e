"""A person's data erased (issue 24): a client admin (or the studio's account manager) removes a person's seat and
erases them. Their name and e-mail address leave every text Loupe keeps for the company (timeline, messages,
marks and replies, notifications, the security log), what they did stays under "Former member …", invoices do
not change, another company's texts are untouched, and every refusal changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client as HttpClient

from agency.models import Notification, SecurityEvent
from billing.models import Invoice
from clients.models import Membership
from jobs.events import record_event
from jobs.models import Annotation, AnnotationReply, Event, Message
from tests.conftest import api_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _everything() -> str:
    """Every row of every table Loupe keeps, as text (sessions and Django's own bookkeeping aside)."""
    out = io.StringIO()
    call_command("dumpdata", exclude=["contenttypes", "auth.permission", "sessions", "admin.logentry"], stdout=out)
    return out.getvalue()


@pytest.fixture
def alice_was_here(cast):
    """Alice Acme's traces across the company's order, and a Globex text that happens to name her."""
    alice, order = cast.acme_member, cast.acme_order
    record_event(order=order, actor=alice, verb="order.updated", audience="client",
                 message=f"Order updated by {alice.full_name} ({alice.email})")
    Message.objects.create(order=order, author=alice, body="Please keep the hallmark sharp.")
    Message.objects.create(order=order, author=cast.account_manager, body=f"Noted, {alice.full_name}.")
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.SIGN_IN, actor=alice, actor_email=alice.email,
                                 subject=alice, subject_email=alice.email)
    Notification.objects.create(user=cast.account_manager, kind="message", source="test",
                                title=f"{alice.full_name} wrote on {order.number}", body="Please keep the hallmark sharp.")
    Notification.objects.create(user=alice, kind="message", source="test", title="For Alice", body="")
    record_event(order=cast.globex_order, actor=cast.globex_member, verb="order.updated", audience="client",
                 message="A note naming Alice Acme at Globex")
    return alice


def _with_marks(cast, alice):
    from jobs.models import ImageStatus
    from tests.factories import add_images

    [image] = add_images(cast.acme_order, {"standard": 1}, status=ImageStatus.RECEIVED)
    mark = Annotation.objects.create(order=cast.acme_order, image=image, number=1, shape="point",
                                     selector={"type": "FragmentSelector", "value": "xywh=pixel:1,1,0,0"},
                                     x=1, y=1, w=0, h=0, text="Dust on the prong", author=alice, audience="client",
                                     width=4000, height=3000)
    AnnotationReply.objects.create(annotation=mark, author=cast.account_manager, audience="client",
                                   text=f"@{alice.full_name} fixed in v2")
    return mark


def test_a_client_admin_erases_a_member_everywhere_loupe_keeps_them(cast, alice_was_here):
    alice = alice_was_here
    mark = _with_marks(cast, alice)
    old_name, old_email = alice.full_name, alice.email
    invoices = list(Invoice.objects.values())
    assert old_email in _everything() and old_name in _everything()
    assert HttpClient().post("/login/", {"username": old_email, "password": PASSWORD}).status_code == 302

    answer = api_for(cast.acme_admin).post(f"/api/v1/members/{alice.membership.pk}/erase/")

    assert answer.status_code == 204
    alice.refresh_from_db()
    assert alice.full_name == f"Former member {alice.pk.hex[:6]}" and alice.email.endswith("@erased.invalid")
    assert not alice.is_active and not alice.has_usable_password()
    assert not Membership.objects.filter(user=alice).exists()
    kept = _everything()
    assert old_email not in kept
    assert kept.count(old_name) == 1  # Globex's own text, which Acme's erasure does not touch
    assert Event.objects.get(order=cast.globex_order, verb="order.updated").message == "A note naming Alice Acme at Globex"
    # what she did stays, by the former member
    assert Message.objects.filter(author=alice).get().body == "Please keep the hallmark sharp."
    assert Annotation.objects.get(pk=mark.pk).author == alice and mark.replies.get().text == f"@{alice.full_name} fixed in v2"
    assert f"Order updated by {alice.full_name} ({alice.email})" in Event.objects.filter(
        order=cast.acme_order).values_list("message", flat=True)
    assert not Notification.objects.filter(user=alice).exists()
    assert list(Invoice.objects.values()) == invoices
    line = SecurityEvent.objects.get(kind=SecurityEvent.Kind.PERSON_ERASED)
    assert line.subject == alice and line.actor == cast.acme_admin and line.company_id == cast.acme.pk
    # she cannot sign in any more, under either address
    web = HttpClient()
    for email in (old_email, alice.email):
        web.post("/login/", {"username": email, "password": PASSWORD})
        assert "_auth_user_id" not in web.session


@pytest.mark.parametrize("who", ["acme_member", "globex_admin", "finance"])
def test_who_may_not_erase_gets_a_refusal_and_nothing_changes(cast, alice_was_here, who):
    before = _everything()
    answer = api_for(getattr(cast, who)).post(f"/api/v1/members/{alice_was_here.membership.pk}/erase/")
    assert answer.status_code == {"acme_member": 403, "globex_admin": 404, "finance": 403}[who]
    assert _everything() == before


def test_the_companys_last_admin_is_not_erased(cast):
    before = _everything()
    answer = api_for(cast.account_manager).post(f"/api/v1/members/{cast.acme_admin.membership.pk}/erase/")
    assert answer.status_code == 409 and "last admin" in answer.json()["detail"]
    assert _everything() == before


def test_the_team_page_erases_after_saying_what_it_does(cast, alice_was_here):
    web = HttpClient()
    web.force_login(cast.acme_admin)
    page = web.get("/team/").content.decode()
    assert "This cannot be undone." in page and "Erase their data" in page
    membership = alice_was_here.membership
    answer = web.post(f"/clients/{cast.acme.pk}/members/{membership.pk}/erase/", follow=True)
    assert "Alice Acme no longer has access, and their name and e-mail address are erased." in answer.content.decode()
    again = web.post(f"/clients/{cast.acme.pk}/members/{membership.pk}/erase/")  # the second click of a double click
    assert again.status_code == 404
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.PERSON_ERASED).count() == 1


def test_a_name_is_replaced_in_kept_texts_from_four_characters_the_address_always():
    from clients.services import erasure_pairs

    new = ("Former member 1a2b3c", "erased-1a2b3c@invalid")
    assert erasure_pairs(" Anna ", "anna@acme.test", *new) == [("anna@acme.test", new[1]), ("Anna", new[0])]
    assert erasure_pairs("Bob", "bob@acme.test", *new) == [("bob@acme.test", new[1])]  # "Bob" is in "Bobby", "Bobbin"…
