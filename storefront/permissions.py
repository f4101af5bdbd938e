"""Who may do what on the studio's public face. Plain functions used by pages, the API and services
alike; they assume the object is already inside the user's scope (``clients.tenancy.scope``)."""

from __future__ import annotations

from typing import Any

from agency.models import MANAGER_ROLES, Role
from agency.permissions import signed_in
from clients.tenancy import client_id_of
from jobs.permissions import can_view_quality_report


def _admin_of(user: Any, client_id: Any) -> bool:
    return signed_in(user) and user.role == Role.CLIENT_ADMIN and client_id_of(user) == client_id


def can_rate_order(user: Any, order: Any) -> bool:
    """The verdict on an order is its company's: a client admin of that company gives or changes it."""
    return _admin_of(user, order.client_id)


def can_see_order_rating(user: Any, order: Any) -> bool:
    """The company's people read their own rating; the studio's managers read every one."""
    return signed_in(user) and (user.role in MANAGER_ROLES or (user.is_client and client_id_of(user) == order.client_id))


def can_view_ratings(user: Any) -> bool:
    """Every rating, per client and per retoucher: a panel of the quality report, for whoever reads it."""
    return can_view_quality_report(user)


def can_consent_portfolio(user: Any, order: Any) -> bool:
    """Showing a company's pictures in public is its decision: its admins give and withdraw consent."""
    return _admin_of(user, order.client_id)


def can_see_portfolio_consent(user: Any, order: Any) -> bool:
    """Which of an order's pictures may be shown, and which are: the company's people and the studio's managers."""
    return can_see_order_rating(user, order)


def can_curate_portfolio(user: Any) -> bool:
    """Choosing, describing, ordering and publishing the public pairs: the studio's managers."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_answer_trials(user: Any) -> bool:
    """Trial requests are prospects' data and the studio's decision: its managers read and answer them."""
    return signed_in(user) and user.role in MANAGER_ROLES
