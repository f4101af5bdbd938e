"""Production and review through the API: the whole loop from a scheduled image to a completed order,
and each step's refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.utils import timezone

from agency.models import Notification
from jobs.imaging.demo import encode_master, render_retouched
from jobs.models import (
    Delivery,
    DeliveryStatus,
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    Version,
    VersionStatus,
)
from jobs.production import assignment
from tests.conftest import api_for
from tests.factories import add_images, make_order, retoucher
from tests.uploading import upload_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(cast, django_capture_on_commit_callbacks):
    """Acme's order in production with two images assigned to Rita; tasks run on commit."""
    cast.acme_guide.output_formats, cast.acme_guide.long_edge_px, cast.acme_guide.square_canvas = ["PNG"], 1000, True
    cast.acme_guide.save()
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title="Rings")
    Order.objects.filter(pk=order.pk).update(due_at=timezone.now() + timedelta(days=3), sla_target_hours=48,
                                             sla_running_since=timezone.now())
    order.refresh_from_db()
    images = add_images(order, {"standard": 2})
    rita = retoucher("Rita Retoucher", ["colour-correction"])
    with django_capture_on_commit_callbacks(execute=True):
        assignment.schedule_apply(order=order, by=cast.account_manager, pairs=[(i, rita) for i in images])
    return {"order": order, "images": images, "rita": rita, "run": django_capture_on_commit_callbacks}


def _master(cast, seed=3):
    return encode_master(render_retouched("ring", seed=seed, guide=cast.acme_guide, size=1200))


def _version(production, image, data, name="RING_retouched.png"):
    with production["run"](execute=True):
        body = upload_version(api_for(production["rita"]), HttpClient(), image, name, data)
    return Version.objects.get(pk=body["id"])


def test_assignment_notifies_the_retoucher_once(cast, production):
    notes = Notification.objects.filter(user=production["rita"], kind="assignment")
    assert notes.count() == 1 and "new work" in notes.get().title
    assert [m.to for m in mail.outbox if production["rita"].email in m.to] == [[production["rita"].email]]


def test_the_whole_loop_from_work_to_completed_order(cast, production):
    image, other = production["images"]
    rita = api_for(production["rita"])
    # start, upload v1: checks run, the image waits for QC
    assert rita.post(f"/api/v1/images/{image.pk}/start/").status_code == 200
    v1 = _version(production, image, _master(cast))
    assert v1.status == VersionStatus.IN_QC and v1.work_minutes is not None and v1.estimate_minutes
    assert {c["code"]: c["passed"] for c in v1.checks}["background"] is True
    image.refresh_from_db()
    assert image.status == ImageStatus.IN_QC
    # QC sends it back with a category and a note; the retoucher is told
    qc = api_for(cast.qc)
    with production["run"](execute=True):
        refused = qc.post(f"/api/v1/versions/{v1.pk}/qc/",
                          {"decision": "reject", "category": "dust", "notes": "Dust on the band"}, format="json")
    assert refused.status_code == 200 and refused.json()["qc"]["category"] == "dust"
    image.refresh_from_db()
    assert image.status == ImageStatus.QC_REJECTED
    assert Notification.objects.filter(user=production["rita"], kind="qc_rejected").count() == 1
    # the retoucher starts again and uploads v2, which passes
    assert rita.post(f"/api/v1/images/{image.pk}/start/").status_code == 200
    v2 = _version(production, image, _master(cast, seed=4))
    assert v2.number == 2
    assert qc.post(f"/api/v1/versions/{v2.pk}/qc/", {"decision": "pass"}, format="json").status_code == 200
    # the other image goes straight through
    rita.post(f"/api/v1/images/{other.pk}/start/")
    v3 = _version(production, other, _master(cast, seed=5))
    qc.post(f"/api/v1/versions/{v3.pk}/qc/", {"decision": "pass"}, format="json")
    # the account manager publishes; the ZIP is built and the client told
    with production["run"](execute=True):
        published = api_for(cast.account_manager).post(f"/api/v1/orders/{production['order'].pk}/deliver/", {}, format="json")
    assert published.status_code == 201, published.content
    delivery = Delivery.objects.get(pk=published.json()["id"])
    assert delivery.status == DeliveryStatus.READY and delivery.file_count == 2
    order = Order.objects.get(pk=production["order"].pk)
    assert order.status == OrderStatus.DELIVERED and order.sla_running_since is None
    assert Notification.objects.filter(user=cast.acme_member, kind="delivery_ready").exists()
    # the client asks for changes on one image with a mark in the version's pixels: round 1 opens with its own clock
    client = api_for(cast.acme_member)
    with production["run"](execute=True):
        answer = client.post(f"/api/v1/orders/{order.pk}/review/", {"items": [
            {"image": str(image.pk), "decision": "revise", "note": "Warmer gold", "kind": "change",
             "marks": [{"target": {"selector": {"type": "FragmentSelector", "value": "xywh=pixel:10,20,0,0"}},
                        "body": [{"type": "TextualBody", "value": "Polish this prong"}]}]},
            {"image": str(other.pk), "decision": "approve"}]}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["approved"] == 1 and body["round"]["number"] == 1 and body["round"]["status"] == "open"
    mark = body["round"]["items"][0]["annotations"][0]
    assert (mark["number"], mark["body"][0]["value"], mark["target"]["selector"]["value"], mark["shape"]) == (
        1, "Polish this prong", "xywh=pixel:10,20,0,0", "point")
    order.refresh_from_db()
    assert order.status == OrderStatus.REVISION and order.sla_target_hours == 24 and order.sla_running_since
    image.refresh_from_db()
    assert image.status == ImageStatus.REVISION_REQUESTED
    assert Notification.objects.filter(user=production["rita"], kind="revision_requested").exists()
    # the retoucher reworks it (the version belongs to round 1), QC passes, the manager delivers again
    rita.post(f"/api/v1/images/{image.pk}/start/")
    v4 = _version(production, image, _master(cast, seed=6))
    assert v4.round_id == body["round"]["id"] or str(v4.round_id) == body["round"]["id"]
    qc.post(f"/api/v1/versions/{v4.pk}/qc/", {"decision": "pass"}, format="json")
    with production["run"](execute=True):
        assert api_for(cast.account_manager).post(f"/api/v1/orders/{order.pk}/deliver/", {}, format="json").status_code == 201
    # the client approves: the order completes and its final files are packed
    with production["run"](execute=True):
        done = client.post(f"/api/v1/orders/{order.pk}/review/", {"items": [{"image": str(image.pk), "decision": "approve"}]},
                           format="json")
    assert done.json()["completed"] is True
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    final = Delivery.objects.get(order=order, kind="final")
    assert final.status == DeliveryStatus.READY and final.file_count == 2
    verbs = list(Event.objects.filter(order=order).values_list("verb", flat=True))
    for verb in ["schedule.applied", "image.started", "version.submitted", "version.qc_rejected", "version.qc_passed",
                 "order.delivered", "delivery.ready", "images.approved", "order.revision",
                 "order.completed"]:
        assert verb in verbs, verb


def _fetch(user, url):
    """Follow an image download link as ``user``: (status, bytes) of what the link serves."""
    response = api_for(user).get(url)
    if response.status_code != 302:
        return response.status_code, response.json()["detail"]
    served = HttpClient().get(response["Location"])
    return served.status_code, b"".join(served.streaming_content)


def test_image_downloads_of_the_retouched_version_and_the_delivery(cast, production):
    image = production["images"][0]
    api_for(production["rita"]).post(f"/api/v1/images/{image.pk}/start/")
    version = _version(production, image, _master(cast))
    url = f"/api/v1/images/{image.pk}/download/?what="
    with version.preview.open("rb") as fh:
        preview = fh.read()
    # the studio sees the version as soon as it is checked; the client only once it is delivered
    assert _fetch(cast.account_manager, url + "version") == (200, preview)
    status, detail = _fetch(cast.acme_member, url + "version")
    assert status == 409 and "no retouched version delivered yet" in detail
    status, detail = _fetch(cast.acme_member, url + "delivery")
    assert status == 409 and "in no delivery ready" in detail
    assert api_for(cast.acme_member).get(f"/api/v1/images/{image.pk}/").json()["versions"] == []
    api_for(cast.qc).post(f"/api/v1/versions/{version.pk}/qc/", {"decision": "pass"}, format="json")
    with production["run"](execute=True):
        published = api_for(cast.account_manager).post(f"/api/v1/orders/{production['order'].pk}/deliver/",
                                                       {"images": [str(image.pk)]}, format="json")
    assert published.status_code == 201, published.content
    assert _fetch(cast.acme_member, url + "version") == (200, preview)
    status, archive = _fetch(cast.acme_member, url + "delivery")
    assert status == 200 and archive[:2] == b"PK"
    body = api_for(cast.acme_member).get(f"/api/v1/images/{image.pk}/").json()
    assert [(v["number"], v["status"]) for v in body["versions"]] == [(1, "passed")]
    # a retoucher never packs the client's delivery; a bad `what` is a field error
    assert _fetch(production["rita"], url + "delivery")[0] == 409
    bad = api_for(cast.acme_member).get(url + "master")
    assert bad.status_code == 400 and "what" in bad.json()["errors"]


def test_a_large_version_resumes_in_checked_parts_like_an_original(cast, production, monkeypatch):
    """A retoucher's master above the threshold goes in parts: signed one by one with their SHA-256,
    listed for a resume (by the retoucher only), and checked again when the worker reads them."""
    import hashlib

    from agency.uploads import composite_sha256
    from tests.uploading import send_parts

    monkeypatch.setattr("agency.uploads.PART_SIZE", 64 * 1024)
    monkeypatch.setattr("jobs.intake.ingest.MULTIPART_THRESHOLD", 100_000)
    image = production["images"][0]
    rita = api_for(production["rita"])
    assert rita.post(f"/api/v1/images/{image.pk}/start/").status_code == 200
    data = _master(cast)
    assert len(data) > 3 * 64 * 1024
    declared = rita.post(f"/api/v1/images/{image.pk}/versions/", {"name": "RING_retouched.png", "size": len(data),
                                                                   "content_type": "image/png"}, format="json")
    assert declared.status_code == 201, declared.content
    target = declared.json()["upload"]
    assert target["method"] == "MULTIPART" and target["parts_url"].endswith(
        f"/api/v1/versions/{declared.json()['version']['id']}/parts/")
    send_parts(rita, HttpClient(), target, data, numbers={1, 2})
    listed = rita.get(target["parts_url"]).json()
    assert [p["number"] for p in listed["parts"]] == [1, 2] and listed["missing"][0] == 3
    assert api_for(cast.acme_member).get(target["parts_url"]).status_code == 404  # not the client's to see
    send_parts(rita, HttpClient(), target, data, numbers=set(listed["missing"]))
    with production["run"](execute=True):
        done = rita.post(target["complete_url"], {}, format="json")
    assert done.status_code in (200, 202), done.content
    version = Version.objects.get(pk=declared.json()["version"]["id"])
    assert version.status != VersionStatus.UPLOADING and version.sha256 == hashlib.sha256(data).hexdigest()
    digests = [hashlib.sha256(data[i:i + 64 * 1024]).hexdigest() for i in range(0, len(data), 64 * 1024)]
    assert version.parts_sha256 == composite_sha256(digests)


def test_qc_decides_on_the_version_and_state_its_page_showed(cast, production):
    """A Pass meant for another page, or for a version that changed since, is refused, never applied."""
    import uuid

    from tests.conftest import web_for

    image, _other = production["images"]
    api_for(production["rita"]).post(f"/api/v1/images/{image.pk}/start/")
    v1 = _version(production, image, _master(cast))
    web, url, shown = web_for(cast.qc), f"/versions/{v1.pk}/qc/", v1.status
    page = web.get(url).content.decode()
    assert f'name="version" value="{v1.pk}"' in page and f'name="seen" value="{shown}"' in page
    for seen in ({"version": str(uuid.uuid4()), "seen": shown}, {"version": str(v1.pk), "seen": "passed"}):
        refused = web.post(url, {"decision": "pass", **seen})
        assert refused.status_code == 409 and "not what your page showed" in refused.content.decode()
        v1.refresh_from_db()
        assert v1.status == shown
    passed = web.post(url, {"decision": "pass", "version": str(v1.pk), "seen": shown})
    assert passed.status_code == 302
    v1.refresh_from_db()
    assert v1.status == VersionStatus.PASSED


def test_uploading_a_fix_to_a_sent_back_image_starts_it(cast, production):
    """No "Start again" first: the upload area is there, and the upload starts the work (without a clock:
    the minutes of work before it were not measured)."""
    from tests.conftest import web_for

    image, other = production["images"]
    rita = api_for(production["rita"])
    rita.post(f"/api/v1/images/{image.pk}/start/")
    v1 = _version(production, image, _master(cast))
    api_for(cast.qc).post(f"/api/v1/versions/{v1.pk}/qc/", {"decision": "reject", "category": "dust",
                                                           "notes": "Dust on the band"}, format="json")
    image.refresh_from_db()
    assert image.status == ImageStatus.QC_REJECTED
    page = web_for(production["rita"]).get(f"/images/{image.pk}/work/").content.decode()
    assert "Upload your version" in page and "Start again" in page  # Start stays, for counting the minutes
    v2 = _version(production, image, _master(cast, seed=4))
    image.refresh_from_db()
    assert (v2.number, v2.status, v2.work_minutes) == (2, VersionStatus.IN_QC, None)
    assert image.status == ImageStatus.IN_QC
    assert Event.objects.filter(order=image.order, verb="image.started",
                                message__endswith="with an upload").count() == 1
    # an assigned image starts the same way; someone else's image or a held order still refuses
    assert _version(production, other, _master(cast, seed=5)).status == VersionStatus.IN_QC
    bruno = retoucher("Bruno", ["colour-correction"])
    refused = api_for(bruno).post(f"/api/v1/images/{image.pk}/versions/", {
        "name": "x.png", "size": 10, "content_type": "image/png", "sha256": "0" * 64}, format="json")
    assert refused.status_code in {403, 404}
    assert Version.objects.filter(image=image).count() == 2


def test_series_consistency_compares_versions_with_versions_not_the_originals(cast, production):
    """A square version of a 3:2 order (the style guide's square canvas) is not inconsistent: the first
    version sets the series, later ones are held to it."""
    image, other = production["images"]
    OrderImage.objects.filter(order=production["order"]).update(width=6000, height=4000)  # camera originals, 3:2
    rita = api_for(production["rita"])
    rita.post(f"/api/v1/images/{image.pk}/start/")
    first = _version(production, image, _master(cast))
    series = {c["code"]: c for c in first.checks}["series"]
    assert series["passed"] is None and "first version" in series["required"]
    assert first.width == first.height  # square, as the guide asks
    rita.post(f"/api/v1/images/{other.pk}/start/")
    second = _version(production, other, _master(cast, seed=5))
    assert {c["code"]: c["passed"] for c in second.checks}["series"] is True
    # a version of another size than the series fails, with what was expected
    Version.objects.filter(pk=first.pk).update(width=first.width + 200)
    rechecked = versions_module().version_checks(second, _preview_of(second), {})
    series = {c["code"]: c for c in rechecked}["series"]
    assert series["passed"] is False and f"{first.width + 200}×{first.height}" in series["required"]


def versions_module():
    from jobs.production import versions

    return versions


def _preview_of(version):
    from django.core.files.storage import default_storage

    with default_storage.open(version.preview.name, "rb") as stored:
        return stored.read()
