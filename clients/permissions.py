"""Who may do what with clients, memberships and style guides. Plain functions used by pages, the
API and services alike; they assume the object is already within the user's scope."""

from __future__ import annotations

from typing import Any

from agency.models import MANAGER_ROLES, Role
from clients.models import Client
from clients.tenancy import client_id_of


def can_manage_clients(user: Any) -> bool:
    """Create and edit companies and their users' seats."""
    return user.is_authenticated and user.role in MANAGER_ROLES


def can_view_clients(user: Any) -> bool:
    return user.is_authenticated and user.role in MANAGER_ROLES | {Role.FINANCE}


def can_edit_style_guide(user: Any, client: Client) -> bool:
    """Account managers and admins for any client; a client's own users for their company."""
    if user.role in MANAGER_ROLES:
        return True
    return user.is_client and client_id_of(user) == client.pk


def can_browse_style_guides(user: Any) -> bool:
    """The style-guide pages: a client's own users and the studio's managers."""
    return user.is_authenticated and (user.is_client or user.role in MANAGER_ROLES)


def can_manage_team(user: Any, client: Client) -> bool:
    """Invite, change roles, resend or cancel invitations and remove seats: the studio's managers for
    any company, a client admin for their own."""
    if not user.is_authenticated:
        return False
    if user.role in MANAGER_ROLES:
        return True
    return user.role == Role.CLIENT_ADMIN and client_id_of(user) == client.pk


def can_view_security_log(user: Any) -> bool:
    """The studio's admins see the studio's security log; a client admin sees their company's."""
    return user.is_authenticated and user.role in {Role.ADMIN, Role.CLIENT_ADMIN}


def can_open_webhooks(user: Any) -> bool:
    """The webhooks pages and list: the studio's managers and client admins."""
    return user.is_authenticated and user.role in MANAGER_ROLES | {Role.CLIENT_ADMIN}


def can_manage_webhooks(user: Any, client: Client | None) -> bool:
    """A company's endpoints (``client``): its admins and the studio's managers; the studio's own
    (``client`` None, every company's events): the studio's managers only."""
    if not user.is_authenticated:
        return False
    if user.role in MANAGER_ROLES:
        return True
    return client is not None and user.role == Role.CLIENT_ADMIN and client_id_of(user) == client.pk
