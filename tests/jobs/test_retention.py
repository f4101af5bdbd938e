"""Files kept exactly as long as promised (issue 24): an order's files and its deliveries are each deleted the
day their terms (the client's, else the studio's) are over after it completes, not a second before; a legal hold
on the company or the order keeps everything; rows stay and say when; the client is told what is kept until when,
and a deleted file's download says why it is gone; nothing outside the order's files is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client as HttpClient

from jobs import retention
from jobs.models import (
    Delivery,
    DeliveryStatus,
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    TilePyramid,
    Version,
    VersionStatus,
    image_prefix,
)
from tests.conftest import api_for
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 6, 15, 10, 0, tzinfo=UTC)


def _stored(key: str, data: bytes = b"bytes") -> str:
    return default_storage.save(key, ContentFile(data))


def completed(client, *, days_ago: float, title: str = "Rings") -> Order:
    """A completed order ``days_ago`` days before NOW with an original, its previews, a version, its tiles, a
    watermarked copy and a delivery package, all stored."""
    order = make_order(client, status=OrderStatus.COMPLETED, title=title)
    Order.objects.filter(pk=order.pk).update(completed_at=NOW - timedelta(days=days_ago))
    order.refresh_from_db()
    [image] = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)
    base = image_prefix(image)
    image.original = _stored(f"{base}/original.jpg")
    image.preview = _stored(f"{base}/preview.webp")
    image.thumbnail = _stored(f"{base}/thumb.webp")
    image.upload_key = f"{base}/original.jpg"
    image.save()
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, approved=True,
                                     file=_stored(f"{base}/versions/v1/file.png"),
                                     preview=_stored(f"{base}/versions/v1/preview.webp"),
                                     thumbnail=_stored(f"{base}/versions/v1/thumb.webp"),
                                     upload_key=f"{base}/versions/v1/file.png")
    _stored(f"{base}/versions/v1/held-preview.webp")  # a watermarked copy: named by no row
    TilePyramid.objects.create(image=image, version=version, pack=_stored(f"{base}/versions/v1/tiles/pyramid.pack"),
                               width=10, height=10, tile_size=254, overlap=1, format="webp", index={}, size_bytes=5)
    Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, file_count=1, archive_size=5,
                            archive=_stored(f"clients/{client.pk}/orders/{order.pk}/deliveries/d1/package.zip"))
    return order


def _exists(*keys: str) -> list[bool]:
    return [default_storage.exists(k) for k in keys]


def _files(order: Order) -> list[str]:
    image = order.images.get()
    version = image.versions.get()
    return [image.original.name, image.preview.name, version.file.name, version.preview.name,
            f"{image_prefix(image)}/versions/v1/held-preview.webp", TilePyramid.objects.get(version=version).pack]


def test_files_go_the_day_their_terms_end_and_deliveries_keep_their_own_terms(cast, settings):
    settings.LOUPE_KEEP_FILES_DAYS, settings.LOUPE_KEEP_DELIVERIES_DAYS = 90, 365
    due = completed(cast.acme, days_ago=90 + 1 / 86400, title="Due")  # one second past its 90 days
    kept = completed(cast.acme, days_ago=90 - 1 / 86400, title="Kept")  # one second short
    last_day = completed(cast.acme, days_ago=90, title="Kept through this instant")
    files, package = _files(due), due.deliveries.get().archive
    untouched = _files(kept) + _files(last_day)
    invoice_pdf = _stored(f"clients/{cast.acme.pk}/invoices/INV-2027-00001.pdf")

    done = retention.purge(now=NOW)

    assert (done.files, done.deliveries, done.orders) == (1, 0, [due.number])
    assert done.objects == len(files) + 2  # and the two thumbnails
    assert _exists(*files) == [False] * len(files)
    assert _exists(package, invoice_pdf, *untouched) == [True] * (2 + len(untouched))
    due.refresh_from_db()
    assert due.files_deleted_at == NOW and due.deliveries_deleted_at is None
    image = OrderImage.objects.get(order=due)
    assert (image.original.name, image.preview.name, image.thumbnail.name, image.upload_key) == ("", "", "", "")
    assert image.filename and image.sha256 == image.sha256  # the row and its facts stay
    version = Version.objects.get(image=image)
    assert (version.file.name, version.preview.name, version.thumbnail.name, version.upload_key) == ("", "", "", "")
    assert not TilePyramid.objects.filter(image=image).exists()
    [event] = Event.objects.filter(order=due, verb="order.files_deleted")
    assert (event.actor, event.audience, event.message, event.data) == (
        None, "client", "The originals and retouched versions of this order were deleted, 90 days after it completed, "
        f"as the contract provides ({done.objects} stored objects).", {"part": "files", "objects": done.objects})
    # the other orders' rows still name their files
    assert OrderImage.objects.get(order=kept).upload_key and Version.objects.get(image__order=kept).thumbnail.name
    # a second run finds nothing more to do
    assert retention.purge(now=NOW).orders == []
    assert Event.objects.filter(order=due, verb="order.files_deleted").count() == 1
    # the deliveries' own terms end later
    later = retention.purge(now=due.completed_at + timedelta(days=365, seconds=1))
    assert later.deliveries == 1 and _exists(package) == [False]
    delivery = Delivery.objects.get(order=due)
    assert (delivery.archive, delivery.archive_size) == ("", None)
    assert Delivery.objects.get(order=kept).archive_size == 5
    [line] = Event.objects.filter(order=due, verb="order.deliveries_deleted")
    assert (line.actor, line.audience, line.message, line.data) == (
        None, "client", "The delivered files of this order were deleted, 365 days after it completed, as the contract "
        "provides (1 stored object).", {"part": "deliveries", "objects": 1})
    gone = api_for(cast.acme_member).get(f"/api/v1/deliveries/{delivery.pk}/download/")
    assert gone.status_code == 409 and "Delivery 1 was deleted on" in gone.json()["detail"]


def test_a_clients_own_terms_replace_the_studios(cast, settings):
    settings.LOUPE_KEEP_FILES_DAYS = 90
    cast.acme.keep_files_days = 30
    cast.acme.save()
    acme = completed(cast.acme, days_ago=31)
    globex = completed(cast.globex, days_ago=31)
    assert retention.purge(now=NOW).orders == [acme.number]
    assert retention.kept(Order.objects.get(pk=globex.pk)).files_until == globex.completed_at + timedelta(days=90)


@pytest.mark.parametrize("on", ["client", "order"])
def test_a_legal_hold_keeps_everything_until_it_is_lifted(cast, on):
    order = completed(cast.acme, days_ago=3000)
    files = _files(order)
    if on == "client":
        cast.acme.legal_hold = True
        cast.acme.save()
    else:
        retention.set_legal_hold(order=order, by=cast.account_manager, hold=True, reason="Dispute")
    assert retention.purge(now=NOW).orders == []
    assert _exists(*files) == [True] * len(files)
    state = retention.kept(Order.objects.select_related("client").get(pk=order.pk))
    assert state.held and state.files_until is None
    if on == "client":
        cast.acme.legal_hold = False
        cast.acme.save()
    else:
        retention.set_legal_hold(order=order, by=cast.account_manager, hold=False)
    assert retention.purge(now=NOW).files == 1


def test_only_completed_orders_lose_files(cast):
    order = completed(cast.acme, days_ago=3000)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.REVISION)  # reopened by a revision request
    assert retention.due(NOW) == [] and retention.purge(now=NOW).orders == []
    state = retention.kept(Order.objects.get(pk=order.pk))
    assert state.files_until is None and state.files_days == 180


def test_a_cancelled_orders_files_go_when_its_terms_end_counted_from_the_cancellation(cast, settings):
    from jobs.workflow import order_cancel

    settings.LOUPE_KEEP_FILES_DAYS = 30
    order = make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Changed our mind")
    [image] = add_images(order, {"standard": 1})
    image.original = _stored(f"{image_prefix(image)}/original.jpg")
    image.save()
    with time_machine.travel(NOW, tick=False):
        order_cancel(order_id=order.pk, by=cast.account_manager, reason="The shoot was postponed")
    order.refresh_from_db()
    assert order.cancelled_at == NOW and retention.kept(order).files_until == NOW + timedelta(days=30)
    assert retention.purge(now=NOW + timedelta(days=30)).orders == []  # kept through the last instant
    assert retention.purge(now=NOW + timedelta(days=30, seconds=1)).orders == [order.number]
    assert not default_storage.exists(image.original.name)
    line = Event.objects.get(order=order, verb="order.files_deleted")
    assert "30 days after it was cancelled" in line.message


def test_placing_a_hold_twice_writes_one_line_for_the_managers_and_clients_cannot(cast):
    order = completed(cast.acme, days_ago=1)
    for _ in range(2):
        answer = api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/legal-hold/",
                                                    {"hold": True, "reason": "Audit"}, format="json")
        assert answer.status_code == 200 and answer.json()["retention"]["held"] is True
    assert answer.json()["retention"]["files_until"] is None
    [line] = Event.objects.filter(order=order, verb="order.legal_hold")
    assert line.audience == "managers" and "(Audit)" in line.message
    refused = api_for(cast.acme_admin).post(f"/api/v1/orders/{order.pk}/legal-hold/", {"hold": False}, format="json")
    assert refused.status_code == 403 and Order.objects.get(pk=order.pk).legal_hold is True
    bad = api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/legal-hold/", {"hold": "maybe"},
                                             format="json")
    assert bad.status_code == 400 and Order.objects.get(pk=order.pk).legal_hold is True
    client_view = api_for(cast.acme_admin).get(f"/api/v1/orders/{order.pk}/events/").json()
    assert "legal hold" not in str(client_view).lower()


def test_the_client_sees_until_when_and_a_deleted_file_says_why_it_is_gone(cast, settings):
    settings.LOUPE_KEEP_FILES_DAYS, settings.LOUPE_KEEP_DELIVERIES_DAYS = 90, 365
    order = completed(cast.acme, days_ago=100)
    with time_machine.travel(NOW, tick=False):
        body = api_for(cast.acme_member).get(f"/api/v1/orders/{order.pk}/").json()["retention"]
        assert body["files_until"] is not None and body["files_days"] == 90 and body["held"] is False
        web = HttpClient()
        web.force_login(cast.acme_member)
        page = web.get(f"/orders/{order.pk}/").content.decode()
        assert f"Originals and versions until {(order.completed_at + timedelta(days=90)):%-d %b %Y}" in page
        assert "Place a legal hold" not in page
        retention.purge(now=NOW)
        image = order.images.get()
        answer = api_for(cast.acme_member).get(f"/api/v1/images/{image.pk}/download/?what=original")
        assert answer.status_code == 409
        assert (f"was deleted on 15 Jun 2027 under the contract's terms; order {order.number} completed on "
                f"{order.completed_at:%d %b %Y}.") in answer.json()["detail"]
        page = web.get(f"/orders/{order.pk}/").content.decode()
        assert "Originals and versions deleted on 15 Jun 2027" in page
        body = api_for(cast.acme_member).get(f"/api/v1/orders/{order.pk}/").json()["retention"]
        assert body["files_deleted_at"] is not None and body["files_until"] is None
        delivery = order.deliveries.get()
        assert api_for(cast.acme_member).get(f"/api/v1/deliveries/{delivery.pk}/download/").status_code == 302  # kept


def test_the_account_manager_places_and_lifts_a_hold_from_the_order_page(cast):
    order = completed(cast.acme, days_ago=1)
    web = HttpClient()
    web.force_login(cast.account_manager)
    assert "Place a legal hold" in web.get(f"/orders/{order.pk}/").content.decode()
    for _ in range(2):  # a double click: the form names the state it asks for
        web.post(f"/orders/{order.pk}/legal-hold/", {"hold": "1"})
    assert Order.objects.get(pk=order.pk).legal_hold and Event.objects.filter(verb="order.legal_hold").count() == 1
    page = web.get(f"/orders/{order.pk}/").content.decode()
    assert "Legal hold" in page and "Lift the legal hold" in page
    web.post(f"/orders/{order.pk}/legal-hold/", {"hold": "0"})
    assert not Order.objects.get(pk=order.pk).legal_hold


@pytest.mark.parametrize("days", [0, 3651, "soon"])
def test_terms_outside_one_day_to_ten_years_are_refused_and_change_nothing(cast, days):
    manager = api_for(cast.account_manager)
    answer = manager.patch(f"/api/v1/clients/{cast.acme.pk}/", {"keep_files_days": days}, format="json")
    assert answer.status_code == 400 and "keep_files_days" in str(answer.json())
    cast.acme.refresh_from_db()
    assert cast.acme.keep_files_days is None
    assert manager.patch(f"/api/v1/clients/{cast.acme.pk}/", {"keep_files_days": 3650, "keep_deliveries_days": 1},
                         format="json").status_code == 200
    cast.acme.refresh_from_db()
    assert retention.terms(cast.acme) == (3650, 1)


def test_purge_checks_each_order_again_under_its_lock_and_counts_every_object(cast, settings, monkeypatch, caplog):
    """``due`` only narrows the candidates; ``purge`` decides again, under the order's row lock, with the order's
    own terms: an order held, or one still inside its terms, that a stale list names keeps everything."""
    settings.LOUPE_KEEP_FILES_DAYS, settings.LOUPE_KEEP_DELIVERIES_DAYS = 90, 365
    first, second = completed(cast.acme, days_ago=100, title="First"), completed(cast.acme, days_ago=120, title="Second")
    held = completed(cast.acme, days_ago=100, title="Held meanwhile")
    Order.objects.filter(pk=held.pk).update(legal_hold=True)
    inside = completed(cast.acme, days_ago=90, title="Kept through this instant")
    kept_files = _files(held) + _files(inside)
    monkeypatch.setattr(retention, "due", lambda now: [(held.pk, "files"), (inside.pk, "files"), (first.pk, "files"),
                                                       (second.pk, "files")])
    with caplog.at_level("INFO", logger="loupe.retention"):
        done = retention.purge(now=NOW)
    assert (done.files, done.orders) == (2, [first.number, second.number])
    assert done.objects == 2 * (len(_files(held)) + 2)  # both orders' objects, the thumbnails included
    assert _exists(*kept_files) == [True] * len(kept_files)
    assert Order.objects.get(pk=held.pk).files_deleted_at is None and Order.objects.get(pk=inside.pk).files_deleted_at is None
    ended = (NOW - timedelta(days=100)).isoformat()
    assert f"retention: deleted {len(_files(held)) + 2} objects of the files of {first.number} (ended {ended})" in [
        r.getMessage() for r in caplog.records]


def test_a_deleted_files_download_names_the_day_of_its_own_deletion(cast, settings):
    settings.LOUPE_KEEP_FILES_DAYS, settings.LOUPE_KEEP_DELIVERIES_DAYS = 90, 365
    order = completed(cast.acme, days_ago=400)
    retention.purge(now=NOW - timedelta(days=30))  # files and deliveries are both past their terms then
    Order.objects.filter(pk=order.pk).update(deliveries_deleted_at=NOW - timedelta(days=10))
    order.refresh_from_db()
    completed_on = f"{order.completed_at:%d %b %Y}"
    assert retention.deleted_because(order, "RING.jpg") == (
        f"RING.jpg was deleted on {NOW - timedelta(days=30):%d %b %Y} under the contract's terms; order {order.number} "
        f"completed on {completed_on}.")
    assert retention.deleted_because(order, "Delivery 1", deliveries=True) == (
        f"Delivery 1 was deleted on {NOW - timedelta(days=10):%d %b %Y} under the contract's terms; order "
        f"{order.number} completed on {completed_on}.")
    kept = completed(cast.acme, days_ago=1, title="Kept")
    assert retention.deleted_because(kept, "RING.jpg") == ""
