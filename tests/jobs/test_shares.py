"""Personal review links (issue 22, jobs/review/shares.py): who may send them and what they allow, the guest's
pages under /r/<token>/, expiry and revocation at their boundary, wrong passwords locking the link like a
sign-in, downloads as the link allows (never originals, finals never while held), and a guest's scope: the
link's delivery and nothing else of the company or the studio."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import dateformat, timezone

from agency.exceptions import RuleViolation
from agency.models import SecurityEvent
from agency.uploads import get_backend
from billing.models import Invoice
from clients.tenancy import scope
from jobs.models import (
    Annotation,
    AnnotationReply,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Event,
    ImageStatus,
    Message,
    Order,
    OrderImage,
    OrderStatus,
    RevisionRound,
    RoundStatus,
    ShareActivity,
    ShareLink,
    Version,
    VersionStatus,
)
from jobs.review import payment_holds, proofing, shares
from tests.conftest import api_for, web_for
from tests.factories import delivered_with_previews, give_tiles
from tests.pages import page_text

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def acme_delivery(cast):
    return delivered_with_previews(cast.acme, "Spring rings")


def _served(location):
    """The storage key a local short-lived link serves."""
    return get_backend().read_download_token(location.split("/files/", 1)[1].strip("/"))["k"]


def _share(user, delivery, **body):
    return api_for(user).post(f"/api/v1/deliveries/{delivery.pk}/shares/", {"email": "dora@agency.test", **body},
                              format="json")


def _snapshot():
    return (list(ShareLink.objects.values_list("email", "revoked_at", "expires_at", "can_decide", "downloads")),
            ShareActivity.objects.count(), SecurityEvent.objects.count(), Event.objects.count(), len(mail.outbox))


def _open(link_url, name="Dora Director", password=""):
    """A fresh browser that opens the link and confirms the name: returns it."""
    browser = HttpClient()
    answer = browser.post(link_url, {"name": name, "password": password})
    assert answer.status_code == 302, answer.content[:400]
    return browser


# --- sending links ---------------------------------------------------------------------------------------------

def test_a_client_admin_sends_a_link_shown_once_and_mailed_while_only_its_digest_is_kept(
        cast, acme_delivery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _share(cast.acme_admin, acme_delivery, downloads="previews", can_decide=True)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert answer["Cache-Control"] == "no-store"
    token = body["url"].rsplit("/r/", 1)[1].strip("/")
    link = ShareLink.objects.get()
    assert (link.email, link.downloads, link.can_decide, link.created_by) == (
        "dora@agency.test", "previews", True, cast.acme_admin)
    assert link.digest == shares.digest(token) and token not in str(ShareLink.objects.values().get())
    assert len(base64.urlsafe_b64decode(token + "=")) * 8 >= 128  # SECURITY.md G2: a token nobody guesses
    assert link.expires_at == pytest.approx(timezone.now() + timedelta(days=14), abs=timedelta(seconds=5))
    assert body["state"] == "active" and body["has_password"] is False and "digest" not in body
    # the mail carries the link; the task queue's row does not (it carries it sealed)
    assert [m.to for m in mail.outbox] == [["dora@agency.test"]]
    assert body["url"] in mail.outbox[0].body and "for dora@agency.test only" in mail.outbox[0].body
    assert shares._seal(token) != token and token not in shares._seal(token)
    # the company's timeline and the security log say who shared with whom
    event = Event.objects.get(verb="delivery.shared")
    assert (event.actor, event.message, event.audience) == (
        cast.acme_admin, "Shared delivery 1 with dora@agency.test for review", "client")
    logged = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SHARE_CREATED)
    assert (logged.actor, logged.subject_email, logged.company_id) == (cast.acme_admin, "dora@agency.test", cast.acme.pk)
    # listed without a secret
    listed = api_for(cast.acme_admin).get(f"/api/v1/shares/?delivery={acme_delivery.pk}").json()
    assert [row["email"] for row in listed["results"]] == ["dora@agency.test"]
    assert "url" not in listed["results"][0] and token not in str(listed)


def test_the_mail_task_sends_nothing_for_a_link_revoked_meanwhile_or_a_token_it_did_not_seal(cast, acme_delivery):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    assert shares.share_mail(link_id=link.pk, sealed="not-a-sealed-token") == 0
    assert shares.share_mail(link_id=link.pk, sealed=shares._seal("another-token")) == 0
    shares.share_revoke(link=link, by=cast.acme_admin)
    assert shares.share_mail(link_id=link.pk, sealed=shares._seal(token)) == 0
    assert mail.outbox == []


def test_an_account_manager_shares_any_companys_delivery_but_only_a_client_admin_lets_a_guest_decide(cast, acme_delivery):
    assert _share(cast.account_manager, acme_delivery, email="eve@agency.test").status_code == 201
    before = _snapshot()
    refused = _share(cast.account_manager, acme_delivery, can_decide=True)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only an admin of Acme Jewels lets a guest approve or request changes."
    assert _snapshot() == before


@pytest.mark.parametrize("persona, status", [("client_member_A", 403), ("client_admin_B", 404), ("client_member_B", 404),
                                             ("retoucher_assigned", 404), ("qc", 404), ("finance", 403), ("anon", 401)])
def test_who_may_not_send_a_link_changes_nothing(cast, acme_delivery, persona, status):
    before = _snapshot()
    answer = _share(cast.personas()[persona], acme_delivery)
    assert answer.status_code in ({status, 403} if persona == "anon" else {status})
    assert _snapshot() == before


@pytest.mark.parametrize("body, field, message", [
    ({"email": "not-an-address"}, "email", "Enter the e-mail address of the person the link is for."),
    ({"email": ""}, "email", None),
    ({"downloads": "originals"}, "downloads", None),
    ({"password": "short7!"}, "password", "A link's password has at least 8 characters."),
    ({"expires_at": (NOW - timedelta(seconds=1)).isoformat()}, "expires_at", "The expiry must be in the future."),
    ({"expires_at": "tomorrow"}, "expires_at", None),
])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(cast, acme_delivery, body, field, message):
    before = _snapshot()
    answer = _share(cast.acme_admin, acme_delivery, **body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"]
    if message:
        assert answer.json()["errors"][field] == [message]
    assert _snapshot() == before


def test_a_link_works_for_at_most_ninety_days_to_the_second(cast, acme_delivery):
    with time_machine.travel(NOW, tick=False):
        limit = timezone.now() + timedelta(days=90)
        assert _share(cast.acme_admin, acme_delivery, expires_at=limit.isoformat()).status_code == 201
        before = _snapshot()
        answer = _share(cast.acme_admin, acme_delivery, expires_at=(limit + timedelta(seconds=1)).isoformat())
    assert answer.status_code == 400
    assert answer.json()["errors"]["expires_at"] == ["A review link works for at most 90 days."]
    assert _snapshot() == before


def test_a_cancelled_orders_delivery_is_not_shared(cast, acme_delivery):
    Order.objects.filter(pk=acme_delivery.order_id).update(status=OrderStatus.CANCELLED)
    before = _snapshot()
    answer = _share(cast.acme_admin, acme_delivery)
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"Order {acme_delivery.order.number} is cancelled: there is nothing to review."
    assert _snapshot() == before


# --- the guest's pages ---------------------------------------------------------------------------------------------

def test_a_guest_confirms_their_name_and_sees_the_deliverys_pictures_and_nothing_else(cast, acme_delivery):
    other = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    url = shares.link_path(token)
    browser = HttpClient()
    first = browser.get(url)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store" and first["Referrer-Policy"] == "same-origin"
    text = page_text(first.content)
    assert "This link is for dora@agency.test" in text and "Spring rings" in text
    # without a name: refused, nothing noted
    refused = browser.post(url, {"name": "   "})
    assert refused.status_code == 400 and "Tell us your name" in page_text(refused.content)
    assert ShareActivity.objects.count() == 0
    assert browser.post(url, {"name": "Dora <b>Director</b>"}).status_code == 302
    Message.objects.create(order=acme_delivery.order, author=cast.account_manager, body="INTERNAL-CANARY", internal=True)
    Message.objects.create(order=acme_delivery.order, author=cast.acme_admin, body="COMPANY-CANARY")
    page = browser.get(url)
    text = page_text(page.content)
    assert "INTERNAL-CANARY" not in text and "COMPANY-CANARY" not in text  # SECURITY.md G1: no notes reach a guest
    names = [item.image.filename for item in acme_delivery.items.all()]
    assert all(name in text for name in names)
    assert other.items.get().image.filename not in text
    assert "Dora <b>Director</b>" in text and b"<b>Director</b>" not in page.content  # escaped, kept as typed
    for word in ("€", "EUR", "Invoice", "Quote", "Alice Acme", "CANARY"):
        assert word not in text
    item = acme_delivery.items.first()
    picture = browser.get(f"{url}versions/{item.version_id}/download/")
    assert picture.status_code == 302
    # another delivery's picture, through this link: 404
    assert browser.get(f"{url}versions/{other.items.get().version_id}/download/").status_code == 404
    link.refresh_from_db()
    assert link.guest_name == "Dora <b>Director</b>"
    opened = ShareActivity.objects.get(link=link)
    assert (opened.kind, opened.detail) == ("opened", "as Dora <b>Director</b>")
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SHARE_OPENED, subject_email="dora@agency.test").count() == 1


def test_a_guests_scope_is_the_links_delivery_and_nothing_of_the_company_or_the_studio(cast, acme_delivery):
    other = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    link, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    Message.objects.create(order=acme_delivery.order, author=cast.acme_admin, body="CANARY message")
    assert set(scope(OrderImage.objects.all(), link)) == {i.image for i in acme_delivery.items.all()}
    assert set(scope(Version.objects.all(), link)) == {i.version for i in acme_delivery.items.all()}
    assert list(scope(Delivery.objects.all(), link)) == [acme_delivery]
    assert list(scope(Order.objects.all(), link)) == [acme_delivery.order]
    assert other.order not in scope(Order.objects.all(), link)
    for model in (Event, Message, Invoice, ShareLink, ShareActivity):
        assert not scope(model.objects.all(), link).exists(), model
    # a revoked link sees nothing at all
    shares.share_revoke(link=link, by=cast.acme_admin)
    assert not scope(OrderImage.objects.all(), link).exists()
    assert not scope(Delivery.objects.all(), link).exists()


def test_an_unknown_token_is_a_clear_404_and_a_guest_page_needs_the_confirmation_first(cast, acme_delivery):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    unknown = HttpClient().get(shares.link_path("x" * 43))
    assert unknown.status_code == 404 and "This review link does not exist" in page_text(unknown.content)
    item = acme_delivery.items.first()
    unconfirmed = HttpClient().get(f"{shares.link_path(token)}versions/{item.version_id}/download/")
    assert unconfirmed.status_code == 404 and "Open your review link first" in page_text(unconfirmed.content)


def test_an_expired_link_ends_at_its_second_and_says_whom_to_ask(cast, acme_delivery):
    with time_machine.travel(NOW, tick=False):
        link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                          expires_at=NOW + timedelta(days=2))
        browser = _open(shares.link_path(token))
    with time_machine.travel(NOW + timedelta(days=2) - timedelta(seconds=1), tick=False):
        assert browser.get(shares.link_path(token)).status_code == 200
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        gone = browser.get(shares.link_path(token))
        assert gone.status_code == 410
        assert "Ask Ann Acme (" in page_text(gone.content) and "for a new one" in page_text(gone.content)
        version = acme_delivery.items.first().version_id
        assert browser.get(f"{shares.link_path(token)}versions/{version}/download/").status_code == 410


def test_revoking_ends_a_link_at_once_and_twice_changes_nothing(cast, acme_delivery):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token))
    api = api_for(cast.acme_admin)
    assert api.delete(f"/api/v1/shares/{link.pk}/").status_code == 204
    before = _snapshot()
    assert api.delete(f"/api/v1/shares/{link.pk}/").status_code == 204
    assert _snapshot() == before
    gone = browser.get(shares.link_path(token))
    assert gone.status_code == 410 and "This review link was withdrawn. Ask Ann Acme" in page_text(gone.content)
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SHARE_REVOKED).count() == 1
    assert api.get(f"/api/v1/shares/{link.pk}/").json()["state"] == "revoked"


def test_revoking_all_ends_every_live_link_of_the_delivery_and_no_other(cast, acme_delivery):
    other = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    for email in ("a@x.test", "b@x.test"):
        shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email=email)
    kept, _ = shares.share_create(delivery=other, by=cast.acme_admin, email="c@x.test")
    assert api_for(cast.acme_admin).delete(f"/api/v1/deliveries/{acme_delivery.pk}/shares/").status_code == 204
    assert list(ShareLink.objects.filter(revoked_at__isnull=True)) == [kept]
    # a member cannot revoke: 403, nothing changes
    before = _snapshot()
    assert api_for(cast.acme_member).delete(f"/api/v1/deliveries/{other.pk}/shares/").status_code == 403
    assert api_for(cast.acme_member).delete(f"/api/v1/shares/{kept.pk}/").status_code == 404  # links are not theirs to see
    assert _snapshot() == before


def test_wrong_passwords_lock_the_link_like_a_sign_in_and_the_right_one_opens_it_after_the_cool_off(
        cast, acme_delivery, settings):
    settings.AXES_FAILURE_LIMIT = 3
    with time_machine.travel(NOW, tick=False):
        link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                          password="correct horse")
        url, browser = shares.link_path(token), HttpClient()
        for _ in range(2):
            wrong = browser.post(url, {"name": "Dora", "password": "guess"})
            assert wrong.status_code == 400 and "That is not the link's password." in page_text(wrong.content)
        locked = browser.post(url, {"name": "Dora", "password": "guess"})
        assert locked.status_code == 429 and "The link opens again in 15 minutes" in page_text(locked.content)
        # locked: even the right password waits
        assert browser.post(url, {"name": "Dora", "password": "correct horse"}).status_code == 429
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.GUEST_LOCKED_OUT).count() == 1
    assert list(ShareActivity.objects.filter(link=link).values_list("kind", flat=True).order_by("id")) == [
        "wrong_password", "wrong_password", "wrong_password", "locked"]
    with time_machine.travel(NOW + timedelta(minutes=15) - timedelta(seconds=1), tick=False):
        assert browser.post(url, {"name": "Dora", "password": "correct horse"}).status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=15), tick=False):
        assert browser.post(url, {"name": "Dora", "password": "correct horse"}).status_code == 302
        assert browser.get(url).status_code == 200


@pytest.mark.parametrize("downloads, preview, finals", [("none", 403, 403), ("previews", 302, 403), ("finals", 302, 302)])
def test_downloads_are_what_the_link_allows(cast, acme_delivery, downloads, preview, finals):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                      downloads=downloads)
    browser, url = _open(shares.link_path(token)), shares.link_path(token)
    item = acme_delivery.items.first()
    answer = browser.get(f"{url}download/{item.pk}/")
    assert answer.status_code == preview
    if preview == 302:
        assert _served(answer["Location"]).endswith(f"/{item.image_id}/versions/v1/held-preview.webp")  # watermarked
    assert browser.get(f"{url}download/").status_code == finals
    noted = list(ShareActivity.objects.filter(link=link, kind="downloaded").values_list("detail", flat=True))
    expected = ([f"the watermarked preview of {item.image.filename}"] if preview == 302 else []) + (
        ["the ZIP of delivery 1"] if finals == 302 else [])
    assert sorted(noted) == sorted(expected)
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SHARE_DOWNLOADED).count() == len(expected)


def test_a_held_orders_final_files_wait_for_the_payment_and_its_pictures_carry_the_watermark(cast, acme_delivery):
    Order.objects.filter(pk=acme_delivery.order_id).update(downloads_held=True)
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                      downloads="finals")
    assert payment_holds.is_held(Order.objects.get(pk=acme_delivery.order_id), link)
    browser = _open(shares.link_path(token))
    held = browser.get(f"{shares.link_path(token)}download/")
    assert held.status_code == 402 and "paid before download" in page_text(held.content)
    assert not ShareActivity.objects.filter(kind="downloaded").exists()
    page = page_text(browser.get(shares.link_path(token)).content)
    assert "The pictures carry a watermark until the order is paid for." in page
    item = acme_delivery.items.first()
    shown = browser.get(f"{shares.link_path(token)}versions/{item.version_id}/download/")
    assert _served(shown["Location"]).endswith(f"/{item.image_id}/versions/v1/held-preview.webp")


def test_there_is_no_way_to_an_original_file(cast, acme_delivery):
    _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                   downloads="finals")
    browser, item = _open(shares.link_path(token)), acme_delivery.items.first()
    assert browser.get(f"{shares.link_path(token)}versions/{item.version_id}/download/?what=file").status_code == 404
    shown = browser.get(f"{shares.link_path(token)}images/{item.image_id}/download/")
    assert shown.status_code == 302 and _served(shown["Location"]).endswith(f"/{item.image_id}/preview.webp")


# --- the order page ------------------------------------------------------------------------------------------------

def test_the_order_page_sends_shows_and_revokes_links(cast, acme_delivery, django_capture_on_commit_callbacks):
    web = web_for(cast.acme_admin)
    order_url = f"/orders/{acme_delivery.order_id}/"
    assert "Review links" in page_text(web.get(order_url).content)
    with django_capture_on_commit_callbacks(execute=True):
        created = web.post(f"/deliveries/{acme_delivery.pk}/shares/",
                           {"email": "Dora@Agency.test", "days": "7", "downloads": "previews", "can_decide": "1"})
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    link = ShareLink.objects.get()
    assert (link.email, link.downloads, link.can_decide) == ("dora@agency.test", "previews", True)
    assert link.expires_at == pytest.approx(timezone.now() + timedelta(days=7), abs=timedelta(seconds=5))
    assert mail.outbox[0].body.count("/r/") == 1 and mail.outbox[0].body.split("/r/")[1].split("/")[0] in \
        created.content.decode()
    page = page_text(web.get(order_url).content)
    assert "dora@agency.test" in page and "Not opened yet" in page
    assert web.post(f"/shares/{link.pk}/revoke/").status_code == 302
    assert ShareLink.objects.get().revoked_at is not None
    # bad days: refused with the reason, nothing made
    before = _snapshot()
    for days, reason in (("0", "The expiry must be in the future."), ("91", "A review link works for at most 90 days."),
                         ("soon", "Give the number of days the link works, from 1 to 90.")):
        refused = web.post(f"/deliveries/{acme_delivery.pk}/shares/", {"email": "x@y.test", "days": days})
        assert refused.status_code == 400 and reason in page_text(refused.content)
    assert _snapshot() == before


def test_a_member_sees_no_share_form_and_the_order_page_reads_links_in_constant_queries(
        cast, acme_delivery, django_assert_max_num_queries):
    assert "Review links" not in page_text(web_for(cast.acme_member).get(f"/orders/{acme_delivery.order_id}/").content)
    web = web_for(cast.acme_admin)
    url = f"/orders/{acme_delivery.order_id}/deliveries/"
    shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="one@x.test")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        web.get(url)
    for n in range(5):
        link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email=f"p{n}@x.test")
        _open(shares.link_path(token))
    with CaptureQueriesContext(connection) as six:
        assert web.get(url).status_code == 200
    assert len(six) == len(one)


# --- a guest who may decide ---------------------------------------------------------------------------------------

def _deciding(cast, delivery, **extra):
    link, token = shares.share_create(delivery=delivery, by=cast.acme_admin, email="dora@agency.test",
                                      can_decide=True, **extra)
    return link, token, _open(shares.link_path(token), name="Dora Director")


def _decide(browser, token, image, decision, note=""):
    return browser.post(f"{shares.link_path(token)}decide/", {"image": str(image.pk), "decision": decision, "note": note})


def _review_state(order):
    statuses = sorted(OrderImage.objects.filter(order=order).values_list("status", flat=True))
    return (Order.objects.get(pk=order.pk).status, statuses,
            RevisionRound.objects.filter(order=order).count(), Event.objects.filter(order=order).count(),
            ShareActivity.objects.filter(kind="decided").count())


def test_a_guest_who_may_decide_approves_through_the_review_service_and_is_named_on_the_timeline(cast, acme_delivery):
    link, token, browser = _deciding(cast, acme_delivery)
    first, second = [item.image for item in acme_delivery.items.order_by("image__position")]
    assert "Approve Spring-1.jpg" in page_text(browser.get(shares.link_path(token)).content)
    answer = _decide(browser, token, first, "approve")
    assert answer.status_code == 302
    assert "Approved. Thank you" in page_text(browser.get(shares.link_path(token)).content)
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.APPROVED
    event = Event.objects.get(verb="images.approved")
    assert (event.actor, event.message) == (None, "1 image approved by Dora Director (guest): Spring-1.jpg")
    assert event.data["guest"] == {"share": str(link.pk), "name": "Dora Director", "email": "dora@agency.test"}
    noted = ShareActivity.objects.get(kind="decided")
    assert (noted.link, noted.detail) == (link, "approved Spring-1.jpg")
    assert SecurityEvent.objects.get(kind=SecurityEvent.Kind.SHARE_DECIDED).detail == (
        f"approved Spring-1.jpg on {acme_delivery.order.number}")
    # the last picture approved completes the order, as when the company approves it
    assert _decide(browser, token, second, "approve").status_code == 302
    assert Order.objects.get(pk=acme_delivery.order_id).status == OrderStatus.COMPLETED
    # twice: the picture is approved already, refused with the reason, nothing changes
    before = _review_state(acme_delivery.order)
    again = _decide(browser, token, second, "approve")
    assert again.status_code == 409 and "Back to the review" in page_text(again.content)
    assert _review_state(acme_delivery.order) == before


def test_a_guests_changes_open_a_round_that_names_them(cast, acme_delivery):
    cast.acme.__class__.objects.filter(pk=cast.acme.pk).update(free_revision_rounds=1)
    link, token, browser = _deciding(cast, acme_delivery)
    image = acme_delivery.items.order_by("image__position").first().image
    assert _decide(browser, token, image, "revise", "The prong at the top left still shows dust").status_code == 302
    round_ = RevisionRound.objects.get(order=acme_delivery.order)
    assert (round_.requested_by, round_.requested_by_share, round_.status) == (None, link, RoundStatus.OPEN)
    assert round_.items.get().note == "The prong at the top left still shows dust"
    assert Order.objects.get(pk=acme_delivery.order_id).status == OrderStatus.REVISION
    assert Event.objects.get(verb="order.revision").message == (
        "Revision round 1 opened by Dora Director (guest): changes requested on 1 image")
    listed = api_for(cast.acme_admin).get(f"/api/v1/revision-rounds/{round_.pk}/").json()
    assert listed["requested_by"] == "Dora Director (guest)"


def test_a_guests_billable_round_waits_for_a_client_admin(cast, acme_delivery):
    cast.acme.__class__.objects.filter(pk=cast.acme.pk).update(free_revision_rounds=0)
    _, token, browser = _deciding(cast, acme_delivery)
    image = acme_delivery.items.order_by("image__position").first().image
    assert _decide(browser, token, image, "revise", "Warmer gold").status_code == 302
    assert RevisionRound.objects.get().status == RoundStatus.AWAITING_CONFIRMATION
    assert "once the company's admin confirms them" in page_text(browser.get(shares.link_path(token)).content)
    assert Event.objects.get(verb="revision.awaiting_confirmation").message.startswith(
        "Revision round 1, asked by Dora Director (guest), waits for a client admin's confirmation")


def test_a_guest_decides_only_with_a_link_that_allows_it_only_on_their_pictures_and_says_what_should_change(
        cast, acme_delivery):
    order = acme_delivery.order
    later = OrderImage.objects.create(order=order, filename="Later-1.jpg", status=ImageStatus.DELIVERED, width=2400,
                                      height=2400)
    second = Delivery.objects.create(order=order, number=2, status=DeliveryStatus.READY, archive="d2.zip")
    DeliveryItem.objects.create(delivery=second, image=later, version=Version.objects.create(
        image=later, number=1, status=VersionStatus.PASSED, file="l.png", preview="l.webp", width=2400, height=2400))
    image = acme_delivery.items.order_by("image__position").first().image
    looking = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="w@x.test")[1]
    viewer = _open(shares.link_path(looking))
    assert "Approve" not in page_text(viewer.get(shares.link_path(looking)).content)
    _, token, browser = _deciding(cast, acme_delivery)
    before = _review_state(order)
    assert _decide(viewer, looking, image, "approve").status_code == 403
    refusals = [
        (_decide(browser, token, later, "approve"), 400, "Later-1.jpg is not part of your review."),
        (_decide(browser, token, image, "revise", "   "), 400, "Say what should change on Spring-1.jpg: a note or a mark."),
        (_decide(browser, token, image, "maybe"), 400, "Approve the picture or ask for changes."),
        (browser.post(f"{shares.link_path(token)}decide/", {"image": "not-a-uuid", "decision": "approve"}), 400,
         "Choose a picture of your review."),
    ]
    for answer, status, reason in refusals:
        assert answer.status_code == status and reason in page_text(answer.content), page_text(answer.content)
    assert _review_state(order) == before
    with pytest.raises(RuleViolation, match="Draw your marks on the picture first"):
        link = ShareLink.objects.get(email="dora@agency.test")
        proofing.review_submit(order=order, by=link, items=[{"image": image.pk, "decision": "revise", "note": "x",
                                                             "marks": [{"target": {}, "text": "dust"}]}])
    assert _review_state(order) == before


# --- a code mailed to the link's address (the studio's LOUPE_REVIEW_LINK_CODE) ---------------------------------------

def _code_from(message):
    return re.search(r"\b(\d{6})\b", message.subject).group(1)


def test_where_the_studio_asks_a_forwarded_link_opens_only_with_the_code_mailed_to_its_address(
        cast, acme_delivery, settings, django_capture_on_commit_callbacks):
    settings.LOUPE_REVIEW_LINK_CODE = True
    with time_machine.travel(NOW, tick=False):
        link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                          password="correct horse")
        url, forwarded = shares.link_path(token), HttpClient()
        with django_capture_on_commit_callbacks(execute=True):
            asked = forwarded.post(url, {"name": "Fred Forwarded", "password": "correct horse"})
        assert asked.status_code == 200
        assert "We sent a six-digit code to dora@agency.test" in page_text(asked.content)
        [message] = mail.outbox
        assert message.to == ["dora@agency.test"] and "someone has your review link" in message.body
        code = _code_from(message)
        assert ShareLink.objects.get().code_digest not in (code, "") and code not in str(ShareLink.objects.values().get())
        # the page's pictures stay closed until the code
        assert forwarded.get(f"{url}versions/{acme_delivery.items.first().version_id}/download/").status_code == 404
        wrong = forwarded.post(url, {"code": "000000" if code != "000000" else "111111"})
        assert wrong.status_code == 400 and "That is not the code we sent to dora@agency.test." in page_text(wrong.content)
        assert ShareLink.objects.get().failures == 1
        # a new code at most once a minute: asking again at once sends nothing
        with django_capture_on_commit_callbacks(execute=True):
            forwarded.post(url, {"resend": "1"})
        assert len(mail.outbox) == 1
    with time_machine.travel(NOW + timedelta(minutes=10) - timedelta(seconds=1), tick=False):
        opened = forwarded.post(url, {"code": code})
        assert opened.status_code == 302 and forwarded.get(url).status_code == 200
    assert ShareLink.objects.get().guest_name == "Fred Forwarded"
    assert ShareActivity.objects.filter(kind="opened").count() == 1


def test_a_code_works_ten_minutes_and_a_new_one_replaces_it(cast, acme_delivery, settings,
                                                          django_capture_on_commit_callbacks):
    settings.LOUPE_REVIEW_LINK_CODE = True
    with time_machine.travel(NOW, tick=False):
        _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
        url, browser = shares.link_path(token), HttpClient()
        with django_capture_on_commit_callbacks(execute=True):
            browser.post(url, {"name": "Dora"})
        first = _code_from(mail.outbox[-1])
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        late = browser.post(url, {"code": first})
        assert late.status_code == 400 and "That code has expired" in page_text(late.content)
        with django_capture_on_commit_callbacks(execute=True):
            assert browser.post(url, {"resend": "1"}).status_code == 200
        second = _code_from(mail.outbox[-1])
        assert len(mail.outbox) == 2
        if first != second:
            assert browser.post(url, {"code": first}).status_code == 400
        assert browser.post(url, {"code": second}).status_code == 302


def test_the_send_form_sent_twice_makes_one_link_and_never_shows_it_again(cast, acme_delivery,
                                                                          django_capture_on_commit_callbacks):
    web, key = web_for(cast.acme_admin), "3f1d7e0e-4a57-4a39-9f63-0d6a5c1f2b11"
    body = {"email": "dora@agency.test", "days": "14", "downloads": "none", "form_key": key}
    with django_capture_on_commit_callbacks(execute=True):
        first = web.post(f"/deliveries/{acme_delivery.pk}/shares/", body)
        again = web.post(f"/deliveries/{acme_delivery.pk}/shares/", body)
    url = re.search(r'id="share-url" value="([^"]+)"', first.content.decode()).group(1)
    assert ShareLink.objects.count() == 1 and len(mail.outbox) == 1
    assert again.status_code == 409 and url not in again.content.decode()


def test_guests_who_may_decide_are_reminded_once_the_day_before_the_review_closes(
        cast, acme_delivery, django_capture_on_commit_callbacks):
    cast.acme.__class__.objects.filter(pk=cast.acme.pk).update(auto_approve_days=3)
    Delivery.objects.filter(pk=acme_delivery.pk).update(created_at=NOW)
    with time_machine.travel(NOW, tick=False):
        deciding, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test",
                                          can_decide=True)
        shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="viewer@agency.test")
        gone, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="gone@agency.test",
                                      can_decide=True)
        shares.share_revoke(link=gone, by=cast.acme_admin)
    with time_machine.travel(NOW + timedelta(days=2) - timedelta(seconds=1), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        proofing.auto_approve_due()
    assert [m.to for m in mail.outbox] == []
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        for _ in range(2):  # hourly: once is enough
            with django_capture_on_commit_callbacks(execute=True):
                proofing.auto_approve_due()
    guests = [m for m in mail.outbox if m.to[0].endswith("@agency.test")]
    assert [m.to for m in guests] == [["dora@agency.test"]]
    assert guests[0].subject == "Your review of Spring rings closes tomorrow"
    with timezone.override(cast.acme.time_zone):
        closes = dateformat.format(timezone.localtime(NOW + timedelta(days=3)), "l j F Y, H:i T")
    assert f"closes on {closes}. Pictures nobody of Acme Jewels has answered" in " ".join(guests[0].body.split())
    assert "/r/" not in guests[0].body and "ask Ann Acme" in guests[0].body
    assert ShareLink.objects.get(pk=deciding.pk).reminded_at is not None


def test_the_guests_canvas_reads_tiles_through_the_links_own_routes_and_no_further(cast, acme_delivery):
    other = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    item = acme_delivery.items.order_by("image__position").first()
    give_tiles(item)
    _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    base = f"{shares.link_path(token)}versions/{item.version_id}/"
    assert HttpClient().get(f"{base}tiles/").status_code == 404  # not confirmed in this browser
    browser = _open(shares.link_path(token))
    source = browser.get(f"{base}tiles/").json()
    assert (source["width"], source["height"], source["watermarked"]) == (1200, 800, False)
    assert source["tiles"] == f"{base}tiles/{{level}}/{{col}}_{{row}}.webp/"
    tile = browser.get(f"{base}tiles/0/0_0.webp/")
    assert tile.status_code == 200 and tile["Content-Type"] == "image/webp"
    assert tile["Cache-Control"] == "private, max-age=86400"
    preview = browser.get(f"{base}download/?what=preview")
    assert _served(preview["Location"]).endswith(f"/{item.image_id}/versions/v1/preview.webp")
    assert browser.get(f"{base}download/?what=original").status_code == 404
    # another delivery's version, and the page's canvas names only the link's routes
    assert browser.get(f"{shares.link_path(token)}versions/{other.items.get().version_id}/tiles/").status_code == 404
    page = browser.get(shares.link_path(token)).content.decode()
    assert f'"tiles": "{base}tiles/"' in page and "/api/v1/" not in page


def test_a_held_orders_guest_gets_the_watermarked_pyramid(cast, acme_delivery):
    item = acme_delivery.items.order_by("image__position").first()
    give_tiles(item)
    Order.objects.filter(pk=acme_delivery.order_id).update(downloads_held=True)
    _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token))
    source = browser.get(f"{shares.link_path(token)}versions/{item.version_id}/tiles/").json()
    assert source["watermarked"] is True


def test_the_share_list_reads_in_constant_queries_whatever_the_links_and_their_activity(cast, acme_delivery):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for(cast.acme_admin)
    shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="one@x.test")
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/v1/shares/").json()["results"]) == 1
    for n in range(6):
        _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email=f"p{n}@x.test")
        _open(shares.link_path(token))
    with CaptureQueriesContext(connection) as seven:
        body = api.get("/api/v1/shares/").json()
    assert len(body["results"]) == 7 and len(seven) == len(one)
    assert {a["kind"] for row in body["results"] for a in row["activity"]} == {"opened"}


# --- a guest's marks and replies ----------------------------------------------------------------------------------

def _point(x=100, y=200):
    return {"selector": {"type": "FragmentSelector", "value": f"xywh=pixel:{x},{y},0,0"}}


def _guest_mark(browser, token, item, body):
    return browser.post(reverse("guest_marks", args=[token, item.pk]), json.dumps(body), content_type="application/json")


def _marks_state():
    marks = Annotation.objects.order_by("created_at").values_list("text", "author_id", "author_share_id", "deleted_at")
    return (list(marks), list(AnnotationReply.objects.values_list("text", "author_share_id")),
            ShareActivity.objects.filter(kind="marked").count())


def test_a_guest_marks_and_replies_under_their_name_and_the_company_and_the_studio_read_it(cast, acme_delivery):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token), name="Dora Director")
    item = acme_delivery.items.order_by("image__position").first()
    page = browser.get(shares.link_path(token))
    assert f'data-marks-api="{reverse("guest_marks", args=[token, item.pk])}"'.encode() in page.content
    answer = _guest_mark(browser, token, item, {"text": "Dust on the <b>prong</b>", "target": _point()})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["creator"] == {"type": "Person", "name": "Dora Director", "guest": True} and body["audience"] == "client"
    mark = Annotation.objects.get()
    assert (mark.author, mark.author_share, mark.version, mark.width, mark.number) == (None, link, item.version, 2400, 1)
    # a thread about the whole picture, and a reply, through the page's forms
    threads = reverse("guest_threads", args=[token])
    assert browser.post(threads, {"action": "comment", "picture": item.pk, "text": "Warmer overall"}).status_code == 302
    assert browser.post(threads, {"action": "reply", "mark": mark.pk, "text": "Also the <i>left</i> stone"}).status_code == 302
    reply = AnnotationReply.objects.get()
    assert (reply.author, reply.author_share, reply.audience) == (None, link, "client")
    assert list(ShareActivity.objects.filter(kind="marked").order_by("at", "id").values_list("detail", flat=True)) == [
        f"mark 1 on {item.image.filename}", f"mark 2 on {item.image.filename}", f"a reply on mark 1 of {item.image.filename}"]
    # the guest's page shows the threads, escaped
    text = page_text(browser.get(shares.link_path(token)).content)
    assert "Dust on the <b>prong</b>" in text and "Also the <i>left</i> stone" in text and "Dora Director (guest)" in text
    # the company's people and the studio read them with the guest's name; the API says "guest"
    for person in (cast.acme_admin, cast.account_manager):
        listed = api_for(person).get(f"/api/v1/annotations/{mark.pk}/").json()
        assert listed["creator"]["name"] == "Dora Director" and listed["creator"]["guest"] is True
        assert listed["replies"][0]["creator"] == {"type": "Person", "name": "Dora Director", "guest": True}
        image_page = page_text(web_for(person).get(reverse("jobs:image_detail", args=[item.image_id])).content)
        assert "Dora Director (guest)" in image_page
    # a reply from the studio reaches the guest's page
    from jobs.review import annotations
    annotations.reply_post(mark=mark, by=cast.account_manager, text="We will clean it")
    annotations.reply_post(mark=mark, by=cast.account_manager, text="INTERNAL-CANARY", internal=True)
    text = page_text(browser.get(shares.link_path(token)).content)
    assert "We will clean it" in text and "INTERNAL-CANARY" not in text


def test_a_guest_reads_only_their_deliverys_marks_to_the_client(cast, acme_delivery):
    from jobs.review import annotations
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    item = acme_delivery.items.order_by("image__position").first()
    client_mark = annotations.annotation_create(image=item.image, version=item.version, by=cast.acme_admin,
                                                target=_point(), text="The client's own")
    annotations.annotation_create(image=item.image, version=item.version, by=cast.account_manager,
                                  target=_point(), text="STUDIO-CANARY")
    # an earlier version of the same picture, published in an earlier delivery: not this link's
    earlier = Version.objects.create(image=item.image, number=2, status=VersionStatus.PASSED, width=2400, height=2400,
                                     file="x/v2.png", preview="x/v2.webp")
    older = Delivery.objects.create(order=acme_delivery.order, number=2, status=DeliveryStatus.READY)
    DeliveryItem.objects.create(delivery=older, image=item.image, version=earlier)
    elsewhere = annotations.annotation_create(image=item.image, version=earlier, by=cast.acme_admin, target=_point(),
                                              text="On another delivery")
    assert list(scope(Annotation.objects.all(), link)) == [client_mark]
    assert elsewhere in scope(Annotation.objects.all(), cast.acme_admin)  # the client reads it; the guest does not
    browser = _open(shares.link_path(token))
    text = page_text(browser.get(shares.link_path(token)).content)
    assert "The client's own" in text and "STUDIO-CANARY" not in text and "On another delivery" not in text
    # a guest cannot reply to a mark they do not see
    studio_mark = Annotation.objects.get(text="STUDIO-CANARY")
    before = _marks_state()
    answer = browser.post(reverse("guest_threads", args=[token]), {"action": "reply", "mark": studio_mark.pk, "text": "x"})
    assert answer.status_code == 404 and _marks_state() == before
    # once revoked, nothing at all
    shares.share_revoke(link=link, by=cast.acme_admin)
    assert not scope(Annotation.objects.all(), link).exists()
    assert not scope(AnnotationReply.objects.all(), link).exists()


@pytest.mark.parametrize("body, status, says", [
    ({"text": "", "target": None}, 400, "Write what the mark is about"),
    ({"text": "x" * 2001, "target": None}, 400, "at most 2000 characters"),
    ({"text": "Off the picture", "target": {"selector": {"type": "FragmentSelector", "value": "xywh=pixel:2400,10,0,0"}}},
     400, "outside the picture"),
    ({"text": "Script", "target": {"selector": {"type": "SvgSelector", "value": "<svg><script>alert(1)</script></svg>"}}},
     400, "SvgSelector holds one"),
    ({"text": ["a list"], "target": None}, 400, "JSON object"),
    ([1, 2], 400, "JSON object"),
])
def test_a_guests_bad_mark_is_refused_with_the_reason_and_changes_nothing(cast, acme_delivery, body, status, says):
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token))
    item = acme_delivery.items.first()
    before = _marks_state()
    answer = _guest_mark(browser, token, item, body)
    assert answer.status_code == status and says in answer.json()["detail"]
    assert _marks_state() == before
    broken = browser.post(reverse("guest_marks", args=[token, item.pk]), "{not json", content_type="application/json")
    assert broken.status_code == 400 and _marks_state() == before


def test_a_guest_mentions_nobody_resolves_nothing_and_takes_back_only_their_own_mark_in_time(cast, acme_delivery):
    from agency.exceptions import NotPermitted
    from jobs.review import annotations
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token))
    item = acme_delivery.items.order_by("image__position").first()
    with pytest.raises(RuleViolation, match="A guest mentions nobody"):
        annotations.annotation_create(image=item.image, version=item.version, by=link, target=_point(), text="Hi",
                                      mentions=[cast.account_manager.pk])
    other_link, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="eve@agency.test")
    with time_machine.travel(NOW, tick=False):
        mine = annotations.annotation_create(image=item.image, version=item.version, by=link, target=_point(), text="Mine")
        theirs = annotations.annotation_create(image=item.image, version=item.version, by=other_link, target=_point(),
                                               text="Theirs")
        companys = annotations.annotation_create(image=item.image, version=item.version, by=cast.acme_admin,
                                                 target=_point(), text="The company's")
    with pytest.raises(NotPermitted, match="resolved by the company and the studio"):
        annotations.annotation_resolve(mark=mine, by=link)
    threads = reverse("guest_threads", args=[token])
    with time_machine.travel(NOW + annotations.EDIT_WINDOW, tick=False):
        before = _marks_state()
        for mark in (theirs, companys):
            refused = browser.post(threads, {"action": "delete", "mark": mark.pk}, follow=True)
            assert "Only its author changes a mark" in page_text(refused.content)
        assert _marks_state() == before
        assert browser.post(threads, {"action": "delete", "mark": mine.pk}).status_code == 302
        assert Annotation.objects.get(pk=mine.pk).deleted_at == NOW + annotations.EDIT_WINDOW
    with time_machine.travel(NOW + annotations.EDIT_WINDOW + timedelta(seconds=1), tick=False):
        late = annotations.annotation_create(image=item.image, version=item.version, by=other_link, target=_point(),
                                             text="Late")
        Annotation.objects.filter(pk=late.pk).update(created_at=NOW)
        with pytest.raises(Exception, match="can be changed for 15 minutes"):
            annotations.annotation_delete(mark=late, by=other_link)
    assert Annotation.objects.get(pk=late.pk).deleted_at is None


def test_a_guest_cannot_mark_on_a_finished_order_another_deliverys_picture_or_after_the_link_ends(cast, acme_delivery):
    from agency.exceptions import NotPermitted
    from jobs.review import annotations
    other = delivered_with_previews(cast.acme, "Autumn pendants", count=1)
    link, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test")
    browser = _open(shares.link_path(token))
    stranger = other.items.get()
    before = _marks_state()
    assert _guest_mark(browser, token, stranger, {"text": "x", "target": _point()}).status_code == 404
    with pytest.raises(NotPermitted):
        annotations.annotation_create(image=stranger.image, version=stranger.version, by=link, target=_point(), text="x")
    item = acme_delivery.items.first()
    Order.objects.filter(pk=acme_delivery.order_id).update(status=OrderStatus.COMPLETED)
    answer = _guest_mark(browser, token, item, {"text": "Too late", "target": _point()})
    assert answer.status_code == 409 and "kept as they are" in answer.json()["detail"]
    assert b"data-marks-api" not in browser.get(shares.link_path(token)).content
    Order.objects.filter(pk=acme_delivery.order_id).update(status=OrderStatus.DELIVERED)
    shares.share_revoke(link=link, by=cast.acme_admin)
    assert _guest_mark(browser, token, item, {"text": "Revoked", "target": _point()}).status_code == 410
    link.refresh_from_db()
    with pytest.raises(NotPermitted):
        annotations.annotation_create(image=item.image, version=item.version, by=link, target=_point(), text="x")
    assert _marks_state() == before


def test_a_guests_changes_carry_the_marks_they_drew_and_never_anyone_elses(cast, acme_delivery):
    from jobs.review import annotations
    link, token, browser = _deciding(cast, acme_delivery)
    item = acme_delivery.items.order_by("image__position").first()
    mine = annotations.annotation_create(image=item.image, version=item.version, by=link, target=_point(), text="Dust")
    companys = annotations.annotation_create(image=item.image, version=item.version, by=cast.acme_admin,
                                             target=_point(), text="The company's own")
    before = _review_state(acme_delivery.order)
    with pytest.raises(RuleViolation, match="Only the marks you drew"):
        proofing.review_submit(order=acme_delivery.order, by=link, items=[
            {"image": item.image_id, "decision": "revise", "note": "", "annotations": [companys.pk]}])
    assert _review_state(acme_delivery.order) == before
    # no note: the guest's own mark says what should change, and joins the round's item
    assert _decide(browser, token, item.image, "revise").status_code == 302
    round_ = RevisionRound.objects.get(order=acme_delivery.order)
    assert list(round_.items.get().annotations.all()) == [mine]
    assert Annotation.objects.get(pk=companys.pk).item is None
