"""django-q2 tasks for billing."""

from __future__ import annotations

from billing.workflow import quotes_expire_due


def expire_quotes() -> int:
    """Hourly: quotes past their validity expire and their orders go back for a new quote."""
    return quotes_expire_due()
