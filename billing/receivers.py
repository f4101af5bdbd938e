"""What billing does when something happens in ``jobs`` (which never imports billing).

Each receiver is connected in ``BillingConfig.ready`` and runs inside the transaction of the change it
hears about, so its writes stand or fall with that change. Each docstring names its rule; the rule's
body lives in the billing service it calls. The table "What else happens when…" in
docs/architecture.md lists every receiver, and ``tests/test_architecture.py`` holds it to what is
connected.
"""

from __future__ import annotations

from typing import Any

from jobs.models import OrderStatus


def withdraw_quote_of_cancelled_order(*, order: Any, action: str, by: Any, **kwargs: Any) -> None:
    """A cancelled order withdraws its open quote (nobody can accept it any more)."""
    if action == "cancel":
        from billing.workflow import quotes_withdraw

        quotes_withdraw(order=order, by=by)


def suspend_quote_of_held_order(*, order: Any, action: str, from_status: str, by: Any, **kwargs: Any) -> None:
    """Holding a quoted order suspends its sent quote: it cannot be answered until the order resumes."""
    if action == "hold" and from_status == OrderStatus.QUOTED:
        from billing.workflow import quotes_suspend

        quotes_suspend(order=order, by=by)


def reopen_quote_of_resumed_order(*, order: Any, action: str, to_status: str, by: Any, **kwargs: Any) -> None:
    """Resuming an order back to quoted reopens its suspended quote with the validity it had left."""
    if action == "resume" and to_status == OrderStatus.QUOTED:
        from billing.workflow import quotes_reopen

        quotes_reopen(order=order, by=by)


def invoice_completed_order(*, order: Any, action: str, **kwargs: Any) -> None:
    """A completed order of a per-order client is invoiced (a draft, in the background after commit);
    monthly clients' work waits for the run on the 1st."""
    if action == "complete":
        from billing.invoicing import order_completed

        order_completed(order=order)


def charge_revision_round(*, round: Any, **kwargs: Any) -> None:
    """An open billable round is charged its change items at the client's fee; any other round (free,
    awaiting confirmation, declined) has no charge."""
    from billing.services import revision_charge_update

    revision_charge_update(round_=round)


def connect() -> None:
    from jobs.review.proofing import revision_round_changed
    from jobs.workflow import order_status_changed

    for receiver in (withdraw_quote_of_cancelled_order, suspend_quote_of_held_order, reopen_quote_of_resumed_order,
                     invoice_completed_order):
        order_status_changed.connect(receiver, dispatch_uid=f"billing.{receiver.__name__}")
    revision_round_changed.connect(charge_revision_round, dispatch_uid="billing.charge_revision_round")
