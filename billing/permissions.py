"""Who may do what with prices and quotes. Retouchers and QC never see money (their scope is empty)."""

from __future__ import annotations

from typing import Any

from agency.models import MANAGER_ROLES, Role
from jobs.permissions import can_decide_for_client


def can_edit_price_lists(user: Any) -> bool:
    return user.role in {Role.FINANCE, Role.ADMIN}


def can_view_price_lists(user: Any) -> bool:
    return user.role in {Role.FINANCE, Role.ADMIN, Role.ACCOUNT_MANAGER} or user.is_client


def can_prepare_quote(user: Any) -> bool:
    return user.role in MANAGER_ROLES


def can_answer_quote(user: Any, quote: Any) -> bool:
    """The client's admins accept or decline; the studio answers on a client's behalf only as admin."""
    return can_decide_for_client(user, quote.order)


def can_manage_prices_nav(user: Any) -> bool:
    """The price-list pages in the studio's navigation (clients read their prices in their quotes)."""
    return user.is_authenticated and user.is_studio and can_view_price_lists(user)


def can_view_invoices(user: Any) -> bool:
    """Finance, admins and account managers read invoices; a client's admins read their company's
    issued ones (the scope keeps drafts and other companies out); members, retouchers and QC none."""
    return user.is_authenticated and user.role in {Role.FINANCE, Role.ADMIN, Role.ACCOUNT_MANAGER, Role.CLIENT_ADMIN}


def can_manage_invoices(user: Any) -> bool:
    """Generate, edit, issue, void, credit, record payments, export."""
    return user.is_authenticated and user.role in {Role.FINANCE, Role.ADMIN}
