"""Multipart uploads that resume and check every part (issue 13), on the local backend: each part is
signed with its own SHA-256 and refused by storage when its bytes differ, the parts storage holds are
listed so a client sends only the missing ones, ``complete`` checks every part again, the worker
checks the parts it reads, and abandoned parts are deleted after a day."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from agency.uploads import composite_sha256, get_backend
from jobs.intake import uploads
from jobs.models import ImageStatus, OrderImage
from tests.conftest import api_for
from tests.jobs.test_uploads import noisy_jpeg
from tests.uploading import declare, put, send_parts, sign

pytestmark = pytest.mark.django_db
PART = 64 * 1024


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr("agency.uploads.PART_SIZE", PART)
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 100_000)


@pytest.fixture
def big(cast, small_parts):
    """A JPEG of more than three parts, declared without a whole-file SHA-256 (the browser's way)."""
    data = noisy_jpeg(1400, 1000)
    assert len(data) > 3 * PART
    api = api_for(cast.acme_member)
    declared = declare(api, cast.acme_order, "ring.jpg", data)
    assert declared.status_code == 201, declared.content
    entry = declared.json()["images"][0]
    return {"api": api, "web": HttpClient(), "data": data, "target": entry["upload"],
            "image": OrderImage.objects.get(pk=entry["image"]["id"])}


def digests(data: bytes, target: dict) -> list[str]:
    out, offset = [], 0
    for part in target["parts"]:
        out.append(hashlib.sha256(data[offset:offset + part["size"]]).hexdigest())
        offset += part["size"]
    return out


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(big, django_capture_on_commit_callbacks):
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    count = len(target["parts"])
    first_half = set(range(1, count // 2 + 1))
    send_parts(api, web, target, data, numbers=first_half)  # the laptop closes here

    listed = api.get(target["parts_url"]).json()
    assert [p["number"] for p in listed["parts"]] == sorted(first_half)
    assert listed["missing"] == [n for n in range(1, count + 1) if n not in first_half]
    assert [p["sha256"] for p in listed["parts"]] == digests(data, target)[: len(first_half)]
    assert all(p["size"] == PART for p in listed["parts"])

    send_parts(api, web, target, data, numbers=set(listed["missing"]))
    with django_capture_on_commit_callbacks(execute=True):
        done = api.post(target["complete_url"], {}, format="json")
    assert done.status_code in (200, 202), done.content
    image = OrderImage.objects.get(pk=big["image"].pk)
    assert image.status == ImageStatus.RECEIVED, image.reason
    assert image.parts_sha256 == composite_sha256(digests(data, target))
    assert image.parts_sha256.endswith(f"-{count}")
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert get_backend().path(image.original.name).read_bytes() == data


def test_a_part_whose_bytes_differ_from_its_checksum_is_refused_by_storage(big):
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    chunk = data[:PART]
    signed = sign(api, target, 1, chunk)
    code, _ = put(signed["url"], b"\x00" + chunk[1:], signed["headers"], web)
    assert code == 400
    listed = api.get(target["parts_url"]).json()
    assert listed["parts"] == [] and listed["missing"][0] == 1  # nothing of it was kept
    assert put(signed["url"], chunk, signed["headers"], web)[0] == 200
    assert [p["number"] for p in api.get(target["parts_url"]).json()["parts"]] == [1]


def test_a_held_part_sent_again_and_cut_off_is_no_longer_held_until_it_is_whole(big, django_capture_on_commit_callbacks):
    """Parts are written in place in one file: a second PUT of a held part unmarks it before touching its
    bytes, so a PUT cut off half-way leaves the part missing (not listed with bytes that are no longer its
    own); sent whole again, the file completes with every byte right. The other parts are untouched."""
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    send_parts(api, web, target, data)
    chunk = data[PART:2 * PART]
    signed = sign(api, target, 2, chunk)
    code, _ = put(signed["url"], b"\x00" * (PART // 2), signed["headers"], web)  # the connection drops
    assert code == 400
    listed = api.get(target["parts_url"]).json()
    assert listed["missing"] == [2] and len(listed["parts"]) == len(target["parts"]) - 1
    missing = api.post(target["complete_url"], {}, format="json").json()
    assert missing["status"] == "rejected" and "part 2 of" in missing["reason"]

    again = declare(api, big["image"].order, "ring-2.jpg", data).json()["images"][0]
    target = again["upload"]
    send_parts(api, web, target, data)
    signed = sign(api, target, 2, chunk)
    assert put(signed["url"], chunk[: PART // 2], signed["headers"], web)[0] == 400
    assert api.get(target["parts_url"]).json()["missing"] == [2]
    assert put(signed["url"], chunk, signed["headers"], web)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        api.post(target["complete_url"], {}, format="json")
    image = OrderImage.objects.get(pk=again["image"]["id"])
    assert image.status == ImageStatus.RECEIVED, image.reason
    assert get_backend().path(image.original.name).read_bytes() == data


def test_a_part_url_signed_before_parts_were_written_in_place_is_refused_with_a_reason(big):
    """A URL from the release that kept parts in separate files carries no offset: refused (400), nothing
    written, and the part is sent again with a fresh URL."""
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    backend, image = get_backend(), big["image"]
    chunk = data[:PART]
    old_url = backend._url("local-upload", {"k": image.upload_key, "n": 1, "s": PART, "u": image.upload_id,
                                            "c": hashlib.sha256(chunk).hexdigest()}, backend.UPLOAD_SALT)
    code, _ = put(old_url, chunk, {}, web)
    assert code == 400
    assert not backend._parts_dir(image.upload_key).joinpath("data").exists()
    assert api.get(target["parts_url"]).json()["parts"] == []
    signed = sign(api, target, 1, chunk)
    assert put(signed["url"], chunk, signed["headers"], web)[0] == 200
    assert [p["number"] for p in api.get(target["parts_url"]).json()["parts"]] == [1]


def test_a_missing_part_or_a_part_changed_in_storage_is_refused(big, cast, django_capture_on_commit_callbacks):
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    count = len(target["parts"])
    send_parts(api, web, target, data, numbers=set(range(1, count)))
    missing = api.post(target["complete_url"], {}, format="json").json()
    assert missing["status"] == "rejected" and missing["reason"] == f"part {count} of {count} was never uploaded"

    again = declare(api, cast.acme_order, "ring-2.jpg", data).json()["images"][0]
    target = again["upload"]
    send_parts(api, web, target, data)
    image = OrderImage.objects.get(pk=again["image"]["id"])
    parts_dir = get_backend()._parts_dir(image.upload_key)
    assert [m.name.split(".")[:2] for m in parts_dir.glob("00002.*.*")] == [["00002", str(target["part_size"])]]
    with (parts_dir / "data").open("r+b") as stored:  # parts are written in place, in one file
        stored.seek(target["part_size"])
        first = stored.read(1)
        stored.seek(target["part_size"])
        stored.write(bytes([first[0] ^ 0xFF]))  # bit rot in part 2, or someone writing into the folder
    with django_capture_on_commit_callbacks(execute=True):
        api.post(target["complete_url"], {}, format="json")
    image.refresh_from_db()
    assert image.status == ImageStatus.REJECTED  # the worker reads every part's bytes again
    assert image.reason == "part 2's bytes do not match the SHA-256 it was sent with"
    assert not get_backend()._parts_dir(image.upload_key).exists()
    assert not get_backend().path(image.upload_key).exists()  # nothing of it is kept


def test_the_worker_checks_each_part_it_reads(big, django_capture_on_commit_callbacks):
    """A part whose recorded checksum is not its bytes' (storage that did not verify, an emulator) is
    caught where the bytes are read."""
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    send_parts(api, web, target, data)
    image = big["image"]
    real_process = uploads.ingest.process

    def forget_a_checksum_then_process(kind, row_id, **kwargs):
        row = OrderImage.objects.get(pk=row_id)
        OrderImage.objects.filter(pk=row_id).update(part_checksums={**row.part_checksums, "3": "0" * 64})
        return real_process(kind, row_id, **kwargs)

    uploads.ingest.process = forget_a_checksum_then_process
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api.post(target["complete_url"], {}, format="json")
    finally:
        uploads.ingest.process = real_process
    image.refresh_from_db()
    assert image.status == ImageStatus.REJECTED
    assert image.reason == "part 3's bytes do not match the SHA-256 it was sent with"


@pytest.mark.parametrize("body,code,field", [
    ({"number": 0, "sha256": "a" * 64}, 400, "number"),
    ({"number": 1, "sha256": "xyz"}, 400, "sha256"),
    ({"number": 99, "sha256": "a" * 64}, 400, "number"),
])
def test_signing_a_part_refuses_bad_input(big, body, code, field):
    image = big["image"]
    before = dict(OrderImage.objects.get(pk=image.pk).part_checksums)
    answer = big["api"].post(big["target"]["parts_url"], body, format="json")
    assert answer.status_code == code and field in answer.json()["errors"], answer.json()
    if body["number"] == 99:
        parts = len(big["target"]["parts"])
        assert answer.json()["errors"]["number"] == [f"ring.jpg has parts 1 to {parts}; there is no part 99."]
    assert OrderImage.objects.get(pk=image.pk).part_checksums == before


def test_parts_cannot_be_sent_or_listed_for_a_single_put_a_finished_upload_or_another_company(big, cast):
    api = big["api"]
    small = declare(api, cast.acme_order, "small.jpg", noisy_jpeg(200, 100)).json()["images"][0]
    one_piece = f"/api/v1/images/{small['image']['id']}/parts/"
    for answer in (api.get(one_piece), api.post(one_piece, {"number": 1, "sha256": "a" * 64}, format="json")):
        assert answer.status_code == 409 and "one piece" in answer.json()["detail"]
    parts_url = big["target"]["parts_url"]
    stranger = api_for(cast.globex_member)
    assert stranger.get(parts_url).status_code == 404
    assert stranger.post(parts_url, {"number": 1, "sha256": "a" * 64}, format="json").status_code == 404
    finance = api_for(cast.finance)  # finance sees every order's images but does not upload them
    for answer in (finance.get(parts_url), finance.post(parts_url, {"number": 1, "sha256": "a" * 64}, format="json")):
        assert (answer.status_code, answer.json()["detail"]) == (403, "You cannot upload this image's file.")
    assert OrderImage.objects.get(pk=big["image"].pk).part_checksums == {}
    OrderImage.objects.filter(pk=big["image"].pk).update(status=ImageStatus.REJECTED, reason="given up")
    refused = api.post(parts_url, {"number": 1, "sha256": "a" * 64}, format="json")
    assert refused.status_code == 409 and "no longer being uploaded" in refused.json()["detail"]
    assert OrderImage.objects.get(pk=big["image"].pk).part_checksums == {}
    # still "uploading" but already completed (its time stamped), or already put whole (its ETag): no more parts
    for done in ({"uploaded_at": timezone.now()}, {"upload_etag": '"9b2cf535f27731c974343645a3985328"'}):
        OrderImage.objects.filter(pk=big["image"].pk).update(**{"status": ImageStatus.UPLOADING, "uploaded_at": None,
                                                               "upload_etag": "", **done})
        refused = api.post(parts_url, {"number": 1, "sha256": "a" * 64}, format="json")
        assert refused.status_code == 409, done
        assert refused.json()["detail"] == "ring.jpg is no longer being uploaded; its parts cannot be sent or listed."


def test_the_declaration_states_the_limit_and_the_checksum_rules(cast, settings, small_parts):
    api = api_for(cast.acme_member)
    settings.LOUPE_MAX_UPLOAD_BYTES = 1024**3
    files = lambda size, sha: {"files": [{"name": "x.tif", "size": size, "content_type": "image/tiff",  # noqa: E731
                                          "sha256": sha}]}
    too_big = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", files(1024**3 + 1, ""), format="json")
    assert too_big.json()["errors"]["files"][0] == "x.tif is 1 GiB; the limit per file is 1 GiB."
    settings.LOUPE_MAX_UPLOAD_BYTES = 500 * 1024**2  # a limit below a GiB is said in MiB, not as "0 GiB"
    too_big = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", files(600 * 1024**2, ""), format="json")
    assert too_big.json()["errors"]["files"][0] == "x.tif is 600 MiB; the limit per file is 500 MiB."
    settings.LOUPE_MAX_UPLOAD_BYTES = 1024**3
    no_checksum = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", files(50_000, ""), format="json")
    assert no_checksum.status_code == 400 and "SHA-256" in no_checksum.json()["errors"]["files"][0]
    assert not OrderImage.objects.filter(order=cast.acme_order, filename="x.tif").exists()
    in_parts = api.post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", files(500_000, ""), format="json")
    assert in_parts.status_code == 201 and in_parts.json()["images"][0]["upload"]["method"] == "MULTIPART"


def test_the_api_states_the_limits_before_an_upload_starts(cast, settings):
    settings.LOUPE_MAX_UPLOAD_BYTES = 3 * 1024**3
    limits = api_for(cast.acme_member).get("/api/v1/me/").json()["upload_limits"]
    assert limits == {"max_file_bytes": 3 * 1024**3, "single_put_max_bytes": 64 * 1024 * 1024,
                      "part_size_bytes": 16 * 1024 * 1024}


def test_the_pages_state_the_limits_beside_the_upload_area(cast, settings, web):
    """Said by the page itself, under the area: the upload widget shows its own note only when it is
    taller than Loupe's, so the limit was in the page's HTML but never on screen (1440 and 390 px)."""
    settings.LOUPE_MAX_UPLOAD_BYTES = 3 * 1024**3 // 2
    page = web(cast.acme_member).get(f"/orders/{cast.acme_order.pk}/").content.decode()
    assert 'aria-describedby="upload-limits"' in page
    assert "Up to 1.5 GiB per file. An interrupted upload resumes: drop the same file again." in " ".join(page.split())


def test_an_upload_abandoned_for_a_day_loses_its_parts(big):
    api, web, data, target = big["api"], big["web"], big["data"], big["target"]
    send_parts(api, web, target, data, numbers={1, 2})
    image = big["image"]
    parts_dir = get_backend()._parts_dir(image.upload_key)
    assert len(get_backend().list_parts(image.upload_key, image.upload_id)) == 2 and (parts_dir / "data").exists()
    assert uploads.sweep_stuck_images()["abandoned"] == 0  # a fresh upload is left to resume
    OrderImage.objects.filter(pk=image.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert uploads.sweep_stuck_images()["abandoned"] == 1
    assert not parts_dir.exists()
    image.refresh_from_db()
    assert image.status == ImageStatus.REJECTED and image.reason == "the upload was never completed"
    assert api.get(target["parts_url"]).status_code == 409


def _declared(api, cast, name, data):
    entry = declare(api, cast.acme_order, name, data).json()["images"][0]
    return entry["upload"], OrderImage.objects.get(pk=entry["image"]["id"])


def test_a_part_list_that_does_not_match_storage_rejects_the_file_with_the_reason(big, cast):
    """``complete`` with the client's part list: the numbers must run 1…N, and each ETag must be the one
    storage holds for that part; a part re-signed with another checksum after it was sent is caught too."""
    api, web, data = big["api"], big["web"], big["data"]
    cases = {
        "out of order": (lambda sent: [sent[1], sent[0], *sent[2:]],
                         "the upload's parts are missing, repeated or out of order"),
        "one short": (lambda sent: sent[:-1], "the upload's parts are missing, repeated or out of order"),
        "a wrong ETag": (lambda sent: [sent[0], {"number": 2, "etag": '"' + "0" * 32 + '"'}, *sent[2:]],
                         "part 2 does not match its ETag"),
    }
    for n, (case, (parts, reason)) in enumerate(cases.items()):
        target, image = _declared(api, cast, f"ring-{n}.jpg", data)
        sent = send_parts(api, web, target, data)
        answer = api.post(target["complete_url"], {"parts": parts(sent)}, format="json").json()
        assert (answer["status"], answer["reason"]) == ("rejected", reason), case
    # the ETags as storage gives them, quoted or not, are the same ETags
    target, image = _declared(api, cast, "ring-quotes.jpg", data)
    sent = [{"number": p["number"], "etag": p["etag"].strip('"')} for p in send_parts(api, web, target, data)]
    assert api.post(target["complete_url"], {"parts": sent}, format="json").json()["status"] == "uploading"
    # part 1 sent, then signed again with another checksum and never sent again
    target, image = _declared(api, cast, "ring-resigned.jpg", data)
    send_parts(api, web, target, data)
    sign(api, target, 1, b"other bytes")
    answer = api.post(target["complete_url"], {}, format="json").json()
    assert (answer["status"], answer["reason"]) == ("rejected", "part 1's bytes do not match the SHA-256 it was sent with")
