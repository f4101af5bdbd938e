"""Order events for webhooks: each status change a connected system cares about becomes one event,
sent to the company's endpoints and the studio's (``clients.webhooks.emit``)."""

from __future__ import annotations

from typing import Any

from clients import webhooks
from clients.models import WebhookEvent
from jobs.models import OrderStatus

ORDER_EVENTS = {
    OrderStatus.SUBMITTED: WebhookEvent.ORDER_SUBMITTED,
    OrderStatus.QUOTED: WebhookEvent.QUOTE_SENT,
    OrderStatus.IN_PRODUCTION: WebhookEvent.ORDER_IN_PRODUCTION,
    OrderStatus.DELIVERED: WebhookEvent.ORDER_DELIVERED,
    OrderStatus.REVISION: WebhookEvent.REVISION_REQUESTED,
    OrderStatus.COMPLETED: WebhookEvent.ORDER_COMPLETED,
}


def on_order_status_changed(*, order: Any, from_status: str, to_status: str, **kwargs: Any) -> None:
    """Connected to ``jobs.workflow.order_status_changed`` (inside the transition's transaction, so the
    deliveries exist exactly when the change does). A resumed hold is not a new event."""
    event = ORDER_EVENTS.get(to_status)
    if event is None or from_status == OrderStatus.ON_HOLD:
        return
    webhooks.emit(event, client_id=order.client_id, data=webhooks.order_data(order))
