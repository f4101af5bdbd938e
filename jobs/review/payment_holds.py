"""Pay before download (a client setting for new or risky clients).

An order of such a client is held from the start of production (``Order.downloads_held``): its
client users see the retouched work only as watermarked previews, and the delivery ZIPs answer 402.
Billing releases the order when its invoice is paid by calling ``release``: money changes work
through this jobs service, and jobs never asks billing (DESIGN.md §1). Studio users are never held.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont
from rest_framework import status

from agency.exceptions import DomainError
from jobs.events import record_event
from jobs.intake import ingest
from jobs.models import Audience, Order

WATERMARK = "PROOF · NOT PAID"


class PaymentRequired(DomainError):
    """The files are released once the invoice is paid (HTTP 402)."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    title = "Payment required"


def is_held(order: Order, user: Any) -> bool:
    return bool(order.downloads_held) and bool(getattr(user, "is_client", False))


def check_download(order: Order, user: Any) -> None:
    """Refuse a held order's full-resolution files to its client."""
    if is_held(order, user):
        raise PaymentRequired(f"Order {order.number} is paid before download: its files are released as soon as its "
                              "invoice is paid. Until then the previews carry a watermark.")


def watermark(data: bytes) -> bytes:
    """The picture with a diagonal, repeated, semi-transparent mark across all of it (WebP)."""
    with Image.open(io.BytesIO(data), formats=["WEBP", "PNG", "JPEG"]) as source:
        alpha = source.mode in ("RGBA", "LA") or "transparency" in source.info
        picture = source.convert("RGBA")
    size = max(12, min(picture.size) // 10)
    font = ImageFont.load_default(size=size)
    tile = Image.new("RGBA", (picture.width * 2, picture.height * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    step_x, step_y = int(size * len(WATERMARK) * 0.75), size * 3
    for row, y in enumerate(range(0, tile.height, step_y)):
        for x in range(-step_x + (row % 2) * step_x // 2, tile.width, step_x):
            draw.text((x, y), WATERMARK, font=font, fill=(255, 255, 255, 110), stroke_width=max(1, size // 12),
                      stroke_fill=(40, 40, 40, 110))
    tile = tile.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (tile.width - picture.width) // 2, (tile.height - picture.height) // 2
    marked = Image.alpha_composite(picture, tile.crop((left, top, left + picture.width, top + picture.height)))
    out = io.BytesIO()
    # A transparent background stays transparent (alpha_composite keeps it), with the mark on it.
    (marked if alpha else marked.convert("RGB")).save(out, "WEBP", quality=82)
    return out.getvalue()


def held_preview(stored_name: str) -> str:
    """The watermarked copy of a stored preview or thumbnail, made once beside it."""
    path = PurePosixPath(stored_name)
    key = str(path.with_name(f"held-{path.stem}.webp"))
    if not default_storage.exists(key):
        with default_storage.open(stored_name, "rb") as source:
            ingest.store(key, watermark(source.read()))
    return key


def release(*, orders: Iterable[Order], by: Any) -> int:
    """Release held orders at once (billing calls this when the invoice is paid). Returns how many. The
    timeline line everyone on the order reads says the files are released, not why: payments and
    invoices are the money roles' (their own ``invoice.paid`` line says which invoice)."""
    released = 0
    for order in orders:
        if Order.objects.filter(pk=order.pk, downloads_held=True).update(downloads_held=False):
            released += 1
            record_event(audience=Audience.CLIENT, order=order, actor=by, verb="downloads.released",
                         message="Final files released for download")
    return released
