"""Driving the review canvas (``static/js/canvas.js``) from a test: where a file's pixel is on the screen,
clicking and dragging on it, and where a mark is drawn, read from the page's own OpenSeadragon viewers."""

from __future__ import annotations

from typing import Any

_FIND = "const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image); const v = c && c.viewers[viewer];"

# The screen position (page coordinates) of file pixel position (x, y) in one viewer of one image's canvas.
_SCREEN = """([image, viewer, x, y]) => {""" + _FIND + """
  const f = v.shownFile, p = LoupeCanvas.toViewport(f, x, y);
  const px = v.viewport.pixelFromPoint(new OpenSeadragon.Point(p.x, p.y), true);
  const r = v.element.getBoundingClientRect();
  return {x: r.left + px.x, y: r.top + px.y, perPixel: v.viewport.getContainerSize().x * v.viewport.getZoom(true) / f.width};
}"""

# How far mark ``number`` is drawn from where its pixels are: a point's centre against its pixel's centre, an
# area's corner against its top-left pixel. Null while the mark is not drawn.
_OFFSET = """([image, viewer, number, x, y, point]) => {""" + _FIND + """
  if (!v || !v.shownFile) return null;
  const el = v.element.querySelector('.mark[data-number="' + number + '"]');
  if (!el) return null;
  const f = v.shownFile, p = LoupeCanvas.toViewport(f, x + (point ? 0.5 : 0), y + (point ? 0.5 : 0));
  const px = v.viewport.pixelFromPoint(new OpenSeadragon.Point(p.x, p.y), true);
  const r = v.element.getBoundingClientRect(), b = el.getBoundingClientRect();
  const at = point ? {x: b.left + b.width / 2, y: b.top + b.height / 2} : {x: b.left, y: b.top};
  return Math.max(Math.abs(at.x - r.left - px.x), Math.abs(at.y - r.top - px.y));
}"""

_SETTLED = """([image]) => { const c = LoupeCanvas.canvases.find(c => c.root.dataset.image === image);
  return c && c.viewers.every(v => !v || !v.shownFile || (Math.abs(v.viewport.getZoom(true) - v.viewport.getZoom()) < 1e-9
    && v.viewport.getCenter(true).distanceTo(v.viewport.getCenter()) < 1e-9)); }"""


def files(page: Any, image: Any) -> dict[str, dict[str, Any]]:
    """The files the canvas of ``image`` offers, by key ("o", "v1", …), as the page was given them."""
    data = page.locator(f"[data-canvas][data-image='{image}']").evaluate(
        "c => JSON.parse(document.getElementById(c.dataset.json).textContent)")
    return {f["key"]: f for f in data["files"]}


def ready(page: Any, image: Any, opened: int = 1) -> None:
    """Wait until the canvas of ``image`` has opened its pictures ``opened`` times (a viewer opening counts one)."""
    page.wait_for_function("([image, n]) => { const c = window.LoupeCanvas && LoupeCanvas.canvases.find("
                           "c => c.root.dataset.image === image); return c && Number(c.root.dataset.ready || 0) >= n; }",
                           arg=[str(image), opened])


def settled(page: Any, image: Any) -> None:
    page.wait_for_function(_SETTLED, arg=[str(image)])


def screen_of(page: Any, image: Any, x: float, y: float, viewer: int = 0) -> dict[str, float]:
    return page.evaluate(_SCREEN, [str(image), viewer, x, y])


def click_pixel(page: Any, image: Any, x: int, y: int) -> dict[str, float]:
    """Click the centre of file pixel (x, y) on the left viewer, once it stopped moving (a resized window or a
    zoom still animating would move the pixel between reading its place and clicking: seen on CI)."""
    settled(page, image)
    at = screen_of(page, image, x + 0.5, y + 0.5)
    page.mouse.click(at["x"], at["y"])
    return at


def drag_pixels(page: Any, image: Any, start: tuple[int, int], end: tuple[int, int]) -> None:
    settled(page, image)
    a, b = screen_of(page, image, *start), screen_of(page, image, *end)
    page.mouse.move(a["x"], a["y"])
    page.mouse.down()
    for step in range(1, 9):
        page.mouse.move(a["x"] + (b["x"] - a["x"]) * step / 8, a["y"] + (b["y"] - a["y"]) * step / 8)
    page.mouse.up()


def drawn_within(page: Any, image: Any, number: int, x: int, y: int, *, point: bool, viewer: int = 0,
                 slack: float = 2.0) -> float:
    """Wait until mark ``number`` is drawn within ``slack`` screen pixels of its pixels; the distance found."""
    from playwright.sync_api import TimeoutError as Timeout

    args = [str(image), viewer, number, x, y, point]
    try:
        page.wait_for_function(f"(args) => {{ const d = ({_OFFSET})(args); return d !== null && d <= {slack}; }}",
                               arg=args)
    except Timeout:
        found = page.evaluate(_OFFSET, args)
        raise AssertionError(f"mark {number} is drawn {found} screen pixels from {x}, {y} on {page.url}") from None
    return page.evaluate(_OFFSET, args)
