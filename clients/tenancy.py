"""The one tenant-scoping function (DESIGN.md §2). Every selector starts from ``scope``.

A model reachable by client users declares ``tenant_path``, the lookup from the model to its client
(``"order__client"``), and may declare ``client_visible_filter``, extra conditions that hold for client
users only (for example internal timeline events): lookups as a dict, or a function returning a ``Q``
(an ``Exists`` subquery where a join would repeat rows). Models that studio roles with a narrow view
(retouchers, QC) may see declare ``<role>_filter``; without one, those roles see nothing of the model.
A review link (a guest, DESIGN.md §12) is scoped by ``guest_path``, the lookup to its delivery (or a function of
the delivery's id returning a ``Q``, where one lookup cannot say it).
This module imports no model above ``clients``: the models describe themselves.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet

from agency.models import ALL_ORDERS_ROLES
from agency.permissions import signed_in
from clients.models import Membership

M = TypeVar("M", bound=Model)


def client_id_of(user: Any) -> uuid.UUID | None:
    """The company of a client user, or ``None`` for studio users and users without a seat."""
    if not signed_in(user) or not user.is_client:
        return None
    try:
        return user.membership.client_id
    except Membership.DoesNotExist:
        return None


def scope(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    """Filter ``queryset`` to the rows ``user`` may see. Anything else must answer 404."""
    if getattr(user, "is_guest", False):
        return _guest_scope(queryset, user)
    if not signed_in(user) or not user.is_active:
        return queryset.none()
    if user.role in ALL_ORDERS_ROLES:
        return queryset
    model = queryset.model
    if user.is_client:
        client_id = client_id_of(user)
        path = getattr(model, "tenant_path", None)
        if path is None:
            raise ImproperlyConfigured(f"{model.__name__} declares no tenant_path; client users cannot be scoped")
        if client_id is None:
            return queryset.none()
        queryset = queryset.filter(**{path: client_id})
        extra = getattr(model, "client_visible_filter", None)
        if callable(extra):  # a condition built when asked (a subquery on a model declared later)
            return queryset.filter(extra())
        return queryset.filter(**extra) if extra else queryset
    role_filter = getattr(model, f"{user.role}_filter", None)
    if role_filter is None:
        return queryset.none()
    conditions = role_filter(user)
    if not conditions:
        return queryset
    # A role's conditions may cross multi-valued relations (an order's images' assignments); as a
    # semi-join (pk IN the rows that meet them) they cannot repeat a row. Not SELECT DISTINCT: on
    # PostgreSQL that sorts on every selected column, and planning it took ~20 ms per query of QC's page.
    return queryset.filter(pk__in=model._base_manager.filter(**conditions).values("pk"))


def _guest_scope(queryset: QuerySet[M], link: Any) -> QuerySet[M]:
    """A review link (``jobs.models.ShareLink``) sees what its delivery holds: a model declares
    ``guest_path``, the lookup from it to a delivery, and the client's own conditions hold too. A model
    without one, and a revoked or expired link, see nothing. As a semi-join: the path may cross a
    multi-valued relation (an image in two deliveries) and must not repeat a row."""
    path = getattr(queryset.model, "guest_path", None)
    if path is None or not link.is_active:
        return queryset.none()
    model = queryset.model
    condition = path(link.delivery_id) if callable(path) else Q(**{path: link.delivery_id})
    queryset = queryset.filter(pk__in=model._base_manager.filter(condition).values("pk"))
    extra = getattr(model, "client_visible_filter", None)
    if callable(extra):
        return queryset.filter(extra())
    return queryset.filter(**extra) if extra else queryset
