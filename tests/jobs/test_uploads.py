"""Uploads on the local file-system backend: targets, complete, processing, downloads, refusals."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.test import Client as HttpClient
from PIL import Image

from jobs.models import ImageStatus, Order, OrderImage, OrderStatus
from tests.conftest import api_for
from tests.uploading import declare, put, sign, upload

pytestmark = pytest.mark.django_db


def profile_name(img: Image.Image) -> str:
    from PIL import ImageCms

    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))).strip()


def jpeg(width=1200, height=800, colour=(180, 150, 90), **save) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def noisy_jpeg(width=800, height=600) -> bytes:
    import random

    rng = random.Random(7)
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def flow(cast, django_capture_on_commit_callbacks):
    """Upload as Acme's member with tasks run on commit, as a worker would."""
    api = api_for(cast.acme_member)
    web = HttpClient()

    def run(name, data, order=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = upload(api, web, order or cast.acme_order, name, data, **kwargs)
        return OrderImage.objects.get(pk=result["id"])

    run.api, run.web = api, web
    return run


def test_jpeg_upload_is_received_with_metadata_and_previews(flow):
    image = flow("RING_01.JPG", jpeg(2400, 1600, dpi=(300, 300)))
    assert image.status == ImageStatus.RECEIVED and image.reason == ""
    assert (image.format, image.width, image.height, image.mode, image.bit_depth, image.dpi) == \
        ("JPEG", 2400, 1600, "RGB", 8, 300)
    assert image.original.name.endswith("/original/original.jpg") and "RING" not in image.original.name
    thumb = Image.open(image.thumbnail.open("rb"))
    preview = Image.open(image.preview.open("rb"))
    assert (thumb.format, max(thumb.size), preview.format, preview.size) == ("WEBP", 256, "WEBP", (1600, 1067))
    assert profile_name(preview) == "sRGB built-in" and "exif" not in preview.info
    assert image.sha256 == hashlib.sha256(jpeg(2400, 1600, dpi=(300, 300))).hexdigest()


def test_preflight_flags_small_images_missing_profile_and_clipping(flow, cast):
    cast.acme_guide.long_edge_px = 2000
    cast.acme_guide.save()
    image = flow("white.jpg", jpeg(800, 600, colour=(255, 255, 255)))
    codes = {w["code"] for w in image.preflight}
    assert codes == {"resolution", "profile", "highlights"}
    assert "800 px is below the 2000 px" in next(w["message"] for w in image.preflight if w["code"] == "resolution")


def test_api_lists_images_with_status_and_links(flow, cast):
    image = flow("a.jpg", jpeg())
    body = flow.api.get(f"/api/v1/orders/{cast.acme_order.pk}/images/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["status"] == "received" and row["thumbnail"] == f"/api/v1/images/{image.pk}/download/?what=thumbnail"
    assert row["megapixels"] == 1.0 and row["processing"] is False


def test_download_redirects_to_a_short_lived_signed_link(flow, cast):
    data = jpeg()
    image = flow("Ring \"final\"\r\n.jpg", data)
    response = flow.api.get(f"/api/v1/images/{image.pk}/download/?what=original")
    assert response.status_code == 302 and response["Location"].startswith("/files/")
    file_response = HttpClient().get(response["Location"])
    assert file_response.status_code == 200 and b"".join(file_response.streaming_content) == data
    disposition = file_response["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
    assert "filename*=UTF-8''Ring%20final.jpg" in disposition
    tampered = response["Location"][:-6] + "AAAAA/"
    assert HttpClient().get(tampered).status_code == 403


def test_other_tenant_gets_404_for_image_previews_and_download(flow, cast):
    image = flow("a.jpg", jpeg())
    outsider = api_for(cast.globex_member)
    for url in (f"/api/v1/images/{image.pk}/", f"/api/v1/images/{image.pk}/download/?what=preview",
                f"/api/v1/images/{image.pk}/complete/", f"/api/v1/orders/{cast.acme_order.pk}/images/"):
        response = outsider.post(url, {}, format="json") if "complete" in url else outsider.get(url)
        assert response.status_code == 404, url
    assert outsider.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", {"files": []}, format="json").status_code == 404


def test_checksum_mismatch_rejects_the_image(flow):
    data = jpeg()
    image = flow("a.jpg", data, sha256="0" * 64)
    assert image.status == ImageStatus.REJECTED
    assert image.reason == "the file's SHA-256 does not match the checksum declared for it"


def test_size_mismatch_is_refused_at_the_put(cast):
    api, web = api_for(cast.acme_member), HttpClient()
    data = jpeg()
    target = declare(api, cast.acme_order, "a.jpg", data, size=len(data) - 10).json()["images"][0]["upload"]
    code, _ = put(target["url"], data, target["headers"], web)
    assert code == 413
    image = OrderImage.objects.get()
    completed = api.post(target["complete_url"], {}, format="json")
    assert completed.status_code == 409 and "has not arrived" in completed.json()["detail"]
    image.refresh_from_db()
    assert image.status == ImageStatus.UPLOADING and image.uploaded_at is None


def test_short_body_is_refused_and_nothing_is_kept(cast):
    api, web = api_for(cast.acme_member), HttpClient()
    data = jpeg()
    target = declare(api, cast.acme_order, "a.jpg", data).json()["images"][0]["upload"]
    code, _ = put(target["url"], data[:-1], target["headers"], web)
    assert code == 400
    assert api.post(target["complete_url"], {}, format="json").status_code == 409


def test_signed_upload_url_cannot_be_tampered_with(cast):
    api, web = api_for(cast.acme_member), HttpClient()
    data = jpeg()
    url = declare(api, cast.acme_order, "a.jpg", data).json()["images"][0]["upload"]["url"]
    token = url.split("/")[-2]
    for bad in (url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB")),
                url.replace(token, token.upper())):
        assert put(bad, data, {"Content-Type": "image/jpeg"}, web)[0] == 403
    assert web.get(url).status_code == 405
    assert web.post(url, data, content_type="image/jpeg").status_code == 405


def test_expired_upload_url_is_refused(cast, monkeypatch):
    import agency.uploads

    api, web = api_for(cast.acme_member), HttpClient()
    data = jpeg()
    url = declare(api, cast.acme_order, "a.jpg", data).json()["images"][0]["upload"]["url"]
    monkeypatch.setattr(agency.uploads, "UPLOAD_TTL", -1)
    code, _ = put(url, data, {"Content-Type": "image/jpeg"}, web)
    assert code == 403


def test_multipart_upload_in_parts_with_resume(cast, django_capture_on_commit_callbacks, monkeypatch):
    import agency.uploads

    monkeypatch.setattr(agency.uploads, "MULTIPART_THRESHOLD", 100_000)
    monkeypatch.setattr(agency.uploads, "PART_SIZE", 64 * 1024)
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 100_000)
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg()
    assert len(data) > 100_000
    target = declare(api, cast.acme_order, "big.jpg", data).json()["images"][0]["upload"]
    assert target["method"] == "MULTIPART" and len(target["parts"]) > 1
    parts, offset = [], 0
    for part in target["parts"]:
        chunk = data[offset:offset + part["size"]]
        signed = sign(api, target, part["number"], chunk)
        if part["number"] == 2:  # a dropped connection: the part is sent again and simply replaces itself
            assert put(signed["url"], chunk[: len(chunk) // 2], signed["headers"], web)[0] == 400
        code, etag = put(signed["url"], chunk, signed["headers"], web)
        assert code == 200 and etag
        parts.append({"number": part["number"], "etag": etag})
        offset += part["size"]
    wrong = api.post(target["complete_url"], {"parts": parts[:-1]}, format="json")
    assert wrong.json()["status"] == "rejected" and "parts" in wrong.json()["reason"]


def test_multipart_complete_assembles_and_processes(cast, django_capture_on_commit_callbacks, monkeypatch):
    import agency.uploads

    monkeypatch.setattr(agency.uploads, "PART_SIZE", 64 * 1024)
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 100_000)
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg()
    with django_capture_on_commit_callbacks(execute=True):
        result = upload(api, web, cast.acme_order, "big.jpg", data)
    image = OrderImage.objects.get(pk=result["id"])
    assert image.status == ImageStatus.RECEIVED and image.sha256 == hashlib.sha256(data).hexdigest()


def test_bytes_replaced_after_complete_are_not_processed(cast, django_capture_on_commit_callbacks):
    """U4: a presigned URL replayed after complete cannot swap what gets processed."""
    api, web = api_for(cast.acme_member), HttpClient()
    data = jpeg()
    target = declare(api, cast.acme_order, "a.jpg", data).json()["images"][0]["upload"]
    put(target["url"], data, target["headers"], web)
    from jobs.intake.uploads import image_process

    api.post(target["complete_url"], {}, format="json")  # on_commit not executed: processing waits
    other = jpeg(colour=(0, 0, 255))[: len(data)].ljust(len(data), b"\0")
    assert put(target["url"], other, target["headers"], web)[0] == 200
    image = OrderImage.objects.get()
    assert image_process(image_id=image.pk) == ImageStatus.REJECTED
    image.refresh_from_db()
    assert image.reason == "the file changed after the upload was completed"


def test_uploads_refused_after_submission_and_for_wrong_roles(cast):
    data = jpeg()
    submitted = cast.acme_order
    submitted.status = OrderStatus.QUOTED
    submitted.save()
    response = declare(api_for(cast.acme_member), submitted, "a.jpg", data)
    assert response.status_code == 409 and "draft or submitted" in response.json()["detail"]
    cast.acme_order.status = OrderStatus.DRAFT
    cast.acme_order.save()
    assert declare(api_for(cast.finance), cast.acme_order, "a.jpg", data).status_code == 403
    assert OrderImage.objects.count() == 0


@pytest.mark.parametrize("files,field", [
    ([{"name": "a.jpg", "size": 10, "sha256": "xyz"}], "files"),
    ([{"name": "a.jpg", "size": -1, "sha256": "0" * 64}], "files"),
    ([], "files"),
    ([{"size": 10, "sha256": "0" * 64}], "files"),
])
def test_bad_upload_declarations_get_field_errors(cast, files, field):
    response = api_for(cast.acme_member).post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", {"files": files},
                                              format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert OrderImage.objects.count() == 0


def test_file_above_the_limit_is_refused(cast, settings):
    settings.LOUPE_MAX_UPLOAD_BYTES = 1000
    response = declare(api_for(cast.acme_member), cast.acme_order, "a.jpg", b"x" * 2000)
    assert response.status_code == 400 and "limit per file" in response.json()["errors"]["files"][0]


def test_rejected_image_blocks_submission_until_removed(flow, cast):
    image = flow("notes.jpg", b"just some text, not a photograph")
    assert image.status == ImageStatus.REJECTED and image.reason == "not an image: the file is text"
    response = flow.api.post(f"/api/v1/orders/{cast.acme_order.pk}/submit/")
    assert response.status_code == 409 and "1 image still uploading or rejected" in response.json()["detail"]
    assert flow.api.delete(f"/api/v1/images/{image.pk}/").status_code == 204
    assert flow.api.post(f"/api/v1/orders/{cast.acme_order.pk}/submit/").status_code == 200


def test_processing_twice_changes_nothing(flow):
    from jobs.intake.uploads import image_process

    image = flow("a.jpg", jpeg())
    before = (image.status, image.thumbnail.name, image.preview.name, image.attempts)
    assert image_process(image_id=image.pk) == ImageStatus.RECEIVED
    image.refresh_from_db()
    assert (image.status, image.thumbnail.name, image.preview.name, image.attempts) == before


def test_attempts_are_bounded(cast):
    """T2: an image whose processing keeps dying ends rejected after three attempts."""
    from jobs.intake.ingest import MAX_ATTEMPTS
    from jobs.intake.uploads import image_process

    image = OrderImage.objects.create(order=cast.acme_order, filename="x.jpg", declared_size=1,
                                      upload_key="missing", uploaded_at="2026-01-01T00:00:00Z", attempts=MAX_ATTEMPTS)
    assert image_process(image_id=image.pk) == ImageStatus.REJECTED
    image.refresh_from_db()
    assert image.reason == "the file could not be processed after 3 attempts"


def test_sweeper_requeues_stuck_and_drops_abandoned(cast, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.intake.uploads import sweep_stuck_images

    old = timezone.now() - timedelta(days=2)
    abandoned = OrderImage.objects.create(order=cast.acme_order, filename="gone.jpg", declared_size=5, upload_key="k1")
    OrderImage.objects.filter(pk=abandoned.pk).update(created_at=old)
    stuck = OrderImage.objects.create(order=cast.acme_order, filename="stuck.jpg", declared_size=5, upload_key="k2",
                                      uploaded_at=old, processing_started_at=old, attempts=3)
    result = sweep_stuck_images()
    assert result == {"requeued": 0, "failed": 1, "abandoned": 1}
    stuck.refresh_from_db()
    abandoned.refresh_from_db()
    assert stuck.status == abandoned.status == ImageStatus.REJECTED
    assert abandoned.reason == "the upload was never completed"


def test_the_sweeper_at_its_edges(cast, monkeypatch):
    """Stuck: received, and processing started (or, never started, received) more than 15 minutes ago;
    abandoned: never received and created more than 24 hours ago. Only uploads still uploading; each
    stuck row is queued once on the images group, each abandoned one's multipart upload aborted."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from jobs.intake import ingest
    from jobs.intake.ingest import MAX_ATTEMPTS
    from jobs.intake.uploads import ORIGINALS, sweep_stuck_images

    queued, discarded = [], []
    monkeypatch.setattr(ingest, "enqueue", lambda func, *args, group: queued.append((func, *args, group)))
    monkeypatch.setattr(ingest, "discard", lambda key, upload_id="": discarded.append((key, upload_id)))
    now = timezone.now().replace(microsecond=0)
    minutes, hours = (lambda n: now - timedelta(minutes=n)), (lambda n: now - timedelta(hours=n))
    second = timedelta(seconds=1)

    def row(name, *, created=None, status=ImageStatus.UPLOADING, **fields):
        image = OrderImage.objects.create(order=cast.acme_order, filename=f"{name}.jpg", declared_size=5,
                                          upload_key=f"key-{name}", status=status, **fields)
        OrderImage.objects.filter(pk=image.pk).update(created_at=created or minutes(30))
        return image

    started_late = row("started-late", uploaded_at=minutes(20), processing_started_at=minutes(15) - second)
    never_started = row("never-started", uploaded_at=minutes(15) - second)
    rows = {
        "still processing": row("processing", uploaded_at=minutes(20), processing_started_at=minutes(14)),
        "received just now": row("received", uploaded_at=minutes(15)),
        "processed": row("processed", status=ImageStatus.RECEIVED, uploaded_at=hours(2), processing_started_at=hours(2)),
        "not received": row("unreceived", processing_started_at=minutes(30)),
        "received long ago, processing now": row("received-long-ago", created=hours(48), uploaded_at=hours(47),
                                                 processing_started_at=minutes(1)),
        "a day old to the second": row("a-day-old", created=hours(24)),
        "rejected long ago": row("rejected", status=ImageStatus.REJECTED, created=hours(48)),
    }
    out_of_attempts = [row(f"tried-{n}", uploaded_at=hours(1), processing_started_at=hours(1), attempts=MAX_ATTEMPTS)
                       for n in (1, 2)]
    abandoned = [row("abandoned-parts", created=hours(24) - second, upload_id="mp-1"),
                 row("abandoned", created=hours(30))]

    with time_machine.travel(now, tick=False):
        assert sweep_stuck_images() == {"requeued": 2, "failed": 2, "abandoned": 2}
    assert sorted(queued) == sorted((ORIGINALS.task, str(image.pk), "images") for image in (started_late, never_started))
    assert sorted(discarded) == [("key-abandoned", ""), ("key-abandoned-parts", "mp-1")]
    for image in out_of_attempts + abandoned:
        image.refresh_from_db()
        assert image.status == ImageStatus.REJECTED
    assert {OrderImage.objects.get(pk=image.pk).status for image in (started_late, never_started)} == {ImageStatus.UPLOADING}
    for label, image in rows.items():
        assert OrderImage.objects.get(pk=image.pk).status == image.status, label
    assert sweep_stuck_images(stuck_after_minutes=60, abandoned_after_hours=48) == {"requeued": 0, "failed": 0,
                                                                                   "abandoned": 0}


def test_image_instructions_sku_and_complexity_before_production(cast, acme_image, web):
    from django.urls import reverse

    from jobs.models import Event

    url = f"/api/v1/images/{acme_image.pk}/"
    client = api_for(cast.acme_member)
    changed = client.patch(url, {"sku": " RING-0042 ", "instructions": "<script>alert(1)</script> keep the engraving"},
                           format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["sku"] == "RING-0042" and changed.json()["instructions"].startswith("<script>")
    event = Event.objects.filter(order=acme_image.order, verb="image.updated").get()
    assert event.actor == cast.acme_member and "SKU, instructions changed" in event.message
    # complexity sets the price: the studio grades it, a client cannot
    refused = client.patch(url, {"complexity": "complex"}, format="json")
    assert refused.status_code == 403 and "grades complexity" in refused.json()["detail"]
    manager = api_for(cast.account_manager)
    assert manager.patch(url, {"complexity": "complex"}, format="json").json()["complexity"] == "complex"
    bad = manager.patch(url, {"complexity": "impossible", "instructions": "x" * 5001}, format="json")
    assert bad.status_code == 400 and {"complexity", "instructions"} <= set(bad.json()["errors"])
    acme_image.refresh_from_db()
    assert (acme_image.sku, acme_image.complexity) == ("RING-0042", "complex")
    # the page: the same rule through a form; a script stays text
    page = web(cast.acme_member).get(reverse("jobs:image_detail", args=[acme_image.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and 'name="complexity"' not in page
    saved = web(cast.acme_member).post(reverse("jobs:image_detail", args=[acme_image.pk]),
                                       {"sku": "RING-0043", "instructions": "Sharper prongs"})
    assert saved.status_code == 302
    acme_image.refresh_from_db()
    assert (acme_image.sku, acme_image.instructions) == ("RING-0043", "Sharper prongs")
    # once work starts the images are fixed; the refusal says where to go and changes nothing
    Order.objects.filter(pk=acme_image.order_id).update(status=OrderStatus.IN_PRODUCTION)
    late = client.patch(url, {"instructions": "Too late"}, format="json")
    assert late.status_code == 409 and "messages" in late.json()["detail"]
    page = web(cast.acme_member).post(reverse("jobs:image_detail", args=[acme_image.pk]), {"instructions": "Too late"})
    assert page.status_code == 409
    acme_image.refresh_from_db()
    assert acme_image.instructions == "Sharper prongs"
    assert Event.objects.filter(order=acme_image.order, verb="image.updated").count() == 3


def test_a_refused_file_keeps_300_characters_of_its_reason_and_is_logged_once(cast, caplog):
    import logging

    from jobs.intake import ingest
    from jobs.intake.uploads import ORIGINALS

    image = OrderImage.objects.create(order=cast.acme_order, filename="x.jpg", declared_size=5, upload_key="k")
    reason = "the file is not a picture: " + "x" * 300
    with caplog.at_level(logging.INFO, logger=ingest.logger.name):
        assert ingest.reject(ORIGINALS, image.pk, reason) is True
        assert ingest.reject(ORIGINALS, image.pk, "again") is False  # refused once
    image.refresh_from_db()
    assert image.reason == reason[:300]
    assert [r.getMessage() for r in caplog.records if r.name == ingest.logger.name] == [
        f"{ORIGINALS.name} {image.pk} rejected: {reason}"]
