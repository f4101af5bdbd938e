"""Side effects after commit and I/O outside locks: mail, storage calls and delivery builds."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from agency.exceptions import InvalidTransition
from agency.uploads import LocalBackend
from jobs import workflow
from jobs.intake import ingest, uploads
from jobs.models import Delivery, DeliveryStatus, Event, ImageStatus, OrderImage
from jobs.review import deliveries
from jobs.tasks import notify_event
from tests.conftest import api_for

pytestmark = pytest.mark.django_db


def test_a_failed_send_releases_the_claim_for_the_retry(cast, monkeypatch):
    workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    event = Event.objects.get(order=cast.acme_order, verb="order.submitted")

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("SMTP is down")

    monkeypatch.setattr("agency.notifications.send_mail", refuse)
    with pytest.raises(ConnectionRefusedError):
        notify_event(str(event.pk))
    event.refresh_from_db()
    assert event.notified_at is None  # released: the retry will send it
    monkeypatch.undo()
    assert notify_event(str(event.pk)) == 1 and len(mail.outbox) == 1
    assert notify_event(str(event.pk)) == 0 and len(mail.outbox) == 1  # delivered twice, mailed once


def test_the_mail_is_sent_outside_any_transaction(cast, monkeypatch):
    workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    event = Event.objects.get(order=cast.acme_order, verb="order.submitted")
    depth = len(connection.savepoint_ids)  # the test's own transaction does not count
    seen = []
    monkeypatch.setattr("agency.notifications.send_mail", lambda *a, **k: seen.append(len(connection.savepoint_ids) - depth))
    notify_event(str(event.pk))
    assert seen == [0]


def test_line_breaks_never_reach_a_mail_header(cast, django_capture_on_commit_callbacks):
    from tests.factories import make_order

    order = make_order(cast.acme, status="submitted")
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_cancel(order_id=order.pk, by=cast.account_manager,
                              reason="Duplicate\r\nBcc: victim@example.test\r\n\r\nbody")
    assert mail.outbox, "the client's users are told about the cancellation"
    subject = mail.outbox[-1].subject
    assert "\r" not in subject and "\n" not in subject and "Bcc: victim" in subject  # kept as text, on one line
    assert mail.outbox[-1].bcc == [] and "victim@example.test" not in mail.outbox[-1].to


class _StorageSpy(LocalBackend):
    """The local backend, recording whether a transaction was open at each storage call."""

    calls: list[tuple[str, bool]]

    def __init__(self, root):
        super().__init__(root)
        self.calls = []

    def _note(self, name):
        self.calls.append((name, connection.in_atomic_block and len(connection.savepoint_ids) > self.depth))

    def start_multipart(self, *args, **kwargs):
        self._note("start_multipart")
        return super().start_multipart(*args, **kwargs)

    def single_target(self, *args, **kwargs):
        self._note("single_target")
        return super().single_target(*args, **kwargs)

    def stat(self, *args, **kwargs):
        self._note("stat")
        return super().stat(*args, **kwargs)


@pytest.fixture
def spy(monkeypatch, settings, tmp_path):
    backend = _StorageSpy(tmp_path)
    backend.depth = len(connection.savepoint_ids)  # the test's own transaction does not count
    monkeypatch.setattr("jobs.intake.uploads.get_backend", lambda: backend)
    monkeypatch.setattr("jobs.intake.ingest.get_backend", lambda: backend)
    return backend


def test_upload_targets_are_made_before_the_order_is_locked(cast, spy):
    files = [{"name": f"r{n}.jpg", "size": size, "content_type": "image/jpeg", "sha256": "0" * 64}
             for n, size in enumerate([1000, 70 * 1024 * 1024])]
    created = uploads.uploads_create(order=cast.acme_order, by=cast.acme_member, files=files)
    assert [name for name, _ in spy.calls] == ["single_target", "start_multipart"]
    assert not any(in_transaction for _, in_transaction in spy.calls)
    assert len(created) == 2 and OrderImage.objects.filter(order=cast.acme_order).count() == 2
    assert all(target["url" if "url" in target else "parts"] for _, target in created)


def test_a_refusal_after_storage_answered_aborts_its_multipart_uploads(cast, spy, monkeypatch):
    aborted = []
    monkeypatch.setattr(spy, "abort_multipart", lambda key, upload_id: aborted.append(upload_id))
    # the order moves on while storage answers: the rows are not written and the uploads are aborted
    original = spy.start_multipart

    def start_then_submit(*args, **kwargs):
        result = original(*args, **kwargs)
        type(cast.acme_order).objects.filter(pk=cast.acme_order.pk).update(status="in_production")
        return result

    monkeypatch.setattr(spy, "start_multipart", start_then_submit)
    files = [{"name": "big.tif", "size": 70 * 1024 * 1024, "content_type": "image/tiff", "sha256": "0" * 64}]
    with pytest.raises(InvalidTransition):
        uploads.uploads_create(order=cast.acme_order, by=cast.acme_member, files=files)
    assert len(aborted) == 1 and not OrderImage.objects.filter(order=cast.acme_order).exists()


def test_complete_talks_to_storage_without_holding_a_lock_and_claims_first(cast, spy):
    data = b"x" * 100
    [(image, target)] = uploads.uploads_create(order=cast.acme_order, by=cast.acme_member, files=[{
        "name": "r.jpg", "size": len(data), "content_type": "image/jpeg", "sha256": hashlib.sha256(data).hexdigest()}])
    spy.calls.clear()
    with pytest.raises(InvalidTransition, match="has not arrived"):
        uploads.upload_complete(image=image, by=cast.acme_member)
    assert spy.calls == [("stat", False)]
    image.refresh_from_db()
    assert image.upload_etag == "" and image.uploaded_at is None  # the claim was released
    spy.path(image.upload_key).parent.mkdir(parents=True, exist_ok=True)
    spy.path(image.upload_key).write_bytes(data)
    OrderImage.objects.filter(pk=image.pk).update(upload_etag=ingest.COMPLETING, processing_started_at=timezone.now())
    with pytest.raises(InvalidTransition, match="being completed already"):
        uploads.upload_complete(image=image, by=cast.acme_member)
    # a claim older than ten minutes belongs to a request that died: it can be taken over
    OrderImage.objects.filter(pk=image.pk).update(processing_started_at=timezone.now() - timedelta(minutes=11))
    done = uploads.upload_complete(image=image, by=cast.acme_member)
    assert done.uploaded_at is not None and done.upload_etag not in ("", ingest.COMPLETING)


def test_one_delivery_build_at_a_time(cast, acme_version_factory):
    acme_version_factory("SKU-1")
    first = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)
    response = api_for(cast.account_manager).post(f"/api/v1/orders/{cast.acme_order.pk}/deliver/")
    assert response.status_code == 409 and "being prepared" in response.json()["detail"]
    assert list(Delivery.objects.values_list("pk", flat=True)) == [first.pk]
    assert deliveries.delivery_build(delivery_id=first.pk) == DeliveryStatus.READY
    acme_version_factory("SKU-2")  # more work passed QC: it goes out in delivery 2
    second = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)
    assert second.number == 2


def test_a_failed_build_tells_the_client_plainly_and_logs_the_details(cast, acme_version_factory, monkeypatch, caplog):
    acme_version_factory("SKU-1")
    delivery = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)

    def broken(*args, **kwargs):
        raise OSError("[Errno 28] No space left on device: '/srv/loupe/var/media/clients/secret/x.zip'")

    monkeypatch.setattr("agency.uploads.LocalBackend.upload_file", broken)
    assert deliveries.delivery_build(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.reason == deliveries.FAILED_MESSAGE and "/srv" not in delivery.reason
    assert "No space left" in caplog.text
    page = api_for(cast.acme_member).get(f"/api/v1/deliveries/{delivery.pk}/").json()
    assert page["reason"] == deliveries.FAILED_MESSAGE


def test_stuck_builds_are_requeued_then_failed_after_three_attempts(cast, acme_version_factory, monkeypatch):
    acme_version_factory("SKU-1")
    delivery = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)
    queued = []
    monkeypatch.setattr("jobs.review.proofing.deliveries.enqueue", lambda func, *args, group: queued.append(args))
    long_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, started_at=long_ago)
    assert deliveries.sweep_stuck_deliveries() == {"requeued": 1, "failed": 0}
    assert queued == [(str(delivery.pk),)]
    Delivery.objects.filter(pk=delivery.pk).update(attempts=3, started_at=long_ago)
    assert deliveries.sweep_stuck_deliveries() == {"requeued": 0, "failed": 1}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.reason == deliveries.FAILED_MESSAGE
    # a build still running (recent start) is left alone
    acme_version_factory("SKU-2")
    fresh = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)
    Delivery.objects.filter(pk=fresh.pk).update(attempts=1, started_at=timezone.now())
    assert deliveries.sweep_stuck_deliveries() == {"requeued": 0, "failed": 0}


def test_a_killed_build_is_claimed_again_but_only_three_times(cast, acme_version_factory):
    acme_version_factory("SKU-1")
    delivery = deliveries.delivery_publish(order=cast.acme_order, by=cast.account_manager)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=3, started_at=timezone.now() - timedelta(hours=1))
    assert deliveries.delivery_build(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    assert OrderImage.objects.filter(status=ImageStatus.DELIVERED).exists()
