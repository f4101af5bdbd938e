"""The API's per-action permission class. The rules themselves are plain functions in each app's
``permissions.py``; this class only looks up which function guards which action of a view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


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
