"""Writes on studio-wide objects: a user's own profile and API tokens."""

from __future__ import annotations

from django.db import transaction

from agency.models import ApiToken, User


@transaction.atomic
def user_update_profile(*, user: User, full_name: str, time_zone: str) -> User:
    """Change one's display name and display time zone (empty = the company's or studio's zone)."""
    user.full_name = full_name
    user.time_zone = time_zone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "time_zone"])
    return user


def token_issue(*, user: User) -> tuple[ApiToken, str]:
    """Issue an API token; the clear key is returned once and never stored."""
    return ApiToken.issue(user)
