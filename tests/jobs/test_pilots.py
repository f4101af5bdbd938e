"""Pilot batches (jobs/production/pilots.py, docs/pilots.md): a new style guide's first order starts with K pictures;
the rest wait unscheduled and start, with their own clock and the pilot's changes in the style guide, once the client
approved the pilot. Every refusal leaves the order and its pictures as they were."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from agency.calendar import studio_calendar
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from billing import services as quoting
from billing import workflow as quotes
from clients.models import Client, StyleGuide, WebhookDelivery, WebhookEndpoint
from jobs.models import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    PilotStatus,
    Version,
    VersionStatus,
)
from jobs.production import pilots, planning, sla
from tests.conftest import api_for, web_for
from tests.factories import StyleGuideFactory, add_images, default_price_list, make_order, retoucher
from tests.pages import page_text

pytestmark = pytest.mark.django_db
NOW = timezone.now()


@pytest.fixture
def acme(cast):
    Client.objects.filter(pk=cast.acme.pk).update(pilot_size=5)
    cast.acme.refresh_from_db()
    default_price_list()
    retoucher("Rita Retoucher", ["colour-correction"])
    return cast


def _submitted(cast, count, title="Spring rings", guide=None):
    order = make_order(cast.acme, by=cast.acme_member, title=title, guide=guide)
    add_images(order, {"standard": count})
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SUBMITTED)
    order.refresh_from_db()
    return order


def _accepted(cast, order):
    quote = quoting.quote_draft(order=order, by=cast.account_manager)
    quotes.quote_send(quote=quote, by=cast.account_manager)
    quotes.quote_accept(quote=quote, by=cast.acme_admin)
    quote.refresh_from_db()
    order.refresh_from_db()
    return quote


def _pictures(order):
    return list(OrderImage.objects.filter(order=order).order_by("position"))


def _state(order):
    row = Order.objects.get(pk=order.pk)
    return (row.status, row.pilot_status, row.style_guide_id,
            [(i.status, i.in_pilot) for i in _pictures(order)], Event.objects.filter(order=order).count())


def test_a_new_style_guides_first_order_starts_with_its_pilot_and_the_rest_wait_unscheduled(acme):
    order = _submitted(acme, 7)
    _accepted(acme, order)
    pictures = _pictures(order)
    assert order.status == OrderStatus.IN_PRODUCTION and order.pilot_status == PilotStatus.RUNNING
    assert [(i.in_pilot, i.status) for i in pictures] == [(True, ImageStatus.RECEIVED)] * 5 + \
        [(False, ImageStatus.WAITING_PILOT)] * 2
    assert Event.objects.filter(order=order, verb="order.pilot_started").get().data["waiting"] == 2
    # only the pilot is scheduled, booked and on the clock
    proposal = planning.order_proposal(order)
    assert {p.image_id for p in proposal.placements} == {i.pk for i in pictures[:5]}
    assert pilots.facts(order) == {"status": "running", "pictures": 5, "approved": 0, "waiting": 2}


@pytest.mark.parametrize("count,expected", [(5, PilotStatus.NONE), (6, PilotStatus.RUNNING)])
def test_a_pilot_needs_more_pictures_than_it_has(acme, count, expected):
    order = _submitted(acme, count)
    _accepted(acme, order)
    assert order.pilot_status == expected
    assert OrderImage.objects.filter(order=order, status=ImageStatus.WAITING_PILOT).count() == max(0, count - 5)


def test_no_pilot_when_the_client_has_none_or_the_guide_was_delivered_or_piloted_before(acme):
    Client.objects.filter(pk=acme.acme.pk).update(pilot_size=0)
    acme.acme.refresh_from_db()
    first = _submitted(acme, 8)
    _accepted(acme, first)
    assert first.pilot_status == PilotStatus.NONE
    Client.objects.filter(pk=acme.acme.pk).update(pilot_size=5)
    acme.acme.refresh_from_db()
    # another version of the same guide was delivered under: no pilot
    Delivery.objects.create(order=first, number=1, status=DeliveryStatus.READY)
    guide = StyleGuide.objects.get(pk=first.style_guide_id)
    StyleGuide.objects.filter(pk=guide.pk).update(is_current=False)
    newer = StyleGuideFactory(client=acme.acme, family=guide.family, version=2, name=guide.name)
    second = _submitted(acme, 8, title="Second", guide=newer)
    assert pilots.plan(second) is None and "delivered under before" in pilots.no_pilot_reason(second)
    # a guide whose first order is piloting: its second order runs none either
    fresh = StyleGuideFactory(client=acme.acme, name="Black velvet")
    piloting = _submitted(acme, 8, title="Velvet 1", guide=fresh)
    _accepted(acme, piloting)
    assert piloting.pilot_status == PilotStatus.RUNNING
    follower = _submitted(acme, 8, title="Velvet 2", guide=fresh)
    _accepted(acme, follower)
    assert follower.pilot_status == PilotStatus.NONE


def test_the_studio_chooses_the_pilot_and_the_first_by_position_fill_it(acme):
    order = _submitted(acme, 8)
    pictures = _pictures(order)
    chosen = pilots.pilot_choose(order=order, by=acme.account_manager, images=[pictures[6].pk, pictures[7].pk])
    assert [i.pk for i in chosen] == [pictures[6].pk, pictures[7].pk]
    events = Event.objects.filter(order=order, verb="order.pilot_chosen").count()
    again = pilots.pilot_choose(order=order, by=acme.account_manager, images=[pictures[7].pk, pictures[6].pk])
    assert {i.pk for i in again} == {pictures[6].pk, pictures[7].pk}  # the same choice twice changes nothing
    assert Event.objects.filter(order=order, verb="order.pilot_chosen").count() == events == 1
    _accepted(acme, order)
    pilot = {i.pk for i in _pictures(order) if i.in_pilot}
    assert pilot == {pictures[n].pk for n in (0, 1, 2, 6, 7)}
    assert {i.pk for i in _pictures(order) if i.status == ImageStatus.WAITING_PILOT} == {pictures[n].pk for n in (3, 4, 5)}


def test_choosing_the_pilot_is_refused_with_a_reason_and_changes_nothing(acme):
    order = _submitted(acme, 7)
    pictures = _pictures(order)
    other = _submitted(acme, 1, title="Other")
    before = _state(order)
    refusals = [
        (RuleViolation, "at most 5", lambda: pilots.pilot_choose(order=order, by=acme.account_manager,
                                                                  images=[i.pk for i in pictures[:6]])),
        (RuleViolation, "this order's received pictures",
         lambda: pilots.pilot_choose(order=order, by=acme.account_manager, images=[_pictures(other)[0].pk])),
        (NotPermitted, "account manager", lambda: pilots.pilot_choose(order=order, by=acme.acme_admin,
                                                                       images=[pictures[0].pk])),
        (NotPermitted, "account manager", lambda: pilots.pilot_choose(order=order, by=acme.retoucher, images=[])),
    ]
    for error, words, call in refusals:
        with pytest.raises(error, match=words):
            call()
        assert _state(order) == before
    small = _submitted(acme, 5, title="Small")
    with pytest.raises(InvalidTransition, match="all of them are the pilot"):
        pilots.pilot_choose(order=small, by=acme.account_manager, images=[_pictures(small)[0].pk])
    _accepted(acme, order)
    started = _state(order)
    with pytest.raises(InvalidTransition, match="already in production"):
        pilots.pilot_choose(order=order, by=acme.account_manager, images=[pictures[6].pk])
    assert _state(order) == started


def test_the_quote_promises_the_pilot_and_says_when_the_rest_start(acme):
    order = _submitted(acme, 12)
    plan = pilots.plan(order)
    with time_machine.travel(timezone.now(), tick=False):  # one instant for both promises
        expected = planning.order_promise(order, images=plan.pilot)
        quote = _accepted(acme, order)
    assert quote.promised_due_at == expected.due_at
    assert quote.promise_pilot.startswith("Pilot first: 5 of 12 pictures by ")
    assert "the other 7 start when you approve the pilot, with the standard turnaround from then" in quote.promise_pilot
    body = api_for(acme.acme_admin).get(f"/api/v1/quotes/{quote.pk}/").json()
    assert body["promise_pilot"].startswith("Pilot first: 5 of 12 pictures")


def _deliver_pilot(cast, order):
    """The pilot's pictures retouched, passed and published (the production path is tested elsewhere)."""
    pilot = [i for i in _pictures(order) if i.in_pilot]
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    for image in pilot:
        version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="v.png",
                                         preview="p.webp", created_by=cast.retoucher, width=2400, height=2400)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    OrderImage.objects.filter(pk__in=[i.pk for i in pilot]).update(status=ImageStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED, sla_running_since=None, sla_state="")
    return pilot


def _review(user, order, items):
    return api_for(user).post(f"/api/v1/orders/{order.pk}/review/", {"items": items}, format="json")


def _approve(user, order, images):
    return _review(user, order, [{"image": str(i.pk), "decision": "approve"} for i in images])


def test_approving_the_whole_pilot_starts_the_rest_with_their_own_clock(acme, django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(client=acme.acme, url="http://127.0.0.1:9/hook",
                                   events=["order.pilot_approved", "order.in_production"], secret="s" * 32)
    order = _submitted(acme, 7)
    _accepted(acme, order)
    pilot = _deliver_pilot(acme, order)
    WebhookDelivery.objects.all().delete()
    assert _approve(acme.acme_admin, order, pilot[:4]).status_code == 200
    order.refresh_from_db()
    assert (order.status, order.pilot_status) == (OrderStatus.DELIVERED, PilotStatus.RUNNING)  # one still to answer
    assert OrderImage.objects.filter(order=order, status=ImageStatus.WAITING_PILOT).count() == 2
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        assert _approve(acme.acme_admin, order, pilot[4:]).status_code == 200
        order.refresh_from_db()
        assert (order.status, order.pilot_status) == (OrderStatus.IN_PRODUCTION, PilotStatus.APPROVED)
        assert order.sla_running_since == timezone.now() and order.sla_consumed_seconds == 0
        assert order.due_at >= sla.sla_due(timezone.now(), order.turnaround, studio_calendar())
    rest = [i for i in _pictures(order) if not i.in_pilot]
    assert [i.status for i in rest] == [ImageStatus.RECEIVED] * 2
    assert {p.image_id for p in planning.order_proposal(order).placements} == {i.pk for i in rest}
    event = Event.objects.get(order=order, verb="order.pilot_approved")
    assert event.message == "Pilot approved: the other 2 pictures are in production" and event.audience == "client"
    assert order.completed_at is None
    hooks = [json.loads(d.body) for d in WebhookDelivery.objects.all()]
    assert [h["type"] for h in hooks] == ["order.pilot_approved"]  # one event for one change
    assert hooks[0]["data"]["order"]["status"] == "in_production"
    # the rest delivered and approved later completes the order as usual
    assert api_for(acme.acme_admin).get(f"/api/v1/orders/{order.pk}/").json()["pilot"] == {
        "status": "approved", "pictures": 5, "approved": 5, "waiting": 0}


def test_changes_asked_on_the_pilot_go_into_the_style_guide_before_the_rest_start(acme):
    order = _submitted(acme, 7)
    _accepted(acme, order)
    guide = StyleGuide.objects.get(pk=order.style_guide_id)
    pilot = _deliver_pilot(acme, order)
    items = [{"image": str(pilot[0].pk), "decision": "revise", "kind": "change", "note": "Softer   shadow under the band"},
             {"image": str(pilot[1].pk), "decision": "revise", "kind": "defect", "note": "Dust on the prong"},
             *[{"image": str(i.pk), "decision": "approve"} for i in pilot[2:]]]
    assert _review(acme.acme_admin, order, items).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.REVISION and order.pilot_status == PilotStatus.RUNNING
    # the round's work comes back and is delivered again
    for image in pilot[:2]:
        Version.objects.create(image=image, number=2, status=VersionStatus.PASSED, file="v2.png", preview="p2.webp",
                               created_by=acme.retoucher, width=2400, height=2400)
    again = Delivery.objects.create(order=order, number=2, status=DeliveryStatus.READY, archive="d2.zip")
    for image in pilot[:2]:
        DeliveryItem.objects.create(delivery=again, image=image, version=image.versions.get(number=2))
    OrderImage.objects.filter(pk__in=[i.pk for i in pilot[:2]]).update(status=ImageStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    assert _approve(acme.acme_admin, order, pilot[:2]).status_code == 200
    order.refresh_from_db()
    amended = order.style_guide
    assert (amended.family, amended.version, amended.is_current, amended.is_locked) == (guide.family, 2, True, True)
    assert f"Pilot of order {order.number}" in amended.notes
    assert f"{pilot[0].filename} (round 1): Softer shadow under the band" in amended.notes
    assert "Dust" not in amended.notes  # the studio's defect is not a style
    old = StyleGuide.objects.get(pk=guide.pk)
    assert (old.notes, old.is_current) == (guide.notes, False)  # the pilot's own version is kept as it was
    assert "style guide" in Event.objects.get(order=order, verb="order.pilot_approved").message


def test_the_pilot_on_the_api_and_the_order_page(acme):
    order = _submitted(acme, 7)
    pictures = _pictures(order)
    manager = api_for(acme.account_manager)
    answer = manager.post(f"/api/v1/orders/{order.pk}/pilot/", {"images": [str(pictures[6].pk)]}, format="json")
    assert answer.status_code == 200 and answer.json()["pilot"] is None  # set when production starts
    assert manager.post(f"/api/v1/orders/{order.pk}/pilot/", {"images": ["nope"]}, format="json").status_code == 400
    assert api_for(acme.acme_admin).post(f"/api/v1/orders/{order.pk}/pilot/", {"images": []},
                                         format="json").status_code == 403
    assert api_for(acme.globex_admin).post(f"/api/v1/orders/{order.pk}/pilot/", {"images": []},
                                           format="json").status_code == 404
    page = page_text(web_for(acme.account_manager).get(f"/orders/{order.pk}/").content)
    assert "Pilot first. This order's style guide is new, so 5 of its 7 pictures" in page
    assert "Choose the pilot's pictures" in page
    client_page = page_text(web_for(acme.acme_member).get(f"/orders/{order.pk}/").content)
    assert "start when you approve them" in client_page and "Choose the pilot's pictures" not in client_page
    web = web_for(acme.account_manager)
    assert web.post(f"/orders/{order.pk}/pilot/", {"images": [str(pictures[0].pk)]}).status_code == 302
    assert set(OrderImage.objects.filter(order=order, in_pilot=True)) == {pictures[0]}
    _accepted(acme, order)
    body = api_for(acme.acme_member).get(f"/api/v1/orders/{order.pk}/").json()
    assert body["pilot"] == {"status": "running", "pictures": 5, "approved": 0, "waiting": 2}
    listed = api_for(acme.acme_member).get("/api/v1/orders/").json()["results"]
    assert next(o for o in listed if o["id"] == str(order.pk))["pilot"] == body["pilot"]
    images = api_for(acme.acme_member).get(f"/api/v1/orders/{order.pk}/images/").json()
    rows = images["results"] if isinstance(images, dict) else images
    assert sorted(i["in_pilot"] for i in rows) == [False, False, True, True, True, True, True]
    page = page_text(web_for(acme.acme_member).get(f"/orders/{order.pk}/").content)
    assert "Pilot in work: 0 of 5 pilot pictures approved. The other 2 wait for your approval of the pilot" in page
    assert page.count("Waiting for the pilot's approval") == 2
    _deliver_pilot(acme, order)
    assert "Review the pilot: the other 2 pictures start when you approve it" in page_text(
        web_for(acme.acme_member).get(f"/orders/{order.pk}/").content)


def test_the_pilot_through_its_state_tables_refuses_a_second_approval(acme):
    order = _submitted(acme, 7)
    _accepted(acme, order)
    Order.objects.filter(pk=order.pk).update(pilot_status=PilotStatus.APPROVED, status=OrderStatus.DELIVERED)
    order.refresh_from_db()
    before = _state(order)
    with pytest.raises(InvalidTransition, match="pilot is approved; only a pilot in work is approved"):
        pilots.release(order=order, by=acme.acme_admin)
    assert _state(order) == before
