"""The review canvas in Chromium (issue 21): a camera-shaped original (3000 × 2000, and a portrait one) and a
square version (2400 × 2400). The client places a point and an area by clicking and dragging; what is stored
is the version's pixels where they clicked, and the client, QC and the retoucher see the marks drawn over
those pixels (within 2 screen pixels) side by side, alone, at fit and after zooming to 400 % and panning,
at 1440 and 390 px. Pictures of different shapes are never laid over each other (the canvas says why);
QC lays the new version over the one it rejected (wipe and difference). The landscape original and the
versions are shown from their tile pyramids, the portrait one from its preview while it has none.
A property test holds the coordinate transform: a pixel maps to the pane and back within half a pixel at
any zoom, pan and pane size, for any two picture shapes."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from jobs.intake import tiles, uploads
from jobs.models import (
    Annotation,
    Assignment,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    ImageStatus,
    OrderStatus,
    TilePyramid,
    Version,
    VersionStatus,
)
from jobs.production.versions import VERSION_FILES
from tests.e2e import canvas
from tests.e2e.session import Person
from tests.factories import PASSWORD, add_images, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SQUARE = 2400
POINT = (1800, 700)
AREA = ((400, 1500), (1000, 1900))


def _picture(width: int, height: int, colour: tuple[int, int, int], fmt: str) -> bytes:
    """A plain studio shot: a ring's outline on a backdrop, at the file's real size."""
    picture = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((width * .3, height * .35, width * .7, height * .75), outline=(150, 110, 60), width=max(4, width // 150))
    out = io.BytesIO()
    picture.save(out, fmt, quality=85) if fmt == "JPEG" else picture.save(out, fmt)
    return out.getvalue()


def _store(row, field: str, name: str, data: bytes) -> None:
    key = default_storage.save(f"clients/{row.order.client_id if hasattr(row, 'order') else row.image.order.client_id}"
                               f"/canvas/{name}", ContentFile(data))
    setattr(row, field, key)


def _version(image, number: int, status: str, by) -> Version:
    version = Version(image=image, number=number, status=status, created_by=by, filename=f"v{number}.png",
                      width=SQUARE, height=SQUARE)
    _store(version, "file", f"v{number}-{image.pk}.png", _picture(SQUARE, SQUARE, (246, 244, 240), "PNG"))
    _store(version, "preview", f"v{number}-{image.pk}.jpg", _picture(1200, 1200, (246, 244, 240), "JPEG"))
    version.save()
    return version


@pytest.fixture
def delivered(cast):
    """Acme's order delivered: per shape an original and its v2 (v1 was sent back by QC); the landscape
    files have their tile pyramids, the portrait original only its preview."""
    for person in (cast.acme_member, cast.qc, cast.retoucher):
        person.set_password(PASSWORD)
        person.save()
    order = make_order(cast.acme, status=OrderStatus.DELIVERED, title="Camera-shaped rings")
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    shapes = {}
    for name, (width, height) in {"landscape": (3000, 2000), "portrait": (2000, 3000)}.items():
        image = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]
        image.width, image.height = width, height
        _store(image, "original", f"{name}.jpg", _picture(width, height, (214, 208, 198), "JPEG"))
        _store(image, "preview", f"{name}-preview.jpg", _picture(width // 2, height // 2, (214, 208, 198), "JPEG"))
        image.save()
        Assignment.objects.create(image=image, retoucher=cast.retoucher, minutes=30)
        rejected = _version(image, 1, VersionStatus.FAILED, cast.retoucher)
        version = _version(image, 2, VersionStatus.PASSED, cast.retoucher)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
        if name == "landscape":
            assert tiles.make_tiles(uploads.ORIGINALS, image.pk) == "made"
            for row in (rejected, version):
                assert tiles.make_tiles(VERSION_FILES, row.pk) == "made"
        shapes[name] = (image, version, rejected)
    assert TilePyramid.objects.count() == 3
    return order, shapes


def _marks_on(page, image) -> None:
    """Both marks drawn over their pixels in the left viewer (the version)."""
    canvas.drawn_within(page, image.pk, 1, *POINT, point=True)
    canvas.drawn_within(page, image.pk, 2, *AREA[0], point=False)


def _every_view(person, image, *, side: bool = True) -> None:
    page = person.page
    canvas.ready(page, image.pk, 2 if side else 1)
    canvas.settled(page, image.pk)
    _marks_on(page, image)
    # 400 % of the file's pixels, then panned: the marks stay on their pixels
    page.get_by_role("button", name="400 %").click()
    canvas.settled(page, image.pk)
    per_pixel = canvas.screen_of(page, image.pk, 0, 0)["perPixel"]
    assert per_pixel == pytest.approx(4, rel=0.02), per_pixel
    page.evaluate("""([image, x, y]) => { const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image);
      const v = c.viewers[0], p = LoupeCanvas.toViewport(v.shownFile, x, y);
      v.viewport.panTo(new OpenSeadragon.Point(p.x, p.y), true); }""", [str(image.pk), *POINT])
    canvas.settled(page, image.pk)
    canvas.drawn_within(page, image.pk, 1, *POINT, point=True)
    page.evaluate("""([image, x, y]) => { const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image);
      const v = c.viewers[0], p = LoupeCanvas.toViewport(v.shownFile, x, y);
      v.viewport.panTo(new OpenSeadragon.Point(p.x, p.y), true); }""", [str(image.pk), *AREA[0]])
    canvas.settled(page, image.pk)
    canvas.drawn_within(page, image.pk, 2, *AREA[0], point=False)
    if side:  # the other pane follows the zoom
        assert canvas.screen_of(page, image.pk, 0, 0, viewer=1)["perPixel"] == pytest.approx(
            4 * 2400 / image.width, rel=0.03)
    page.get_by_role("button", name="Fit").click()
    page.get_by_role("button", name="Single").click()
    canvas.settled(page, image.pk)
    _marks_on(page, image)
    expect(page.locator(f"[data-canvas][data-image='{image.pk}'] .viewer-right")).to_be_hidden()


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
def test_marks_are_stored_and_drawn_on_their_pixels_for_everyone(cast, live_server, browser, delivered, shape):
    order, shapes = delivered
    image, version, rejected = shapes[shape]
    client = Person(browser, live_server, cast.acme_member)
    page = client.go(f"/orders/{order.pk}/review/")
    page.locator(f"[data-target='img-{image.pk}']").click()
    panel = page.locator(f"#img-{image.pk}")
    canvas.ready(page, image.pk, 2)
    canvas.settled(page, image.pk)
    # the original and the version side by side, each whole: wipe and difference are refused with the reason
    expect(panel.get_by_role("button", name="Wipe")).to_be_disabled()
    expect(panel.get_by_role("button", name="Difference")).to_be_disabled()
    panel.get_by_role("button", name="Mark").click()
    at = canvas.click_pixel(page, image.pk, *POINT)
    canvas.drag_pixels(page, image.pk, *AREA)
    panel.get_by_label("Mark 1").fill("Dust on the prong")
    panel.get_by_label("Mark 2 (area)").fill("Polish marks along this band")
    _marks_on(page, image)
    for drawing, start, end, text in (("ellipse", (1200, 300), (1600, 500), "Glare on the stone"),
                                      ("arrow", (200, 200), (600, 400), "This prong"),
                                      ("freehand", (1500, 1500), (2000, 2100), "Along here")):
        panel.get_by_label("A drag draws").select_option(drawing)
        canvas.drag_pixels(page, image.pk, start, end)
        panel.get_by_label(re.compile(rf"Mark \d \({drawing}\)")).fill(text)
    other = next(i for i, _, _ in shapes.values() if i.pk != image.pk)
    page.locator(f"[data-target='img-{other.pk}']").click()
    page.locator(f"#img-{other.pk}").get_by_label("Approve").check()
    page.get_by_role("button", name="Send review").click()
    expect(page.get_by_text("revision round 1 sent to the studio")).to_be_visible()

    slack = 1 / at["perPixel"] + 1  # one screen pixel's worth of the file's pixels, and rounding
    point, area, ellipse, arrow, freehand = Annotation.objects.filter(image=image).order_by("number")
    assert [m.shape for m in (ellipse, arrow, freehand)] == ["ellipse", "arrow", "freehand"]
    assert ellipse.selector["type"] == arrow.selector["type"] == freehand.selector["type"] == "SvgSelector"
    for mark, (x, y, w, h) in ((ellipse, (1200, 300, 400, 200)), (arrow, (200, 200, 400, 200)),
                               (freehand, (1500, 1500, 500, 600))):
        found = (mark.x, mark.y, mark.w, mark.h)
        assert all(abs(a - b) <= 2 * slack for a, b in zip(found, (x, y, w, h), strict=True)), (mark.shape, found)
    assert freehand.selector["value"].count(",") >= 3  # a line of several points, not two
    assert (point.shape, point.version_id, point.width, point.height) == ("point", version.pk, SQUARE, SQUARE)
    assert abs(point.x - POINT[0]) <= slack and abs(point.y - POINT[1]) <= slack, (point.x, point.y, slack)
    assert area.shape == "rect" and abs(area.x - AREA[0][0]) <= slack and abs(area.y - AREA[0][1]) <= slack
    assert abs(area.w - 600) <= 2 * slack and abs(area.h - 400) <= 2 * slack, (area.w, area.h)
    # from here on, the marks are where they were stored
    Annotation.objects.filter(pk=point.pk).update(x=POINT[0], y=POINT[1])
    Annotation.objects.filter(pk=area.pk).update(x=AREA[0][0], y=AREA[0][1])

    qc, worker = Person(browser, live_server, cast.qc), Person(browser, live_server, cast.retoucher)
    for width in (1440, 390):
        # (a new address each time: a change of the hash alone would not reload the page)
        for person, path in ((client, f"/orders/{order.pk}/review/?at={width}#img-{image.pk}"),
                             (qc, f"/versions/{version.pk}/qc/"), (worker, f"/images/{image.pk}/work/")):
            person.page.set_viewport_size({"width": width, "height": 900})
            person.go(path)
            _every_view(person, image)
            overflow = person.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"

    # S moves through the modes; laying the original over the square version is refused, saying why
    qc.page.set_viewport_size({"width": 1440, "height": 900})
    qc.go(f"/versions/{version.pk}/qc/")
    canvas.ready(qc.page, image.pk, 2)
    sources = qc.page.evaluate("""(image) => LoupeCanvas.canvases.find(c => c.root.dataset.image === image).viewers
      .map(v => v.world.getItemAt(0).source instanceof OpenSeadragon.ImageTileSource ? "preview" : "tiles")""", str(image.pk))
    assert sources == (["tiles", "tiles"] if shape == "landscape" else ["preview", "preview"]), sources
    qc.page.keyboard.press("s")  # side → wipe
    expect(qc.page.locator(".canvas-note")).to_contain_text("differ in shape: shown side by side")
    # QC lays v2 over the v1 it rejected: same shape, so wipe and difference line them up
    qc.page.get_by_label("Compare with").select_option(label="v1")
    qc.page.get_by_role("button", name="Wipe").click()
    expect(qc.page.locator(".canvas-stage")).to_have_class(re.compile("mode-wipe"))
    expect(qc.page.locator("input.split")).to_be_visible()
    canvas.settled(qc.page, image.pk)
    _marks_on(qc.page, image)
    qc.page.get_by_role("button", name="Difference").click()
    canvas.settled(qc.page, image.pk)
    qc.page.wait_for_function("""(image) => { const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image);
      const w = c.viewers[0].world; return w.getItemCount() === 2 && w.getItemAt(1).compositeOperation === "difference"; }""",
                              arg=str(image.pk))
    _marks_on(qc.page, image)


def test_a_pixel_maps_to_the_pane_and_back_within_half_a_pixel(cast, live_server, browser, delivered):
    """Any zoom (fit to 40×), pan and pane size (three window widths), any picture shape (random sizes from
    300 to 12,000 pixels a side): 3,000 random pixels each way, deterministic (a seeded generator)."""
    order, shapes = delivered
    image, version, _ = shapes["landscape"]
    worker = Person(browser, live_server, cast.retoucher)
    worst = []
    for width in (390, 900, 1440):
        worker.page.set_viewport_size({"width": width, "height": 900})
        worker.go(f"/images/{image.pk}/work/")
        canvas.ready(worker.page, image.pk, 1)
        worst.append(worker.page.evaluate("""(image) => {
          const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image), v = c.viewers[0];
          let seed = 42; const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
          let worst = 0;
          for (let i = 0; i < 1000; i++) {
            const file = {width: 300 + Math.floor(rnd() * 11700), height: 300 + Math.floor(rnd() * 11700)};
            v.viewport.zoomTo(0.5 + rnd() * 40, null, true);
            v.viewport.panTo(new OpenSeadragon.Point(rnd(), rnd() * file.height / file.width), true);
            const x = rnd() * file.width, y = rnd() * file.height, p = LoupeCanvas.toViewport(file, x, y);
            const screen = v.viewport.pixelFromPoint(new OpenSeadragon.Point(p.x, p.y), true);
            const back = LoupeCanvas.toPixel(file, v.viewport.pointFromPixel(screen, true));
            worst = Math.max(worst, Math.abs(back.x - x), Math.abs(back.y - y));
          }
          return worst; }""", str(image.pk)))
    assert max(worst) < 0.5, worst


def test_the_canvas_asks_only_for_tiles_and_without_javascript_the_previews_are_the_page(cast, live_server, browser,
                                                                                          delivered):
    """With JavaScript the page carries the tile sources and hides its fallback from the start: the browser
    asks for tiles only (no tile source first, no preview of a file whose pyramid is made). Without it
    the previews one under the other are the page, each loaded."""
    order, shapes = delivered
    image, version, _ = shapes["landscape"]
    qc = Person(browser, live_server, cast.qc)
    asked: list[str] = []
    qc.page.on("request", lambda r: asked.append(r.url))
    qc.go(f"/versions/{version.pk}/qc/")
    canvas.ready(qc.page, image.pk, 2)
    canvas.settled(qc.page, image.pk)
    # the viewer asks for its first tiles when it draws, which may come after it opened (seen on CI)
    qc.page.wait_for_function("() => performance.getEntriesByType('resource')"
                              ".some(e => /[/]tiles[/][0-9]+[/][0-9]+_[0-9]+[.]webp[/]$/.test(e.name))")
    api = [url.split("/api/v1/", 1)[1] for url in asked if "/api/v1/" in url]
    assert api and all(re.search(r"/tiles/\d+/\d+_\d+\.webp/$", path) for path in api), api
    qc.context.close()
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail address").fill(cast.qc.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/qc/$"))
    page.goto(f"{live_server.url}/versions/{version.pk}/qc/", wait_until="load")
    figures = page.locator(f"[data-canvas][data-image='{image.pk}'] .canvas-fallback img")
    expect(figures.first).to_be_visible()
    assert figures.count() == 3  # the original, v1 and v2
    assert all(page.evaluate("(img) => img.complete && img.naturalWidth > 0", figures.nth(n).element_handle())
               for n in range(figures.count()))
    expect(page.locator(f"[data-canvas][data-image='{image.pk}'] .canvas-stage")).to_be_hidden()
    context.close()
