"""The API's per-action permission class. The rules themselves are plain functions in each app's
``permissions.py``; this class only looks up which function guards which action of a view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from agency.exceptions import NotPermitted
from agency.models import Role


def signed_in(user: Any) -> bool:
    """A signed-in person: not the anonymous visitor, and not ``None`` (a task acting for nobody)."""
    return user is not None and user.is_authenticated


def is_client_user(user: Any) -> bool:
    """A person of a client company (its admins and members): sees their company's data, in their
    company's zone, with its name in the header."""
    return signed_in(user) and user.is_client


def is_guest(user: Any) -> bool:
    """Someone without an account reviewing through a personal link (``jobs.models.ShareLink``): on the
    client's side of every rule (a held order's files are watermarked for them too), signed in nowhere."""
    return bool(getattr(user, "is_guest", False))


def is_studio_user(user: Any) -> bool:
    """A person of the studio (every role but the clients')."""
    return signed_in(user) and user.is_studio


def receives_kind(user: Any, roles: Any) -> bool:
    """Is a notification kind (declared with the roles it is for) one ``user`` receives?"""
    return signed_in(user) and user.role in roles


# Where each role's work is (the landing page after sign-in); others land on the order list.
LANDING = {Role.RETOUCHER: "jobs:work_queue", Role.QC: "jobs:qc_queue", Role.FINANCE: "billing:invoice_list"}


def can_edit_brand(user: Any) -> bool:
    """The studio's brand (``agency.brand``) is an admin's decision."""
    return signed_in(user) and user.role == Role.ADMIN


def landing_page(user: Any) -> str | None:
    return LANDING.get(user.role) if signed_in(user) else None


def require(allowed: bool, reason: str = "Your role does not allow this.") -> None:
    """Refuse unless ``allowed`` (a ``permissions.py`` function's answer): 403 with the reason, on the
    page (``DomainErrorMiddleware``) as in the API. The one guard pages use; call it after the scoped
    lookup, so another tenant's object is a 404 first."""
    if not allowed:
        raise NotPermitted(reason)


class ActionPermission(permissions.BasePermission):
    """Per-action permission functions declared on the view, as taiga declares ``retrieve_perms``::

        action_permissions = {"create": clients_permissions.can_manage_clients, "default": can_view_clients}

    Each value is a ``permissions.py`` function of the user; the view never tests ``user.role`` itself.
    Detail actions are checked only after the scoped lookup, so an object outside the user's scope
    answers 404 before any 403 can say it exists. Object-level rules (whose quote, which state) stay
    in the services, which raise ``NotPermitted``.
    """

    message = "Your role does not allow this."

    def _check(self, view: Any) -> Callable[[Any], bool] | None:
        table = getattr(view, "action_permissions", {})
        return table.get(getattr(view, "action", None), table.get("default"))

    def has_permission(self, request: Request, view: Any) -> bool:
        check = self._check(view)
        if check is None or getattr(view, "detail", False):
            return True
        return bool(check(request.user))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        check = self._check(view)
        return check is None or bool(check(request.user))
