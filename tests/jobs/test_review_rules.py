"""Client proofing, revision rounds, messages and notifications: every refusal and bad input leaves
everything as it was; billable rounds wait for an admin; internal notes never reach clients."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Notification, NotificationPreference
from billing.models import RevisionCharge
from jobs import quality
from jobs.models import (
    Annotation,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Event,
    ImageStatus,
    Message,
    Order,
    OrderImage,
    OrderStatus,
    RevisionItem,
    RevisionRound,
    RoundStatus,
    Version,
    VersionStatus,
)
from jobs.review import deliveries, proofing
from tests.conftest import api_for, web_for
from tests.factories import add_images, default_price_list, make_order
from tests.pages import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(cast):
    """Acme's order delivered with three images (each published with a passed version)."""
    order = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Delivered rings")
    images = add_images(order, {"standard": 3}, status=ImageStatus.DELIVERED)
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    for image in images:
        version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="v.png",
                                         preview="p.webp", created_by=cast.retoucher, width=2400, height=2400)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    return order, images


def _state(order, images):
    return (Order.objects.get(pk=order.pk).status, [OrderImage.objects.get(pk=i.pk).status for i in images],
            RevisionRound.objects.count(), Annotation.objects.count(), Event.objects.filter(order=order).count())


def point(x, y, text="Dust"):
    """A new point mark at pixel (x, y) of the delivered version, as the canvas sends it."""
    return {"target": {"selector": {"type": "FragmentSelector", "value": f"xywh=pixel:{x},{y},0,0"}}, "text": text}


def _review(user, order, items, **extra):
    return api_for(user).post(f"/api/v1/orders/{order.pk}/review/", {"items": items, **extra}, format="json")


BAD_ITEMS = [
    ("a mark outside the picture", lambda img: [{"image": str(img.pk), "decision": "revise", "note": "x",
                                                 "marks": [point(2400, 5, "Off")]}], "target"),
    ("51 marks", lambda img: [{"image": str(img.pk), "decision": "revise", "note": "x",
                               "marks": [point(5, 5, "p")] * 51}], "items"),
    ("a 2,001-character note", lambda img: [{"image": str(img.pk), "decision": "revise", "note": "x" * 2001}], "items"),
    ("an empty mark text", lambda img: [{"image": str(img.pk), "decision": "revise",
                                         "marks": [point(5, 5, "")]}], "text"),
    ("a change with neither note nor mark", lambda img: [{"image": str(img.pk), "decision": "revise"}], "items"),
    ("an unknown decision", lambda img: [{"image": str(img.pk), "decision": "maybe"}], "items"),
    ("no items", lambda img: [], "items"),
    ("the same image twice", lambda img: [{"image": str(img.pk), "decision": "approve"}] * 2, "items"),
]


@pytest.mark.parametrize("label,items,field", BAD_ITEMS, ids=[b[0] for b in BAD_ITEMS])
def test_bad_review_input_is_a_field_level_400_that_changes_nothing(cast, delivered, label, items, field):
    order, images = delivered
    before = _state(order, images)
    response = _review(cast.acme_member, order, items(images[0]))
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert _state(order, images) == before


def test_an_image_not_in_a_delivery_or_of_another_order_is_refused(cast, delivered):
    order, images = delivered
    stranger = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]  # never published
    other = add_images(make_order(cast.acme, status=OrderStatus.DELIVERED), {"standard": 1}, status=ImageStatus.DELIVERED)[0]
    before = _state(order, images)
    for image in (stranger, other):
        response = _review(cast.acme_member, order, [{"image": str(image.pk), "decision": "approve"}])
        assert response.status_code == 400 and "items" in response.json()["errors"]
    assert _state(order, images) == before


def test_reviewing_a_completed_order_is_409(cast, delivered):
    order, images = delivered
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED)
    before = _state(order, images)
    response = _review(cast.acme_member, order, [{"image": str(images[0].pk), "decision": "approve"}])
    assert response.status_code == 409 and "nothing to review" in response.json()["detail"]
    assert _state(order, images) == before


def test_retouchers_qc_finance_and_other_clients_cannot_review(cast, delivered):
    order, images = delivered
    before = _state(order, images)
    item = [{"image": str(images[0].pk), "decision": "approve"}]
    assert _review(cast.globex_member, order, item).status_code == 404
    assert _review(cast.retoucher, order, item).status_code == 404
    assert _review(cast.finance, order, item).status_code == 403
    assert _state(order, images) == before


def test_approving_everything_completes_the_order_and_packs_the_final_files(cast, delivered,
                                                                           django_capture_on_commit_callbacks):
    order, images = delivered
    result = proofing.review_submit(order=order, by=cast.acme_member,
                                  items=[{"image": i.pk, "decision": "approve"} for i in images])
    assert result.completed and result.approved == 3
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED
    assert Delivery.objects.get(order=order, kind="final").items.count() == 3
    assert all(v.approved for v in Version.objects.filter(image__order=order))


def test_a_studio_review_on_the_clients_behalf_says_so(cast, delivered):
    order, images = delivered
    proofing.review_submit(order=order, by=cast.account_manager, items=[{"image": images[0].pk, "decision": "approve"}])
    event = Event.objects.get(order=order, verb="images.approved")
    assert "on behalf of Acme Jewels" in event.message and event.actor == cast.account_manager


def _revise(images, kind="change"):
    return [{"image": images[0].pk, "decision": "revise", "note": "Warmer gold", "kind": kind,
             "marks": [point(960, 1440, "Here")]}]


def test_a_round_beyond_the_free_ones_waits_for_the_client_admin_and_is_charged_when_confirmed(cast, delivered):
    default_price_list(revision_fee_per_image=Decimal("7.50"))
    order, images = delivered
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    result = proofing.review_submit(order=order, by=cast.acme_member, items=_revise(images))
    round_ = result.round
    assert round_.status == RoundStatus.AWAITING_CONFIRMATION and round_.billable
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED  # nothing starts before the admin says so
    assert OrderImage.objects.get(pk=images[0].pk).status == ImageStatus.DELIVERED
    assert not RevisionCharge.objects.exists()
    # the member cannot confirm it; the image cannot be approved while it waits
    with pytest.raises(NotPermitted):
        proofing.round_answer(round_=round_, by=cast.acme_member, confirm=True)
    with pytest.raises(InvalidTransition, match="wait for your admin"):
        proofing.review_submit(order=order, by=cast.acme_member, items=[{"image": images[0].pk, "decision": "approve"}])
    price = api_for(cast.acme_member).get(f"/api/v1/orders/{order.pk}/revision-price/?changes=2").json()
    assert price["billable"] and price["amount"] == "15.00" and price["currency"] == "EUR"
    panel = web_for(cast.acme_member).get(reverse("billing:revision_price", args=[order.pk]) + f"?round={round_.pk}")
    assert "1 change × 7.50 EUR = 7.50 EUR" in panel.content.decode()
    assert api_for(cast.retoucher).get(f"/api/v1/orders/{order.pk}/revision-price/?changes=2").status_code in (403, 404)
    # the admin confirms: the round opens with its own clock and is charged at the price list's fee
    proofing.round_answer(round_=round_, by=cast.acme_admin, confirm=True)
    round_.refresh_from_db()
    order.refresh_from_db()
    assert round_.status == RoundStatus.OPEN and order.status == OrderStatus.REVISION and order.sla_target_hours == 24
    charge = RevisionCharge.objects.get(round=round_)
    assert (charge.items, charge.fee, charge.amount, charge.currency) == (1, Decimal("7.50"), Decimal("7.50"), "EUR")
    charged = Event.objects.get(order=order, verb="revision.charged")
    assert (charged.audience, charged.data, charged.message) == (
        "managers", {"round": str(round_.pk)}, f"Revision round {round_.number} billable: 1 × 7.50 = 7.50 EUR")
    # the account manager classes the item as a defect (the studio missed the brief): no charge
    item = round_.items.get()
    proofing.item_reclassify(item=item, by=cast.account_manager, kind="defect", reason="The brief asked for warm gold")
    assert not RevisionCharge.objects.exists()
    event = Event.objects.get(order=order, verb="revision.reclassed")
    assert event.audience == "client" and "The brief asked for warm gold" in event.message
    with pytest.raises(NotPermitted):
        proofing.item_reclassify(item=item, by=cast.acme_admin, kind="change", reason="No")


def test_a_declined_round_leaves_the_images_delivered(cast, delivered):
    default_price_list()
    order, images = delivered
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    round_ = proofing.review_submit(order=order, by=cast.acme_member, items=_revise(images)).round
    proofing.round_answer(round_=round_, by=cast.acme_admin, confirm=False)
    assert RevisionRound.objects.get(pk=round_.pk).status == RoundStatus.DECLINED
    assert OrderImage.objects.get(pk=images[0].pk).status == ImageStatus.DELIVERED
    with pytest.raises(InvalidTransition):
        proofing.round_answer(round_=round_, by=cast.acme_admin, confirm=True)
    # the image can now be approved or revised anew
    proofing.review_submit(order=order, by=cast.acme_member, items=[{"image": images[0].pk, "decision": "approve"}])


def test_an_admin_who_accepts_the_price_opens_the_round_at_once(cast, delivered):
    default_price_list()
    order, images = delivered
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    response = _review(cast.acme_admin, order, [{"image": str(images[0].pk), "decision": "revise", "note": "Warmer",
                                                 "kind": "change"}], confirm=True)
    assert response.status_code == 200 and response.json()["round"]["status"] == "open"
    assert RevisionCharge.objects.count() == 1


@pytest.mark.parametrize("free", [0, 1, 2])
def test_the_free_rounds_end_exactly_at_their_number(cast, delivered, free):
    """With N free rounds, round N (of changes) is free and round N + 1 is billable; a round of
    defects only is never billable."""
    default_price_list()
    order, images = delivered
    cast.acme.free_revision_rounds = free
    cast.acme.save()
    for number in range(1, free + 3):
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
        OrderImage.objects.filter(pk__in=[i.pk for i in images]).update(status=ImageStatus.DELIVERED)
        defects_only = number == free + 2
        round_ = proofing.review_submit(order=order, by=cast.acme_admin, confirm=True,
                                        items=_revise(images, kind="defect" if defects_only else "change")).round
        assert round_.number == number
        assert round_.billable == (number > free and not defects_only), f"round {number} of {free} free"
        assert proofing.is_billable_round(cast.acme, number, 1) == (number > free)
        assert proofing.is_billable_round(cast.acme, number, 0) is False


def test_free_rounds_and_defects_are_never_billable(cast, delivered):
    default_price_list()
    order, images = delivered
    first = proofing.review_submit(order=order, by=cast.acme_member, items=_revise(images)).round
    assert not first.billable and first.status == RoundStatus.OPEN
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    second = proofing.review_submit(order=order, by=cast.acme_member, items=_revise(images[1:], kind="defect")).round
    assert not second.billable and second.status == RoundStatus.OPEN and not RevisionCharge.objects.exists()


def test_script_in_notes_marks_and_messages_stays_text(cast, delivered, django_capture_on_commit_callbacks):
    order, images = delivered
    payload = '<script>alert("x")</script>'
    with django_capture_on_commit_callbacks(execute=True):
        proofing.review_submit(order=order, by=cast.acme_member, note=payload, items=[
            {"image": images[0].pk, "decision": "revise", "note": payload, "marks": [point(1200, 1200, payload)]}])
        api_for(cast.acme_member).post(f"/api/v1/orders/{order.pk}/messages/", {"body": payload}, format="json")
    for user, url in [(cast.account_manager, reverse("jobs:order_detail", args=[order.pk])),
                      (cast.acme_member, reverse("jobs:order_review", args=[order.pk]))]:
        page = web_for(user).get(url).content.decode()
        assert payload not in page and "&lt;script&gt;" in page
    api = api_for(cast.acme_member).get(f"/api/v1/orders/{order.pk}/rounds/").json()["results"][0]
    mark = api["items"][0]["annotations"][0]
    assert api["note"] == payload and mark["body"][0]["value"] == payload  # data, for the client to escape
    assert any(payload in m.body for m in mail.outbox) and all(not m.alternatives for m in mail.outbox)  # text mails


def test_internal_notes_never_reach_clients(cast, delivered, django_capture_on_commit_callbacks):
    order, images = delivered
    with django_capture_on_commit_callbacks(execute=True):
        api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/messages/",
                                           {"body": "Client pays late; keep it tight", "internal": True}, format="json")
        api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/messages/", {"body": "Your files are ready"},
                                           format="json")
    for user in (cast.acme_admin, cast.acme_member):
        thread = api_for(user).get(f"/api/v1/orders/{order.pk}/messages/").json()["results"]
        assert [m["body"] for m in thread] == ["Your files are ready"]
        page = web_for(user).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
        assert "pays late" not in page and "Your files are ready" in page
        assert not Notification.objects.filter(user=user, body__contains="pays late").exists()
    assert not [m for m in mail.outbox if "pays late" in m.body and set(m.to) & {cast.acme_admin.email, cast.acme_member.email}]
    refused = api_for(cast.acme_member).post(f"/api/v1/orders/{order.pk}/messages/", {"body": "x", "internal": True},
                                             format="json")
    assert refused.status_code == 403 and Message.objects.filter(order=order).count() == 2
    for body in ("", "x" * 2001):
        bad = api_for(cast.acme_member).post(f"/api/v1/orders/{order.pk}/messages/", {"body": body}, format="json")
        assert bad.status_code == 400 and "body" in bad.json()["errors"]
    assert Message.objects.filter(order=order).count() == 2


def test_a_message_notifies_the_other_side_once_and_respects_opt_out(cast, delivered, django_capture_on_commit_callbacks):
    order, _ = delivered
    cast.acme.account_manager = cast.account_manager
    cast.acme.save()
    NotificationPreference.objects.create(user=cast.acme_member, kind="message", email=False, bell=True)
    with django_capture_on_commit_callbacks(execute=True):
        api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/messages/", {"body": "Files are ready"},
                                           format="json")
    assert Notification.objects.filter(kind="message", user=cast.acme_member, read_at__isnull=True).count() == 1
    assert [m.to for m in mail.outbox] == [[cast.acme_admin.email]]  # the member opted out of mail
    assert not Notification.objects.filter(user=cast.account_manager, kind="message").exists()  # never the author
    from jobs.tasks import notify_message

    message = Message.objects.get(order=order)
    assert notify_message(str(message.pk)) == 0 and len(mail.outbox) == 1  # delivered twice, sent once
    bell = api_for(cast.acme_member).get("/api/v1/notifications/?unread=true").json()
    assert bell["count"] == 1 and "Files are ready" in bell["results"][0]["body"]
    read = api_for(cast.acme_member).post("/api/v1/notifications/read/", {}, format="json").json()
    assert read == {"marked": 1, "unread": 0}
    # another person's notification id is not yours to mark: 404, as for an id that does not exist
    other = Notification.objects.get(user=cast.acme_admin)
    assert api_for(cast.acme_member).post("/api/v1/notifications/read/", {"ids": [str(other.pk)]},
                                          format="json").status_code == 404
    assert Notification.objects.get(pk=other.pk).read_at is None


def test_notification_preferences_in_the_profile(cast, web):
    client = web(cast.retoucher)
    page = client.get(reverse("profile")).content.decode()
    assert "Work assigned to you" in page and "A quote is waiting" not in page  # only what the role receives
    client.post(reverse("profile"), {"form": "notifications", "bell_assignment": "1"})
    pref = NotificationPreference.objects.get(user=cast.retoucher, kind="assignment")
    assert pref.bell and not pref.email


def test_auto_approval_reminds_the_day_before_then_approves_once(cast, delivered):
    order, images = delivered
    cast.acme.auto_approve_days = 3
    cast.acme.save()
    delivery = Delivery.objects.get(order=order)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(days=2, hours=1))
    assert proofing.auto_approve_due() == {"reminded": 1, "approved": 0}
    assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}  # reminded once
    assert Notification.objects.filter(kind="approval_reminder").count() == 2  # the admin and the member
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(days=3, hours=1))
    assert proofing.auto_approve_due()["approved"] == 3
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert "automatically after 3 days" in Event.objects.get(order=order, verb="images.approved").message
    assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}


def _aged_delivery(order, images, *, by, created_at, number=1, kind="review", status=DeliveryStatus.READY):
    delivery = Delivery.objects.create(order=order, number=number, kind=kind, status=status, archive="d.zip")
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)
    for image in images:
        version = Version.objects.create(image=image, number=number, status=VersionStatus.PASSED, file="v.png",
                                         preview="p.webp", created_by=by)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    return delivery


def test_auto_approval_at_its_edges(cast):
    """Three days after publication (to the second), a reminder the day before (to the second); only a
    ready review delivery of an order under review, only its own delivered images; each sweep counts all."""
    cast.acme.auto_approve_days = 3
    cast.acme.save()
    start = timezone.now().replace(microsecond=0)
    order = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Two waiting")
    waiting = add_images(order, {"standard": 2}, status=ImageStatus.DELIVERED)
    answered = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)
    _aged_delivery(order, waiting + answered, by=cast.retoucher, created_at=start)
    single = make_order(cast.acme, status=OrderStatus.REVISION, title="One waiting")
    alone = add_images(single, {"standard": 1}, status=ImageStatus.DELIVERED)
    _aged_delivery(single, alone, by=cast.retoucher, created_at=start, number=4)
    # what is not a ready review delivery of an order under review is left alone, however old
    ignored = []
    for status, kind, delivery_status in ((OrderStatus.DELIVERED, "final", DeliveryStatus.READY),
                                          (OrderStatus.DELIVERED, "review", DeliveryStatus.BUILDING),
                                          (OrderStatus.ON_HOLD, "review", DeliveryStatus.READY)):
        other = make_order(cast.acme, status=status, title=f"Not due {kind} {delivery_status}")
        ignored += add_images(other, {"standard": 1}, status=ImageStatus.DELIVERED)
        _aged_delivery(other, ignored[-1:], by=cast.retoucher, created_at=start - timedelta(days=30), kind=kind,
                       status=delivery_status)
    later = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Published later")
    ignored += add_images(later, {"standard": 1}, status=ImageStatus.DELIVERED)
    _aged_delivery(later, ignored[-1:], by=cast.retoucher, created_at=start + timedelta(days=1))

    with time_machine.travel(start + timedelta(days=2) - timedelta(seconds=1), tick=False):
        assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}
    with time_machine.travel(start + timedelta(days=2), tick=False):
        assert proofing.auto_approve_due() == {"reminded": 2, "approved": 0}
    reminder = Notification.objects.filter(kind="approval_reminder", user=cast.acme_admin,
                                           title__startswith=order.number).get()
    assert (reminder.title, reminder.body, reminder.url) == (
        f"{order.number}: delivery 1 will be approved tomorrow",
        "Images of delivery 1 you have not answered will be approved automatically after 3 days.",
        f"/orders/{order.pk}/review/")
    with time_machine.travel(start + timedelta(days=3) - timedelta(seconds=1), tick=False):
        assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}
    moment = start + timedelta(days=3)
    with time_machine.travel(moment, tick=False):
        assert proofing.auto_approve_due() == {"reminded": 1, "approved": 3}  # "later" is reminded now

    for image in waiting + alone:
        image.refresh_from_db()
        assert (image.status, image.approved_at) == (ImageStatus.APPROVED, moment)
        assert Version.objects.get(image=image).approved is True
    assert [OrderImage.objects.get(pk=i.pk).status for i in ignored] == [ImageStatus.DELIVERED] * len(ignored)
    assert Version.objects.get(image=answered[0]).approved is False  # answered before: not this sweep's
    approved = Event.objects.get(order=order, verb="images.approved")
    assert approved.message == "2 images of delivery 1 approved automatically after 3 days without an answer"
    assert approved.data == {"images": [str(i.pk) for i in waiting], "automatic": True}
    assert approved.audience == "client" and approved.actor is None
    assert Event.objects.get(order=single, verb="images.approved").message == (
        "1 image of delivery 4 approved automatically after 3 days without an answer")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED


def test_auto_approval_of_nothing_waiting_counts_nothing(cast, delivered):
    """Between the sweep's query and its lock, the order left review or its images were answered."""
    order, images = delivered
    cast.acme.auto_approve_days = 1
    cast.acme.save()
    delivery = Delivery.objects.get(order=order)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.ON_HOLD)
    assert proofing._auto_approve(delivery, 1) == 0
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    OrderImage.objects.filter(pk__in=[i.pk for i in images]).update(status=ImageStatus.APPROVED)
    assert proofing._auto_approve(delivery, 1) == 0
    assert not Event.objects.filter(order=order, verb="images.approved").exists()


def test_deliveries_not_yet_due_cost_one_query(cast, delivered, django_assert_num_queries):
    order, _ = delivered
    cast.acme.auto_approve_days = 5
    cast.acme.save()
    for n in range(2, 5):
        other = make_order(cast.acme, status=OrderStatus.DELIVERED)
        _aged_delivery(other, add_images(other, {"standard": 1}, status=ImageStatus.DELIVERED), by=cast.retoucher,
                       created_at=timezone.now(), number=n)
    with django_assert_num_queries(1):
        assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}


def test_auto_approval_is_off_unless_the_client_chose_it(cast, delivered):
    order, _ = delivered
    Delivery.objects.filter(order=order).update(created_at=timezone.now() - timedelta(days=30))
    assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}


def test_publishing_a_subset_and_refusals(cast, acme_version_factory, django_capture_on_commit_callbacks):
    first, second = (acme_version_factory(sku=f"S-{n}") for n in (1, 2))
    with pytest.raises(NotPermitted):
        deliveries.delivery_publish(order=cast.acme_order, by=cast.acme_admin)
    other = add_images(make_order(cast.acme, status=OrderStatus.IN_PRODUCTION), {"standard": 1}, status="ready")[0]
    response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/",
                                                  {"images": [str(other.pk)]}, format="json")
    assert response.status_code == 400 and "images" in response.json()["errors"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/",
                                                      {"images": [str(first.image_id)]}, format="json")
    assert response.status_code == 201 and response.json()["images"] == [str(first.image_id)]
    assert OrderImage.objects.get(pk=second.image_id).status == ImageStatus.READY  # still to publish
    assert Order.objects.get(pk=cast.acme_order.pk).status == OrderStatus.DELIVERED
    assert Notification.objects.filter(user=cast.acme_member, kind="delivery_ready").count() == 1


def test_the_quality_report_counts_first_time_approval_and_qc_rejects(cast, delivered, web):
    order, images = delivered
    Version.objects.filter(image=images[0]).update(created_by=cast.retoucher)
    proofing.review_submit(order=order, by=cast.acme_member, items=[
        {"image": images[0].pk, "decision": "revise", "note": "Dust", "kind": "defect", "marks": []},
        {"image": images[1].pk, "decision": "approve"}, {"image": images[2].pk, "decision": "approve"}])
    Version.objects.create(image=images[0], number=2, status=VersionStatus.FAILED, qc_at=timezone.now(),
                           created_by=cast.retoucher, qc_category="dust")
    Version.objects.filter(image__in=images[1:]).update(qc_at=timezone.now())
    report = quality.report(cast.account_manager)
    assert report["ftar_client"] == [{"key": "Acme Jewels", "images": 2, "first_time": 2, "percent": 100.0}]
    qc = {row["key"]: row for row in report["qc_retoucher"]}
    assert qc[cast.retoucher.full_name]["reviewed"] == 3 and qc[cast.retoucher.full_name]["rejected"] == 1
    page = web(cast.account_manager).get(reverse("jobs:quality_report")).content.decode()
    assert "First-time approval per retoucher" in page and "1 of 3" in page


def test_the_bell_page_marks_only_the_readers_own_notifications(cast, web):
    """The matrix's notifications row gives every signed-in person the same redirect by design: each
    marks their own bell. Here: nobody else's notification changes."""
    mine = Notification.objects.create(user=cast.acme_member, kind="message", source="t:mine", title="Mine")
    theirs = Notification.objects.create(user=cast.finance, kind="message", source="t:theirs", title="Theirs")
    assert web(cast.acme_member).post("/notifications/").status_code == 302
    assert Notification.objects.get(pk=mine.pk).read_at is not None
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_marking_named_notifications_read_takes_only_the_reader_s_own(cast, web, api):
    mine = Notification.objects.create(user=cast.acme_member, kind="message", source="t:a", title="Mine")
    other_mine = Notification.objects.create(user=cast.acme_member, kind="message", source="t:b", title="Also mine")
    theirs = Notification.objects.create(user=cast.finance, kind="message", source="t:c", title="Theirs")
    page = web(cast.acme_member)
    assert page.post("/notifications/", {"ids": [str(mine.pk), str(theirs.pk)]}).status_code == 404
    assert api(cast.acme_member).post("/api/v1/notifications/read/", {"ids": [str(theirs.pk)]},
                                      format="json").status_code == 404
    assert not Notification.objects.filter(read_at__isnull=False).exists()  # nothing changed, not even mine
    assert page.post("/notifications/", {"ids": ["not-an-id"]}).status_code == 400
    assert page.post("/notifications/", {"ids": [str(mine.pk)]}).status_code == 302
    assert Notification.objects.get(pk=mine.pk).read_at is not None
    assert Notification.objects.get(pk=other_mine.pk).read_at is None


def test_a_finished_order_reads_finished_to_the_client(cast, delivered, web):
    """Each image as last delivered (not the dusty original), no pre-flight advice any more, no internal
    version numbers, and a revision round the studio answered no longer says "In revision"."""
    order, images = delivered
    first = images[0]
    OrderImage.objects.filter(pk=first.pk).update(thumbnail="t.webp", preflight=[{"code": "icc", "message": "No colour "
                                                                                   "profile; sRGB assumed"}])
    Version.objects.filter(image=first).update(thumbnail="vt.webp", number=3)
    round_ = RevisionRound.objects.create(order=order, number=1, status=RoundStatus.OPEN, requested_by=cast.acme_admin)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.REVISION)
    in_revision = web(cast.acme_admin).get(f"/orders/{order.pk}/").content.decode()
    assert "In revision" in in_revision
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED, completed_at=timezone.now())
    OrderImage.objects.filter(order=order).update(status=ImageStatus.APPROVED)
    page = web(cast.acme_admin).get(f"/orders/{order.pk}/").content.decode()
    version = Version.objects.get(image=first)
    assert f"/api/v1/versions/{version.pk}/download/?what=thumbnail" in page
    assert f"/api/v1/images/{first.pk}/download/?what=thumbnail" not in page
    assert "Retouched · delivery 1" in page and "v3" not in page_text(page)
    assert "sRGB assumed" not in page and "In revision" not in page and "Redelivered" in page
    studio = web(cast.account_manager).get(f"/orders/{order.pk}/").content.decode()
    assert "Retouched, v3 · delivery 1" in studio  # the studio keeps its version numbers
    review = web(cast.acme_admin).get(f"/orders/{order.pk}/review/").content.decode()
    assert "delivery 1" in review and ">v3<" not in review and "v3 " not in review
    assert round_.pk


def test_the_pre_flight_advice_shows_while_the_client_can_act_on_it(cast, web):
    order = make_order(cast.acme, status=OrderStatus.DRAFT)
    [image] = add_images(order, {"standard": 1})
    OrderImage.objects.filter(pk=image.pk).update(preflight=[{"code": "icc", "message": "No colour profile; sRGB assumed"}])
    assert "sRGB assumed" in web(cast.acme_member).get(f"/orders/{order.pk}/").content.decode()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.IN_PRODUCTION)
    assert "sRGB assumed" not in web(cast.acme_member).get(f"/orders/{order.pk}/").content.decode()


def test_no_reminder_for_a_held_order_or_for_a_delivery_answered_in_full(cast):
    """The day before auto-approval, only an order under review with images still waiting hears of it: an
    order on hold waits for its release, and a delivery whose images were all answered has nothing left."""
    cast.acme.auto_approve_days = 3
    cast.acme.save()
    start = timezone.now().replace(microsecond=0)
    held = make_order(cast.acme, status=OrderStatus.ON_HOLD, title="Held")
    _aged_delivery(held, add_images(held, {"standard": 1}, status=ImageStatus.DELIVERED), by=cast.retoucher,
                   created_at=start)
    answered = make_order(cast.acme, status=OrderStatus.DELIVERED, title="All answered")
    _aged_delivery(answered, add_images(answered, {"standard": 2}, status=ImageStatus.APPROVED), by=cast.retoucher,
                   created_at=start)
    with time_machine.travel(start + timedelta(days=2, hours=1), tick=False):
        assert proofing.auto_approve_due() == {"reminded": 0, "approved": 0}
        Order.objects.filter(pk=held.pk).update(status=OrderStatus.DELIVERED)  # released: now it is due
        assert proofing.auto_approve_due() == {"reminded": 1, "approved": 0}
    assert not Notification.objects.filter(kind="approval_reminder", title__startswith=answered.number).exists()


@pytest.mark.parametrize("label,items,words,field", [
    ("no items", lambda img: [], "Choose at least one image to approve or revise.", "items"),
    ("a change with an empty mark", lambda img: [{"image": img.pk, "decision": "revise", "marks": [point(5, 5, " ")]}],
     "Write what the mark is about.", "text"),
    ("a 2,001-character note", lambda img: [{"image": img.pk, "decision": "revise", "note": "x" * 2001}],
     "A note has at most 2000 characters.", "items"),
])
def test_bad_review_input_says_why_in_full(cast, delivered, label, items, words, field):
    """The service's own words (the API's serializer says its own first; pages show these)."""
    order, images = delivered
    before = _state(order, images)
    with pytest.raises(RuleViolation) as refused:
        proofing.review_submit(order=order, by=cast.acme_member, items=items(images[0]))
    assert (refused.value.message, refused.value.field) == (words, field)
    assert _state(order, images) == before


def test_a_note_of_exactly_2000_characters_is_kept(cast, delivered):
    order, images = delivered
    proofing.review_submit(order=order, by=cast.acme_member,
                           items=[{"image": images[0].pk, "decision": "revise", "note": "n" * 2000}])
    assert RevisionItem.objects.get(image=images[0]).note == "n" * 2000


def test_approving_the_last_image_completes_the_order_in_the_words_of_the_timeline(cast, delivered):
    order, images = delivered
    assert proofing.review_submit(order=order, by=cast.acme_member,
                                  items=[{"image": i.pk, "decision": "approve"} for i in images]).completed
    event = Event.objects.get(order=order, verb="order.completed")
    assert (event.actor, event.message) == (cast.acme_member, "Every image approved; the order is complete")


@pytest.mark.parametrize("label,item,words,field", [
    ("the same image twice", lambda i: [{"image": i[0].pk, "decision": "approve"}] * 2,
     "An image appears twice in this review.", "items"),
    ("another order's image", lambda i: [{"image": i[3].pk, "decision": "approve"}],
     "Some of these images are not part of this order's deliveries.", "items"),
    ("51 marks", lambda i: [{"image": i[0].pk, "decision": "revise", "marks": [point(5, 5)] * 51}],
     "At most 50 marks per image and round.", "marks"),
    ("50 marks and one drawn", lambda i: [{"image": i[0].pk, "decision": "revise", "marks": [point(5, 5)] * 50,
                                           "annotations": ["0d7f6f5e-1c1d-4f55-9d4e-8f0c0c1c2c3c"]}],
     "At most 50 marks per image and round.", "marks"),
    *[(f"a mark at pixel {x}, {y}", lambda i, x=x, y=y: [{"image": i[0].pk, "decision": "revise", "marks": [point(x, y)]}],
       f"The mark reaches outside the picture (2400 × 2400 pixels): {x}, {y} is not on it.", "target")
      for x, y in ((-1, 5), (2400, 5), (5, -1), (5, 2400))],
    ("a mark without text", lambda i: [{"image": i[0].pk, "decision": "revise", "marks": [{"target": None}]}],
     "Write what the mark is about.", "text"),
    ("a mark drawn elsewhere", lambda i: [{"image": i[0].pk, "decision": "revise",
                                           "annotations": ["0d7f6f5e-1c1d-4f55-9d4e-8f0c0c1c2c3c"]}],
     "Some marks are not on the version of IMG_0001.jpg you are reviewing, or were sent already; reload the page.",
     "annotations"),
])
def test_what_a_review_may_hold_said_in_full(cast, delivered, label, item, words, field):
    order, images = delivered
    other = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Another delivered order")
    stranger = add_images(other, {"standard": 1}, status=ImageStatus.DELIVERED)
    before = _state(order, images)
    with pytest.raises(RuleViolation) as refused:
        proofing.review_submit(order=order, by=cast.acme_member, items=item([*images, *stranger]))
    assert (refused.value.message, refused.value.field) == (words, field)
    assert _state(order, images) == before


def test_marks_on_the_edges_and_fifty_of_them_are_kept_in_the_versions_pixels(cast, delivered):
    order, images = delivered
    edges = [point(x, y, "  Prong  ") for x, y in ((0, 0), (2399, 2399), (0, 2399), (2399, 0))] + [point(5, 5)] * 46
    proofing.review_submit(order=order, by=cast.acme_member, items=[{"image": images[0].pk, "decision": "revise",
                                                                     "marks": edges}])
    marks = Annotation.objects.order_by("number")
    assert [m.number for m in marks] == list(range(1, 51))
    assert [(m.x, m.y, m.width, m.height, m.shape) for m in marks[:4]] == [
        (0, 0, 2400, 2400, "point"), (2399, 2399, 2400, 2400, "point"), (0, 2399, 2400, 2400, "point"),
        (2399, 0, 2400, 2400, "point")]
    assert set(marks.values_list("text", flat=True)) == {"Prong", "Dust"}
    assert {m.version_id for m in marks} == {Version.objects.get(image=images[0]).pk}
    assert {m.audience for m in marks} == {"client"} and {m.author_id for m in marks} == {cast.acme_member.pk}


def test_an_image_answered_meanwhile_is_named(cast, delivered):
    order, images = delivered
    OrderImage.objects.filter(pk=images[0].pk).update(status=ImageStatus.APPROVED)
    with pytest.raises(InvalidTransition) as refused:
        proofing.review_submit(order=order, by=cast.acme_member, items=[{"image": images[0].pk, "decision": "approve"}])
    assert refused.value.message == f"{images[0].filename} is approved already; reload the page."


def _round_rows(round_):
    """A round as stored: the round, its items in image order, their marks in order."""
    round_ = RevisionRound.objects.get(pk=round_.pk)
    items = list(RevisionItem.objects.filter(round=round_).order_by("image__position"))
    return ((round_.number, round_.note, round_.billable, round_.requested_by_id, round_.status, round_.confirmed_by_id,
             round_.confirmed_at),
            [(i.image_id, i.version_id, i.note, i.proposed_kind, i.kind) for i in items],
            [(m.item.image_id, m.number, m.version_id, m.selector["value"], m.text)
             for m in Annotation.objects.filter(item__round=round_).select_related("item")
             .order_by("item__image__position", "number")])


def _event(order, verb):
    event = Event.objects.get(order=order, verb=verb)
    return event.actor_id, event.audience, event.message, event.data


def test_a_free_round_is_stored_in_full_and_a_second_one_opens_while_the_order_is_in_revision(cast, delivered):
    """Who asked, on which version, each note, kind and pin in order; the order's own transition names the
    round; a second round on an order already in revision is a line of its own (the order does not move)."""
    order, images = delivered
    versions = {v.image_id: v.pk for v in Version.objects.filter(image__in=images)}
    items = [{"image": images[0].pk, "decision": "revise", "kind": "change", "note": "Warmer gold",
              "marks": [point(600, 1200, "Prong"), point(2399, 0, "Corner")]},
             {"image": images[1].pk, "decision": "revise", "kind": "defect", "note": "Dust left"}]
    with time_machine.travel(timezone.now(), tick=False):
        first = proofing.review_submit(order=order, by=cast.acme_member, items=items, note="Both by Friday").round
    assert _round_rows(first) == (
        (1, "Both by Friday", False, cast.acme_member.pk, RoundStatus.OPEN, None, None),
        [(images[0].pk, versions[images[0].pk], "Warmer gold", "change", "change"),
         (images[1].pk, versions[images[1].pk], "Dust left", "defect", "defect")],
        [(images[0].pk, 1, versions[images[0].pk], "xywh=pixel:600,1200,0,0", "Prong"),
         (images[0].pk, 2, versions[images[0].pk], "xywh=pixel:2399,0,0,0", "Corner")])
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REVISION
    assert [OrderImage.objects.get(pk=i.pk).status for i in images] == [ImageStatus.REVISION_REQUESTED] * 2 + [
        ImageStatus.DELIVERED]
    assert _event(order, "order.revision") == (cast.acme_member.pk, "client",
                                               "Revision round 1 opened: changes requested on 2 images",
                                               {"round": str(first.pk), "images": [str(images[0].pk), str(images[1].pk)]})
    # the account manager sends the third image back for the client: round 2, one image, on the client's behalf
    second = proofing.review_submit(order=order, by=cast.account_manager, items=[
        {"image": images[2].pk, "decision": "revise", "note": "Straighten"}]).round
    assert _round_rows(second)[0][:5] == (2, "", False, cast.account_manager.pk, RoundStatus.OPEN)
    assert _round_rows(second)[1] == [(images[2].pk, versions[images[2].pk], "Straighten", "change", "change")]
    assert _event(order, "revision.requested") == (
        cast.account_manager.pk, "client", "Revision round 2 opened on behalf of Acme Jewels: changes requested on 1 image",
        {"round": str(second.pk), "images": [str(images[2].pk)]})
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REVISION
    assert Event.objects.filter(order=order, verb="order.revision").count() == 1


@pytest.mark.parametrize("changes", [1, 2])
def test_a_billable_round_waits_for_an_admin_even_when_a_member_sends_it_with_confirm(cast, delivered, changes):
    order, images = delivered
    default_price_list()
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    revise = [{"image": image.pk, "decision": "revise", "note": "Brighter"} for image in images[:changes]]
    waiting = proofing.review_submit(order=order, by=cast.acme_member, items=revise, confirm=True).round
    assert _round_rows(waiting)[0] == (1, "", True, cast.acme_member.pk, RoundStatus.AWAITING_CONFIRMATION, None, None)
    plural = "1 change" if changes == 1 else "2 changes"
    assert _event(order, "revision.awaiting_confirmation") == (
        cast.acme_member.pk, "client",
        f"Revision round 1 waits for a client admin's confirmation: {plural} beyond the free rounds are billable",
        {"round": str(waiting.pk)})
    assert not Event.objects.filter(order=order, verb="order.revision").exists()
    assert [OrderImage.objects.get(pk=i.pk).status for i in images] == [ImageStatus.DELIVERED] * 3


def test_an_admins_submission_without_confirm_waits_too_and_with_it_opens_confirmed_by_them(cast, delivered):
    order, images = delivered
    default_price_list()
    cast.acme.free_revision_rounds = 0
    cast.acme.save()
    revise = [{"image": images[0].pk, "decision": "revise", "note": "Brighter"}]
    waiting = proofing.review_submit(order=order, by=cast.acme_admin, items=revise, confirm=False).round
    assert _round_rows(waiting)[0][4:] == (RoundStatus.AWAITING_CONFIRMATION, None, None)
    proofing.round_answer(round_=waiting, by=cast.acme_admin, confirm=False)  # declined: the image stays delivered
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        opened = proofing.review_submit(order=order, by=cast.acme_admin, items=revise, confirm=True).round
    assert _round_rows(opened)[0] == (2, "", True, cast.acme_admin.pk, RoundStatus.OPEN, cast.acme_admin.pk, now)
    assert _event(order, "order.revision")[:3] == (cast.acme_admin.pk, "client",
                                                   "Revision round 2 opened: changes requested on 1 image")


def test_a_change_of_an_unknown_kind_is_refused_in_full(cast, delivered):
    order, images = delivered
    before = _state(order, images)
    with pytest.raises(RuleViolation) as refused:
        proofing.review_submit(order=order, by=cast.acme_member, items=[
            {"image": images[0].pk, "decision": "revise", "note": "x", "kind": "wish"}])
    assert (str(refused.value), refused.value.field) == ("Each change is a defect or a change.", "items")
    assert _state(order, images) == before


def test_the_review_says_whether_it_completed_the_order_and_the_final_delivery_names_who_approved_last(cast, delivered):
    order, images = delivered
    first = proofing.review_submit(order=order, by=cast.acme_member, items=[{"image": images[0].pk, "decision": "approve"}])
    assert (first.approved, first.round, first.completed) == (1, None, False)
    assert not Delivery.objects.filter(order=order, kind="final").exists()
    last = proofing.review_submit(order=order, by=cast.acme_admin, items=[
        {"image": image.pk, "decision": "approve"} for image in images[1:]])
    assert (last.approved, last.round, last.completed) == (2, None, True)
    final = Delivery.objects.get(order=order, kind="final")
    assert final.created_by_id == cast.acme_admin.pk


def test_the_review_services_refusals_name_the_image(cast, delivered):
    """What the service says when the page or an integration sends it an image never published, or a change
    with nothing to change (a note or a pin; a note left out is an empty one)."""
    order, images = delivered
    stranger = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]  # on the order, never published
    before = _state(order, images)
    for items, message in (
            ([{"image": stranger.pk, "decision": "approve"}],
             f"{stranger.filename} was not delivered to you; only delivered images are reviewed."),
            ([{"image": images[1].pk, "decision": "revise"}],
             f"Say what should change on {images[1].filename}: a note or a mark."),
            ([{"image": images[1].pk, "decision": "revise", "marks": [{"target": None}]}],
             "Write what the mark is about.")):
        with pytest.raises(RuleViolation) as refused:
            proofing.review_submit(order=order, by=cast.acme_member, items=items)
        assert str(refused.value) == message
    assert _state(order, images) == before
