"""Background work of the clients app: webhook deliveries and the mails of invitations and switched-off
endpoints (ids only; each re-reads its row)."""

from __future__ import annotations

from typing import Any

from agency.tasks import enqueue


def deliver_webhook(delivery_id: Any) -> None:
    from clients.webhooks import attempt

    attempt(delivery_id)


def mail_webhook_switched_off(endpoint_id: str) -> int:
    from clients.webhooks import mail_switched_off

    return mail_switched_off(endpoint_id=endpoint_id)


def send_invitation(user_id: str, invited_by_id: str | None = None) -> int:
    from clients.services import invitation_send

    return invitation_send(user_id=user_id, invited_by_id=invited_by_id)


def retry_webhooks() -> None:
    """Periodic (every minute): queue the deliveries whose next try is due."""
    from clients.webhooks import due_deliveries

    for delivery_id in due_deliveries():
        enqueue("clients.tasks.deliver_webhook", delivery_id, group="webhooks")
