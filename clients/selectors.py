"""Reads for clients, memberships and style guides. Each starts from ``scope``."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from agency.models import SecurityEvent
from agency.permissions import is_studio_user
from clients.models import Client, Membership, StyleGuide, WebhookDelivery, WebhookEndpoint
from clients.permissions import can_view_clients
from clients.tenancy import scope


def client_list(user: Any, *, search: str = "") -> QuerySet[Client]:
    qs = scope(Client.objects.all(), user).select_related("account_manager").annotate(
        member_count=Count("memberships", distinct=True),
        style_guide_count=Count("style_guides", filter=Q(style_guides__is_current=True), distinct=True),
    )
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("name")


def client_get(user: Any, pk: Any) -> Client:
    return get_object_or_404(scope(Client.objects.select_related("account_manager"), user), pk=pk)


def membership_list(user: Any, client: Client) -> QuerySet[Membership]:
    return scope(Membership.objects.filter(client=client), user).select_related("user").order_by("user__full_name")


def style_guide_list(user: Any, *, client: Any = None, current_only: bool = True) -> QuerySet[StyleGuide]:
    qs = scope(StyleGuide.objects.all(), user).select_related("client")
    if current_only:
        qs = qs.filter(is_current=True)
    if client is not None:
        qs = qs.filter(client=client)
    return qs.order_by("client__name", "name", "-version")


def style_guide_get(user: Any, pk: Any) -> StyleGuide:
    return get_object_or_404(scope(StyleGuide.objects.select_related("client", "created_by"), user), pk=pk)


def style_guide_versions(user: Any, guide: StyleGuide) -> QuerySet[StyleGuide]:
    return scope(StyleGuide.objects.filter(family=guide.family), user).select_related("created_by").order_by("-version")


def team_list(user: Any) -> QuerySet[Membership]:
    """Seats the user may see: their own company's for client users (members included: they see the
    team), every company's for the studio's managers and finance, none for retouchers and QC."""
    if is_studio_user(user) and not can_view_clients(user):
        return Membership.objects.none()
    return scope(Membership.objects.select_related("user", "client").order_by("client__name", "user__full_name"), user)


def security_events(user: Any, *, kind: str = "", person: str = "") -> QuerySet[SecurityEvent]:
    """The security log lines ``user`` may read (callers check ``can_view_security_log``), newest
    first, optionally of one kind or about one address (part of it)."""
    qs = scope(SecurityEvent.objects.all(), user)
    if kind:
        qs = qs.filter(kind=kind)
    if person:
        qs = qs.filter(Q(subject_email__icontains=person) | Q(actor_email__icontains=person))
    return qs.order_by("-at")


def webhook_list(user: Any) -> QuerySet[WebhookEndpoint]:
    """Endpoints the person may see (callers check ``can_open_webhooks``): a client admin their
    company's, the studio's managers every endpoint."""
    return scope(WebhookEndpoint.objects.select_related("client"), user).order_by("-created_at")


def webhook_deliveries(user: Any, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return scope(WebhookDelivery.objects.filter(endpoint=endpoint), user).order_by("-created_at")
