"""django-q2 tasks of the storefront. Take ids, re-read state, safe to run twice (each notice is a unique
row per person and source)."""

from __future__ import annotations

import logging
import secrets

from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from agency import brand
from agency.notifications import notify
from agency.tasks import enqueue_on_commit
from jobs.imaging import pairs
from jobs.intake import ingest
from jobs.models import Order, OrderStatus
from jobs.notifications import client_users
from storefront import selectors
from storefront.models import PortfolioPair, Rating

logger = logging.getLogger("loupe.tasks")


def ask_for_rating(order_id: str) -> int:
    """Ask the company's admins how the finished order went; returns the number of mails sent."""
    order = Order.objects.select_related("client").filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.COMPLETED or Rating.objects.filter(order=order).exists():
        return 0
    return notify(client_users(order, admins_only=True), kind="rating_request", source=f"rating-ask:{order.pk}",
                  title=f"{order.number}: how did we do? Rate the finished order",
                  body=f"{order.number} ({order.title}) is complete. One to five stars and a line on what went well "
                       "or not help the studio; a comment is published only if you say so.",
                  url=reverse("storefront:order_rating", args=[order.pk]))



def make_copies(pair_id: str) -> str:
    """Make a pair's web copies from the original's and the approved version's previews, under new names (the
    old ones are deleted after), unless the pair is gone or its client's consent was withdrawn meanwhile.
    Returns what happened: "made", "gone", "not allowed" or "failed"."""
    pair = PortfolioPair.objects.select_related("image", "version").filter(pk=pair_id).first()
    if pair is None:
        return "gone"
    if not PortfolioPair.objects.filter(pk=pair.pk).filter(selectors.consent_in_force()).exists():
        return "not allowed"
    try:
        before, after = (_read(f.name) for f in (pair.image.preview, pair.version.preview))
        made = pairs.web_pair(before, after, mark=brand.current().name)
    except (OSError, ValueError, Image.DecompressionBombError, Image.UnidentifiedImageError) as exc:
        reason = "the original or the version has no preview yet" if isinstance(exc, FileNotFoundError) else (
            f"the previews could not be read ({type(exc).__name__})")
        PortfolioPair.objects.filter(pk=pair.pk).update(copy_error=reason[:300])
        logger.warning("portfolio pair %s: %s", pair.pk, reason)
        return "failed"
    token = secrets.token_hex(8)
    base = f"portfolio/{pair.pk}/{token}"
    keys = [ingest.store(f"{base}-before.webp", made.before), ingest.store(f"{base}-after.webp", made.after)]
    with transaction.atomic():
        current = PortfolioPair.objects.select_for_update().filter(pk=pair.pk).first()
        allowed = PortfolioPair.objects.filter(pk=pair.pk).filter(selectors.consent_in_force()).exists()
        if current is None or not allowed:  # removed or withdrawn while the copies were made
            enqueue_on_commit("storefront.tasks.delete_copies", keys, group="storefront")
            return "gone" if current is None else "not allowed"
        old = [key for key in (current.before, current.after) if key]
        PortfolioPair.objects.filter(pk=pair.pk).update(before=keys[0], after=keys[1], width=made.width,
                                                        height=made.height, copies_at=timezone.now(), copy_error="")
        if old:
            enqueue_on_commit("storefront.tasks.delete_copies", old, group="storefront")
    return "made"


def _read(key: str) -> bytes:
    if not key:
        raise FileNotFoundError("no preview")
    with default_storage.open(key, "rb") as handle:
        return handle.read()


def delete_copies(keys: list[str]) -> int:
    """Delete web copies from storage (a pair taken down or remade); a key already gone is fine."""
    gone = 0
    for key in keys:
        if key.startswith("portfolio/") and default_storage.exists(key):
            default_storage.delete(key)
            gone += 1
    return gone


def delete_expired_estimates() -> int:
    """Hourly: an estimate's figures are kept a day (the samples were never kept)."""
    from storefront.estimates import delete_expired

    return delete_expired()


def announce_trial(trial_id: str) -> int:
    """A prospect asked for a trial: the studio's managers hear of it (bell and mail)."""
    from storefront.trials import announce_trial as announce

    return announce(trial_id)


def send_trial_declined(trial_id: str) -> int:
    """Tell a declined prospect why, in a plain mail from the studio (they have no account)."""
    from agency.notifications import send_branded, studio_name
    from storefront.models import TrialRequest, TrialStatus

    trial = TrialRequest.objects.filter(pk=trial_id, status=TrialStatus.DECLINED).first()
    if trial is None:
        return 0
    studio = studio_name()
    body = (f"Hello {trial.contact_name},\n\nthank you for asking {studio} for a free trial for {trial.company}. "
            f"We cannot offer one this time:\n\n{trial.decline_reason}\n\nYou are welcome to ask us for a quote "
            f"instead.\n\n{studio}\n")
    return send_branded(f"Your trial request to {studio}", body, [trial.email])
