"""The order timeline: one ``Event`` per thing that happened, with the audience that may read it.

``record_event`` is the only writer. Mail about an event is queued after commit (``notify_event``);
an event carrying amounts or planning is for managers only (``Audience.MANAGERS``), so the timeline
never shows a price or a colleague's assignment to a retoucher or QC reviewer.
"""

from __future__ import annotations

from typing import Any

from agency.models import User
from agency.tasks import enqueue_on_commit
from jobs.models import Audience, Event, Order


def record_event(*, order: Order, actor: User | None, verb: str, message: str, from_status: str = "",
                 to_status: str = "", data: dict[str, Any] | None = None,
                 audience: str = Audience.CLIENT) -> Event:
    """Append one line to the order's timeline and notify the people concerned after commit."""
    event = Event.objects.create(order=order, actor=actor, verb=verb, message=message[:500], from_status=from_status,
                                 to_status=to_status, data=data or {}, audience=audience)
    enqueue_on_commit("jobs.tasks.notify_event", str(event.pk), group="notifications")
    return event


def on_behalf(by: User | None, order: Order) -> str:
    """Words for a client's action taken by the studio, so the timeline never names a manager as if
    they were the client: " on behalf of Acme Jewels" (empty when the client acted)."""
    if by is None or not by.is_studio:
        return ""
    return f" on behalf of {order.client.name}"
