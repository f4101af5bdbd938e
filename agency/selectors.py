"""Reads of studio-wide objects that belong to one person."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from agency.models import ApiToken
from agency.permissions import signed_in


def token_list(user: Any) -> QuerySet[ApiToken]:
    """A person's own live tokens, newest first (nobody lists or revokes another person's)."""
    if not signed_in(user):
        return ApiToken.objects.none()
    return ApiToken.objects.live().filter(user=user).order_by("-created_at")
