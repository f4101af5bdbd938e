"""What the storefront does when something happens in ``jobs`` (which never imports the storefront).
Connected in ``StorefrontConfig.ready``; each runs inside the transaction of the change it hears about."""

from __future__ import annotations

from typing import Any


def ask_for_rating_of_completed_order(*, order: Any, action: str, **kwargs: Any) -> None:
    """A completed order asks its company's admins for a rating (a notice after commit)."""
    if action == "complete":
        from storefront.services import ask_for_rating

        ask_for_rating(order=order)


def connect() -> None:
    from jobs.workflow import order_status_changed

    order_status_changed.connect(ask_for_rating_of_completed_order,
                                 dispatch_uid="storefront.ask_for_rating_of_completed_order")
