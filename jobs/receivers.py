"""What ``jobs`` does when its own orders change: connected systems hear about it.

Connected in ``JobsConfig.ready``; runs inside the transition's transaction, so a webhook delivery
exists exactly when the change does (it is sent after commit). Listed in docs/architecture.md's
"What else happens when…" table, which ``tests/test_architecture.py`` holds to what is connected.
"""

from __future__ import annotations

from typing import Any

from clients import webhooks
from clients.models import WebhookEvent
from jobs.models import OrderStatus

# The order changes a connected system cares about, and the webhook event each becomes.
ORDER_EVENTS = {
    OrderStatus.SUBMITTED: WebhookEvent.ORDER_SUBMITTED,
    OrderStatus.QUOTED: WebhookEvent.QUOTE_SENT,
    OrderStatus.IN_PRODUCTION: WebhookEvent.ORDER_IN_PRODUCTION,
    OrderStatus.DELIVERED: WebhookEvent.ORDER_DELIVERED,
    OrderStatus.REVISION: WebhookEvent.REVISION_REQUESTED,
    OrderStatus.COMPLETED: WebhookEvent.ORDER_COMPLETED,
}


# Moves that are news of their own, whatever state they lead to.
ACTION_EVENTS = {"start_rest": WebhookEvent.PILOT_APPROVED}


def announce_order_change(*, order: Any, from_status: str, to_status: str, action: str = "", **kwargs: Any) -> None:
    """Each status change a connected system cares about (submitted, quoted, in production, delivered,
    revision, completed, a pilot approved and the rest started) becomes one webhook event for the company's
    endpoints and the studio's (``clients.webhooks.emit``); a resumed hold is not news."""
    event = ACTION_EVENTS.get(action) or ORDER_EVENTS.get(to_status)
    if event is None or from_status == OrderStatus.ON_HOLD:
        return
    webhooks.emit(event, client_id=order.client_id, data=webhooks.order_data(order))


def erase_person(*, client: Any, pairs: list[tuple[str, str]], **kwargs: Any) -> None:
    """A person of ``client`` was erased: their old name and address leave the company's timeline, messages,
    marks and replies (the texts are kept, with the former member's name)."""
    from clients.services import replace_in_texts
    from jobs.models import Annotation, AnnotationReply, Event, Message

    for model, field, path in ((Event, "message", "order__client"), (Message, "body", "order__client"),
                               (Annotation, "text", "order__client"),
                               (AnnotationReply, "text", "annotation__order__client")):
        replace_in_texts(model.objects.filter(**{path: client}), field, pairs)


def connect() -> None:
    from clients.services import person_erased
    from jobs.workflow import order_status_changed

    order_status_changed.connect(announce_order_change, dispatch_uid="jobs.announce_order_change")
    person_erased.connect(erase_person, dispatch_uid="jobs.erase_person")
