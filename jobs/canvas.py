"""What the review canvas (``static/js/canvas.js``) is given for each image: the files a person may compare
(the original and the versions they can see, each with its size, tile source and preview) and the marks
they may read, each in the pixels of the file it was drawn on. Read through the scoped selectors, for all
the page's images at once (a fixed number of queries however many images the filmstrip holds)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from jobs import permissions, selectors
from jobs.intake import tiles
from jobs.models import Annotation, MarkShape, OrderImage, TilePyramid, Version

_ATTR = re.compile(r'([a-z0-9]+)="([-0-9.,\s]*)"')


def file_key(version: Version | None) -> str:
    return f"v{version.number}" if version is not None else "o"


def drawing(mark: Annotation) -> dict[str, Any]:
    """A mark's shape as the canvas draws it: the SVG element's name and its numbers (the stored selector
    is Loupe's own rewrite of the numbers a client sent, never their text)."""
    if mark.shape in (MarkShape.WHOLE, MarkShape.POINT, MarkShape.RECT):
        return {}
    value = mark.selector.get("value", "")
    tag = {"ellipse": "ellipse", "polygon": "polygon", "freehand": "polyline", "arrow": "line"}[mark.shape]
    return {"tag": tag, "attrs": dict(_ATTR.findall(value))}


def api_base(kind: str, row: OrderImage | Version) -> str:
    """Where a file's tiles and previews are asked for: the API, for people with an account."""
    return f"/api/v1/{kind}s/{row.pk}/"


def _file(kind: str, row: OrderImage | Version, label: str, pyramid: TilePyramid | None,
          base_of: Callable[[str, Any], str]) -> dict[str, Any]:
    """One file: its size, its tile source's URL and, when its pyramid is made, the tile source itself
    (the page carries it: the canvas asks for tiles without a round trip first)."""
    base = base_of(kind, row)
    return {"key": file_key(row if kind == "version" else None), "label": label, "kind": kind, "id": str(row.pk),
            "width": row.width, "height": row.height, "tiles": f"{base}tiles/",
            "source": tiles.descriptor(pyramid, file_width=row.width, file_height=row.height, url=f"{base}tiles/")
            if pyramid is not None else None,
            "preview": f"{base}download/?what=preview"}


def canvases(user: Any, images: list[OrderImage],
             base_of: Callable[[str, Any], str] = api_base) -> dict[Any, dict[str, Any]]:
    """Per image: ``files`` (original first, then versions oldest first) and ``marks``. ``base_of`` gives each
    file's address (a guest's canvas asks their link's routes, ``jobs.views_guest``)."""
    studio = permissions.can_open_studio_work(user)
    versions: dict[Any, list[Version]] = defaultdict(list)
    for version in selectors.version_queryset(user).filter(image__in=images).exclude(preview="").order_by("number"):
        versions[version.image_id].append(version)
    marks: dict[Any, list[Annotation]] = defaultdict(list)
    for mark in selectors.annotation_queryset(user).filter(image__in=images).order_by("number"):
        marks[mark.image_id].append(mark)
    pyramids = tiles.shown_pyramids(images=images, versions=[v for shown in versions.values() for v in shown], by=user)
    payloads = {}
    for image in images:
        files = ([_file("image", image, "Original", pyramids.get((image.pk, None)), base_of)]
                 if image.preview and image.width else [])
        shown = versions.get(image.pk, [])
        files += [_file("version", v, f"v{v.number}" if studio else
                        ("Retouched" if len(shown) == 1 else f"Retouched {n}"), pyramids.get((image.pk, v.pk)), base_of)
                  for n, v in enumerate(shown, start=1) if v.width]
        labels = {f["key"]: f["label"] for f in files}
        payloads[image.pk] = {"id": f"canvas-{image.pk}", "files": files, "marks": [
            {"id": str(m.pk), "number": m.number, "file": file_key(m.version), "shape": m.shape,
             "box": [m.x, m.y, m.w, m.h], "draw": drawing(m), "resolved": m.resolved_at is not None,
             "studio": m.is_studio, "text": m.text, "round": m.item.round.number if m.item_id else None,
             "on": labels[file_key(m.version)], "replies": len(m.replies.all())}
            for m in marks.get(image.pk, []) if file_key(m.version) in labels]}
    return payloads
