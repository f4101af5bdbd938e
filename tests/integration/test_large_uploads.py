"""A 300 MiB master in parts, against the S3 API over real HTTP (moto server) and the local backend
(issue 13): half the parts, a stop, the list of what storage holds, the rest, complete, received, and
the stored checksums are the file's. The test reads the file one part at a time, as the browser does."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from django.test import Client as HttpClient

from agency.uploads import composite_sha256
from jobs.models import ImageStatus, OrderImage
from tests.conftest import api_for
from tests.uploading import put, sign

pytestmark = pytest.mark.django_db
MiB = 1024 * 1024


@pytest.fixture
def master(master_300mib) -> Path:
    return master_300mib


def chunks(path: Path, target: dict):
    with path.open("rb") as fh:
        for part in target["parts"]:
            yield part, fh.read(part["size"])


def file_sha256(path: Path) -> tuple[str, list[str], int]:
    whole, parts, biggest = hashlib.sha256(), [], 0
    with path.open("rb") as fh:
        while chunk := fh.read(16 * MiB):
            whole.update(chunk)
            parts.append(hashlib.sha256(chunk).hexdigest())
            biggest = max(biggest, len(chunk))
    return whole.hexdigest(), parts, biggest


@pytest.fixture(params=["local", "s3"])
def storage(request):
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    return request.param


def test_a_300_mib_master_stops_half_way_resumes_and_arrives_whole(cast, storage, master,
                                                                     django_capture_on_commit_callbacks):
    api, web = api_for(cast.acme_member), HttpClient()
    size = master.stat().st_size
    declared = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", {"files": [
        {"name": "master.tif", "size": size, "content_type": "image/tiff"}]}, format="json")
    assert declared.status_code == 201, declared.content
    target = declared.json()["images"][0]["upload"]
    count = len(target["parts"])
    assert target["method"] == "MULTIPART" and count == -(-size // (16 * MiB))
    sent = 0
    for part, chunk in chunks(master, target):
        if part["number"] > count // 2:
            break  # the connection drops here
        signed = sign(api, target, part["number"], chunk)
        assert put(signed["url"], chunk, signed["headers"], web)[0] == 200
        sent += 1

    listed = api.get(target["parts_url"]).json()
    assert [p["number"] for p in listed["parts"]] == list(range(1, sent + 1))
    assert listed["missing"] == list(range(sent + 1, count + 1))
    for part, chunk in chunks(master, target):
        if part["number"] in listed["missing"]:
            signed = sign(api, target, part["number"], chunk)
            assert put(signed["url"], chunk, signed["headers"], web)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        done = api.post(target["complete_url"], {}, format="json")
    assert done.status_code in (200, 202), done.content

    image = OrderImage.objects.get(order=cast.acme_order, filename="master.tif")
    assert image.status == ImageStatus.RECEIVED, image.reason
    whole, parts, _ = file_sha256(master)
    assert image.sha256 == whole and image.size_bytes == size
    assert image.parts_sha256 == composite_sha256(parts) and image.parts_sha256.endswith(f"-{count}")
    assert (image.width, image.height) == (10240, 10240)


def test_a_part_whose_bytes_do_not_match_is_refused(cast, storage, monkeypatch, django_capture_on_commit_callbacks):
    """Refused by storage where it checks (S3, the local backend); where it did not (moto does not verify
    x-amz-checksum-sha256), by ``complete`` or the worker: never received."""
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 1000)
    monkeypatch.setattr("agency.uploads.PART_SIZE", 5 * MiB)
    api, web = api_for(cast.acme_member), HttpClient()
    data = random.Random(7).randbytes(11 * MiB)
    target = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", {"files": [
        {"name": "bad.tif", "size": len(data), "content_type": "image/tiff"}]}, format="json").json()["images"][0]["upload"]
    offset = 0
    refused_by_storage = False
    for part in target["parts"]:
        chunk = data[offset:offset + part["size"]]
        offset += part["size"]
        signed = sign(api, target, part["number"], chunk)
        body = chunk if part["number"] != 2 else bytes([chunk[0] ^ 1]) + chunk[1:]
        code, _ = put(signed["url"], body, signed["headers"], web)
        if part["number"] == 2 and code == 400:
            refused_by_storage = True
            continue
        assert code == 200, code
    if storage == "local":
        assert refused_by_storage
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(target["complete_url"], {}, format="json").json()
    image = OrderImage.objects.get(pk=answer["id"])
    assert image.status == ImageStatus.REJECTED
    assert image.reason in ("part 2 of 3 was never uploaded", "part 2's bytes do not match the SHA-256 it was sent with")
