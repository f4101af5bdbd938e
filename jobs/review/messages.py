"""An order's thread between client and studio, and the studio's internal notes on it (clients never
see those: not in pages, API, mails or exports)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse

from agency.exceptions import NotPermitted, RuleViolation
from agency.models import User
from agency.notifications import notify
from agency.tasks import enqueue_on_commit
from jobs import permissions
from jobs.models import Message, Order
from jobs.notifications import account_managers, client_users, retouchers_of

BODY_MAX = 2000


@transaction.atomic
def message_post(*, order: Order, by: User, body: str, internal: bool = False) -> Message:
    """Write in the order's thread (or, for the studio, an internal note). The other side is told
    after commit. Refused for a note of 1 to 2,000 characters missing, and for clients' internal notes."""
    if not permissions.can_post_message(by, order, internal=internal):
        raise NotPermitted("Internal notes are for the studio." if internal and permissions.is_client_user(by)
                           else "You cannot write in this order's thread.")
    body = (body or "").strip()
    if not body or len(body) > BODY_MAX:
        raise RuleViolation(f"Write a message of 1 to {BODY_MAX} characters.", field="body")
    message = Message.objects.create(order=order, author=by, body=body, internal=internal)
    enqueue_on_commit("jobs.tasks.notify_message", str(message.pk), group="notifications")
    return message


def message_notify(*, message_id: Any) -> int:
    """The task body: tell the other side of the thread (the author is never told)."""
    message = Message.objects.select_related("order__client__account_manager", "author").filter(pk=message_id).first()
    if message is None:
        return 0
    order, author = message.order, message.author
    if message.internal:
        users = account_managers(order) + retouchers_of(order.images.values_list("pk", flat=True))
    elif author is not None and author.is_client:
        users = account_managers(order)
    else:
        users = client_users(order)
    who = author.full_name if author else "Someone"
    return notify(users, kind="message", source=f"message:{message.pk}", actor=author,
                  title=f"{order.number}: {'internal note' if message.internal else 'message'} from {who}",
                  body=message.body, url=reverse("jobs:order_detail", args=[order.pk]) + "#messages")
