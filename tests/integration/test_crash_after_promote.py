"""A worker killed after it placed a validated file at its final key, before the row said so (found by
the production topology test: one image in twenty burnt its three attempts, each retry crashing on an
upload object the killed attempt had already moved away). The upload is kept until the row names the
final file, so the next attempt runs from it; on S3 over real HTTP (moto) and on the local backend."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from django.test import Client as HttpClient

from agency.uploads import UploadError, get_backend
from jobs.intake import ingest, uploads
from jobs.models import ImageStatus, OrderImage
from tests.conftest import api_for
from tests.integration.test_s3_uploads import noisy_jpeg
from tests.uploading import declare, send

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """SIGKILL, as far as the task can tell: nothing after it runs, no handler catches it."""


@pytest.fixture(params=["local", "s3"])
def storage(request):
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    return request.param


def test_a_worker_killed_after_placing_the_file_leaves_an_upload_the_next_attempt_finishes(
        cast, storage, monkeypatch, django_capture_on_commit_callbacks):
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg(640, 480)
    target = declare(api, cast.acme_order, "RING.jpg", data).json()["images"][0]["upload"]
    parts = send(api, web, target, data)
    real_store = ingest.store
    calls = []

    def killed_after_the_first_preview(key, content):
        calls.append(key)
        if len(calls) == 2:  # the original is at its final key, the thumbnail stored: the machine dies
            raise Killed
        return real_store(key, content)

    monkeypatch.setattr(ingest, "store", killed_after_the_first_preview)
    with pytest.raises(Killed), django_capture_on_commit_callbacks(execute=True):
        api.post(target["complete_url"], parts, format="json")
    image = OrderImage.objects.get(order=cast.acme_order, filename="RING.jpg")
    assert (image.status, image.attempts) == (ImageStatus.UPLOADING, 1)
    assert get_backend().stat(image.upload_key) is not None  # still where the next attempt reads it

    monkeypatch.setattr(ingest, "store", real_store)
    assert uploads.sweep_stuck_images(stuck_after_minutes=0)["requeued"] == 1  # runs the task at once here
    image.refresh_from_db()
    assert image.status == ImageStatus.RECEIVED, image.reason
    assert image.attempts == 2 and (image.width, image.height) == (640, 480)
    assert get_backend().stat(image.upload_key) is None  # removed once the row names the final file
    with image.original.open("rb") as fh:
        assert fh.read() == data
    assert {k for k in get_backend().keys(f"clients/{cast.acme.pk}/")} == {
        image.original.name, image.thumbnail.name, image.preview.name}


def test_an_upload_gone_from_storage_is_refused_with_a_reason_not_retried(cast, storage,
                                                                         django_capture_on_commit_callbacks):
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg(320, 240)
    target = declare(api, cast.acme_order, "GONE.jpg", data).json()["images"][0]["upload"]
    parts = send(api, web, target, data)
    real_download = type(get_backend()).download_to

    def deleted_first(self, key, out, *, etag):
        self.delete(key)  # a bucket rule or a person removed it between complete and the worker
        return real_download(self, key, out, etag=etag)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(get_backend()), "download_to", deleted_first)
        with django_capture_on_commit_callbacks(execute=True):
            api.post(target["complete_url"], parts, format="json")
    image = OrderImage.objects.get(order=cast.acme_order, filename="GONE.jpg")
    assert (image.status, image.attempts) == (ImageStatus.REJECTED, 1)
    assert image.reason == "the uploaded file is no longer in storage"


def test_without_hard_links_the_local_backend_copies_the_validated_file(cast, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # as on some network file systems

    monkeypatch.setattr("agency.uploads.os.link", no_links)
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg(640, 480, seed=5)
    target = declare(api, cast.acme_order, "COPY.jpg", data).json()["images"][0]["upload"]
    parts = send(api, web, target, data)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(target["complete_url"], parts, format="json")
    image = OrderImage.objects.get(order=cast.acme_order, filename="COPY.jpg")
    assert image.status == ImageStatus.RECEIVED, image.reason
    with image.original.open("rb") as fh:
        assert fh.read() == data
    assert get_backend().stat(image.upload_key) is None


def test_without_hard_links_a_file_replaced_during_the_copy_is_refused(cast, monkeypatch, tmp_path):
    """The copy is checked against the pinned file afterwards: a file replaced meanwhile is not promoted."""
    backend = get_backend()
    upload, original = f"t-{uuid.uuid4().hex}/upload.jpg", f"t-{uuid.uuid4().hex}/original.jpg"
    monkeypatch.setattr("agency.uploads.os.link", lambda *a, **k: (_ for _ in ()).throw(PermissionError(1, "no")))
    backend.path(upload).parent.mkdir(parents=True, exist_ok=True)
    backend.path(upload).write_bytes(b"checked bytes")
    pinned = backend.stat(upload).etag
    real_copy = shutil.copyfile

    def copy_then_replaced(src, dst):
        real_copy(src, dst)
        replacement = tmp_path / "other"
        replacement.write_bytes(b"other bytes!!")  # the same size: only the pin tells them apart
        os.replace(replacement, backend.path(upload))  # a new PUT landed during the copy

    monkeypatch.setattr("agency.uploads.shutil.copyfile", copy_then_replaced)
    try:
        with pytest.raises(UploadError, match="changed after the upload was completed"):
            backend.promote(upload, original, etag=pinned)
        assert not backend.path(original).exists()
    finally:
        for key in (upload, original):
            shutil.rmtree(backend.path(key).parent, ignore_errors=True)
