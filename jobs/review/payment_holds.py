"""Pay before download (a client setting for new or risky clients).

An order of such a client is held from the start of production (``Order.downloads_held``): its
client users see the retouched work only as watermarked previews, and the delivery ZIPs answer 402.
Billing releases the order when its invoice is paid by calling ``release``: money changes work
through this jobs service, and jobs never asks billing (DESIGN.md §1). Studio users are never held.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from django.core.files.storage import default_storage
from rest_framework import status

from agency.exceptions import DomainError
from agency.permissions import is_client_user, is_guest
from jobs.events import record_event
from jobs.imaging.proofmark import watermark
from jobs.intake import ingest
from jobs.models import Audience, Order


class PaymentRequired(DomainError):
    """The files are released once the invoice is paid (HTTP 402)."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    title = "Payment required"


def is_held(order: Order, user: Any) -> bool:
    """Are ``order``'s files held from ``user``: its client's people and the guests they (or the studio)
    shared a delivery with, until the invoice is paid."""
    return bool(order.downloads_held) and (is_client_user(user) or is_guest(user))


def check_download(order: Order, user: Any) -> None:
    """Refuse a held order's full-resolution files to its client."""
    if is_held(order, user):
        raise PaymentRequired(f"Order {order.number} is paid before download: its files are released as soon as its "
                              "invoice is paid. Until then the previews carry a watermark.")


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
