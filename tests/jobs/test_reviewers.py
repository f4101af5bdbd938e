"""Decisions by several people (issue 22, jobs/review/reviewers.py and proofing.required_reviewers_set): every
reviewer's decision is kept, one per person (or guest) and version; a delivery may name required reviewers, and a
picture is approved for the company once each of them approved it; the company's admins and the studio's
managers decide alone; one request for changes opens the round. The tally per picture in pages, API and webhooks."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from clients.models import WebhookDelivery, WebhookEndpoint
from jobs.models import (
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    RequiredReviewer,
    ReviewDecision,
    RevisionRound,
)
from jobs.review import proofing, reviewers, shares
from tests.conftest import api_for, web_for
from tests.factories import client_user, delivered_with_previews
from tests.pages import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_delivery(cast):
    return delivered_with_previews(cast.acme, "Spring rings")


@pytest.fixture
def dora(cast, acme_delivery):
    """A guest whose link to the delivery may decide."""
    link, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora@agency.test", can_decide=True)
    link.guest_name = "Dora Director"
    link.save(update_fields=["guest_name"])
    return link


def _pictures(delivery):
    return [item.image for item in delivery.items.order_by("image__position")]


def _approve(by, delivery, *images):
    return proofing.review_submit(order=delivery.order, by=by, items=[{"image": i.pk, "decision": "approve"} for i in images])


def _state(delivery):
    return (Order.objects.get(pk=delivery.order_id).status,
            list(OrderImage.objects.filter(order=delivery.order).order_by("position").values_list("status", flat=True)),
            list(RequiredReviewer.objects.order_by("id").values_list("user_id", "share_id")),
            ReviewDecision.objects.count(), Event.objects.filter(order=delivery.order).count())


def test_without_required_reviewers_a_members_approval_is_the_companys_and_is_kept_as_theirs(cast, acme_delivery):
    first, _ = _pictures(acme_delivery)
    result = _approve(cast.acme_member, acme_delivery, first)
    assert (result.approved, result.waiting) == (1, {})
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.APPROVED
    decision = ReviewDecision.objects.get()
    assert (decision.reviewer, decision.reviewer_share, decision.verdict, decision.delivery) == (
        cast.acme_member, None, "approved", acme_delivery)
    tally = reviewers.tallies(cast.acme_admin, [first.pk])[first.pk]
    assert (tally.approved, tally.of, tally.required) == (1, 1, False)
    assert [(r["name"], r["decision"]) for r in tally.reviewers] == [("Alice Acme", "approved")]


def test_with_required_reviewers_the_picture_waits_for_every_one_of_them(cast, acme_delivery, dora):
    first, second = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    assert Event.objects.get(verb="delivery.reviewers_set").message == (
        "Delivery 1 waits for the approval of Alice Acme and Dora Director (guest)")
    result = _approve(cast.acme_member, acme_delivery, first)
    assert (result.approved, result.waiting) == (0, {"Spring-1.jpg": ["Dora Director (guest)"]})
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.DELIVERED
    assert Event.objects.get(verb="review.decided").message == (
        "Alice Acme approved Spring-1.jpg; it waits for Dora Director (guest)")
    tally = reviewers.tallies(cast.acme_admin, [first.pk])[first.pk]
    assert (tally.approved, tally.changes, tally.of, tally.required) == (1, 0, 2, True)
    assert [(r["name"], r["guest"], r["decision"]) for r in tally.reviewers] == [
        ("Alice Acme", False, "approved"), ("Dora Director (guest)", True, "waiting")]
    # a reviewer who is not required counts beside, not among, the required
    other = client_user(cast.acme, full_name="Otto Other")
    _approve(other, acme_delivery, first)
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.DELIVERED
    tally = reviewers.tallies(cast.acme_admin, [first.pk])[first.pk]
    assert (tally.approved, tally.of) == (1, 2) and tally.reviewers[-1]["name"] == "Otto Other"
    # the last required reviewer's approval is the company's
    result = _approve(dora, acme_delivery, first)
    assert result.approved == 1 and OrderImage.objects.get(pk=first.pk).status == ImageStatus.APPROVED
    approved = Event.objects.get(verb="images.approved")
    assert approved.message == "1 image approved by Dora Director (guest): Spring-1.jpg" and approved.actor is None
    assert ReviewDecision.objects.count() == 3
    assert OrderImage.objects.get(pk=second.pk).status == ImageStatus.DELIVERED


def test_the_company_admin_and_the_account_manager_decide_alone(cast, acme_delivery, dora):
    first, second = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    assert _approve(cast.acme_admin, acme_delivery, first).approved == 1
    assert _approve(cast.account_manager, acme_delivery, second).approved == 1
    assert Order.objects.get(pk=acme_delivery.order_id).status == OrderStatus.COMPLETED


def test_one_request_for_changes_opens_the_round_at_once(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    _approve(cast.acme_member, acme_delivery, first)
    result = proofing.review_submit(order=acme_delivery.order, by=dora, items=[
        {"image": first.pk, "decision": "revise", "note": "The clasp is dull"}])
    assert result.round is not None and OrderImage.objects.get(pk=first.pk).status == ImageStatus.REVISION_REQUESTED
    tally = reviewers.tallies(cast.acme_admin, [first.pk])[first.pk]
    assert (tally.approved, tally.changes) == (1, 1)
    assert tally.reviewers[1]["note"] == "The clasp is dull"


def test_a_reviewer_who_answers_again_has_one_record_their_latest(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    _approve(cast.acme_member, acme_delivery, first)
    _approve(cast.acme_member, acme_delivery, first)
    assert ReviewDecision.objects.filter(reviewer=cast.acme_member).count() == 1
    assert Event.objects.filter(verb="review.decided").count() == 2


def test_a_guest_who_left_is_not_waited_for(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    shares.share_revoke(link=dora, by=cast.acme_admin)
    assert _approve(cast.acme_member, acme_delivery, first).approved == 1


def test_taking_the_awaited_reviewer_off_the_list_approves_what_the_others_approved(cast, acme_delivery, dora):
    first, second = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    _approve(cast.acme_member, acme_delivery, first)
    before = Event.objects.count()
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk], shares=[])
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.APPROVED
    assert OrderImage.objects.get(pk=second.pk).status == ImageStatus.DELIVERED
    assert Event.objects.filter(verb="images.approved").get().message == (
        "1 image approved (every required reviewer had approved): Spring-1.jpg")
    # the same list again changes nothing: no line on the timeline
    after = Event.objects.count()
    assert after == before + 2
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk], shares=[])
    assert Event.objects.count() == after


@pytest.mark.parametrize("who, users, shares_, error, says", [
    ("acme_member", ["member"], [], NotPermitted, "Only the company's admins"),
    ("globex_admin", ["member"], [], NotPermitted, "Only the company's admins"),
    ("acme_admin", ["globex"], [], RuleViolation, "a person of Acme Jewels"),
    ("acme_admin", ["retoucher"], [], RuleViolation, "a person of Acme Jewels"),
    ("acme_admin", [], ["viewer"], RuleViolation, "lets them decide"),
    ("acme_admin", [], ["revoked"], RuleViolation, "while their link"),
    ("acme_admin", ["many"], [], RuleViolation, "at most 20"),
])
def test_naming_required_reviewers_is_refused_with_the_reason_and_changes_nothing(
        cast, acme_delivery, dora, who, users, shares_, error, says):
    viewer, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="v@agency.test")
    revoked, _ = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="r@agency.test", can_decide=True)
    shares.share_revoke(link=revoked, by=cast.acme_admin)
    named = {"member": [cast.acme_member.pk], "globex": [cast.globex_member.pk], "retoucher": [cast.retoucher.pk],
             "viewer": [viewer.pk], "revoked": [revoked.pk],
             "many": [client_user(cast.acme).pk for _ in range(21)]}
    before = _state(acme_delivery)
    with pytest.raises(error, match=says):
        proofing.required_reviewers_set(delivery=acme_delivery, by=getattr(cast, who),
                                        users=[pk for key in users for pk in named[key]],
                                        shares=[pk for key in shares_ for pk in named[key]])
    assert _state(acme_delivery) == before


def test_a_finished_orders_delivery_takes_no_required_reviewers(cast, acme_delivery):
    Order.objects.filter(pk=acme_delivery.order_id).update(status=OrderStatus.COMPLETED)
    before = _state(acme_delivery)
    with pytest.raises(InvalidTransition, match="not waiting for a review"):
        proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                        shares=[])
    assert _state(acme_delivery) == before


def test_the_api_names_required_reviewers_and_shows_each_ones_decision(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    url = f"/api/v1/deliveries/{acme_delivery.pk}/reviewers/"
    answer = api_for(cast.acme_admin).put(url, {"users": [str(cast.acme_member.pk)], "shares": [str(dora.pk)]},
                                          format="json")
    assert answer.status_code == 200, answer.content
    assert [(r["type"], r["name"]) for r in answer.json()["required"]] == [
        ("person", "Alice Acme"), ("guest", "Dora Director (guest)")]
    _approve(cast.acme_member, acme_delivery, first)
    body = api_for(cast.acme_member).get(url).json()
    picture = body["pictures"][0]
    assert (picture["filename"], picture["status"]) == ("Spring-1.jpg", "delivered")
    assert (picture["reviews"]["approved"], picture["reviews"]["of"]) == (1, 2)
    assert [(r["name"], r["decision"]) for r in picture["reviews"]["reviewers"]] == [
        ("Alice Acme", "approved"), ("Dora Director (guest)", "waiting")]
    # refusals: a member may not name them (403), another company's delivery is not there (404), bad ids (400)
    before = _state(acme_delivery)
    assert api_for(cast.acme_member).put(url, {"users": []}, format="json").status_code == 403
    assert api_for(cast.globex_admin).get(url).status_code == 404
    assert api_for(cast.acme_admin).put(url, {"users": ["nope"]}, format="json").status_code == 400
    assert api_for(cast.acme_admin).put(url, {"users": [str(cast.globex_member.pk)]}, format="json").status_code == 400
    assert api_for(cast.retoucher).get(url).status_code in (403, 404)
    assert _state(acme_delivery) == before


def test_the_webhook_carries_each_reviewers_status(cast, acme_delivery, dora, django_capture_on_commit_callbacks):
    first, _ = _pictures(acme_delivery)
    WebhookEndpoint.objects.create(client=cast.acme, url="http://127.0.0.1:9/hook", events=["review.decided"],
                                   secret="s" * 32)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    _approve(dora, acme_delivery, first)
    body = json.loads(WebhookDelivery.objects.get().body)
    assert body["type"] == "review.decided"
    data = body["data"]
    assert data["reviewer"] == {"name": "Dora Director", "email": "dora@agency.test", "guest": True}
    picture = data["pictures"][0]
    assert picture["image"]["filename"] == "Spring-1.jpg" and picture["image"]["status"] == "delivered"
    assert [(r["name"], r["decision"], r["required"]) for r in picture["reviews"]["reviewers"]] == [
        ("Alice Acme", "waiting", True), ("Dora Director (guest)", "approved", True)]


def test_the_order_page_names_required_reviewers_and_shows_the_tally(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    page = web_for(cast.acme_admin)
    answer = page.post(f"/deliveries/{acme_delivery.pk}/reviewers/",
                       {"users": [str(cast.acme_member.pk)], "shares": [str(dora.pk)]})
    assert answer.status_code == 302
    assert RequiredReviewer.objects.count() == 2
    _approve(cast.acme_member, acme_delivery, first)
    text = page_text(page.get(f"/orders/{acme_delivery.order_id}/").content)
    assert "1 of 2 required reviewers approved Spring-1.jpg" in text
    assert "Dora Director (guest): waiting" in text
    # the member reads the tally but has no form
    member = page_text(web_for(cast.acme_member).get(f"/orders/{acme_delivery.order_id}/").content)
    assert "1 of 2 required reviewers approved Spring-1.jpg" in member and "Save required reviewers" not in member
    # the member's own review page says their approval waits
    second = _pictures(acme_delivery)[1]
    answer = web_for(cast.acme_member).post(f"/orders/{acme_delivery.order_id}/review/", {
        "images": [str(second.pk)], f"decision_{second.pk}": "approve"}, follow=True)
    assert "Your approval of Spring-2.jpg is noted; it waits for Dora Director (guest)." in page_text(answer.content)


def test_a_guests_approval_waits_and_their_page_says_for_whom(cast, acme_delivery, dora):
    first, _ = _pictures(acme_delivery)
    proofing.required_reviewers_set(delivery=acme_delivery, by=cast.acme_admin, users=[cast.acme_member.pk],
                                    shares=[dora.pk])
    _, token = shares.share_create(delivery=acme_delivery, by=cast.acme_admin, email="dora2@agency.test")
    dora.digest = shares.digest("dora-token")
    dora.save(update_fields=["digest"])
    browser = HttpClient()
    assert browser.post(shares.link_path("dora-token"), {"name": "Dora Director"}).status_code == 302
    answer = browser.post(f"{shares.link_path('dora-token')}decide/", {"image": str(first.pk), "decision": "approve"},
                          follow=True)
    assert "Your approval of Spring-1.jpg is noted; it waits for Alice Acme" in page_text(answer.content)
    assert OrderImage.objects.get(pk=first.pk).status == ImageStatus.DELIVERED
    assert RevisionRound.objects.count() == 0
