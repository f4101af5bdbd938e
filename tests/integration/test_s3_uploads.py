"""The upload contract against an S3-compatible server over real HTTP (moto server mode)."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client as HttpClient
from PIL import Image

from jobs.models import ImageStatus, OrderImage, TilePyramid
from tests.conftest import api_for
from tests.uploading import declare, send_parts, upload

pytestmark = pytest.mark.django_db


def noisy_jpeg(width: int, height: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3)).save(buf, "JPEG", quality=97)
    return buf.getvalue()


def test_presigned_single_upload_is_processed(cast, s3_storage, django_capture_on_commit_callbacks):
    api = api_for(cast.acme_member)
    data = noisy_jpeg(640, 480)
    declared = declare(api, cast.acme_order, "../../etc/passwd\r\nRING.jpg", data).json()["images"][0]
    target = declared["upload"]
    assert target["method"] == "PUT" and target["url"].startswith("http://127.0.0.1")
    key = urlsplit(target["url"]).path.split("/", 2)[2]
    assert key.startswith(f"clients/{cast.acme.pk}/orders/{cast.acme_order.pk}/{declared['image']['id']}/upload/")
    assert "passwd" not in key and ".." not in key and "RING" not in key
    query = parse_qs(urlsplit(target["url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 900
    assert "content-length" in query["X-Amz-SignedHeaders"][0]
    assert requests.put(target["url"], data=data, headers=target["headers"], timeout=30).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        done = api.post(target["complete_url"], {}, format="json")
    assert done.status_code == 202
    image = OrderImage.objects.get()
    assert image.status == ImageStatus.RECEIVED and (image.width, image.height) == (640, 480)
    assert image.filename == "passwdRING.jpg" or image.filename.endswith("RING.jpg")
    pyramid = TilePyramid.objects.get(image=image)
    keys = set(s3_storage.keys(f"clients/{cast.acme.pk}/"))
    assert keys == {image.original.name, image.thumbnail.name, image.preview.name, pyramid.pack}
    # a deep-zoom tile is one ranged GET into the pack
    tile = api.get(f"/api/v1/images/{image.pk}/tiles/10/1_0.webp/")
    assert tile.status_code == 200 and len(tile.content) == pyramid.index["10/1_0"][1]
    assert Image.open(io.BytesIO(tile.content)).size == (640 - 510 + 1, 480)


def test_multipart_upload_of_50_mib_in_parts(cast, s3_storage, django_capture_on_commit_callbacks):
    api, web = api_for(cast.acme_member), HttpClient()
    picture = noisy_jpeg(1200, 900, seed=2)
    data = picture + random.Random(3).randbytes(66 * 1024 * 1024 - len(picture))  # trailing bytes after EOI
    assert len(data) > 64 * 1024 * 1024
    with django_capture_on_commit_callbacks(execute=True):
        result = upload(api, web, cast.acme_order, "huge.jpg", data)
    image = OrderImage.objects.get(pk=result["id"])
    assert image.status == ImageStatus.RECEIVED, image.reason
    assert image.size_bytes == len(data) and image.sha256 == hashlib.sha256(data).hexdigest()


def test_checksum_mismatch_is_rejected(cast, s3_storage, django_capture_on_commit_callbacks):
    api = api_for(cast.acme_member)
    data = noisy_jpeg(300, 200)
    wrong = hashlib.sha256(b"other").hexdigest()
    target = declare(api, cast.acme_order, "a.jpg", data, sha256=wrong).json()["images"][0]["upload"]
    put = requests.put(target["url"], data=data, headers=target["headers"], timeout=30)
    if put.status_code == 200:  # an emulator may not verify x-amz-checksum-sha256; Loupe does
        with django_capture_on_commit_callbacks(execute=True):
            api.post(target["complete_url"], {}, format="json")
        image = OrderImage.objects.get()
        assert image.status == ImageStatus.REJECTED and "SHA-256" in image.reason
    else:
        assert put.status_code == 400


def test_wrong_part_list_rejects_and_aborts(cast, s3_storage, monkeypatch):
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 1000)
    monkeypatch.setattr("agency.uploads.PART_SIZE", 5 * 1024 * 1024)
    api = api_for(cast.acme_member)
    data = random.Random(4).randbytes(11 * 1024 * 1024)
    target = declare(api, cast.acme_order, "a.jpg", data).json()["images"][0]["upload"]
    assert target["method"] == "MULTIPART" and len(target["parts"]) == 3
    etags = send_parts(api, None, target, data)
    bad = api.post(target["complete_url"], {"parts": [etags[0], {**etags[1], "etag": '"deadbeef"'}, etags[2]]},
                   format="json")
    assert bad.json()["status"] == "rejected" and "part 2 does not match its ETag" in bad.json()["reason"]
    uploads = s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", [])
    assert not uploads  # aborted: storage keeps no orphan parts


def test_download_redirect_is_presigned_and_attachment(cast, s3_storage, django_capture_on_commit_callbacks):
    api, web = api_for(cast.acme_member), HttpClient()
    data = noisy_jpeg(640, 480)
    with django_capture_on_commit_callbacks(execute=True):
        result = upload(api, web, cast.acme_order, "Ring \"1\".jpg", data)
    response = api.get(f"/api/v1/images/{result['id']}/download/?what=original")
    assert response.status_code == 302
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert int(query["X-Amz-Expires"][0]) <= 600
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
    assert api_for(cast.globex_member).get(f"/api/v1/images/{result['id']}/download/?what=original").status_code == 404


def test_delivery_zip_on_s3(cast, s3_storage, acme_version_factory, django_capture_on_commit_callbacks):
    from jobs.review.deliveries import delivery_publish

    versions = [acme_version_factory(sku=f"SKU-{n}") for n in (1, 2)]
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_publish(order=versions[0].image.order, by=cast.account_manager)
    delivery.refresh_from_db()
    assert delivery.status == "ready", delivery.reason
    body = io.BytesIO()
    s3_storage.download_to(delivery.archive, body, etag=s3_storage.stat(delivery.archive).etag)
    names = sorted(zipfile.ZipFile(body).namelist())
    assert names == ["SKU-1_1.jpg", "SKU-1_1.png", "SKU-2_1.jpg", "SKU-2_1.png"]
