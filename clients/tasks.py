"""Background work of the clients app: webhook deliveries (ids only; each re-reads and claims its row)."""

from __future__ import annotations

from typing import Any

from agency.tasks import enqueue


def deliver_webhook(delivery_id: Any) -> None:
    from clients.webhooks import attempt

    attempt(delivery_id)


def retry_webhooks() -> None:
    """Periodic (every minute): queue the deliveries whose next try is due."""
    from clients.webhooks import due_deliveries

    for delivery_id in due_deliveries():
        enqueue("clients.tasks.deliver_webhook", delivery_id, group="webhooks")
