"""The order timeline: one ``Event`` per thing that happened, with the audience that may read it.

``record_event`` is the only writer (``new_event`` builds unsaved rows for bulk writers such as the SLA
sweep, under the same check). Mail about an event is queued after commit (``notify_event``). Who may
read each verb is written once, in ``VERBS``: an event carrying amounts, documents or planning is for
managers only (``Audience.MANAGERS``), so the timeline never shows a price, an invoice or a colleague's
assignment to a retoucher or QC reviewer. The audience is still a required argument at every call, and
must agree with ``VERBS`` (an argument that decides who sees something has no default).
"""

from __future__ import annotations

from typing import Any

from agency import live
from agency.models import User
from agency.permissions import is_guest, is_studio_user
from agency.tasks import enqueue_on_commit
from jobs.models import Audience, Event, Order

CLIENT, STUDIO, MANAGERS = Audience.CLIENT, Audience.STUDIO, Audience.MANAGERS

# Every verb on the timeline and who reads it: the client and the studio, the studio only (retouchers and
# QC included), or the studio's money and planning roles (account managers, finance, admins).
VERBS: dict[str, str] = {
    # the order's life (jobs.workflow, jobs.services)
    "order.created": CLIENT, "order.updated": CLIENT, "order.submitted": CLIENT, "order.cancelled": CLIENT,
    "order.quoted": CLIENT, "order.requote": CLIENT, "order.in_production": CLIENT, "order.held": CLIENT,
    "order.resumed": CLIENT, "order.delivered": CLIENT, "order.revision": CLIENT, "order.completed": CLIENT,
    # pilot batches (jobs.production.pilots)
    "order.pilot_started": CLIENT, "order.pilot_chosen": CLIENT, "order.pilot_approved": CLIENT,
    "order.sla_at_risk": MANAGERS, "order.sla_breached": MANAGERS,
    # retention (jobs.retention): the client reads what was deleted; a legal hold is the studio's managers'
    "order.files_deleted": CLIENT, "order.deliveries_deleted": CLIENT,
    "order.legal_hold": MANAGERS, "order.legal_hold_lifted": MANAGERS,
    # images and the studio's work (jobs.intake, jobs.production)
    "image.updated": CLIENT, "image.started": STUDIO, "image.regraded": MANAGERS,
    "image.assigned": MANAGERS, "image.reassigned": MANAGERS, "schedule.applied": MANAGERS,
    "version.submitted": STUDIO, "version.qc_passed": STUDIO, "version.qc_rejected": STUDIO,
    # review (jobs.review)
    "delivery.ready": CLIENT, "delivery.shared": CLIENT, "delivery.reviewers_set": CLIENT, "review.decided": CLIENT,
    "images.approved": CLIENT, "downloads.released": CLIENT,
    "revision.requested": CLIENT, "revision.awaiting_confirmation": CLIENT, "revision.declined": CLIENT,
    "revision.reclassed": CLIENT,
    # the storefront (storefront.services): the company's verdict on the order, and which pictures it lets the
    # studio show in public
    "order.rated": CLIENT, "order.rating_hidden": CLIENT, "order.rating_shown": CLIENT,
    "portfolio.consented": CLIENT, "portfolio.withdrawn": CLIENT, "portfolio.shown": CLIENT, "portfolio.hidden": CLIENT,
    # quotes (billing): the client reads that a quote was sent or answered, never a draft's amounts
    "quote.drafted": MANAGERS, "quote.edited": MANAGERS, "quote.line_added": MANAGERS,
    "quote.line_changed": MANAGERS, "quote.line_removed": MANAGERS,
    "quote.sent": CLIENT, "quote.accepted": CLIENT, "quote.suspended": CLIENT, "quote.reopened": CLIENT,
    "quote.withdrawn": CLIENT,
    # money (billing): documents, payments and charges are for the money roles only
    "revision.charged": MANAGERS, "invoice.drafted": MANAGERS, "invoice.issued": MANAGERS, "invoice.paid": MANAGERS,
    "invoice.voided": MANAGERS, "invoice.credited": MANAGERS,
}


def audience_of(verb: str) -> str:
    """Who reads ``verb`` (``VERBS``); an unknown verb is a programming error."""
    try:
        return VERBS[verb]
    except KeyError:
        raise ValueError(f"{verb!r} is not a timeline verb; add it to jobs.events.VERBS with its audience") from None


def new_event(*, order_id: Any, actor: User | None, verb: str, message: str, audience: str, from_status: str = "",
              to_status: str = "", data: dict[str, Any] | None = None) -> Event:
    """An unsaved timeline row, refused when its audience is not the one ``VERBS`` gives its verb."""
    if audience != audience_of(verb):
        raise ValueError(f"{verb!r} is for the {audience_of(verb)} audience, not {audience!r} (jobs.events.VERBS)")
    return Event(order_id=order_id, actor=actor, verb=verb, message=message[:500], from_status=from_status,
                 to_status=to_status, data=data or {}, audience=audience)


def record_event(*, order: Order, actor: User | None, verb: str, message: str, audience: str, from_status: str = "",
                 to_status: str = "", data: dict[str, Any] | None = None) -> Event:
    """Append one line to the order's timeline and notify the people concerned after commit."""
    event = new_event(order_id=order.pk, actor=actor, verb=verb, message=message, audience=audience,
                      from_status=from_status, to_status=to_status, data=data)
    event.order = order
    event.save(force_insert=True)
    enqueue_on_commit("jobs.tasks.notify_event", str(event.pk), group="notifications")
    live.publish(f"order:{order.pk}", verb, ref=event.pk, audience=audience)  # open order pages refresh
    return event


def on_behalf(by: User | None, order: Order) -> str:
    """Words for a client's action taken by the studio, so the timeline never names a manager as if
    they were the client: " on behalf of Acme Jewels" (empty when the client acted; " by Dora (guest)" for a guest)."""
    if is_guest(by):  # someone reviewing through a personal link: named, never taken for an account
        return f" by {by.display_name}"
    if not is_studio_user(by):
        return ""
    return f" on behalf of {order.client.name}"
