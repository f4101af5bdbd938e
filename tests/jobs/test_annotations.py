"""Marks on pictures and their threads (issue 21): stored in the pixels of the exact file they were drawn
on, validated at the file's edges, numbered per image; studio marks and internal replies never reach the
client; only the author edits within the window; resolve and reopen say why they refuse; mentions are
told once, after commit, and only to people who may read them; a review sends marks drawn before it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Notification, Role
from jobs.models import (
    Annotation,
    AnnotationReply,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    ImageStatus,
    Order,
    OrderStatus,
    RevisionItem,
    RevisionRound,
    Version,
    VersionStatus,
)
from jobs.review import annotations, proofing
from jobs.review.annotations import parse_target
from tests.conftest import api_for
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
W, H = 2400, 2400


def fragment(value):
    return {"selector": {"type": "FragmentSelector", "value": value}}


def svg(shape):
    return {"selector": {"type": "SvgSelector", "value": f"<svg>{shape}</svg>"}}


@pytest.fixture
def review(cast):
    """Acme's order delivered: a 3000 × 2000 camera original and its square 2400 × 2400 version, published."""
    order = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Delivered rings")
    image = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]
    type(image).objects.filter(pk=image.pk).update(width=3000, height=2000)
    image.refresh_from_db()
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="v.png", preview="p.webp",
                                     created_by=cast.retoucher, width=W, height=H)
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    from jobs.models import Assignment

    Assignment.objects.create(image=image, retoucher=cast.retoucher, minutes=30)
    return order, image, version


def _marks():
    return list(Annotation.objects.order_by("number").values_list("number", "shape", "x", "y", "w", "h", "audience",
                                                                   "deleted_at", "resolved_at", "text"))


# --- targets in a file's pixels -------------------------------------------------------------------------

@pytest.mark.parametrize("target,shape,box", [
    (None, "whole", (0, 0, W, H)),
    (fragment("xywh=pixel:0,0,0,0"), "point", (0, 0, 0, 0)),
    (fragment("xywh=pixel:2399,2399,0,0"), "point", (2399, 2399, 0, 0)),
    (fragment("xywh=10,20,0,0"), "point", (10, 20, 0, 0)),
    (fragment("xywh=pixel:0,0,2400,2400"), "rect", (0, 0, 2400, 2400)),
    (fragment("xywh=pixel:100.4,200.6,50.5,10"), "rect", (100, 200, 51, 11)),
    (svg('<ellipse cx="1200" cy="600" rx="100" ry="50"/>'), "ellipse", (1100, 550, 200, 100)),
    (svg('<polygon points="10,10 2400,10 2400,2400"/>'), "polygon", (10, 10, 2390, 2390)),
    (svg('<polyline points="5,5 6,8 9,9"/>'), "freehand", (5, 5, 4, 4)),
    (svg('<line x1="2400" y1="0" x2="0" y2="2400"/>'), "arrow", (0, 0, 2400, 2400)),
    (svg('<ellipse cx="10" cy="10" rx="1" ry="1"/>'), "ellipse", (9, 9, 2, 2)),  # the smallest radii
])
def test_each_shape_is_kept_in_the_files_pixels_with_its_box(target, shape, box):
    parsed = parse_target(target, W, H)
    assert (parsed.shape, parsed.box) == (shape, box)


def test_a_selector_is_rewritten_from_its_numbers_never_kept_as_sent():
    parsed = parse_target(svg('<ellipse  cx="1200.000" cy="600" rx="100" ry="50" onload="steal()" />'), W, H)
    assert parsed.selector == {"type": "SvgSelector",
                               "value": '<svg xmlns="http://www.w3.org/2000/svg"><ellipse cx="1200" cy="600" rx="100" '
                                        'ry="50"/></svg>'}
    assert parse_target(fragment("xywh=pixel:1,2,0,0"), W, H).selector["conformsTo"] == "http://www.w3.org/TR/media-frags/"
    wrap = '<svg xmlns="http://www.w3.org/2000/svg">{}</svg>'
    assert parse_target(svg('<line x2="0" x1="20.50" y1="3" y2="9" stroke="red"/>'), W, H).selector["value"] == wrap.format(
        '<line x1="20.5" y1="3" x2="0" y2="9"/>')
    assert parse_target(svg('<polyline points=" 5,5  6.0,8 9 9"/>'), W, H).selector["value"] == wrap.format(
        '<polyline points="5,5 6,8 9,9"/>')


@pytest.mark.parametrize("target,words", [
    (fragment("xywh=pixel:2400,0,0,0"), "The mark reaches outside the picture (2400 × 2400 pixels): 2400, 0 is not on it."),
    (fragment("xywh=pixel:0,2400,0,0"), "The mark reaches outside the picture (2400 × 2400 pixels): 0, 2400 is not on it."),
    (fragment("xywh=pixel:-1,0,0,0"), "The mark reaches outside the picture (2400 × 2400 pixels): -1, 0 is not on it."),
    (fragment("xywh=pixel:1,0,2400,10"), "The mark reaches outside the picture (2400 × 2400 pixels): 2401, 10 is not on it."),
    (fragment("xywh=pixel:0,0,10,0"), "A rectangle has a width and a height above 0 (a point has both 0)."),
    (fragment("xywh=pixel:0,0,-5,-5"), "A rectangle has a width and a height above 0 (a point has both 0)."),
    (fragment("xywh=percent:10,10,0,0"), 'A FragmentSelector reads "xywh=pixel:x,y,w,h".'),
    (fragment("xywh=pixel:1,2,3"), 'A FragmentSelector reads "xywh=pixel:x,y,w,h".'),
    (fragment("xywh=pixel:nan,2,0,0"), 'A FragmentSelector reads "xywh=pixel:x,y,w,h".'),
    ({"selector": {"type": "TextQuoteSelector", "exact": "x"}},
     "A target has one selector: a FragmentSelector or an SvgSelector."),
    ({"selector": "xywh=pixel:1,1,0,0"}, "A target has one selector: a FragmentSelector or an SvgSelector."),
    (svg('<ellipse cx="10" cy="10" rx="11" ry="5"/>'), "The mark reaches outside the picture (2400 × 2400 pixels): "
                                                        "-1, 5 is not on it."),
    (svg('<ellipse cx="10" cy="10" rx="0" ry="5"/>'), "An ellipse has radii above 0."),
    (svg('<ellipse cx="10" cy="10" rx="5"/>'), "An ellipse has cx, cy, rx and ry."),
    (svg('<polygon points="1,1 2,2"/>'), "A shape has 3 to 2000 points."),
    (svg('<polyline points="1,1 2"/>'), "The points of a shape come in x,y pairs."),
    (svg(f'<polyline points="{" ".join(["1,1"] * 2001)}"/>'), "A shape has 2 to 2000 points."),
    (svg('<line x1="5" y1="5" x2="5" y2="5"/>'), "An arrow has two different ends."),
    (svg('<line x1="5" y1="5" x2="9"/>'), "An arrow has x1, y1, x2 and y2."),
    (svg('<polygon fill="red"/>'), "A polygon has points."),
    (svg('<ellipse cx="a" cy="10" rx="5" ry="5"/>'), "A coordinate is not a number."),
    (svg('<polyline points="1,1 a,2"/>'), "A point is not a number."),
    ({"selector": {"type": "SvgSelector", "value": ""}}, "An SvgSelector holds one ellipse, polygon, polyline (freehand) "
                                                         "or line (arrow) in the picture's pixels, and nothing else."),
    (svg('<line x1="5" y1="5" x2="x" y2="5"/>'), "A coordinate is not a number."),
    (svg('<script>alert(1)</script>'), "An SvgSelector holds one ellipse, polygon, polyline (freehand) or line (arrow) "
                                       "in the picture's pixels, and nothing else."),
    (svg('<ellipse cx="10" cy="10" rx="5" ry="5"/><ellipse cx="10" cy="10" rx="5" ry="5"/>'),
     "An SvgSelector holds one ellipse, polygon, polyline (freehand) or line (arrow) in the picture's pixels, and "
     "nothing else."),
])
def test_a_bad_target_is_refused_saying_why(target, words):
    with pytest.raises(RuleViolation) as refused:
        parse_target(target, W, H)
    assert (refused.value.message, refused.value.field) == (words, "target")


# --- drawing, audiences and reading ---------------------------------------------------------------------

def test_marks_are_numbered_per_image_in_the_pixels_of_the_file_drawn_on(cast, review):
    order, image, version = review
    client = api_for(cast.acme_member)
    on_version = client.post(f"/api/v1/versions/{version.pk}/annotations/",
                             {"target": fragment("xywh=pixel:2399,0,0,0"), "text": "Dust on the prong"}, format="json")
    on_original = client.post(f"/api/v1/images/{image.pk}/annotations/",
                              {"target": fragment("xywh=pixel:2999,1999,0,0"),
                               "body": [{"type": "TextualBody", "value": "Keep this engraving"}]}, format="json")
    assert on_version.status_code == on_original.status_code == 201, (on_version.content, on_original.content)
    body = on_version.json()
    assert body["@context"] == "http://www.w3.org/ns/anno.jsonld" and body["type"] == "Annotation"
    assert (body["number"], body["width"], body["height"], body["shape"], body["audience"]) == (1, W, H, "point", "client")
    assert body["target"] == {"source": f"/api/v1/versions/{version.pk}/",
                              "selector": {"type": "FragmentSelector", "conformsTo": "http://www.w3.org/TR/media-frags/",
                                           "value": "xywh=pixel:2399,0,0,0"}}
    assert body["creator"] == {"id": str(cast.acme_member.pk), "type": "Person", "name": "Alice Acme"}
    original = on_original.json()
    assert (original["number"], original["width"], original["height"], original["version"]) == (2, 3000, 2000, None)
    assert original["body"][0]["value"] == "Keep this engraving"
    listed = client.get(f"/api/v1/versions/{version.pk}/annotations/").json()
    assert [m["number"] for m in listed] == [1]
    # a point one pixel off the original's edge is refused on the original, whatever the version's size
    refused = client.post(f"/api/v1/images/{image.pk}/annotations/", {"target": fragment("xywh=pixel:3000,0,0,0"),
                                                                      "text": "x"}, format="json")
    assert refused.status_code == 400 and "target" in refused.json()["errors"]
    assert Annotation.objects.count() == 2


def test_studio_marks_and_internal_replies_never_reach_the_client(cast, review):
    order, image, version = review
    client_mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member,
                                                target=fragment("xywh=pixel:10,10,0,0"), text="Warmer here")
    qc_mark = annotations.annotation_create(image=image, version=version, by=cast.qc, text="Dust CANARY-QC",
                                            target=svg('<ellipse cx="100" cy="100" rx="10" ry="10"/>'))
    manager_mark = annotations.annotation_create(image=image, version=version, by=cast.account_manager,
                                                 target=None, text="Series check CANARY-AM")
    told = annotations.annotation_create(image=image, version=version, by=cast.account_manager, target=None,
                                         text="We keep the sparkle", for_client=True)
    annotations.reply_post(mark=client_mark, by=cast.account_manager, text="Noted, warming it")
    annotations.reply_post(mark=client_mark, by=cast.account_manager, text="CANARY-INTERNAL", internal=True)
    annotations.reply_post(mark=client_mark, by=cast.retoucher, text="CANARY-RETOUCHER fixing")
    annotations.reply_post(mark=qc_mark, by=cast.account_manager, text="CANARY-ON-STUDIO-MARK")
    assert [m.audience for m in (client_mark, qc_mark, manager_mark, told)] == ["client", "studio", "studio", "client"]
    for user in (cast.acme_member, cast.acme_admin):
        text = api_for(user).get(f"/api/v1/versions/{version.pk}/annotations/").content.decode()
        assert "CANARY" not in text
        listed = api_for(user).get(f"/api/v1/versions/{version.pk}/annotations/").json()
        assert [(m["number"], [r["text"] for r in m["replies"]]) for m in listed] == [(1, ["Noted, warming it"]), (4, [])]
        assert api_for(user).get(f"/api/v1/annotations/{qc_mark.pk}/").status_code == 404
    studio = api_for(cast.qc).get(f"/api/v1/versions/{version.pk}/annotations/").json()
    assert [len(m["replies"]) for m in studio] == [3, 1, 0, 0]
    # the retoucher cannot speak to the client, even when asking to
    with pytest.raises(NotPermitted):
        annotations.annotation_create(image=image, version=version, by=cast.retoucher, target=None, text="x",
                                      for_client=True)
    with pytest.raises(NotPermitted):
        annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="x",
                                      for_client=False)
    assert Annotation.objects.count() == 4


def test_a_clients_mark_on_an_undelivered_version_or_another_company_answers_404(cast, review):
    order, image, version = review
    draft = Version.objects.create(image=image, number=2, status=VersionStatus.IN_QC, file="v2.png", preview="p.webp",
                                   created_by=cast.retoucher, width=W, height=H)
    body = {"target": None, "text": "x"}
    assert api_for(cast.acme_member).post(f"/api/v1/versions/{draft.pk}/annotations/", body, format="json").status_code == 404
    assert api_for(cast.globex_member).post(f"/api/v1/versions/{version.pk}/annotations/", body,
                                            format="json").status_code == 404
    assert api_for(cast.finance).post(f"/api/v1/versions/{version.pk}/annotations/", body, format="json").status_code == 403
    assert not Annotation.objects.exists()


def test_a_file_not_yet_checked_or_a_finished_order_refuses_marks_with_a_409(cast, review):
    order, image, version = review
    uploading = Version.objects.create(image=image, number=2, status=VersionStatus.UPLOADING, created_by=cast.retoucher)
    response = api_for(cast.qc).post(f"/api/v1/versions/{uploading.pk}/annotations/", {"text": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "This file is not ready to be marked: it has not been received and checked."
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Warmer")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED)
    before = _marks()
    for path, body in ((f"/api/v1/versions/{version.pk}/annotations/", {"text": "x"}),
                       (f"/api/v1/annotations/{mark.pk}/replies/", {"text": "x"}),
                       (f"/api/v1/annotations/{mark.pk}/resolve/", {})):
        response = api_for(cast.acme_member).post(path, body, format="json")
        assert response.status_code == 409, path
        assert response.json()["detail"] == f"Order {order.number} is completed; its marks and threads are kept as they are."
    assert _marks() == before and not AnnotationReply.objects.exists()


# --- editing within the window, by the author ------------------------------------------------------------

def test_only_the_author_changes_a_mark_and_only_within_fifteen_minutes(cast, review):
    order, image, version = review
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member,
                                             target=fragment("xywh=pixel:10,10,0,0"), text="Warmer")
    with time_machine.travel(start + timedelta(minutes=15), tick=False):
        moved = api_for(cast.acme_member).patch(f"/api/v1/annotations/{mark.pk}/", {
            "target": fragment("xywh=pixel:20,30,40,50"), "text": "Warmer, this band"}, format="json")
        assert moved.status_code == 200, moved.content
        assert (moved.json()["shape"], moved.json()["body"][0]["value"]) == ("rect", "Warmer, this band")
        before = _marks()
        other = api_for(cast.acme_admin).patch(f"/api/v1/annotations/{mark.pk}/", {"text": "Mine"}, format="json")
        assert other.status_code == 403 and other.json()["detail"] == "Only its author changes a mark."
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        late = api_for(cast.acme_member).patch(f"/api/v1/annotations/{mark.pk}/", {"text": "Later"}, format="json")
        assert late.status_code == 409
        assert late.json()["detail"] == "A mark can be changed for 15 minutes after it is written; reply instead."
        assert api_for(cast.acme_member).delete(f"/api/v1/annotations/{mark.pk}/").status_code == 409
    assert _marks() == before
    empty = api_for(cast.acme_member).patch(f"/api/v1/annotations/{mark.pk}/", {}, format="json")
    assert empty.status_code == 400


def test_a_deleted_mark_leaves_every_list_and_stays_for_the_audit(cast, review):
    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Oops")
    assert api_for(cast.acme_member).delete(f"/api/v1/annotations/{mark.pk}/").status_code == 204
    assert api_for(cast.acme_member).get(f"/api/v1/versions/{version.pk}/annotations/").json() == []
    assert api_for(cast.acme_member).delete(f"/api/v1/annotations/{mark.pk}/").status_code == 404  # twice: no harm
    assert Annotation.objects.get(pk=mark.pk).deleted_at is not None
    # its number is not given again
    again = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Again")
    assert again.number == 2


def test_a_mark_sent_in_a_round_is_kept_as_sent(cast, review):
    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member,
                                         target=fragment("xywh=pixel:5,5,0,0"), text="Dust")
    result = proofing.review_submit(order=order, by=cast.acme_member, items=[
        {"image": image.pk, "decision": "revise", "annotations": [str(mark.pk)]}])
    mark.refresh_from_db()
    assert mark.item == RevisionItem.objects.get(round=result.round)
    before = _marks()
    with pytest.raises(InvalidTransition) as refused:
        annotations.annotation_edit(mark=mark, by=cast.acme_member, text="Other")
    assert refused.value.message == "Mark 1 was sent in revision round 1; reply instead."
    assert _marks() == before


def test_a_review_refuses_a_studio_mark_or_one_sent_already(cast, review):
    order, image, version = review
    qc_mark = annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="Dust")
    before = (_marks(), RevisionItem.objects.count())
    for pk in (qc_mark.pk,):
        with pytest.raises(RuleViolation) as refused:
            proofing.review_submit(order=order, by=cast.acme_member, items=[
                {"image": image.pk, "decision": "revise", "annotations": [str(pk)]}])
        assert refused.value.field == "annotations"
    assert (_marks(), RevisionItem.objects.count()) == before


# --- resolve and reopen ----------------------------------------------------------------------------------

def test_resolve_and_reopen_say_why_they_refuse(cast, review):
    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Dust")
    resolved = api_for(cast.retoucher).post(f"/api/v1/annotations/{mark.pk}/resolve/")
    # the retoucher reaches the client's mark through the image they work on
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["resolved"] is True and resolved.json()["resolved_by"]["id"] == str(cast.retoucher.pk)
    before = _marks()
    twice = api_for(cast.acme_member).post(f"/api/v1/annotations/{mark.pk}/resolve/")
    assert twice.status_code == 409
    assert twice.json()["detail"] == f"Mark 1 was resolved already by {cast.retoucher.full_name}."
    assert _marks() == before
    assert api_for(cast.acme_member).post(f"/api/v1/annotations/{mark.pk}/reopen/").json()["resolved"] is False
    again = api_for(cast.acme_member).post(f"/api/v1/annotations/{mark.pk}/reopen/")
    assert again.status_code == 409 and again.json()["detail"] == "Mark 1 is open; there is nothing to reopen."
    refused = api_for(cast.finance).post(f"/api/v1/annotations/{mark.pk}/resolve/")
    assert (refused.status_code, refused.json()["detail"]) == (403, "You cannot resolve marks on this picture.")
    assert Annotation.objects.get(pk=mark.pk).resolved_at is None
    # resolved by someone no longer here; a deleted mark is neither resolved nor reopened
    annotations.annotation_resolve(mark=mark, by=cast.acme_admin)
    Annotation.objects.filter(pk=mark.pk).update(resolved_by=None)
    gone = api_for(cast.acme_member).post(f"/api/v1/annotations/{mark.pk}/resolve/")
    assert gone.json()["detail"] == "Mark 1 was resolved already by someone."
    Annotation.objects.filter(pk=mark.pk).update(deleted_at=timezone.now())
    for settle in (annotations.annotation_resolve, annotations.annotation_reopen):  # the API no longer finds it
        with pytest.raises(InvalidTransition, match="^Mark 1 was deleted[.]$"):
            settle(mark=mark, by=cast.acme_member)


def test_may_change_offers_the_buttons_only_to_the_author_within_the_window_of_a_mark_not_sent(cast, review):
    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Dust")
    assert annotations.may_change(mark, cast.acme_member) is True
    assert annotations.may_change(mark, cast.acme_admin) is False
    with time_machine.travel(mark.created_at + annotations.EDIT_WINDOW + timedelta(seconds=1), tick=False):
        assert annotations.may_change(mark, cast.acme_member) is False
    sent = Annotation.objects.get(pk=mark.pk)
    sent.item_id = RevisionItem.objects.create(
        round=RevisionRound.objects.create(order=order, number=1, note=""), image=image, version=version,
        note="x", proposed_kind="change", kind="change").pk
    assert annotations.may_change(sent, cast.acme_member) is False
    deleted = Annotation.objects.get(pk=mark.pk)
    deleted.deleted_at = timezone.now()
    assert annotations.may_change(deleted, cast.acme_member) is False


# --- mentions --------------------------------------------------------------------------------------------

def test_a_mention_is_told_once_after_commit_and_only_to_people_who_may_read_it(cast, review,
                                                                                django_capture_on_commit_callbacks):
    order, image, version = review
    with django_capture_on_commit_callbacks(execute=True):
        mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None,
                                             text="Can the studio look?", mentions=[cast.acme_admin.pk])
    with django_capture_on_commit_callbacks(execute=True):
        annotations.reply_post(mark=mark, by=cast.account_manager, text="On it", mentions=[cast.retoucher.pk])
    notes = Notification.objects.filter(kind="mention")
    assert sorted((n.user_id, n.source.split(":")[1]) for n in notes) == sorted([
        (cast.acme_admin.pk, "mark"), (cast.retoucher.pk, "reply"), (cast.acme_member.pk, "reply")])
    told = notes.get(user=cast.acme_admin)
    assert (told.title, told.body, told.url) == (
        f"{order.number}: Alice Acme marked {image.filename} (mark {mark.number})", "Can the studio look?",
        f"/images/{image.pk}/#mark-{mark.number}")
    answered = notes.get(user=cast.acme_member)  # the mark's author hears of the reply
    assert (answered.title, answered.body) == (
        f"{order.number}: Maria Manager replied on {image.filename} (mark {mark.number})", "On it")
    # a mark gone or deleted meanwhile tells nobody
    assert annotations.mark_notify(kind="mark", pk=uuid.uuid4()) == 0
    assert annotations.mark_notify(kind="reply", pk=uuid.uuid4()) == 0
    withdrawn = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None,
                                              text="Never mind", mentions=[cast.acme_admin.pk])  # its task not run yet
    Annotation.objects.filter(pk=withdrawn.pk).update(deleted_at=timezone.now())
    assert annotations.mark_notify(kind="mark", pk=withdrawn.pk) == 0
    assert Notification.objects.filter(kind="mention").count() == 3
    # the task runs again (a retry): nobody hears twice
    reply = AnnotationReply.objects.get()
    annotations.mark_notify(kind="reply", pk=reply.pk)
    annotations.mark_notify(kind="mark", pk=mark.pk)
    assert Notification.objects.filter(kind="mention").count() == 3


@pytest.mark.parametrize("who,words", [
    ("globex_member", "You can mention only people who can see this order."),
    ("retoucher_other", "You can mention only people who can see this order."),
])
def test_mentioning_someone_who_cannot_see_the_order_is_refused(cast, review, who, words):
    order, image, version = review
    with pytest.raises(RuleViolation) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="x",
                                      mentions=[getattr(cast, who).pk])
    assert (refused.value.message, refused.value.field) == (words, "mentions")
    assert not Annotation.objects.exists()


def test_a_client_cannot_be_mentioned_on_a_studio_mark(cast, review):
    order, image, version = review
    qc_mark = annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="Dust")
    with pytest.raises(RuleViolation) as refused:
        annotations.reply_post(mark=qc_mark, by=cast.account_manager, text="x", mentions=[cast.acme_member.pk])
    assert (refused.value.message, refused.value.field) == ("Alice Acme cannot read studio-only marks.", "mentions")
    assert not AnnotationReply.objects.exists()


def test_who_a_thread_can_name_and_who_writes_to_whom(cast, review):
    """``mentionable``: the order's client users (not on a studio thread), its account managers, the retouchers on
    its images, QC and admins, each active and able to see the order, by name; ``_audience``'s refusals in full."""
    from tests.factories import UserFactory

    order, image, version = review
    UserFactory(role=Role.QC, full_name="aaron Away", is_active=False)
    UserFactory(role=Role.FINANCE, full_name="Fiona Finance")
    names = [u.full_name for u in annotations.mentionable(order, studio_only=False)]
    studio = [u.full_name for u in annotations.mentionable(order, studio_only=True)]
    assert "aaron Away" not in names and "Fiona Finance" not in names and cast.globex_member.full_name not in names
    assert {cast.acme_member.full_name, cast.acme_admin.full_name, cast.qc.full_name, cast.admin.full_name,
            cast.retoucher.full_name} <= set(names)
    assert cast.retoucher_other.full_name not in names  # retouches another order's images
    assert set(studio) == set(names) - {cast.acme_member.full_name, cast.acme_admin.full_name}
    assert names == sorted(names, key=str.lower)
    with pytest.raises(NotPermitted) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="x",
                                      for_client=False)
    assert refused.value.message == "Studio-only marks are for the studio."
    with pytest.raises(NotPermitted) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.retoucher, target=None, text="x",
                                      for_client=True)
    assert refused.value.message == "Your marks and replies are for the studio; the account manager writes to the client."
    inactive = UserFactory(role=Role.QC, is_active=False)
    with pytest.raises(RuleViolation) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="x",
                                      mentions=[inactive.pk])
    assert (refused.value.message, refused.value.field) == ("You can mention only people who can see this order.",
                                                            "mentions")
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Dust")
    Annotation.objects.filter(pk=mark.pk).update(deleted_at=timezone.now())
    with pytest.raises(InvalidTransition, match=f"^Mark {mark.number} was deleted[.]$"):
        annotations.annotation_edit(mark=mark, by=cast.acme_member, text="More dust")
    assert not Annotation.objects.filter(text="x").exists()


def test_a_shape_of_exactly_2000_points_is_kept_and_each_number_is_checked():
    most = " ".join(f"{n % 2000},{n % 1000}" for n in range(2000))
    assert parse_target(svg(f'<polyline points="{most}"/>'), W, H).shape == "freehand"
    with pytest.raises(RuleViolation, match="^A point is not a number[.]$"):
        parse_target(svg('<polyline points="1,1 2,b"/>'), W, H)


# --- the image page's threads ------------------------------------------------------------------------------

def test_the_image_page_shows_each_reader_their_threads_and_its_forms_act(cast, review):
    from tests.conftest import web_for
    from tests.pages import page_text

    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member,
                                         target=fragment("xywh=pixel:10,10,0,0"), text="Warmer here")
    annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="CANARY-QC dust")
    annotations.reply_post(mark=mark, by=cast.account_manager, text="CANARY-INTERNAL", internal=True)
    url = f"/images/{image.pk}/"
    client_page = web_for(cast.acme_member).get(url).content.decode()
    assert "Warmer here" in client_page and "CANARY" not in client_page
    assert 'id="mark-1"' in client_page and 'id="mark-2"' not in client_page
    studio_page = page_text(web_for(cast.qc).get(url).content.decode())
    assert "CANARY-QC dust" in studio_page and "CANARY-INTERNAL" in studio_page
    marks_url = f"/images/{image.pk}/marks/"
    answer = web_for(cast.acme_member).post(marks_url, {"action": "reply", "mark": str(mark.pk), "text": "Thanks",
                                                        "mention": str(cast.acme_admin.pk)})
    assert answer.status_code == 302 and answer["Location"] == f"{url}#mark-1"
    reply = AnnotationReply.objects.get(text="Thanks")
    assert (reply.audience, list(reply.mentions.all())) == ("client", [cast.acme_admin])
    web_for(cast.account_manager).post(marks_url, {"action": "reply", "mark": str(mark.pk), "text": "Ours",
                                                   "internal": "1"})
    assert AnnotationReply.objects.get(text="Ours").audience == "studio"
    assert web_for(cast.acme_member).post(marks_url, {"action": "resolve", "mark": str(mark.pk)}).status_code == 302
    before = _marks()
    again = web_for(cast.acme_member).post(marks_url, {"action": "resolve", "mark": str(mark.pk)})
    assert again.status_code == 409 and "Mark 1 was resolved already by Alice Acme." in again.content.decode()
    started = web_for(cast.acme_member).post(marks_url, {"action": "comment", "file": "v1", "text": "The whole series"})
    assert started.status_code == 302 and Annotation.objects.get(text="The whole series").shape == "whole"
    for bad, words in (({"action": "comment", "file": "v9", "text": "x"}, "Choose a picture of this image."),
                       ({"action": "dance", "mark": str(mark.pk)}, "Unknown action.")):
        refused = web_for(cast.acme_member).post(marks_url, bad)
        assert refused.status_code == 400 and words in refused.content.decode()
    assert _marks()[:2] == before[:2]


def test_a_mark_of_another_image_is_refused_on_this_images_form(cast, review):
    from tests.conftest import web_for

    order, image, version = review
    other = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="x")
    refused = web_for(cast.acme_member).post(f"/images/{other.pk}/marks/", {"action": "resolve", "mark": str(mark.pk)})
    assert refused.status_code == 400 and "This mark is on another image." in refused.content.decode()
    assert Annotation.objects.get(pk=mark.pk).resolved_at is None


def test_an_internal_reply_never_tells_the_client_who_made_the_mark(cast, review, django_capture_on_commit_callbacks):
    order, image, version = review
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="Warmer")
    with django_capture_on_commit_callbacks(execute=True):
        annotations.reply_post(mark=mark, by=cast.account_manager, text="CANARY-INTERNAL", internal=True)
    assert not Notification.objects.filter(user=cast.acme_member).exists()
    with django_capture_on_commit_callbacks(execute=True):
        annotations.reply_post(mark=mark, by=cast.account_manager, text="Warming it")
    told = Notification.objects.get(user=cast.acme_member)
    assert (told.kind, told.body) == ("mention", "Warming it")


def test_a_file_holds_at_most_200_marks(cast, review):
    order, image, version = review
    marks = [annotations.NewMark(image, version, None, f"Note {n}") for n in range(200)]
    annotations.add_marks(marks, by=cast.qc, audience="studio")
    annotations.annotation_create(image=image, version=None, by=cast.qc, target=None, text="The original has room")
    with pytest.raises(RuleViolation) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="One more")
    assert refused.value.message == "At most 200 marks per file."
    assert Annotation.objects.filter(version=version).count() == 200
    # a mark taken back frees its place
    Annotation.objects.filter(version=version, number=1).update(deleted_at=timezone.now())
    assert annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="Now").number == 202


def test_a_mark_names_at_most_twenty_people(cast, review):
    from agency.models import Role
    from tests.factories import client_user

    order, image, version = review
    people = [client_user(cast.acme, Role.CLIENT_MEMBER, full_name=f"Colleague {n}").pk for n in range(21)]
    mark = annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="All",
                                         mentions=people[:20] + people[:1])  # a name twice counts once
    assert mark.mentions.count() == 20
    with pytest.raises(RuleViolation) as refused:
        annotations.annotation_create(image=image, version=version, by=cast.acme_member, target=None, text="x",
                                      mentions=people)
    assert (refused.value.message, refused.value.field) == ("Mention at most 20 people.", "mentions")
    assert Annotation.objects.count() == 1


def test_a_qc_rejection_points_the_retoucher_at_the_marks_on_the_version(cast, review):
    from tests.conftest import web_for
    from tests.pages import page_text

    order, image, version = review
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.REVISION)
    type(image).objects.filter(pk=image.pk).update(status=ImageStatus.IN_QC)
    second = Version.objects.create(image=image, number=2, status=VersionStatus.IN_QC, file="v2.png", preview="p.webp",
                                    created_by=cast.retoucher, width=W, height=H)
    dust = annotations.annotation_create(image=image, version=second, by=cast.qc, text="Dust left on the prong",
                                         target=fragment("xywh=pixel:5,5,0,0"))
    settled = annotations.annotation_create(image=image, version=second, by=cast.qc, target=None, text="Fixed already")
    annotations.annotation_resolve(mark=settled, by=cast.qc)
    annotations.annotation_create(image=image, version=version, by=cast.qc, target=None, text="On the first version")
    qc_page = page_text(web_for(cast.qc).get(f"/versions/{second.pk}/qc/").content.decode())
    assert f"Your open marks on v2 go back with it: {dust.number}." in qc_page
    Version.objects.filter(pk=second.pk).update(status=VersionStatus.FAILED, qc_category="dust", qc_note="See the mark",
                                                qc_by=cast.qc, qc_at=timezone.now())
    work = page_text(web_for(cast.retoucher).get(f"/images/{image.pk}/work/").content.decode())
    sent_back = work[work.index("Sent back by QC"):work.index("Numbered as on the picture")]
    assert "Marked on v2" in sent_back and "Dust left on the prong" in sent_back
    assert "Fixed already" not in sent_back and "On the first version" not in sent_back
