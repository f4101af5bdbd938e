"""The studio's whole journey through the pages only (issue: production and review): a client orders
three images → the account manager quotes → the client accepts → the schedule is applied → each
retoucher uploads a version → QC sends one back and passes two → the retoucher uploads again → QC
passes → the account manager delivers → the client marks a change and asks for a revision → the
revision is retouched, passed and delivered → the client approves all → the order is complete and
its timeline shows every step. Screenshots of the QC page, the proofing page with a mark and the
retoucher's queue are saved at 1440 and 390 px (``LOUPE_SCREENSHOTS``, default ``var/screenshots``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs.imaging.demo import encode_jpeg, encode_master, render_jewelry, render_retouched
from jobs.models import Annotation, Event, Order, OrderImage, OrderStatus
from tests.e2e import canvas
from tests.e2e.session import Person
from tests.factories import PASSWORD, default_price_list, retoucher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
def _files(tmp: Path, prefix: str, seeds: list[int], retouched: bool, guide: Any = None) -> list[str]:
    paths = []
    for n, seed in enumerate(seeds, start=1):
        kind = ["ring", "pendant", "earrings"][n % 3]
        if retouched:
            path = tmp / f"{prefix}_{n}.png"
            path.write_bytes(encode_master(render_retouched(kind, seed=seed, guide=guide, size=1000)))
        else:
            path = tmp / f"{prefix}_{n:04d}.jpg"
            path.write_bytes(encode_jpeg(render_jewelry(kind, seed=seed, size=1000)))
        paths.append(str(path))
    return paths


def _upload_version(person: Person, image: OrderImage, path: str) -> None:
    page = person.go(f"/images/{image.pk}/work/")
    if page.get_by_role("button", name=re.compile("Start (work|again)")).count():
        page.get_by_role("button", name=re.compile("Start (work|again)")).click()
        page.get_by_text("has started").wait_for()
    page.wait_for_selector("#uploader .uppy-Dashboard")
    page.locator("#uploader input[type=file]").first.set_input_files([path])
    page.get_by_text(re.compile(r"v\d+ is waiting for QC")).wait_for(timeout=60_000)


def _qc(person: Person, image: OrderImage, decision: str, note: str = "") -> None:
    version = image.versions.order_by("-number").first()
    page = person.go(f"/versions/{version.pk}/qc/")
    if decision == "pass":
        page.get_by_role("button", name="Pass").click()
    else:
        page.get_by_label("What is wrong").select_option(label="Dust left")
        page.get_by_label("Note for the retoucher").fill(note)
        page.get_by_role("button", name="Send back").click()
    page.get_by_text(re.compile("passed|sent back to the retoucher")).first.wait_for()


def test_the_whole_journey_through_the_pages(cast, live_server, browser, tmp_path):
    default_price_list()
    cast.acme_guide.output_formats, cast.acme_guide.long_edge_px, cast.acme_guide.square_canvas = ["JPEG", "PNG"], 1000, True
    cast.acme_guide.save()
    rita = retoucher("Rita Retoucher", ["colour-correction"], capacity=480)
    raj = retoucher("Raj Retoucher", ["colour-correction"], capacity=480)
    for person in (rita, raj):
        person.set_password(PASSWORD)
        person.save()
    client, manager = Person(browser, live_server, cast.acme_admin), Person(browser, live_server, cast.account_manager)

    # 1. the client creates the order and uploads three images
    page = client.go("/orders/new/")
    page.get_by_label("Title").fill("Spring bridal set")
    page.get_by_label("Style guide").select_option(label=f"{cast.acme_guide.name} (v1)")
    page.get_by_label("Colour correction").check()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}/$"))
    order = Order.objects.get(title="Spring bridal set")
    page.wait_for_selector("#uploader .uppy-Dashboard")
    page.locator("#uploader input[type=file]").first.set_input_files(_files(tmp_path, "RING", [11, 12, 13], False))
    for n in (1, 2, 3):
        page.locator(".thumb").filter(has_text=f"RING_{n:04d}.jpg").locator("img").wait_for(timeout=60_000)
    # the batch is declared in the order it was dropped, and the finished widget folds into one line
    assert page.locator(".thumb .name").all_inner_texts() == ["RING_0001.jpg", "RING_0002.jpg", "RING_0003.jpg"]
    page.get_by_text("3 files uploaded").wait_for()
    assert page.locator("#uploader").is_hidden()
    page.get_by_role("button", name="Submit to studio").click()
    page.get_by_text("has been submitted to the studio").wait_for()

    # 2-3. quote, send, accept
    page = manager.go(f"/orders/{order.pk}/")
    page.get_by_role("button", name="Draft quote from price list").click()
    page.get_by_role("button", name=re.compile(r"^Send .* to the client$")).click()
    page.get_by_text("The quote has been sent").wait_for()
    page = client.go(f"/orders/{order.pk}/")
    page.get_by_role("button", name="Accept quote").click()
    page.get_by_text("production has started").wait_for()

    # 4. the schedule
    page = manager.go(f"/orders/{order.pk}/schedule/")
    page.get_by_role("button", name="Apply proposal").click()
    page.get_by_text("3 images assigned").wait_for()
    images = list(OrderImage.objects.filter(order=order).order_by("position"))
    workers = {u.pk: Person(browser, live_server, u) for u in (rita, raj)}
    owner = {i.pk: i.assignments.get(active=True).retoucher_id for i in images}

    # 5. each retoucher uploads a version through the queue
    queue_page = workers[owner[images[0].pk]].go("/work/")
    expect(queue_page.get_by_text(images[0].filename)).to_be_visible()
    versions = _files(tmp_path, "retouched", [21, 22, 23], True, cast.acme_guide)
    for image, path in zip(images, versions, strict=True):
        _upload_version(workers[owner[image.pk]], image, path)

    # 6. QC sends one back and passes two; the QC page is captured
    qc = Person(browser, live_server, cast.qc)
    page = qc.go("/qc/")
    expect(page.get_by_role("link", name=images[0].filename)).to_be_visible()
    qc.go(f"/versions/{images[0].versions.get().pk}/qc/")
    # QC marks the dust on the version: saved at once, studio-only, in the version's pixels
    canvas.ready(qc.page, images[0].pk)
    qc.page.get_by_role("button", name="Mark").click()
    checked = canvas.files(qc.page, images[0].pk)["v1"]
    canvas.click_pixel(qc.page, images[0].pk, checked["width"] // 4, checked["height"] * 3 // 4)
    qc.page.get_by_label("Mark 1").fill("Dust specks here")
    qc.page.get_by_role("button", name="Save mark").click()
    expect(qc.page.locator(".canvas-live")).to_have_text("Mark 1 saved.")
    dust = Annotation.objects.get(image=images[0])
    assert (dust.audience, dust.text, dust.version.number) == ("studio", "Dust specks here", 1)
    qc.shoot("qc-review")
    _qc(qc, images[0], "reject", "Dust specks on the lower band")
    for image in images[1:]:
        _qc(qc, image, "pass")

    # 7-8. the retoucher sees QC's note, uploads again; QC passes
    rework = workers[owner[images[0].pk]]
    page = rework.go("/work/")
    page.get_by_text("Sent back to you").wait_for()
    rework.shoot("retoucher-queue")
    page = rework.go(f"/images/{images[0].pk}/work/")
    expect(page.get_by_text("Dust specks on the lower band").first).to_be_visible()
    _upload_version(rework, images[0], _files(tmp_path, "again", [31], True, cast.acme_guide)[0])
    _qc(qc, images[0], "pass")

    # 9. the account manager publishes
    page = manager.go(f"/orders/{order.pk}/")
    page.get_by_role("button", name="Publish to the client").click()
    page.get_by_text("is published").wait_for()

    # 10. the client marks a change on the first image, approves the others, asks for a revision
    page = client.go(f"/orders/{order.pk}/")
    page.get_by_role("link", name="Review the delivery").click()
    page.wait_for_url(re.compile("/review/$"))
    first = page.locator(f"#img-{images[0].pk}")
    first.get_by_label("Request changes").check()
    canvas.ready(page, images[0].pk)
    first.get_by_role("button", name="Mark").click()
    version = canvas.files(page, images[0].pk)["v2"]  # the delivered version, at its own shape
    at = canvas.click_pixel(page, images[0].pk, version["width"] // 2, version["height"] * 2 // 5)
    # numbered after QC's mark on the first version (which the client never sees)
    first.get_by_label("Mark 2").fill("Warmer gold on this prong")
    first.get_by_label("Note").fill("Closer to the reference, please")
    assert canvas.drawn_within(page, images[0].pk, 2, version["width"] // 2, version["height"] * 2 // 5, point=True) <= 2
    assert first.locator(".mark").count() == 1
    client.shoot("proofing-with-pin")
    for image in images[1:]:
        page.locator(f"[data-target='img-{image.pk}']").click()
        page.locator(f"#img-{image.pk}").get_by_label("Approve").check()
    page.get_by_role("button", name="Send review").click()
    page.get_by_text(re.compile("2 images approved, revision round 1 sent to the studio")).wait_for()
    order.refresh_from_db()
    assert order.status == OrderStatus.REVISION
    mark = order.revision_rounds.get().items.get().annotations.get()
    assert mark.number == 2
    # stored in the delivered version's pixels, where the click was (within one screen pixel's worth)
    slack = 1 / at["perPixel"] + 1
    assert mark.text == "Warmer gold on this prong" and mark.version.image_id == images[0].pk
    assert abs(mark.x - mark.width * 0.5) <= slack and abs(mark.y - mark.height * 0.4) <= slack, (mark.x, mark.y)
    assert (mark.width, mark.height) == (mark.version.width, mark.version.height)

    # 11. the revision is retouched, passed and delivered
    _upload_version(rework, images[0], _files(tmp_path, "revised", [41], True, cast.acme_guide)[0])
    _qc(qc, images[0], "pass")
    page = manager.go(f"/orders/{order.pk}/")
    page.get_by_role("button", name="Publish to the client").click()
    page.get_by_text("is published").wait_for()

    # 12. the client approves all; the order is complete and its timeline tells the story
    page = client.go(f"/orders/{order.pk}/review/")
    page.get_by_role("button", name="Approve all remaining").click()
    page.get_by_role("button", name="Send review").click()
    page.locator(".msg-success").filter(has_text="The order is complete").wait_for()
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    timeline = client.go(f"/orders/{order.pk}/").locator(".timeline").inner_text()
    for step in ["Order created", "Order submitted", "Quote sent", "Quote accepted", "Delivery 1 published",
                 "approved", "Revision round 1 opened", "Delivery 2 published", "Every image approved"]:
        assert step in timeline, step
    staff_timeline = manager.go(f"/orders/{order.pk}/").locator(".timeline").inner_text()
    for step in ["images assigned", "started work", "handed to QC", "QC sent v1", "QC passed"]:
        assert step in staff_timeline, step
    assert "QC sent" not in timeline  # studio-internal steps stay with the studio
    assert Event.objects.filter(order=order, verb="order.completed").count() == 1
